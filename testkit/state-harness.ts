import 'reflect-metadata';
import Redis from 'ioredis';
import { AppConfig, loadConfig } from '../src/config/app-config';
import { BatchApplier, MAX_CHUNK } from '../src/ingest/batch-applier';
import { EventRoutes } from '../src/ingest/event-routes';
import { createRedisClient, RedisClient } from '../src/redis/redis.module';
import { PeriodicSteps } from '../src/recovery/periodic-steps';
import { SessionsService } from '../src/sessions/sessions.service';
import { ApplyOutcome, StateStore } from '../src/state-store/state-store';
import { VoiceService } from '../src/voice/voice.service';
import { GuildStatesService } from '../src/guild-states/guild-states.service';
import { MetricsService } from '../src/metrics/metrics.service';

/** A partition's records as kafkajs hands them over: value buffers. */
export interface RawStream {
  topic: 'session' | 'channel';
  values: Buffer[];
}

/**
 * The service's own apply path (decode -> service rules -> Lua scripts) on a real Redis, without
 * Kafka: the services wired as the app wires them, around the ingest layer's BatchApplier. The
 * rules' tests, the property tests and the bench all apply through it.
 */
export class StateHarness {
  readonly config: AppConfig;
  readonly redis: RedisClient;
  readonly store: StateStore;
  readonly sessions: SessionsService;
  readonly voice: VoiceService;
  readonly queries: GuildStatesService;
  /** The ingest layer's applier (decode -> rules -> Redis), the path every Kafka record takes. */
  readonly applier: BatchApplier;

  /** wrapClient: what the StateStore talks through, given the harness's own client (the bench records the script calls with it). */
  /** `redis`: a REDIS_URL, or the environment naming the Redis (TestRedis.env: REDIS_URL or REDIS_CLUSTER_NODES). */
  constructor(
    redis: string | Record<string, string>,
    env: Record<string, string> = {},
    wrapClient: (client: Redis) => Redis = (client) => client,
  ) {
    this.config = loadConfig({ ...(typeof redis === 'string' ? { REDIS_URL: redis } : redis), ...env });
    const client = createRedisClient(this.config);
    this.redis = client instanceof Redis ? wrapClient(client) : client;
    const metrics = new MetricsService();
    this.store = new StateStore(this.redis, this.config);
    // No sweep runs by itself here (onModuleInit is not called): the tests sweep when they mean to.
    const periodic = new PeriodicSteps();
    this.sessions = new SessionsService(this.store, this.config, metrics, periodic);
    this.voice = new VoiceService(this.store, this.config, periodic);
    this.queries = new GuildStatesService(this.store, this.config, metrics);
    this.applier = new BatchApplier(new EventRoutes(this.config, this.sessions, this.voice).byTopic, this.config.MAX_EVENT_BYTES);
  }

  /** The configured topic a stream's records are consumed from. */
  private topicOf(stream: RawStream['topic']): string {
    return stream === 'session' ? this.config.SESSION_EVENTS_TOPIC : this.config.CHANNEL_EVENTS_TOPIC;
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
  private async applyChunk(
    topic: 'session' | 'channel',
    atMs: number,
    events: (Record<string, unknown> | string)[],
  ): Promise<ApplyOutcome[]> {
    const records = events.map((e, i) => ({
      offset: String(i),
      timestamp: String(atMs),
      value: Buffer.from(typeof e === 'string' ? e : JSON.stringify(e)),
    }));
    const results = await this.applier.applyChunk(this.topicOf(topic), records);
    return results.map(({ outcome, reason }): ApplyOutcome => {
      if (outcome === 'dead_lettered') return { rejected: reason! };
      if (outcome === 'ignored') return { ignored: reason! };
      return outcome;
    });
  }

  /**
   * Applies the streams like the ingest layer: each stream in order, in chunks of MAX_CHUNK (decode,
   * then one pipelined round trip), `concurrency` streams at a time. Returns the count of rejected changes.
   */
  async applyStreams(streams: readonly RawStream[], concurrency: number, onChunk?: (n: number) => void): Promise<number> {
    let rejected = 0;
    let nextStream = 0;
    const worker = async () => {
      while (nextStream < streams.length) {
        const stream = streams[nextStream++];
        const now = String(Date.now());
        const records = stream.values.map((value, offset) => ({ offset: String(offset), timestamp: now, value }));
        for (let i = 0; i < records.length; i += MAX_CHUNK) {
          const end = Math.min(i + MAX_CHUNK, records.length);
          const results = await this.applier.applyChunk(this.topicOf(stream.topic), records.slice(i, end));
          rejected += results.filter((r) => r.outcome === 'dead_lettered').length;
          onChunk?.(end - i);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return rejected;
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
      for (const [field, value] of Object.entries(await this.redis.hgetall(this.keys.counters(bucket))))
        totals[field] = (totals[field] ?? 0) + Number(value);
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
    this.redis.disconnect();
  }
}
