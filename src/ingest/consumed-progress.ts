import { Logger } from '@nestjs/common';
import { Kafka } from 'kafkajs';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { PartitionRewinder } from '../recovery/partition-rewind';
import { AppliedPositions } from '../sessions/applied-positions';

/**
 * The bookkeeping around each commit: what the consumer has applied, told to those who track it -
 * the session route's applied positions (AppliedPositions, what a read-your-writes DISCONNECT waits
 * for), the failover checkpoints (PartitionRewinder) and the lag gauge - and dropped for the
 * partitions this consumer no longer holds. The offsets themselves are resolved by the batch loop.
 */
export class ConsumedProgress {
  private readonly log = new Logger('Ingest');
  /** The partitions ("topic|partition") the lag gauge reports: only ones this consumer holds. */
  private readonly lagReported = new Set<string>();

  constructor(
    private readonly kafka: Kafka,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly positions: AppliedPositions,
    private readonly rewinder: PartitionRewinder,
  ) {}

  /** The group gave this consumer `assignment` (GROUP_JOIN): drops what it no longer holds, records where the rest starts. */
  joined(groupId: string, assignment: Record<string, number[]>, fromBeginning: boolean): void {
    this.rewinder.assigned(assignment);
    this.forgetLag(assignment);
    void this.startPositions(groupId, assignment[this.config.SESSION_EVENTS_TOPIC] ?? [], fromBeginning);
  }

  /** The consumer holds no partition any more (stopped, disconnected, crashed or closed). */
  left(): void {
    this.forgetLag();
  }

  /** The consumer moves to another group (a rebuild's), with other offsets: the old group's checkpoints mean nothing to it. */
  forgetCheckpoints(): void {
    this.rewinder.forget();
  }

  /** The session route's applied position of `partition`: the offset of the next record to apply. */
  raiseAppliedPosition(groupId: string, partition: number, next: bigint): Promise<void> {
    return this.positions.raise(groupId, new Map([[partition, next]]));
  }

  /** A fetch of only control records (or aborted ones) never reaches eachBatch; kafkajs resolves it itself (END_BATCH_PROCESS). */
  passedUnappliedBatch(groupId: string, topic: string, partition: number, batchSize: number, lastOffset: string): void {
    if (batchSize > 0 || topic !== this.config.SESSION_EVENTS_TOPIC) return;
    this.raiseAppliedPosition(groupId, partition, BigInt(lastOffset) + 1n).catch(() => undefined);
  }

  /** A chunk from `first` to `last` was applied and its offset resolved: a failover checkpoint, and the partition's lag. */
  resolved(topic: string, partition: number, first: string, last: string, highWatermark: string): void {
    this.rewinder.applied(topic, partition, first, last);
    this.metrics.consumerLag.set({ topic, partition: String(partition) }, Math.max(0, Number(highWatermark) - Number(last) - 1));
    this.lagReported.add(`${topic}|${partition}`);
  }

  /**
   * On joining: the session route's applied positions of the partitions this consumer now holds
   * start where the group's commits are (everything before was applied: offsets are committed only
   * after Redis has the writes), or, with no commit, at the start of the retained log when it
   * replays from there. Without this a partition with nothing new to fetch would never report its
   * position. Raise-only, so a previous owner's higher position stays.
   */
  private async startPositions(groupId: string, partitions: number[], fromBeginning: boolean): Promise<void> {
    if (partitions.length === 0) return;
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const topic = this.config.SESSION_EVENTS_TOPIC;
      const [[committed], retained] = await Promise.all([admin.fetchOffsets({ groupId, topics: [topic] }), admin.fetchTopicOffsets(topic)]);
      const start = new Map<number, bigint>();
      for (const partition of partitions) {
        const offset = Number(committed?.partitions.find((p) => p.partition === partition)?.offset ?? -1);
        const low = retained.find((p) => p.partition === partition)?.low;
        if (offset >= 0) start.set(partition, BigInt(offset));
        else if (fromBeginning && low !== undefined) start.set(partition, BigInt(low));
      }
      await this.positions.raise(groupId, start);
    } catch (error) {
      this.log.warn(`Could not record where the session topic's partitions start (${(error as Error).message}); their next batch does`);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** Drops the lag of partitions this consumer no longer holds (all of them, without an assignment: stopped or crashed). */
  private forgetLag(assignment: Record<string, number[]> = {}): void {
    for (const key of this.lagReported) {
      const [topic, partition] = key.split('|');
      if (assignment[topic]?.includes(Number(partition))) continue;
      this.metrics.consumerLag.remove({ topic, partition });
      this.lagReported.delete(key);
    }
  }
}
