import Redis from 'ioredis';
import { BatchApplier, MAX_CHUNK } from '../../src/ingest/batch-applier';
import { MetricsService } from '../../src/metrics/metrics.service';
import { AppConfig } from '../../src/config/app-config';
import { ConsumedEvent } from '../../src/ingest/event-patterns';
import { decodeEvent } from '../../src/ingest/event-decoding';
import { SessionEvent } from '../../src/sessions/session-event';
import { SessionsService } from '../../src/sessions/sessions.service';
import { ApplyOutcome, StateStore } from '../../src/state-store/state-store.repository';
import { ChannelEvent } from '../../src/voice/channel-event';
import { VoiceService } from '../../src/voice/voice.service';
import { BenchEvent } from '../../testkit/mixed-workload';

/** Records applied per round trip by the ingest layer. */
export const CHUNK = MAX_CHUNK;

/** A partition's records as kafkajs hands them over: value buffers. */
export interface RawStream {
  topic: 'session' | 'channel';
  values: Buffer[];
}

export const toRawStreams = (streams: BenchEvent[][]): RawStream[] =>
  streams.map((s) => ({ topic: s[0].topic, values: s.map((e) => Buffer.from(e.value)) }));

/** The service's own apply path without Kafka: decode + validate -> SessionsService / VoiceService -> StateStore. */
export class ApplyPath {
  readonly sessions: SessionsService;
  readonly voice: VoiceService;

  constructor(
    readonly store: StateStore,
    private readonly config: AppConfig,
  ) {
    this.sessions = new SessionsService(store, config, new MetricsService());
    this.voice = new VoiceService(store, config);
    this.applier = new BatchApplier(
      new Map([
        ['session', { decodeAs: SessionEvent, apply: (events) => this.sessions.applyAll(events as ConsumedEvent<SessionEvent>[]) }],
        ['channel', { decodeAs: ChannelEvent, apply: (events) => this.voice.applyAll(events as ConsumedEvent<ChannelEvent>[]) }],
      ]),
      config.MAX_EVENT_BYTES,
    );
  }

  /** The ingest layer's own path (src/ingest/batch-applier.ts): decode + rules + Redis for one chunk. */
  readonly applier: BatchApplier;

  decode(stream: RawStream, from: number, to: number): ConsumedEvent<SessionEvent | ChannelEvent>[] {
    const type: new () => SessionEvent | ChannelEvent = stream.topic === 'session' ? SessionEvent : ChannelEvent;
    const now = Date.now();
    const events: ConsumedEvent<SessionEvent | ChannelEvent>[] = [];
    for (let i = from; i < to; i++) events.push({ event: decodeEvent(stream.values[i], type, this.config.MAX_EVENT_BYTES), timestampMs: now });
    return events;
  }

  applyDecoded(topic: 'session' | 'channel', events: ConsumedEvent<SessionEvent | ChannelEvent>[]): Promise<ApplyOutcome[]> {
    return topic === 'session'
      ? this.sessions.applyAll(events as ConsumedEvent<SessionEvent>[])
      : this.voice.applyAll(events as ConsumedEvent<ChannelEvent>[]);
  }

  /**
   * Applies the streams like the ingest layer: each stream in order, in chunks of 2000 (decode,
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
        for (let i = 0; i < records.length; i += CHUNK) {
          const end = Math.min(i + CHUNK, records.length);
          const results = await this.applier.applyChunk(stream.topic, records.slice(i, end));
          rejected += results.filter((r) => r.outcome === 'dead_lettered').length;
          onChunk?.(end - i);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return rejected;
  }
}

/**
 * Wraps a fresh ioredis client so that what the StateStore sends is recorded while it runs for
 * real: the Lua source of each script (defineCommand) and every script call with its exact
 * arguments, grouped by pipeline (one group = one round trip). Lets the bench replay the service's
 * own Redis traffic with no client-side work, to find Redis's limit.
 */
export function recordingRedis(real: Redis) {
  const scripts = new Map<string, string>();
  const pipelines: { command: string; args: (string | number)[] }[][] = [];
  const client = new Proxy(real, {
    get(target, prop) {
      if (prop === 'defineCommand') {
        return (name: string, definition: { lua: string; numberOfKeys?: number }) => {
          scripts.set(name, definition.lua);
          return target.defineCommand(name, definition);
        };
      }
      if (prop === 'pipeline') {
        return () => {
          const pipeline = target.pipeline();
          const calls: { command: string; args: (string | number)[] }[] = [];
          pipelines.push(calls);
          return new Proxy(pipeline, {
            get(p, key) {
              const value = Reflect.get(p, key, p);
              if (typeof key === 'string' && key.startsWith('state_')) {
                return (...args: (string | number)[]) => {
                  calls.push({ command: key, args });
                  return value.apply(p, args);
                };
              }
              return typeof value === 'function' ? value.bind(p) : value;
            },
          });
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { client, scripts, pipelines };
}
