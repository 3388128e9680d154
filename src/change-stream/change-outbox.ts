import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RedisClient } from '../redis/redis.module';
import { BucketCall, StateStore } from '../state-store/state-store';

/** One change record waiting in a bucket: a stream entry of CHANGE_OUTBOX (`id`), or a CHANGE_OVERFLOW field (`field`). */
export interface WaitingRecord {
  bucket: number;
  /** The Kafka record's JSON, as change-outbox.lua wrote it. */
  json: string;
  id?: string;
  field?: string;
}

/** A bucket whose outbox overflowed: whether the RESYNC that marks the gap is still owed. */
export interface Overflow {
  bucket: number;
  resyncOwed: boolean;
}

/** What one relay step found: the oldest records waiting, and the buckets whose outbox is empty but overflowed. */
export interface OutboxStep {
  records: WaitingRecord[];
  overflows: Overflow[];
}

const OVERFLOW_RESYNC_FIELD = '#resync';

/**
 * The change stream's outboxes in Redis (one per bucket; written by change-outbox.lua), as the relay
 * reads and trims them. The key names come from the store's layout; commands go through the store's
 * routing (one pipeline per master).
 */
export class ChangeOutbox {
  constructor(
    private readonly store: StateStore,
    private readonly redis: RedisClient,
  ) {
    const scripts = { changeRelayLease: 'change-relay-lease', takeChangeOverflow: 'take-change-overflow' };
    for (const [name, file] of Object.entries(scripts)) {
      if (!(name in redis))
        redis.defineCommand(name, {
          numberOfKeys: 1,
          lua: readFileSync(join(__dirname, '..', 'state-store', 'scripts', `${file}.lua`), 'utf8'),
        });
    }
    if (!('readChangeOutbox' in redis))
      redis.defineCommand('readChangeOutbox', { numberOfKeys: 2, lua: readFileSync(join(__dirname, 'read-change-outbox.lua'), 'utf8') });
  }

  get buckets(): readonly number[] {
    return this.store.layout.buckets;
  }

  /** Takes or renews the lease on each bucket's outbox for `owner`; returns the buckets it holds now. */
  async holdLeases(owner: string, leaseMs: number): Promise<number[]> {
    const replies = await this.run(this.buckets.map((bucket) => ({ bucket, queue: (p) => this.lease(p, bucket, owner, leaseMs) })));
    return this.buckets.filter((_, i) => Number(replies[i]) === 1);
  }

  async releaseLeases(owner: string, buckets: readonly number[]): Promise<void> {
    await this.run(buckets.map((bucket) => ({ bucket, queue: (p) => this.lease(p, bucket, owner, 0) })));
  }

  /** The oldest records of each bucket's outbox, at most `perBucket` each, in order. */
  async readOutbox(buckets: readonly number[], perBucket: number): Promise<WaitingRecord[]> {
    return (await this.step(buckets, perBucket, new Map())).records;
  }

  /**
   * One relay step in one round trip (read-change-outbox.lua): removes from each bucket's outbox
   * the records up to `published` (bucket -> the id of the last record of it that Kafka
   * acknowledged), then reads the oldest records left, at most `perBucket` each, in order; and
   * which buckets' outboxes are empty with an overflow.
   */
  async step(buckets: readonly number[], perBucket: number, published: ReadonlyMap<number, string>): Promise<OutboxStep> {
    const layout = this.store.layout;
    const replies = await this.run(
      buckets.map((bucket) => ({
        bucket,
        queue: (p) =>
          (p as unknown as Record<string, (...a: string[]) => void>).readChangeOutbox(
            layout.changeOutbox(bucket),
            layout.changeOverflow(bucket),
            idAfter(published.get(bucket)),
            String(perBucket),
          ),
      })),
    );
    const records: WaitingRecord[] = [];
    const overflows: Overflow[] = [];
    replies.forEach((reply, i) => {
      const lines = (reply as string).split('\n');
      if (lines[0] !== '') overflows.push({ bucket: buckets[i], resyncOwed: lines[0] === 'r' });
      for (let j = 1; j < lines.length; j += 2) records.push({ bucket: buckets[i], id: lines[j], json: lines[j + 1] });
    });
    return { records, overflows };
  }

  async deleteFromOutbox(records: readonly WaitingRecord[]): Promise<void> {
    const layout = this.store.layout;
    await this.run(
      [...groupByBucket(records)].map(([bucket, list]) => ({
        bucket,
        queue: (p) => p.xdel(layout.changeOutbox(bucket), ...list.map((r) => r.id!)),
      })),
    );
  }

  /** Removes from each bucket's outbox the records up to `published` (bucket -> the id of the last record of it Kafka acknowledged). */
  async trim(published: ReadonlyMap<number, string>): Promise<void> {
    const layout = this.store.layout;
    await this.run(
      [...published].map(([bucket, id]) => ({ bucket, queue: (p) => p.xtrim(layout.changeOutbox(bucket), 'MINID', idAfter(id)) })),
    );
  }

