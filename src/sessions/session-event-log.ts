import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { ICustomPartitioner, Partitioners, Producer } from 'kafkajs';
import { AppConfig } from '../config/app-config';
import { createKafka } from '../kafka/kafka-client';

/** A session event as appended to the session topic by the HTTP route: what the chat server sent plus the user it resolved to. */
export interface LoggedSessionEvent {
  type: 'CONNECT' | 'DISCONNECT';
  sessionId: string;
  userId?: string;
  state?: string;
  /** Where it came from: "http" for the chat server's HTTP DISCONNECT. */
  origin: 'http';
}

/** Offsets `first` up to (not including) `next` of one partition. */
export interface OffsetRange {
  first: number;
  next: number;
}

/** Where one append went, per partition of the session topic. */
export interface Appended {
  /** The first offset the append took in each partition it went to. */
  firstOffsets: ReadonlyMap<number, number>;
  /** The offsets it took, per partition; undefined when that is not known for sure (the partition count changed under a retry). */
  ranges?: ReadonlyMap<number, OffsetRange>;
}

/**
 * Appends session events that arrive over HTTP to the session topic (SESSION_EVENTS_TOPIC), acks
 * from all in-sync replicas, before the route answers. So the log holds every session end: the
 * consumer applies it (a no-op when the route already did, the scripts being idempotent), a replay
 * or a rebuild of Redis sees it, and while Redis is down nothing is lost.
 * Keyed by userId when known (else sessionId): one user's HTTP events stay in one partition.
 */
@Injectable()
export class SessionEventLog implements OnApplicationShutdown {
  private readonly log = new Logger('SessionEventLog');
  private readonly producer: Producer;
  private connecting?: Promise<void>;
  /** The partition the producer chose for each message sent (the last choice: a retry chooses again), and out of how many. */
  private readonly chosen = new WeakMap<object, { partition: number; of: number }>();

  constructor(private readonly config: AppConfig) {
    // The default partitioner, watched: an append's records are counted per partition (their offsets).
    const watchedPartitioner: ICustomPartitioner = () => {
      const partitioner = Partitioners.DefaultPartitioner();
      return (args) => {
        const partition = partitioner(args);
        this.chosen.set(args.message, { partition, of: args.partitionMetadata.length });
        return partition;
      };
    };
    this.producer = createKafka(config).producer({
      allowAutoTopicCreation: true,
      createPartitioner: watchedPartitioner,
      retry: { retries: 2, initialRetryTime: 50, maxRetryTime: 500 },
    });
  }

  /**
   * Appends the events in one produce request; resolves once all in-sync replicas have them, with
   * the first offset they took in each partition they went to (every record from there on was
   * appended after these events' requests arrived: the session route need not wait for them), and
   * the offsets they took.
   */
  async appendAll(events: readonly LoggedSessionEvent[]): Promise<Appended> {
    await this.connected();
    const messages = events.map((event) => ({ key: event.userId ?? event.sessionId, value: JSON.stringify(event) }));
    const appended = await this.producer.send({ topic: this.config.SESSION_EVENTS_TOPIC, acks: -1, messages });
    const firstOffsets = new Map(appended.filter((m) => m.baseOffset !== undefined).map((m) => [m.partition, Number(m.baseOffset)]));
    return { firstOffsets, ranges: this.rangesOf(messages, firstOffsets) };
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.connecting) await this.producer.disconnect().catch(() => undefined);
  }

  /**
   * A batch takes consecutive offsets of each partition from its first one, as many as the messages
   * the partitioner gave that partition. Unknown (undefined) if the partition count changed during
   * the send's retries, or the partitions counted are not those Kafka answered for.
   */
  private rangesOf(messages: readonly object[], firstOffsets: ReadonlyMap<number, number>): ReadonlyMap<number, OffsetRange> | undefined {
    const counts = new Map<number, number>();
    let partitionCount: number | undefined;
    for (const message of messages) {
      const chosen = this.chosen.get(message);
      if (!chosen || (partitionCount !== undefined && chosen.of !== partitionCount)) return undefined;
      partitionCount = chosen.of;
      counts.set(chosen.partition, (counts.get(chosen.partition) ?? 0) + 1);
    }
    if (counts.size !== firstOffsets.size) return undefined;
    const ranges = new Map<number, OffsetRange>();
    for (const [partition, count] of counts) {
      const first = firstOffsets.get(partition);
      if (first === undefined) return undefined;
      ranges.set(partition, { first, next: first + count });
    }
    return ranges;
  }

  /** Connects on first use; a failed connection is retried by the next append. */
  private connected(): Promise<void> {
    this.connecting ??= this.producer.connect().catch((error: Error) => {
      this.connecting = undefined;
      this.log.warn(`Cannot connect to Kafka to append HTTP session events: ${error.message}`);
      throw error;
    });
    return this.connecting;
  }
}
