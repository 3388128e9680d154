import { Logger } from '@nestjs/common';
import Redis, { ChainableCommander, Cluster, ReplyError } from 'ioredis';
import { isCluster, RedisClient } from '../redis/redis.module';
import { isTransientReply } from '../redis/transient-reply';
import { ApplySteps } from './apply-steps';
import { BucketSweeps } from './bucket-sweeps';
import { applyInBucketSteps } from './cluster-steps';
import { KeyLayout, keySlot } from './redis-keys';
import { BucketCall, BucketRunner, ChangeResult, NodeStatus, Reply, StateChange, StateStoreUnavailableError } from './state-types';

/**
 * The one place that knows whether the state lives in one Redis or in a Redis Cluster, chosen at
 * start-up from the client (createRedisBackend): the key layout (one bucket with today's names, or
 * 128 hash-tagged buckets), how bucket calls are grouped into pipelines, which node serves a
 * bucket, and the start-up work particular to the mode. Everything else works in buckets and runs
 * its calls here, whatever the mode.
 */
export abstract class RedisBackend implements BucketRunner {
  abstract readonly layout: KeyLayout;
  /** Whether the original service's state may be taken over here (it ran on one Redis only). */
  abstract readonly adoptsOriginal: boolean;

  constructor(readonly client: RedisClient) {}

  /** The master ("host:port") serving a bucket, as the client last learned it. */
  abstract nodeOfBucket(bucket: number): string | undefined;

  /** The master nodes serving the state, and a client for each. */
  abstract masters(): MasterNode[];

  /** What the masters' own answers cannot show: buckets no master serves, a cluster not connected. */
  abstract coverageProblems(): NodeStatus[];

  /** Work done once, at the first connection; resolves whether the original service's state was found (adoptOriginal). */
  abstract prepare(adoptOriginal: () => Promise<boolean>): Promise<boolean>;

  /** Applies changes in order (see StateStore.apply): in one script call per run of events, or in steps across buckets. */
  abstract applyChanges(steps: ApplySteps, changes: readonly StateChange[], durable: boolean): Promise<ChangeResult[]>;

  /** The upkeep particular to the mode, once a second (`tick` counts them). */
  abstract upkeep(sweeps: BucketSweeps, tick: number): Promise<void>;

  /** The pipeline a bucket's calls go in: one per set of nodes serving it. */
  protected abstract pipelineOf(bucket: number): string;

  /**
   * Runs one command per call, each in its bucket: one pipeline per master node (the calls of its
   * buckets, in order), all nodes at once, so a batch or a query costs one round trip per node
   * whatever its size. Replies in the order of the calls. Throws StateStoreUnavailableError when a
   * node cannot be reached or answers an error that passes (isTransientReply): the caller retries
   * the whole work, which is idempotent.
   */
  async runInBuckets(calls: readonly BucketCall[]): Promise<Reply[]> {
    if (calls.length === 0) return [];
    const groups = new Map<string, number[]>();
    calls.forEach((call, i) => {
      const node = this.pipelineOf(call.bucket);
      const list = groups.get(node) ?? [];
      list.push(i);
      groups.set(node, list);
    });
    const replies = new Array<Reply>(calls.length);
    await Promise.all(
      [...groups.values()].map(async (members) => {
        const pipeline = this.client.pipeline();
        for (const i of members) calls[i].queue(pipeline);
        const results = await exec(pipeline);
        members.forEach((callIndex, j) => {
          const [error, result] = results[j];
          if (error && !(error instanceof ReplyError)) throw new StateStoreUnavailableError(error.message);
          if (error && isTransientReply(error)) throw new StateStoreUnavailableError(`Redis cannot serve this now: ${error.message}`);
          replies[callIndex] = [error, result];
        });
      }),
    );
    return replies;
  }
}

/** A master node and a client that talks to it alone. */
export interface MasterNode {
  name: string;
  client: Redis;
}

/** One Redis (REDIS_URL): one bucket, keys with the original service's names, one pipeline. */
class SingleRedisBackend extends RedisBackend {
  readonly layout = new KeyLayout(false);
  readonly adoptsOriginal = true;

  constructor(private readonly single: Redis) {
    super(single);
  }

  nodeOfBucket(): string {
    const { host, port } = this.single.options;
    return `${host}:${port}`;
  }

  masters(): MasterNode[] {
    return [{ name: this.nodeOfBucket(), client: this.single }];
  }

  coverageProblems(): NodeStatus[] {
    return [];
  }

  /** The original service ran on one Redis: its inherited expiries are cleared and its state adopted. */
  async prepare(adoptOriginal: () => Promise<boolean>): Promise<boolean> {
    await clearInheritedExpiries(this.single);
    return adoptOriginal();
  }

