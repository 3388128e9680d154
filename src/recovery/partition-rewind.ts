import { Logger } from '@nestjs/common';
import { Consumer, Kafka } from 'kafkajs';

/** Applied chunks remembered per partition (a minute at the highest rates is far fewer). */
const MAX_CHECKPOINTS = 2000;
/** Checkpoints are kept this much longer than the replay window. */
const CHECKPOINT_SLACK_MS = 60_000;

interface Checkpoint {
  /** When the chunk was applied (this process's clock). */
  atMs: number;
  /** Its first offset. */
  first: bigint;
}

/**
 * What this consumer applied recently, per partition (when, from which offset), so that after a
 * Redis failover it can go back to the first record it applied since a given moment and replay
 * (docs/cluster.md: replication is asynchronous, the writes of a master's last moments may be lost;
 * the rules are idempotent, so replaying what was kept changes nothing and restores what was lost).
 * The consumer calls it on RecoveryEvents' `rewind` (RedisWatch notices the failover).
 */
export class PartitionRewinder {
  private readonly log = new Logger('Ingest');
  private readonly checkpoints = new Map<string, Checkpoint[]>();
  /** Per partition: the offset after the last one applied. */
  private readonly nextOffsets = new Map<string, bigint>();
  private assignment: Record<string, number[]> = {};

  constructor(
    private readonly kafka: Kafka,
    private readonly keepMs: number,
  ) {}

  /** The partitions the group gave this consumer (GROUP_JOIN). Checkpoints of others are dropped. */
  assigned(memberAssignment: Record<string, number[]>): void {
    this.assignment = memberAssignment;
    for (const key of this.checkpoints.keys()) {
      const [topic, partition] = splitKey(key);
      if (!memberAssignment[topic]?.includes(partition)) {
        this.checkpoints.delete(key);
        this.nextOffsets.delete(key);
      }
    }
  }

  /** Forgets every checkpoint (the consumer moved to another group, with other offsets). */
  forget(): void {
    this.checkpoints.clear();
    this.nextOffsets.clear();
    this.assignment = {};
  }

  /** A chunk of topic/partition from `first` to `last` was applied (and its offset resolved). */
  applied(topic: string, partition: number, first: string, last: string): void {
    const key = `${topic}\u0000${partition}`;
    const list = this.checkpoints.get(key) ?? [];
    const now = Date.now();
    list.push({ atMs: now, first: BigInt(first) });
    while (list.length > MAX_CHECKPOINTS || (list.length > 1 && list[0].atMs < now - this.keepMs - CHECKPOINT_SLACK_MS)) list.shift();
    this.checkpoints.set(key, list);
    this.nextOffsets.set(key, BigInt(last) + 1n);
  }

  /**
   * Seeks every assigned partition back to the first record applied at or after `sinceMs` (by
   * this consumer's checkpoints, or by the broker's record timestamps if that is earlier), never
   * forward. Returns how many partitions were rewound.
   */
  async rewind(consumer: Consumer, sinceMs: number): Promise<number> {
    const targets: { topic: string; partition: number; offset: bigint }[] = [];
    const byTimestamp = await this.offsetsAt(sinceMs);
    for (const [topic, partitions] of Object.entries(this.assignment)) {
      for (const partition of partitions) {
        const key = `${topic}\u0000${partition}`;
        const next = this.nextOffsets.get(key);
        if (next === undefined) continue; // nothing applied here yet: it starts from the committed offset anyway
        const local = this.checkpoints.get(key)?.find((c) => c.atMs >= sinceMs)?.first;
        const broker = byTimestamp.get(key);
        let offset = local ?? next;
        if (broker !== undefined && broker >= 0n && broker < offset) offset = broker;
        if (offset < next) targets.push({ topic, partition, offset });
      }
    }
    for (const { topic, partition, offset } of targets) consumer.seek({ topic, partition, offset: offset.toString() });
    if (targets.length > 0) {
      this.log.warn(
        `Replaying ${targets.length} partitions from ${new Date(sinceMs).toISOString()}: ${targets.map((t) => `${t.topic}[${t.partition}]@${t.offset}`).join(', ')}`,
      );
    }
    return targets.length;
  }

  /** The first offset of each assigned partition whose record timestamp is at or after sinceMs (-1 when none). */
  private async offsetsAt(sinceMs: number): Promise<Map<string, bigint>> {
    const result = new Map<string, bigint>();
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      for (const topic of Object.keys(this.assignment)) {
        for (const { partition, offset } of await admin.fetchTopicOffsetsByTimestamp(topic, sinceMs)) {
          result.set(`${topic}\u0000${partition}`, BigInt(offset));
        }
      }
    } catch (error) {
      this.log.warn(`Could not look up offsets by time (${(error as Error).message}); replaying from this instance's own checkpoints`);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    return result;
  }
}

function splitKey(key: string): [string, number] {
  const at = key.lastIndexOf('\u0000');
  return [key.slice(0, at), Number(key.slice(at + 1))];
}
