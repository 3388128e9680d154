import 'reflect-metadata';
import Redis from 'ioredis';
import { AppConfig, loadConfig } from '../src/config/app-config';
import { BatchApplier, TopicRoute } from '../src/ingest/batch-applier';
import { ConsumedEvent } from '../src/ingest/event-patterns';
import { createRedisClient } from '../src/redis/redis.module';
import { SessionEvent } from '../src/sessions/session-event';
import { SessionsService } from '../src/sessions/sessions.service';
import { ApplyOutcome, StateStore } from '../src/state-store/state-store.repository';
import { ChannelEvent } from '../src/voice/channel-event';
import { VoiceService } from '../src/voice/voice.service';
import { GuildStatesService } from '../src/guild-states/guild-states.service';
import { MetricsService } from '../src/metrics/metrics.service';

/** The service's own apply path (decode -> service rules -> Lua scripts) on a real Redis, without Kafka. */
export class StateHarness {
  readonly config: AppConfig;
  readonly redis: Redis;
  readonly store: StateStore;
  readonly sessions: SessionsService;
  readonly voice: VoiceService;
  readonly queries: GuildStatesService;
  /** The ingest layer's applier (decode -> rules -> Redis), the path every Kafka record takes. */
  readonly applier: BatchApplier;

  constructor(redisUrl: string, env: Record<string, string> = {}) {
    this.config = loadConfig({ REDIS_URL: redisUrl, ...env });
    this.redis = createRedisClient(this.config);
    const metrics = new MetricsService();
    this.store = new StateStore(this.redis, this.config);
    this.sessions = new SessionsService(this.store, this.config, metrics);
    this.voice = new VoiceService(this.store, this.config);
    this.queries = new GuildStatesService(this.store, this.config, metrics);
    this.applier = new BatchApplier(
      new Map<string, TopicRoute>([
        ['session', { decodeAs: SessionEvent, apply: (events) => this.sessions.applyAll(events as ConsumedEvent<SessionEvent>[]) }],
        ['channel', { decodeAs: ChannelEvent, apply: (events) => this.voice.applyAll(events as ConsumedEvent<ChannelEvent>[]) }],
      ]),
      this.config.MAX_EVENT_BYTES,
    );
  }

  async ready(): Promise<void> {
    if (this.redis.status !== 'ready') await new Promise((resolve) => this.redis.once('ready', resolve));
  }

  /** Applies session events (objects or raw JSON) in order, as one batch, with the current time as record timestamp. */
  session(...events: (Record<string, unknown> | string)[]): Promise<ApplyOutcome[]> {
    return this.sessionAt(Date.now(), ...events);
  }

  /** Applies session events as one chunk through the ingest layer's applier, each with record timestamp atMs (the producer's clock). */
  sessionAt(atMs: number, ...events: (Record<string, unknown> | string)[]): Promise<ApplyOutcome[]> {
    return this.applyChunk('session', atMs, events);
  }

  channel(...events: (Record<string, unknown> | string)[]): Promise<ApplyOutcome[]> {
    return this.channelAt(Date.now(), ...events);
  }

  /** Applies channel events as one chunk through the ingest layer's applier, each with record timestamp atMs (the signaling server's clock). */
  channelAt(atMs: number, ...events: (Record<string, unknown> | string)[]): Promise<ApplyOutcome[]> {
    return this.applyChunk('channel', atMs, events);
  }

  /** Outcomes in the rules' own terms: dead letters as { rejected: reason }, ignored records as { ignored: reason }. */
  private async applyChunk(topic: 'session' | 'channel', atMs: number, events: (Record<string, unknown> | string)[]): Promise<ApplyOutcome[]> {
    const records = events.map((e, i) => ({ offset: String(i), timestamp: String(atMs), value: Buffer.from(typeof e === 'string' ? e : JSON.stringify(e)) }));
    const results = await this.applier.applyChunk(topic, records);
    return results.map(({ outcome, reason }): ApplyOutcome => {
      if (outcome === 'dead_lettered') return { rejected: reason! };
      if (outcome === 'ignored') return { ignored: reason! };
      return outcome;
    });
  }

  async userState(userId: string): Promise<string | null> {
    return this.redis.hget('USER:STATE', userId);
  }

  async guildHash(guildId: string): Promise<Record<string, string[]>> {
    const raw = await this.redis.hgetall(`GUILD:${guildId}`);
    return Object.fromEntries(Object.entries(raw).map(([c, v]) => [c, JSON.parse(v) as string[]]));
  }

  close(): void {
    this.redis.disconnect();
  }
}
