import { Inject, Injectable, Logger } from '@nestjs/common';
import Redis from 'ioredis';
import { REDIS_CLIENT, RedisClient } from '../redis/redis.module';
import { AppConfig } from '../config/app-config';
import { ApplySteps } from './apply-steps';
import { BucketSweeps } from './bucket-sweeps';
import { callRedis, createRedisBackend, RedisBackend } from './redis-backend';
import { RedisHealth } from './redis-health';
import { KeyLayout } from './redis-keys';
import { ChangeRecording, StateScripts } from './state-scripts';
import { AdoptionReport, adoptOriginalState } from './original-adoption';
import { StateReads } from './state-reads';
import { BucketCall, ChangeResult, NodeStatus, Reply, StateChange } from './state-types';

export { StateStoreUnavailableError } from './state-types';
export type {
  ApplyOutcome,
  BucketCall,
  ChangeResult,
  ChannelMembers,
  NodeStatus,
  StateChange,
  StoredOutcome,
  UnreadableValue,
} from './state-types';

/**
 * The only code that talks to Redis about state. Writes go through the Lua scripts in ./scripts,
 * many events per atomic script call, several calls per pipelined round trip (apply-steps.ts), and
 * bounded steps in every bucket (bucket-sweeps.ts); reads in bounded commands (state-reads.ts); the
 * probes the recovery room watches (redis-health.ts).
 *
 * One Redis (REDIS_URL) or Redis Cluster (REDIS_CLUSTER_NODES): the difference is the backend's,
 * chosen here at start-up (redis-backend.ts); on a cluster a batch is applied in steps across
 * buckets (cluster-steps.ts, docs/cluster.md).
 */
