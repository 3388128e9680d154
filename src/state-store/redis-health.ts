import { callRedis, RedisBackend } from './redis-backend';
import { redisKeys } from './redis-keys';
import { NodeStatus } from './state-types';

/** How long a node may take to answer a health probe. */
const PROBE_TIMEOUT_MS = 2000;

/**
 * Redis as the recovery room sees it (src/recovery): the state's markers and epoch, each master's
 * run id, each node's answer. Probes only: what a missing marker or a new run id means is decided there.
 *
 * The state's marker (STATE_STORE:SINCE: absent when Redis lost the state or never had it) and
 * epoch (STATE_STORE:EPOCH: absent until the first rebuild). On a cluster these two keys live on
 * whichever master serves their slots; each bucket also has its own marker, so that one master
 * restarting empty is noticed too (on one Redis the one marker is the bucket's).
 */
export class RedisHealth {
  constructor(private readonly backend: RedisBackend) {}

  /** The state's marker and epoch. */
  async readMarker(): Promise<{ since: string | null; epoch: string | null }> {
    const redis = this.backend.client;
    const [since, epoch] = await callRedis(() => Promise.all([redis.get(redisKeys.storeMarker), redis.get(redisKeys.storeEpoch)]));
    return { since, epoch };
  }

  /** Marks the state as started now, unless it is marked already, and every bucket's marker. */
  async markStarted(): Promise<void> {
    await callRedis(() => this.backend.client.set(redisKeys.storeMarker, new Date().toISOString(), 'NX'));
    await this.rearmBucketMarkers();
  }

  /** Writes each bucket's own marker (set-if-absent); false when there is none but the state's (one Redis). */
  async rearmBucketMarkers(): Promise<boolean> {
    const layout = this.backend.layout;
    const buckets = layout.buckets.filter((bucket) => layout.marker(bucket) !== redisKeys.storeMarker);
    await this.backend.runInBuckets(
      buckets.map((bucket) => ({ bucket, queue: (p) => p.set(layout.marker(bucket), new Date().toISOString(), 'NX') })),
    );
    return buckets.length > 0;
  }

  /** The marker's name as an operator reads it in Redis. */
  get markerName(): string {
    return redisKeys.storeMarker;
  }

  /** The nodes serving a bucket whose marker is missing (empty: every marker is there). */
  async nodesMissingMarkers(): Promise<Set<string>> {
    const layout = this.backend.layout;
    const replies = await this.backend.runInBuckets(
      layout.buckets.map((bucket) => ({ bucket, queue: (p) => p.exists(layout.marker(bucket)) })),
    );
    const lost = new Set<string>();
    replies.forEach(([error, exists], i) => {
      if (!error && Number(exists) === 0) lost.add(this.backend.nodeOfBucket(layout.buckets[i]) ?? 'unknown node');
    });
    return lost;
  }

  /** The rebuild's targets for an epoch (set-if-absent by the first instance to switch): what "caught up" means for everyone. */
  async rebuildTargets(epoch: string, proposed: string): Promise<string> {
    const redis = this.backend.client;
    const key = `${redisKeys.storeRebuildPrefix}${epoch}`;
    await callRedis(() => redis.set(key, proposed, 'NX'));
    return (await callRedis(() => redis.get(key)))!;
  }

  /** Run id per master node ('' when it does not answer): a new one means a restart. */
  async masterRunIds(): Promise<Map<string, string>> {
    const result = new Map<string, string>();
    await Promise.all(
      this.backend.masters().map(async ({ name, client }) => {
        const info = await withTimeout(client.info('server'), PROBE_TIMEOUT_MS).catch(() => '');
        result.set(name, /run_id:(\w+)/.exec(info)?.[1] ?? '');
      }),
    );
    return result;
  }

  /** Each master node: does it answer, how many keys does it hold; and any bucket no master serves. */
  async nodeStatuses(): Promise<NodeStatus[]> {
    const statuses = await Promise.all(
      this.backend.masters().map(async ({ name, client }): Promise<NodeStatus> => {
        try {
          await withTimeout(client.ping(), PROBE_TIMEOUT_MS);
          return { node: name, up: true, keys: await withTimeout(client.dbsize(), PROBE_TIMEOUT_MS) };
        } catch (error) {
          return { node: name, up: false, error: (error as Error).message };
        }
      }),
    );
    statuses.push(...this.backend.coverageProblems());
    return statuses.sort((a, b) => a.node.localeCompare(b.node));
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error: unknown) => (clearTimeout(timer), reject(error instanceof Error ? error : new Error(String(error)))),
    );
  });
}
