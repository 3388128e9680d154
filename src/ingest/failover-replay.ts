import { Logger } from '@nestjs/common';
import { Consumer } from 'kafkajs';
import { MetricsService } from '../metrics/metrics.service';
import { PartitionRewinder } from '../recovery/partition-rewind';

/**
 * After a Redis failover or restart (RecoveryEvents' `rewind`): replays what this instance applied
 * since a moment (recovery/partition-rewind.ts). Asked while the consumer is not in its group -
 * rebalancing, switching or reconnecting - it waits for the next join, keeping the earliest moment.
 */
export class FailoverReplay {
  private readonly log = new Logger('Ingest');
  /** A failover noticed while not in the group: replayed from here at the next join. */
  private pending?: { sinceMs: number; reason: string };

  constructor(
    private readonly rewinder: PartitionRewinder,
    private readonly metrics: MetricsService,
  ) {}

  /** `member`: the consumer while it is in its group, else undefined. */
  async since(member: Consumer | undefined, sinceMs: number, reason: string): Promise<void> {
    if (!member) {
      // Rebalancing, switching or reconnecting: replay once the group has given this instance its partitions.
      if (!this.pending || sinceMs < this.pending.sinceMs) this.pending = { sinceMs, reason };
      this.log.warn(`Redis failover noticed ("${reason}") while not in the consumer group: replaying at the next join`);
      return;
    }
    try {
      const partitions = await this.rewinder.rewind(member, sinceMs);
      if (partitions > 0) this.metrics.redisReplays.inc();
    } catch (error) {
      this.log.error(`Could not replay after "${reason}": ${(error as Error).message}`);
    }
  }

  /** The group has given the consumer its partitions: the replay that waited for it runs now. */
  joined(member: Consumer | undefined): void {
    const pending = this.pending;
    this.pending = undefined;
    if (pending) void this.since(member, pending.sinceMs, pending.reason);
  }

  /** The consumer moves to another group (a rebuild's), which replays from the earliest offset anyway. */
  forget(): void {
    this.pending = undefined;
  }
}