@Injectable()
export class StateStore {
  private readonly log = new Logger('StateStore');
  readonly layout: KeyLayout;
  private readonly backend: RedisBackend;
  private readonly scripts: StateScripts;
  private readonly steps: ApplySteps;
  private readonly sweeps: BucketSweeps;
  private readonly reads: StateReads;
  readonly health: RedisHealth;
  /** Set once the first connection's start-up work is done. */
  private connection?: { markersWritten: boolean };
  private readonly connectionListeners: ((notice: ConnectionNotice) => void)[] = [];
  /** Whether the start-up adoption found anything the original service left (settled once it ran; false on a cluster). */
  private readonly adoptionFound: Promise<boolean>;
  private settleAdoption!: (found: boolean) => void;

  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    config: AppConfig,
  ) {
    this.adoptionFound = new Promise((resolve) => (this.settleAdoption = resolve));
    this.backend = createRedisBackend(redis);
    this.layout = this.backend.layout;
    this.scripts = new StateScripts(redis, config, this.layout);
    this.steps = new ApplySteps(this.backend, this.scripts);
    this.sweeps = new BucketSweeps(this.backend, this.scripts, this.steps);
    this.reads = new StateReads(this.backend, redis);
    this.health = new RedisHealth(this.backend);
    redis.on('ready', () => void this.connected());
    if (redis.status === 'ready') void this.connected();
  }

  /** Resolves once the Redis connection is ready, or after `timeoutMs` (whichever comes first). */
  async whenConnected(timeoutMs: number): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const redis = this.redis;
      function done() {
        clearTimeout(timer);
        redis.off('ready', done);
        resolve();
      }
      redis.once('ready', done);
    });
  }

  /** Whether the first connection's start-up work is done (the recovery room's watch runs from then on). */
  get prepared(): boolean {
    return this.connection !== undefined;
  }

  /** Called once the first connection's start-up work is done (at once if it is), then at every reconnection. */
  onConnected(listener: (notice: ConnectionNotice) => void): void {
    this.connectionListeners.push(listener);
    if (this.connection) listener({ first: true, markersWritten: this.connection.markersWritten });
  }

  /** For health's answer: on a cluster every master is named. */
  get isClustered(): boolean {
    return this.layout.clustered;
  }

  /** Whether sessions adopted from the original service may be held (one Redis): they end by the lease sweep, also without SESSION_TTL_SECONDS. */
  get mayHoldAdoptedSessions(): boolean {
    return this.backend.adoptsOriginal;
  }

  /** The change stream's recording from the next script call on (StateRebuild: off while replaying, the epoch's floor). */
  setChangeRecording(recording: ChangeRecording): void {
    this.scripts.setChangeRecording(recording);
  }

  /** Commands of the change stream (its outboxes, its snapshots' clocks), routed as the store's own: one pipeline per master. */
  inBuckets(calls: readonly BucketCall[]): Promise<Reply[]> {
    return this.backend.runInBuckets(calls);
  }

  /** The state's marker and epoch (see redis-health.ts). */
  readMarker(): Promise<{ since: string | null; epoch: string | null }> {
    return this.health.readMarker();
  }

  /** Marks the state as started now, unless it is marked already (every bucket's marker too). */
  markStarted(): Promise<void> {
    return this.health.markStarted();
  }

  /**
   * Claims a new epoch after a loss: the epoch moves from `seen` (the one the caller consumes,
   * null for the first) to `candidate` only if it is still `seen` (claim-epoch.lua), so when several
   * instances find the loss at once exactly one wins, also when the epoch key itself survived (a
   * cluster master without it came back empty); returns the epoch to consume. Marks the state
   * started first: an instance that sees the new epoch sees the markers too, not another loss.
   */
  async claimEpoch(seen: string | null, candidate: string): Promise<string> {
    await this.markStarted();
    return callRedis(() => this.scripts.claimEpoch(seen, candidate));
  }

  /** The rebuild's targets for an epoch (set-if-absent by the first instance to switch): what "caught up" means for everyone. */
  rebuildTargets(epoch: string, proposed: string): Promise<string> {
    return this.health.rebuildTargets(epoch, proposed);
  }

  /** Whether the start-up adoption found the original's state; undefined if it has not run within `timeoutMs` (Redis unreachable). */
  foundOriginalState(timeoutMs: number): Promise<boolean | undefined> {
    return Promise.race([this.adoptionFound, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), timeoutMs).unref())]);
  }

  /**
   * Single Redis: adopts what the original service left in it (original-adoption.ts), at start-up;
   * idempotent. Logged when there was anything to adopt or leave.
   */
  async adoptOriginal(): Promise<AdoptionReport> {
    const report = await adoptOriginalState(this.redis as Redis, async (ops, fields) => {
      return Number(await callRedis(() => this.scripts.call('adoptOriginal', 0, [JSON.stringify(ops), ...fields])));
    });
    if (report.sessions + report.seats + report.states + report.foreign > 0)
      this.log.warn(
        `Adopted the original service's state: ${report.sessions} live sessions, ${report.seats} voice seats; removed ${report.states} of its USER:STATE entries; left ${report.foreign} foreign hash entries as they were`,
      );
    return report;
  }

  /**
   * Applies the changes in order. Per-change results; throws only when Redis is unreachable.
   * `durable`: nothing will deliver these changes again if this process dies before it returns (the
   * HTTP session route): on a cluster their follow-ups are kept in the outbox until applied.
   */
  async apply(changes: readonly StateChange[], options: { durable?: boolean } = {}): Promise<ChangeResult[]> {
    if (changes.length === 0) return [];
    return this.backend.applyChanges(this.steps, changes, options.durable ?? false);
  }

  /**
   * One bounded step of a chat server's RESET: ends up to `step` of its sessions that started
   * before resetAtMs, in every bucket. `cursor` is "0" to start, then what the previous step
   * returned, until it returns "0" (on a cluster it lists the buckets not done yet).
   */
  endServerSessionsStep(serverId: string, resetAtMs: number, cursor: string, step: number): Promise<{ cursor: string; ended: number }> {
    return this.sweeps.bucketScanStep('resetServerSessions', serverId, resetAtMs, cursor, step);
  }

  /** One bounded step of a signaling server's RESET: ends up to `step` of the seats its JOINs took before resetAtMs, in every bucket. */
  endServerSeatsStep(serverId: string, resetAtMs: number, cursor: string, step: number): Promise<{ cursor: string; ended: number }> {
    return this.sweeps.bucketScanStep('resetVoiceServer', serverId, resetAtMs, cursor, step);
  }

  /** One bounded step of lease expiry (per bucket); returns how many sessions it ended. */
  expireSessionsStep(step: number): Promise<number> {
    return this.sweeps.expireSessionsStep(step);
  }

  /** One bounded step of the voice grace period (per bucket); returns how many users' grace ran out and how many seats ended. */
  expireVoiceGraceStep(step: number): Promise<{ users: number; seats: number }> {
    return this.sweeps.expireVoiceGraceStep(step);
  }

  /** The upkeep of the layout, once a second (the recovery room's scheduler): on a cluster the outboxes and old versions, each a bounded step per bucket. */
  upkeep(tick: number): Promise<void> {
    return this.backend.upkeep(this.sweeps, tick);
  }

  /** States of the given users (null for users never seen) and the guild's voice channels, in one round trip per node. */
  readGuild(guildId: string, userIds: readonly string[]): ReturnType<StateReads['readGuild']> {
    return this.reads.readGuild(guildId, userIds);
  }

  /** States of the given users (null for users never seen), in one round trip per node. */
  readStates(userIds: readonly string[]): Promise<(string | null)[]> {
    return this.reads.readStates(userIds);
  }

  /** Whether (userId, sessionId) has ended and how many live sessions the user has (the session route's answer), in one round trip. */
  readSessionEnd(userId: string, sessionId: string): Promise<{ ended: boolean; liveSessions: number }> {
    return this.reads.readSessionEnd(userId, sessionId);
  }

  /** One page of a guild's presence (see StateReads.readGuildPage). */
  readGuildPage(guildId: string, cursor: string, limit: number): ReturnType<StateReads['readGuildPage']> {
    return this.reads.readGuildPage(guildId, cursor, limit);
  }

  /** The presence totals for gauges, in O(1) per bucket. */
  readCounters(): Promise<{ knownUsers: number; onlineUsers: number; voiceSeats: number }> {
    return this.reads.readCounters();
  }

  /** Each master node: does it answer, how many keys does it hold. On a cluster, a bucket whose slot no master serves is reported too. */
  nodeStatuses(): Promise<NodeStatus[]> {
    return this.health.nodeStatuses();
  }

  /** The master node of each bucket ("host:port"), for key balance, recovery's failover watch and docs/cluster.md. */
  bucketMasters(): Map<number, string | undefined> {
    return new Map(this.layout.buckets.map((b) => [b, this.backend.nodeOfBucket(b)]));
  }

  /**
   * The start-up work, once: each bucket's own marker (a cluster's; on one Redis the one marker is
   * StateRebuild's to write), the original's expiries and state (one Redis). Then, and at every
   * later 'ready', the listeners are told (the recovery room's watch).
   */
  private async connected(): Promise<void> {
    try {
      if (!this.connection) {
        const markersWritten = await this.health.rearmBucketMarkers();
        this.connection = { markersWritten };
        this.settleAdoption(
          await this.backend.prepare(async () => {
            const report = await this.adoptOriginal();
            return report.sessions + report.seats + report.states > 0;
          }),
        );
        for (const listener of this.connectionListeners) listener({ first: true, markersWritten });
      } else {
        for (const listener of this.connectionListeners) listener({ first: false, markersWritten: false });
      }
    } catch {
      // Redis went away again: the next 'ready' (or the recovery room's watch) checks again.
    }
  }
}

/** What a connection brought: the first one (start-up work done; whether it wrote the bucket markers), or a reconnection. */
export interface ConnectionNotice {
  first: boolean;
  markersWritten: boolean;
}