  /** Every key in the one bucket: each event is applied whole by one script call. */
  applyChanges(steps: ApplySteps, changes: readonly StateChange[]): Promise<ChangeResult[]> {
    return steps.applyInOneStep(changes);
  }

  upkeep(): Promise<void> {
    return Promise.resolve();
  }

  protected pipelineOf(): string {
    return '';
  }
}

/** Redis Cluster (REDIS_CLUSTER_NODES): 128 buckets, one slot each, spread over the masters. */
class ClusterBackend extends RedisBackend {
  readonly layout = new KeyLayout(true);
  readonly adoptsOriginal = false;
  private readonly bucketSlots = this.layout.buckets.map((b) => keySlot(this.layout.anchor(b)));

  constructor(private readonly cluster: Cluster) {
    super(cluster);
  }

  private get slots(): string[][] {
    return (this.cluster as unknown as { slots: string[][] }).slots;
  }

  nodeOfBucket(bucket: number): string | undefined {
    return this.slots[this.bucketSlots[bucket]]?.[0];
  }

  masters(): MasterNode[] {
    const serving = new Set(this.layout.buckets.map((b) => this.nodeOfBucket(b)).filter(Boolean));
    return this.cluster
      .nodes('master')
      .map((client) => ({ name: `${client.options.host}:${client.options.port}`, client }))
      .filter(({ name }) => serving.has(name) || serving.size === 0);
  }

  coverageProblems(): NodeStatus[] {
    const problems: NodeStatus[] = [];
    const uncovered = this.layout.buckets.filter((b) => !this.nodeOfBucket(b));
    if (uncovered.length > 0)
      problems.push({
        node: `slots ${uncovered.map((b) => this.bucketSlots[b]).join(',')}`,
        up: false,
        error: 'no master serves these slots',
      });
    if (this.masters().length === 0) problems.push({ node: 'cluster', up: false, error: `not connected (${this.cluster.status})` });
    return problems;
  }

  /** The original never ran on a cluster: nothing to adopt. */
  prepare(): Promise<boolean> {
    return Promise.resolve(false);
  }

  applyChanges(steps: ApplySteps, changes: readonly StateChange[], durable: boolean): Promise<ChangeResult[]> {
    return applyInBucketSteps(steps, changes, durable);
  }

  /** The outboxes (follow-ups a crashed instance left), and every tenth tick old "absent" versions. */
  async upkeep(sweeps: BucketSweeps, tick: number): Promise<void> {
    await sweeps.drainOutboxes();
    if (tick % 10 === 0) await sweeps.pruneVersions();
  }

  protected pipelineOf(bucket: number): string {
    // ioredis accepts a pipeline whose slots are all served by one set of nodes (master and replicas).
    return this.slots[this.bucketSlots[bucket]]?.join(';') ?? '?';
  }
}

/** The backend of the client: a cluster's or one Redis's. */
export function createRedisBackend(redis: RedisClient): RedisBackend {
  return isCluster(redis) ? new ClusterBackend(redis) : new SingleRedisBackend(redis);
}

/** Runs a command; a connection problem or an error reply that passes becomes StateStoreUnavailableError. */
export async function callRedis<T>(command: () => Promise<T>): Promise<T> {
  try {
    return await command();
  } catch (error) {
    const message = (error as Error).message;
    if (error instanceof ReplyError && !isTransientReply(error)) throw error;
    throw new StateStoreUnavailableError(message);
  }
}

async function exec(pipeline: ChainableCommander): Promise<Reply[]> {
  const replies = await callRedis(() => pipeline.exec());
  if (!replies) throw new StateStoreUnavailableError('Redis pipeline was discarded');
  return replies;
}

const inheritedExpiryLog = new Logger('StateStore');

/** Most keys one SCAN step asks for. */
const SCAN_COUNT = 1000;

/**
 * The original service set a whole-key expiry on USER:STATE and GUILD:* after every write; taken
 * over as they are, everyone would read offline once it ran out. Cleared here at start-up (SCAN,
 * a batch at a time) and by the scripts whenever they write those keys.
 */
async function clearInheritedExpiries(redis: Redis): Promise<void> {
  let cleared = await redis.persist(new KeyLayout(false).userStates(0));
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'GUILD:*', 'COUNT', SCAN_COUNT);
    cursor = next;
    if (keys.length > 0) {
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.persist(key);
      for (const [, result] of (await pipeline.exec()) ?? []) cleared += Number(result ?? 0);
    }
  } while (cursor !== '0');
  if (cleared > 0)
    inheritedExpiryLog.warn(
      `Cleared an inherited expiry on ${cleared} keys (USER:STATE, GUILD:*): the original service expired them whole`,
    );
}