  /** The buckets (of those given) whose outbox overflowed, and not drained yet. */
  async overflows(buckets: readonly number[]): Promise<Overflow[]> {
    const layout = this.store.layout;
    const calls: BucketCall[] = [];
    for (const bucket of buckets) {
      calls.push({ bucket, queue: (p) => p.exists(layout.changeOverflow(bucket)) });
      calls.push({ bucket, queue: (p) => p.hexists(layout.changeOverflow(bucket), OVERFLOW_RESYNC_FIELD) });
    }
    const replies = await this.run(calls);
    return buckets
      .map((bucket, i) => ({ bucket, exists: Number(replies[2 * i]) === 1, resyncOwed: Number(replies[2 * i + 1]) === 1 }))
      .filter((o) => o.exists)
      .map(({ bucket, resyncOwed }) => ({ bucket, resyncOwed }));
  }

  async resyncSent(buckets: readonly number[]): Promise<void> {
    const layout = this.store.layout;
    await this.run(buckets.map((bucket) => ({ bucket, queue: (p) => p.hdel(layout.changeOverflow(bucket), OVERFLOW_RESYNC_FIELD) })));
  }

  /** Some of the latest records kept per key in each bucket's overflow (about `perBucket`; order among keys does not matter). */
  async readOverflow(buckets: readonly number[], perBucket: number): Promise<WaitingRecord[]> {
    const layout = this.store.layout;
    const replies = await this.run(
      buckets.map((bucket) => ({ bucket, queue: (p) => p.hscan(layout.changeOverflow(bucket), '0', 'COUNT', perBucket) })),
    );
    const records: WaitingRecord[] = [];
    replies.forEach((reply, i) => {
      const flat = (reply as [string, string[]])[1];
      for (let j = 0; j < flat.length; j += 2)
        if (flat[j] !== OVERFLOW_RESYNC_FIELD) records.push({ bucket: buckets[i], field: flat[j], json: flat[j + 1] });
    });
    return records;
  }

  /** Removes published overflow records, each unless a newer one of its key replaced it meanwhile. */
  async takeFromOverflow(records: readonly WaitingRecord[]): Promise<void> {
    const layout = this.store.layout;
    await this.run(
      [...groupByBucket(records)].map(([bucket, list]) => ({
        bucket,
        queue: (p) =>
          (p as unknown as Record<string, (...a: string[]) => void>).takeChangeOverflow(
            layout.changeOverflow(bucket),
            ...list.flatMap((r) => [r.field!, r.json]),
          ),
      })),
    );
  }

  /** Records waiting in the given buckets (outbox and overflow), and when the oldest outbox entry was written (ms; undefined when none). */
  async waiting(buckets: readonly number[]): Promise<{ records: number; oldestAtMs?: number }> {
    const layout = this.store.layout;
    const calls: BucketCall[] = [];
    for (const bucket of buckets) {
      calls.push({ bucket, queue: (p) => p.xlen(layout.changeOutbox(bucket)) });
      calls.push({ bucket, queue: (p) => p.hlen(layout.changeOverflow(bucket)) });
      calls.push({ bucket, queue: (p) => p.xrange(layout.changeOutbox(bucket), '-', '+', 'COUNT', 1) });
    }
    const replies = await this.run(calls);
    let records = 0;
    let oldestAtMs: number | undefined;
    for (let i = 0; i < replies.length; i += 3) {
      records += Number(replies[i]) + Number(replies[i + 1]);
      const [first] = replies[i + 2] as [string, string[]][];
      if (first) {
        const at = Number(first[0].split('-')[0]);
        oldestAtMs = oldestAtMs === undefined ? at : Math.min(oldestAtMs, at);
      }
    }
    return { records, ...(oldestAtMs !== undefined ? { oldestAtMs } : {}) };
  }

  /** Each bucket's version clock (STATE_CLOCK): every change recorded in that bucket so far has a version at or below it. */
  async clocks(buckets: readonly number[]): Promise<Map<number, number>> {
    const layout = this.store.layout;
    const replies = await this.run(buckets.map((bucket) => ({ bucket, queue: (p) => p.get(layout.clock(bucket)) })));
    return new Map(buckets.map((bucket, i) => [bucket, Number(replies[i] ?? 0)]));
  }

  private lease(p: Parameters<BucketCall['queue']>[0], bucket: number, owner: string, leaseMs: number): void {
    (p as unknown as Record<string, (...a: (string | number)[]) => void>).changeRelayLease(
      this.store.layout.changeRelay(bucket),
      owner,
      String(leaseMs),
    );
  }

  /** The replies of the calls, in order; a failed one throws (the relay retries its whole step). */
  private async run(calls: readonly BucketCall[]): Promise<unknown[]> {
    const replies = await this.store.inBuckets(calls);
    return replies.map(([error, reply]) => {
      if (error) throw error;
      return reply;
    });
  }
}

/** The smallest stream entry id above `id` ("<ms>-<seq>"): XTRIM MINID with it removes `id` and all before; "" for none. */
function idAfter(id: string | undefined): string {
  if (id === undefined) return '';
  const dash = id.indexOf('-');
  return `${id.slice(0, dash)}-${BigInt(id.slice(dash + 1)) + 1n}`;
}

function groupByBucket(records: readonly WaitingRecord[]): Map<number, WaitingRecord[]> {
  const byBucket = new Map<number, WaitingRecord[]>();
  for (const record of records) {
    const list = byBucket.get(record.bucket) ?? [];
    list.push(record);
    byBucket.set(record.bucket, list);
  }
  return byBucket;
}
