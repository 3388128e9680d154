import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Admin, Consumer } from 'kafkajs';
import { AppConfig } from '../config/app-config';
import { createKafka } from '../kafka/kafka-client';
import { ChangeRecord, readChangeRecord, versionKey } from './change-record';
import { ChangeTopic } from './change-topic';

/** Records kept in memory for resuming (Last-Event-ID) and for snapshots taken while they arrive. */
const WINDOW_RECORDS = 100_000;
const RETRY_MS = 2000;

/** partition -> the next offset to read: "everything before it was seen". The same on every instance. */
export type StreamPosition = Map<number, number>;

/** A record in the window. */
export class WindowEntry {
  constructor(
    readonly record: ChangeRecord,
    /** versionKey(record); undefined for a RESYNC. */
    readonly key: string | undefined,
    readonly json: string,
    readonly partition: number,
    readonly offset: number,
    /** The window's next offsets (by partition) right after this record; a Map only when a client is sent it. */
    private readonly nextOffsets: readonly number[],
  ) {}

  /** The window's position right after this record: what a client that got it has seen. */
  get after(): StreamPosition {
    return positionOf(this.nextOffsets);
  }
}

/** "0-12.1-5" <-> partition 0 next offset 12, partition 1 next offset 5: the SSE `id:`. */
export function encodePosition(position: StreamPosition): string {
  return [...position]
    .sort(([a], [b]) => a - b)
    .map(([p, o]) => `${p}-${o}`)
    .join('.');
}

export function decodePosition(text: string): StreamPosition | undefined {
  if (!/^\d{1,5}-\d{1,19}(\.\d{1,5}-\d{1,19})*$/.test(text)) return undefined;
  return new Map(text.split('.').map((part) => part.split('-').map(Number) as [number, number]));
}

/**
 * Every instance reads the whole change topic (a consumer group of its own, no commits) into a
 * bounded window, in the order it receives it: GET /events serves it, and a client resuming with
 * Last-Event-ID on any instance gets what came after that position. A record older (by version)
 * than one already in the window for its key is left out: a relay's retry is not sent twice.
 */
@Injectable()
export class ChangeWindow implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('ChangeWindow');
  private readonly entries: WindowEntry[] = [];
  /** entries[head] is the oldest still in the window (the array is compacted now and then, not shifted per record). */
  private head = 0;
  /** partition -> the next offset to read (the window's StreamPosition, kept as an array: copied for every record). */
  private readonly next: number[] = [];
  /** Per partition: the first offset still in the window (resuming from before it is impossible). */
  private readonly floor = new Map<number, number>();
  private readonly newest = new Map<string, number>();
  private readonly listeners = new Set<(entry: WindowEntry) => void>();
  private consumer?: Consumer;
  private admin?: Admin;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private reading = false;
  private warned = false;

  constructor(
    private readonly config: AppConfig,
    private readonly changeTopic: ChangeTopic,
  ) {}

  get enabled(): boolean {
    return this.config.CHANGE_TOPIC !== '';
  }

  /** Whether the topic is being read (until then /events answers 503). */
  get ready(): boolean {
    return this.reading;
  }

  onApplicationBootstrap(): void {
    if (this.enabled) void this.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.consumer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
  }

  /** A copy of where the window is now. */
  now(): StreamPosition {
    return positionOf(this.next);
  }

  /** Calls `listener` with every record from now on, in order; returns the unsubscribe. */
  subscribe(listener: (entry: WindowEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The records after `from`, in window order; undefined when part of what followed `from` has left the window. */
  after(from: StreamPosition): WindowEntry[] | undefined {
    for (const [partition, first] of this.floor) if ((from.get(partition) ?? 0) < first) return undefined;
    const entries: WindowEntry[] = [];
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i];
      if (e.offset >= (from.get(e.partition) ?? 0)) entries.push(e);
    }
    return entries;
  }

  /** Whether this instance has read up to `target` on every partition (waits up to `timeoutMs` for it). */
  async caughtUp(target: StreamPosition, timeoutMs: number): Promise<boolean> {
    const done = () => [...target].every(([p, o]) => (this.next[p] ?? 0) >= o);
    const until = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() >= until || this.stopped) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return true;
  }

  private async start(): Promise<void> {
    try {
      await this.changeTopic.partitionCount(); // created when missing
      const kafka = createKafka(this.config, { retries: 2 });
      this.admin ??= kafka.admin();
      await this.admin.connect();
      const offsets = await this.admin.fetchTopicOffsets(this.config.CHANGE_TOPIC);
      const perPartition = Math.floor(WINDOW_RECORDS / Math.max(1, offsets.length));
      const starts = offsets.map((o) => ({ partition: o.partition, offset: Math.max(Number(o.low), Number(o.high) - perPartition) }));
      for (const { partition, offset } of starts) {
        this.next[partition] = offset;
        this.floor.set(partition, offset);
      }
      const consumer = kafka.consumer({ groupId: `${this.config.KAFKA_GROUP_ID}.events.${randomUUID()}`, maxWaitTimeInMs: 100 });
      this.consumer = consumer;
      await consumer.connect();
      await consumer.subscribe({ topic: this.config.CHANGE_TOPIC, fromBeginning: false });
      await consumer.run({
        autoCommit: false,
        // Batches, not eachMessage: kafkajs awaits several promises around each message otherwise.
        eachBatch: ({ batch }) => {
          for (const message of batch.messages) this.add(batch.partition, Number(message.offset), message.value?.toString() ?? '');
          return Promise.resolve();
        },
      });
      for (const { partition, offset } of starts) consumer.seek({ topic: this.config.CHANGE_TOPIC, partition, offset: String(offset) });
      this.reading = true;
    } catch (error) {
      if (this.stopped) return;
      const line = `Cannot read the change topic ${this.config.CHANGE_TOPIC} yet (${(error as Error).message}); GET /events answers 503 until then`;
      // Once at warn (Kafka down, or the topic missing and not creatable), then retried quietly.
      if (this.warned) this.log.debug(line);
      else this.log.warn(line);
      this.warned = true;
      await this.consumer?.disconnect().catch(() => undefined);
      this.consumer = undefined;
      this.timer = setTimeout(() => void this.start(), RETRY_MS);
      this.timer.unref();
    }
  }

  private add(partition: number, offset: number, json: string): void {
    if (offset < (this.next[partition] ?? 0)) return; // seen (a seek landing before where we are)
    this.next[partition] = offset + 1;
    const record = readChangeRecord(json);
    if (!record) return; // not ours: the topic carries only our JSON records
    let key: string | undefined;
    if (record.type !== 'RESYNC') {
      key = versionKey(record);
      if ((this.newest.get(key) ?? -1) >= (record.version ?? 0)) return;
      this.newest.delete(key); // re-inserted last: the Map keeps the most recently changed keys at its end
      this.newest.set(key, record.version ?? 0);
      if (this.newest.size > WINDOW_RECORDS) this.newest.delete(this.newest.keys().next().value!);
    }
    const entry = new WindowEntry(record, key, json, partition, offset, this.next.slice());
    this.entries.push(entry);
    if (this.entries.length - this.head > WINDOW_RECORDS) {
      const gone = this.entries[this.head++];
      this.floor.set(gone.partition, gone.offset + 1);
      if (this.head >= 10_000) {
        this.entries.splice(0, this.head);
        this.head = 0;
      }
    }
    for (const listener of this.listeners) listener(entry);
  }
}

function positionOf(nextOffsets: readonly number[]): StreamPosition {
  const position: StreamPosition = new Map();
  nextOffsets.forEach((offset, partition) => position.set(partition, offset));
  return position;
}
