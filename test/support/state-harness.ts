import 'reflect-metadata';
import { AppConfig, loadConfig } from '../../src/config/app-config';
import { decodeEvent } from '../../src/ingest/event-decoding';
import { createRedisClient, RedisClient } from '../../src/redis/redis.module';
import { SessionEvent } from '../../src/sessions/session-event';
import { SessionsService } from '../../src/sessions/sessions.service';
import { ApplyOutcome, StateStore } from '../../src/state-store/state-store.repository';
import { ChannelEvent } from '../../src/voice/channel-event';
import { VoiceService } from '../../src/voice/voice.service';
import { GuildStatesService } from '../../src/guild-states/guild-states.service';
import { MetricsService } from '../../src/metrics/metrics.service';

/** The service's own apply path (decode -> service rules -> Lua scripts) on a real Redis, without Kafka. */
export class StateHarness {
  readonly config: AppConfig;
  readonly redis: RedisClient;
  readonly store: StateStore;
  readonly sessions: SessionsService;
  readonly voice: VoiceService;
  readonly queries: GuildStatesService;

  /** `redis`: a REDIS_URL, or the environment naming the Redis (TestRedis.env: REDIS_URL or REDIS_CLUSTER_NODES). */
  constructor(redis: string | Record<string, string>, env: Record<string, string> = {}) {
    this.config = loadConfig({ ...(typeof redis === 'string' ? { REDIS_URL: redis } : redis), ...env });
    this.redis = createRedisClient(this.config);
    const metrics = new MetricsService();
    this.store = new StateStore(this.redis, this.config);
    this.sessions = new SessionsService(this.store, this.config, metrics);
    this.voice = new VoiceService(this.store, this.config);
    this.queries = new GuildStatesService(this.store, this.config, metrics);
  }

  async ready(): Promise<void> {
    if (this.redis.status !== 'ready') await new Promise((resolve) => this.redis.once('ready', resolve));
  }

  /** Applies session events (objects or raw JSON) in order, as one batch, with the current time as record timestamp. */
  session(...events: (Record<string, unknown> | string)[]): Promise<ApplyOutcome[]> {
    return this.sessionAt(Date.now(), ...events);
  }

  /** Applies session events as one batch, each with record timestamp atMs (the producer's clock). */
  sessionAt(atMs: number, ...events: (Record<string, unknown> | string)[]): Promise<ApplyOutcome[]> {
    return this.sessions.applyAll(events.map((e) => ({ event: decode(e, SessionEvent), timestampMs: atMs })));
  }

  channel(...events: (Record<string, unknown> | string)[]): Promise<ApplyOutcome[]> {
    return this.channelAt(Date.now(), ...events);
  }

  /** Applies channel events as one batch, each with record timestamp atMs (the signaling server's clock). */
  channelAt(atMs: number, ...events: (Record<string, unknown> | string)[]): Promise<ApplyOutcome[]> {
    return this.voice.applyAll(events.map((e) => ({ event: decode(e, ChannelEvent), timestampMs: atMs })));
  }

  /** The key layout in use (today's names on a single Redis, bucket-tagged on a cluster). */
  get keys() {
    return this.store.layout;
  }

  async userState(userId: string): Promise<string | null> {
    return this.redis.hget(this.keys.userStatesOf(userId), userId);
  }

  async guildHash(guildId: string): Promise<Record<string, string[]>> {
    const raw = await this.redis.hgetall(this.keys.guildChannels(guildId));
    return Object.fromEntries(Object.entries(raw).map(([c, v]) => [c, JSON.parse(v) as string[]]));
  }

  /** STATE_COUNTERS, summed over the buckets on a cluster (only the fields present). */
  async counters(): Promise<Record<string, string>> {
    const totals: Record<string, number> = {};
    for (const bucket of this.keys.buckets) {
      for (const [field, value] of Object.entries(await this.redis.hgetall(this.keys.counters(bucket)))) totals[field] = (totals[field] ?? 0) + Number(value);
    }
    return Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, String(v)]));
  }

  /** Every field of USER:STATE (all shards on a cluster). */
  async allUserStates(): Promise<Record<string, string>> {
    const all: Record<string, string> = {};
    for (const bucket of this.keys.buckets) Object.assign(all, await this.redis.hgetall(this.keys.userStates(bucket)));
    return all;
  }

  close(): void {
    this.store.stop();
    this.redis.disconnect();
  }
}

function decode<T extends object>(event: Record<string, unknown> | string, type: new () => T): T {
  return decodeEvent(Buffer.from(typeof event === 'string' ? event : JSON.stringify(event)), type, 65536);
}
