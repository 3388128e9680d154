import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import Redis, { ChainableCommander, ReplyError } from 'ioredis';
import { parseJsonKeepingNumbersAsText } from '../common/lossless-json';
import { isCluster, REDIS_CLIENT, RedisClient } from '../redis/redis.module';
import { isTransientReply } from '../redis/transient-reply';
import { AppConfig } from '../config/app-config';
import { KeyLayout, keySlot, redisKeys } from './redis-keys';
import { ChangeRecording, SCRIPTS, ScriptName, StateScripts } from './state-scripts';
import { AdoptionReport, adoptOriginalState } from './original-adoption';

/** One change to apply, already decided by a service's rules. Each is applied atomically by apply-events.lua. */
export type StateChange =
  | {
      kind: 'connect';
      userId: string;
      sessionId: string;
      state: string;
      atMs: number;
      serverId: string | undefined;
      guildIds: readonly string[];
    }
  | { kind: 'disconnect'; sessionId: string; userId: string | undefined }
  | { kind: 'heartbeat'; sessionId: string; userId: string | undefined }
  | { kind: 'join'; userId: string; guildId: string; channelId: string; atMs: number; serverId: string | undefined }
  | { kind: 'leave'; userId: string; guildId: string; channelId: string; atMs: number };

/** What one change did: the state changed, the same was known already (redelivery), or it is older than what is known. */
export type StoredOutcome = 'applied' | 'duplicate' | 'stale';

/**
 * Per-event outcome as the ingest layer counts it: stored outcomes, `ignored` (a routine record
 * that carries nothing, with the reason) and `rejected` (Redis refused this one change: dead-lettered).
 */
export type ApplyOutcome = StoredOutcome | { ignored: string } | { rejected: string };

/** The result of one change: its outcome, and for a DISCONNECT the user it resolved and whether it ended their last live session. */
export interface ChangeResult {
  outcome: StoredOutcome | { rejected: string };
  userId?: string;
  endedLastSession?: boolean;
  /** Sessions ended to keep the user within MAX_SESSIONS_PER_USER (CONNECT). */
  sessionsEvicted?: number;
}

/** Redis could not be reached (or answered too late); the same work may be retried as a whole. */
export class StateStoreUnavailableError extends Error {
  override readonly name = 'StateStoreUnavailableError';
}

/** Voice channels of a guild: channelId -> userIds. */
export type ChannelMembers = Record<string, string[]>;

/** A GUILD:<id> field the service cannot read (another writer's bytes): skipped in answers, replaced by the next write. */
export interface UnreadableValue {
  key: string;
  field: string;
}

/** One Redis node (a cluster master, or the single Redis) as health and metrics see it. */
export interface NodeStatus {
  node: string;
  up: boolean;
  error?: string;
  /** Keys it holds (DBSIZE), when up. */
  keys?: number;
}

/**
 * Events per script call. One command per event costs ~10 µs of client and server overhead each;
 * one per run of events amortises it. Bounded so that one call keeps Redis busy for a few ms at
 * most and queries are not held up behind it.
 */
const EVENTS_PER_SCRIPT_CALL = 200;

/** Follow-ups per apply-follow-ups.lua call (cluster). */
const FOLLOW_UPS_PER_SCRIPT_CALL = 500;

/** Most fields or members one read command asks for, so that no single command blocks Redis for long. */
const READ_CHUNK = 1000;

/** Cluster upkeep: how often it runs; outbox entries older than this were left by a crash and are applied then. */
const UPKEEP_INTERVAL_MS = 1000;
const OUTBOX_GRACE_MS = 5000;
/** Versions that say "absent" are forgotten after this (seconds; see prune-versions.lua), a bounded step at a time. */
const ABSENT_VERSION_TTL_SECONDS = 3600;
const UPKEEP_STEP = 500;

/** One script call or command for one bucket; `reply` is filled in by runInBuckets. */
export interface BucketCall {
  bucket: number;
  queue: (pipeline: ChainableCommander) => void;
}

/** A step of one event in one bucket: its index in the batch and its encoded form (apply-events.lua). */
interface EventStep {
  index: number;
  bucket: number;
  event: unknown[];
}

/**
 * The only code that talks to Redis about state. Writes go through the Lua scripts in ./scripts,
 * many events per atomic script call, several calls per pipelined round trip.
 *
 * On a single Redis (REDIS_URL) that is one round trip per batch, keys with today's names. On Redis
 * Cluster (REDIS_CLUSTER_NODES) every script call touches one bucket (one slot) and a batch is
 * applied in steps, each one pipeline per master, all masters at once (docs/cluster.md):
 *   1. the session-id bucket of CONNECTs, and of DISCONNECTs / HEARTBEATs naming no user;
 *   2. the user's bucket: the rules, which return their follow-ups (kept in the bucket's outbox);
 *   3. the follow-ups, in the guild's (or session id's) bucket, newest version winning;
 *   4. the follow-ups confirmed: removed from the outboxes.
 */
@Injectable()
export class StateStore implements OnApplicationShutdown {
  private readonly log = new Logger('StateStore');
  readonly layout: KeyLayout;
  private readonly scripts: StateScripts;
  private readonly clustered: boolean;
  private readonly bucketSlots: number[];
  private connectedBefore = false;
  /** Whether the start-up adoption found anything the original service left (settled once it ran; false on a cluster). */
  private readonly adoptionFound: Promise<boolean>;
  private settleAdoption!: (found: boolean) => void;
  /**
   * Whether the markers were ever there in this process's time (written by it, or found): until then
   * a missing marker is a new deployment that StateRebuild has not marked yet (it waits for Kafka
   * first), not a loss.
   */
  private markersSeen = false;
  /** When Redis was found to have lost the state (a bucket's marker missing), and on which nodes. */
  private emptiedAt?: Date;
  private emptiedOn: string[] = [];
  private upkeep?: NodeJS.Timeout;
  private upkeepRunning = false;
  private stopped = false;
  private ticks = 0;
  /** Per bucket: the master node and its run id, as last seen; a change means failover or restart. */
  private masterOf = new Map<number, string>();
  private lastHealthyAt = new Map<string, number>();
  private readonly rewindListeners: ((sinceMs: number, reason: string) => void)[] = [];
  private readonly replayWindowMs: number;

  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    private readonly config: AppConfig,
  ) {
    this.adoptionFound = new Promise((resolve) => (this.settleAdoption = resolve));
    this.clustered = isCluster(redis);
    this.layout = new KeyLayout(this.clustered);
    this.bucketSlots = this.layout.buckets.map((b) => keySlot(this.layout.anchor(b)));
    this.replayWindowMs = config.REDIS_FAILOVER_REPLAY_SECONDS * 1000;
    this.scripts = new StateScripts(redis, config, this.layout);
    redis.on('ready', () => void this.onConnected());
    if (redis.status === 'ready') void this.onConnected();
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

  get isClustered(): boolean {
    return this.clustered;
  }

  /** The change stream's recording from the next script call on (StateRebuild: off while replaying, the epoch's floor). */
  setChangeRecording(recording: ChangeRecording): void {
    this.scripts.setChangeRecording(recording);
  }

  /** Commands of the change stream (its outboxes, its snapshots' clocks), routed as the store's own: one pipeline per master. */
  inBuckets(calls: readonly BucketCall[]): Promise<[Error | null, unknown][]> {
    return this.runInBuckets(calls);
  }

  /**
   * The state's marker (STATE_STORE:SINCE: absent when Redis lost the state or never had it) and
   * epoch (STATE_STORE:EPOCH: absent until the first rebuild). See src/state-rebuild. On a cluster
   * these two keys live on whichever master serves their slots; each bucket also has its own marker
   * (stateLostOn), so that one master restarting empty is noticed too.
   */
  async readMarker(): Promise<{ since: string | null; epoch: string | null }> {
    const [since, epoch] = await this.call(() =>
      Promise.all([this.redis.get(redisKeys.storeMarker), this.redis.get(redisKeys.storeEpoch)]),
    );
    return { since, epoch };
  }

  /** Marks the state as started now, unless it is marked already. */
  async markStarted(): Promise<void> {
    await this.call(() => this.redis.set(redisKeys.storeMarker, new Date().toISOString(), 'NX'));
    if (this.clustered) await this.rearmMarkers();
    this.markersSeen = true;
    this.emptiedAt = undefined;
    this.emptiedOn = [];
  }

  /** Cluster: writes every bucket's marker (set-if-absent) and forgets a loss found before; after a rebuild started. */
  async rearmMarkers(): Promise<void> {
    await this.runInBuckets(
      this.layout.buckets.map((bucket) => ({ bucket, queue: (p) => p.set(this.layout.marker(bucket), new Date().toISOString(), 'NX') })),
    );
    this.markersSeen = true;
    this.emptiedAt = undefined;
    this.emptiedOn = [];
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
    return this.call(() => this.scripts.claimEpoch(seen, candidate));
  }

  /** The rebuild's targets for an epoch (set-if-absent by the first instance to switch): what "caught up" means for everyone. */
  async rebuildTargets(epoch: string, proposed: string): Promise<string> {
    const key = `${redisKeys.storeRebuildPrefix}${epoch}`;
    await this.call(() => this.redis.set(key, proposed, 'NX'));
    return (await this.call(() => this.redis.get(key)))!;
  }

  /**
   * Set when a bucket's marker (cluster: one per bucket, each master holds several) is missing
   * although this process wrote it: that Redis node restarted without persistence (or was flushed),
   * so its part of the state is gone. StateRebuild then rebuilds it (or reports it, STATE_REBUILD=off).
   */
  get stateLostAt(): Date | undefined {
    return this.emptiedAt;
  }

  get stateLostOn(): readonly string[] {
    return this.emptiedOn;
  }

  /**
   * Called when a bucket's master changed (a failover: a replica promoted) or restarted (its run id
   * changed): writes it acknowledged in its last moments may be lost (replication is asynchronous).
   * `sinceMs`: replay what was applied from then on (REDIS_FAILOVER_REPLAY_SECONDS before that node
   * was last seen healthy). The ingest layer rewinds its partitions (src/ingest/redis-failover-rewind.ts).
   */
  onRewindNeeded(listener: (sinceMs: number, reason: string) => void): void {
    this.rewindListeners.push(listener);
  }

  onApplicationShutdown(): void {
    this.stop();
  }

  /** Stops the periodic upkeep (the client is closed by its owner). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.upkeep);
    this.upkeep = undefined;
  }

  private async onConnected(): Promise<void> {
    if (this.stopped) return;
    try {
      if (!this.connectedBefore) {
        // Per-bucket markers on a cluster; on a single Redis the one marker is StateRebuild's to write.
        if (this.clustered) await this.rearmMarkers();
        this.connectedBefore = true;
        if (!this.clustered) {
          await this.clearInheritedExpiries();
          const report = await this.adoptOriginal();
          this.settleAdoption(report.sessions + report.seats + report.states > 0);
        } else this.settleAdoption(false);
        await this.checkTopology();
        if (!this.stopped && !this.upkeep) {
          this.upkeep = setInterval(() => void this.runUpkeep(), UPKEEP_INTERVAL_MS);
          this.upkeep.unref();
        }
      } else {
        await this.checkMarkers();
      }
    } catch {
      // Redis went away again: the next 'ready' (or upkeep) checks again.
    }
  }

  /**
   * Every second: the markers (state lost?), each bucket's master (failover?) and, on a cluster,
   * the outboxes (follow-ups a crashed instance left) and old "absent" versions. Each a bounded
   * step per bucket, one pipeline per master.
   */
  private async runUpkeep(): Promise<void> {
    if (this.upkeepRunning || this.stopped) return;
    this.upkeepRunning = true;
    try {
      await this.checkMarkers();
      await this.checkTopology();
      if (this.clustered) {
        await this.drainOutboxes();
        if (this.ticks++ % 10 === 0) await this.runEverywhere('pruneVersions', [ABSENT_VERSION_TTL_SECONDS, UPKEEP_STEP]);
      }
    } catch {
      // Redis unreachable: readiness says so; the next tick tries again.
    } finally {
      this.upkeepRunning = false;
    }
  }

  private async checkMarkers(): Promise<void> {
    // Also on one Redis (whose one marker StateRebuild reads too): a master that restarted empty must not be replayed onto (checkTopology).
    if (this.emptiedAt || !this.connectedBefore) return;
    const replies = await this.runInBuckets(
      this.layout.buckets.map((bucket) => ({ bucket, queue: (p) => p.exists(this.layout.marker(bucket)) })),
    );
    const lost = new Set<string>();
    replies.forEach(([error, exists], i) => {
      if (!error && Number(exists) === 0) lost.add(this.nodeOfBucket(this.layout.buckets[i]) ?? 'unknown node');
    });
    if (lost.size === 0) {
      this.markersSeen = true;
      return;
    }
    if (!this.markersSeen) return; // a new deployment, not marked yet (StateRebuild marks it once it has asked Kafka)
    this.emptiedAt = new Date();
    this.emptiedOn = [...lost].sort();
    // The fact only: StateRebuild logs, once, what happens next (a rebuild, or with STATE_REBUILD=off the manual steps).
    this.log.warn(
      `Redis came back without ${this.layout.marker(0).replace(/^\{[^}]*\}/, '')} on ${this.emptiedOn.join(', ')}: its state was lost`,
    );
  }

  /**
   * Each bucket's master and that master's run id (INFO server): a new master (failover) or a new
   * run id (a restart, with or without persistence) means the last writes may be gone, so the
   * listeners rewind. Also records when each node last answered.
   */
  private async checkTopology(): Promise<void> {
    const statuses = await this.nodeRunIds();
    const now = Date.now();
    for (const [node, runId] of statuses) if (runId) this.lastHealthyAt.set(`${node}`, now);
    const changed: string[] = [];
    let since = now - this.replayWindowMs;
    for (const bucket of this.layout.buckets) {
      const node = this.nodeOfBucket(bucket);
      const runId = node ? statuses.get(node) : undefined;
      if (!node || !runId) continue;
      const identity = `${node}#${runId}`;
      const before = this.masterOf.get(bucket);
      this.masterOf.set(bucket, identity);
      if (before && before !== identity) {
        const oldNode = before.slice(0, before.lastIndexOf('#'));
        changed.push(`${oldNode} -> ${identity.replace('#', ' run ')}`);
        since = Math.min(since, (this.lastHealthyAt.get(oldNode) ?? now) - this.replayWindowMs);
      }
    }
    if (changed.length === 0) return;
    // Restarted empty: replaying a few seconds cannot bring the state back; the rebuild can (checkMarkers says so).
    await this.checkMarkers();
    if (this.emptiedAt) return;
    const reason = `Redis master changed or restarted (${[...new Set(changed)].join('; ')})`;
    this.log.warn(`${reason}: its last writes may be lost; replaying from ${new Date(since).toISOString()}`);
    for (const listener of this.rewindListeners) listener(since, reason);
  }

  /** Run id per master node ('' when it does not answer). */
  private async nodeRunIds(): Promise<Map<string, string>> {
    const result = new Map<string, string>();
    await Promise.all(
      this.masters().map(async ({ name, client }) => {
        const info = await withTimeout(client.info('server'), 2000).catch(() => '');
        result.set(name, /run_id:(\w+)/.exec(info)?.[1] ?? '');
      }),
    );
    return result;
  }

  /**
   * The original service set a whole-key expiry on USER:STATE and GUILD:* after every write; taken
   * over as they are, everyone would read offline once it ran out. Cleared here at start-up (SCAN,
   * a batch at a time) and by the scripts whenever they write those keys. (Single Redis only: the
   * original never ran on a cluster.)
   */
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
      return Number(await this.call(() => this.scripts.call('adoptOriginal', 0, [JSON.stringify(ops), ...fields])));
    });
    if (report.sessions + report.seats + report.states + report.foreign > 0)
      this.log.warn(
        `Adopted the original service's state: ${report.sessions} live sessions, ${report.seats} voice seats; removed ${report.states} of its USER:STATE entries; left ${report.foreign} foreign hash entries as they were`,
      );
    return report;
  }

  private async clearInheritedExpiries(): Promise<void> {
    const redis = this.redis as Redis;
    let cleared = await redis.persist(this.layout.userStates(0));
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', 'GUILD:*', 'COUNT', READ_CHUNK);
      cursor = next;
      if (keys.length > 0) {
        const pipeline = redis.pipeline();
        for (const key of keys) pipeline.persist(key);
        for (const [, result] of (await pipeline.exec()) ?? []) cleared += Number(result ?? 0);
      }
    } while (cursor !== '0');
    if (cleared > 0)
      this.log.warn(`Cleared an inherited expiry on ${cleared} keys (USER:STATE, GUILD:*): the original service expired them whole`);
  }

  /**
   * Applies the changes in order. Per-change results; throws only when Redis is unreachable.
   * `durable`: nothing will deliver these changes again if this process dies before it returns (the
   * HTTP session route): on a cluster their follow-ups are kept in the outbox until applied.
   */
  async apply(changes: readonly StateChange[], options: { durable?: boolean } = {}): Promise<ChangeResult[]> {
    if (changes.length === 0) return [];
    const durable = options.durable ?? false;
    if (!this.clustered) {
      const steps = changes.map((change, index) => ({ index, bucket: 0, event: encodeChange(change, '') }));
      const { replies } = await this.runSteps(steps, false);
      return replies.map(decodeResult);
    }
    const results = new Array<ChangeResult>(changes.length);

    // 1. The session id's bucket: CONNECT claims the id; a DISCONNECT or HEARTBEAT naming no user finds it.
    const idSteps: EventStep[] = [];
    changes.forEach((change, index) => {
      if (change.kind === 'connect')
        idSteps.push({ index, bucket: this.layout.bucketOf(change.sessionId), event: ['c', change.sessionId, change.userId] });
      else if ((change.kind === 'disconnect' || change.kind === 'heartbeat') && !change.userId) {
        idSteps.push({
          index,
          bucket: this.layout.bucketOf(change.sessionId),
          event: [change.kind === 'disconnect' ? 'd' : 'h', change.sessionId],
        });
      }
    });
    const found = new Map<number, unknown>();
    if (idSteps.length > 0) (await this.runSteps(idSteps, false)).replies.forEach((reply, i) => found.set(idSteps[i].index, reply));

    // 2. The user's bucket: the rules.
    const userSteps: EventStep[] = [];
    changes.forEach((change, index) => {
      const first = found.get(index);
      if (typeof first === 'string' && change.kind === 'connect') return void (results[index] = decodeResult(first));
      let userId = 'userId' in change ? change.userId : undefined;
      if (change.kind === 'disconnect' && !userId) {
        const [code, owner] = Array.isArray(first) ? (first as [number, string]) : [undefined, ''];
        if (!owner) return void (results[index] = Array.isArray(first) ? decodeResult([code, '', 0]) : decodeResult(first));
        userId = owner;
      }
      if (change.kind === 'heartbeat' && !userId) {
        // The step answers [owner's id, '' if none], or the text of an error Redis raised.
        if (!Array.isArray(first)) return void (results[index] = decodeResult(first));
        const [owner] = first as [string];
        if (!owner) return void (results[index] = { outcome: 'duplicate' });
        userId = owner;
      }
      const claimed = change.kind === 'connect' ? (first === 1 ? '1' : '0') : '';
      userSteps.push({ index, bucket: this.layout.bucketOf(userId!), event: encodeChange({ ...change, userId } as StateChange, claimed) });
    });
    const { replies, followUps } = await this.runSteps(userSteps, durable);
    replies.forEach((reply, i) => (results[userSteps[i].index] = decodeResult(reply)));

    // 3 and 4: the follow-ups in their buckets, then out of the outboxes.
    await this.settle(followUps);
    return results;
  }

  /**
   * One bounded step of a chat server's RESET: ends up to `step` of its sessions that started
   * before resetAtMs, in every bucket. `cursor` is "0" to start, then what the previous step
   * returned, until it returns "0" (on a cluster it lists the buckets not done yet).
   */
  async endServerSessionsStep(
    serverId: string,
    resetAtMs: number,
    cursor: string,
    step: number,
  ): Promise<{ cursor: string; ended: number }> {
    return this.bucketScanStep('resetServerSessions', serverId, resetAtMs, cursor, step);
  }

  /** One bounded step of a signaling server's RESET: ends up to `step` of the seats its JOINs took before resetAtMs, in every bucket. */
  async endServerSeatsStep(serverId: string, resetAtMs: number, cursor: string, step: number): Promise<{ cursor: string; ended: number }> {
    return this.bucketScanStep('resetVoiceServer', serverId, resetAtMs, cursor, step);
  }

  /** One bounded step of lease expiry (per bucket); returns how many sessions it ended. */
  async expireSessionsStep(step: number): Promise<number> {
    const replies = await this.runEverywhere('expireSessions', [step]);
    return replies.reduce((sum, [ended]) => sum + Number(ended), 0);
  }

  /** One bounded step of the voice grace period (per bucket); returns how many users' grace ran out and how many seats ended. */
  async expireVoiceGraceStep(step: number): Promise<{ users: number; seats: number }> {
    const replies = await this.runEverywhere('expireVoiceGrace', [step]);
    return replies.reduce((sum, [users, seats]) => ({ users: sum.users + Number(users), seats: sum.seats + Number(seats) }), {
      users: 0,
      seats: 0,
    });
  }

  /** States of the given users (null for users never seen) and the guild's voice channels, in one round trip per node. */
  async readGuild(
    guildId: string,
    userIds: readonly string[],
  ): Promise<{ states: (string | null)[]; channels: ChannelMembers; unreadable: UnreadableValue[] }> {
    const key = this.layout.guildChannels(guildId);
    const reads = this.stateReads(userIds);
    const replies = await this.runInBuckets([...reads.calls, { bucket: this.layout.bucketOf(guildId), queue: (p) => p.hgetall(key) }]);
    const failed = replies.find(([error]) => error);
    if (failed) throw new StateStoreUnavailableError(failed[0]!.message);
    return { states: reads.assemble(replies), ...parseChannels(key, replies[replies.length - 1][1] as Record<string, string>) };
  }

  /** States of the given users (null for users never seen), in one round trip per node of commands of at most READ_CHUNK fields. */
  async readStates(userIds: readonly string[]): Promise<(string | null)[]> {
    if (userIds.length === 0) return [];
    const reads = this.stateReads(userIds);
    const replies = await this.runInBuckets(reads.calls);
    const failed = replies.find(([error]) => error);
    if (failed) throw new StateStoreUnavailableError(failed[0]!.message);
    return reads.assemble(replies);
  }

  /** Whether (userId, sessionId) has ended and how many live sessions the user has (the session route's answer), in one round trip. */
  async readSessionEnd(userId: string, sessionId: string): Promise<{ ended: boolean; liveSessions: number }> {
    const bucket = this.layout.bucketOf(userId);
    const [[stateError, state], [countError, count]] = await this.runInBuckets([
      { bucket, queue: (p) => p.hget(this.layout.session(userId, sessionId), 'state') },
      { bucket, queue: (p) => p.hlen(this.layout.userSessions(userId)) },
    ]);
    const failed = stateError ?? countError;
    if (failed) throw new StateStoreUnavailableError(failed.message);
    return { ended: state === 'ended', liveSessions: Number(count) };
  }

  /**
   * One page of a guild's presence: about `limit` of its online members from SSCAN position
   * `cursor` (start: "0"), with their states, and the guild's voice channels. The first page also
   * holds the users sitting in its channels. Read in bounded commands (SSCAN, HMGET of at most
   * READ_CHUNK fields), so a guild of any size never blocks Redis; pages are not one atomic view,
   * which a presence list does not need. `nextCursor` is undefined on the last page.
   */
  async readGuildPage(
    guildId: string,
    cursor: string,
    limit: number,
  ): Promise<{
    userIds: string[];
    states: (string | null)[];
    channels: ChannelMembers;
    unreadable: UnreadableValue[];
    nextCursor?: string;
  }> {
    const key = this.layout.guildChannels(guildId);
    const onlineKey = this.layout.guildOnline(guildId);
    const users = new Set<string>();
    let position = cursor;
    do {
      const [next, members] = await this.call(() => this.redis.sscan(onlineKey, position, 'COUNT', Math.min(limit, READ_CHUNK)));
      position = next;
      for (const m of members) users.add(m);
    } while (position !== '0' && users.size < limit);
    const { channels, unreadable } = parseChannels(key, await this.call(() => this.redis.hgetall(key)));
    if (cursor === '0') for (const members of Object.values(channels)) for (const m of members) users.add(m);
    const userIds = [...users];
    return { userIds, states: await this.readStates(userIds), channels, unreadable, ...(position !== '0' ? { nextCursor: position } : {}) };
  }

  /**
   * The presence totals for gauges, in O(1) per bucket: users ever seen (HLEN of USER:STATE, each
   * shard on a cluster) and the counters the scripts keep exact in STATE_COUNTERS (one per bucket
   * on a cluster, summed here; 0 before the first event that moves them). One round trip per node.
   */
  async readCounters(): Promise<{ knownUsers: number; onlineUsers: number; voiceSeats: number }> {
    const calls: BucketCall[] = [];
    for (const bucket of this.layout.buckets) {
      calls.push({ bucket, queue: (p) => p.hlen(this.layout.userStates(bucket)) });
      calls.push({ bucket, queue: (p) => p.hmget(this.layout.counters(bucket), 'online_users', 'voice_seats') });
    }
    const replies = await this.runInBuckets(calls);
    const failed = replies.find(([error]) => error);
    if (failed) throw new StateStoreUnavailableError(failed[0]!.message);
    const totals = { knownUsers: 0, onlineUsers: 0, voiceSeats: 0 };
    for (let i = 0; i < replies.length; i += 2) {
      const [online, seats] = replies[i + 1][1] as (string | null)[];
      totals.knownUsers += Number(replies[i][1]);
      totals.onlineUsers += Number(online ?? 0);
      totals.voiceSeats += Number(seats ?? 0);
    }
    return totals;
  }

  /** Each master node: does it answer, how many keys does it hold. On a cluster, a bucket whose slot no master serves is reported too. */
  async nodeStatuses(): Promise<NodeStatus[]> {
    const statuses = await Promise.all(
      this.masters().map(async ({ name, client }): Promise<NodeStatus> => {
        try {
          await withTimeout(client.ping(), 2000);
          return { node: name, up: true, keys: await withTimeout(client.dbsize(), 2000) };
        } catch (error) {
          return { node: name, up: false, error: (error as Error).message };
        }
      }),
    );
    if (this.clustered) {
      const uncovered = this.layout.buckets.filter((b) => !this.nodeOfBucket(b));
      if (uncovered.length > 0)
        statuses.push({
          node: `slots ${uncovered.map((b) => this.bucketSlots[b]).join(',')}`,
          up: false,
          error: 'no master serves these slots',
        });
      if (this.masters().length === 0) statuses.push({ node: 'cluster', up: false, error: `not connected (${this.redis.status})` });
    }
    return statuses.sort((a, b) => a.node.localeCompare(b.node));
  }

  /** The master node of each bucket ("host:port"), for key balance and docs/cluster.md. */
  bucketMasters(): Map<number, string | undefined> {
    return new Map(this.layout.buckets.map((b) => [b, this.nodeOfBucket(b)]));
  }

  // --- cluster steps ------------------------------------------------------------------------------

  /**
   * Runs event steps: grouped by bucket (order kept within a bucket), at most
   * EVENTS_PER_SCRIPT_CALL per apply-events.lua call, all calls at once (one pipeline per node).
   * Returns each step's reply, in the order given, and every follow-up the calls returned.
   */
  private async runSteps(steps: readonly EventStep[], durable: boolean): Promise<{ replies: unknown[]; followUps: FollowUpBatch[] }> {
    const byBucket = new Map<number, number[]>();
    steps.forEach((step, i) => {
      const list = byBucket.get(step.bucket) ?? [];
      list.push(i);
      byBucket.set(step.bucket, list);
    });
    const calls: (BucketCall & { members: number[] })[] = [];
    for (const [bucket, members] of byBucket) {
      for (let start = 0; start < members.length; start += EVENTS_PER_SCRIPT_CALL) {
        const run = members.slice(start, start + EVENTS_PER_SCRIPT_CALL);
        const payload = JSON.stringify(run.map((i) => steps[i].event));
        calls.push({ bucket, members: run, queue: (p) => this.queueScript(p, 'applyEvents', bucket, [payload, durable ? '1' : '0']) });
      }
    }
    const replies: unknown[] = new Array(steps.length);
    const followUps: FollowUpBatch[] = [];
    (await this.runInBuckets(calls)).forEach(([error, result], c) => {
      if (error) throw scriptFailure('apply-events.lua', error);
      const [outcomes, [texts, kept]] = result as [unknown[], [string[], string[]]];
      calls[c].members.forEach((stepIndex, j) => (replies[stepIndex] = outcomes[j]));
      if (texts.length > 0) followUps.push({ bucket: calls[c].bucket, texts, kept });
    });
    return { replies, followUps };
  }

  /**
   * The follow-ups (cluster): applied in their buckets (a guild's view and online set, a session
   * id's claims), then those kept in an outbox removed from it. If this process dies in between,
   * those stay in the outboxes and any instance applies them (drainOutboxes); the others belong to
   * Kafka records whose offsets are not committed yet, which a redelivery sends again. Applying one
   * twice changes nothing.
   */
  private async settle(batches: readonly FollowUpBatch[]): Promise<void> {
    if (batches.length === 0) return;
    const byTarget = new Map<number, string[]>();
    for (const { texts } of batches) {
      for (const text of texts) {
        const target = this.layout.bucketOf(followUpTarget(text));
        const list = byTarget.get(target) ?? [];
        list.push(text);
        byTarget.set(target, list);
      }
    }
    const calls: BucketCall[] = [];
    for (const [bucket, texts] of byTarget) {
      for (let start = 0; start < texts.length; start += FOLLOW_UPS_PER_SCRIPT_CALL) {
        const payload = JSON.stringify(texts.slice(start, start + FOLLOW_UPS_PER_SCRIPT_CALL));
        calls.push({ bucket, queue: (p) => this.queueScript(p, 'applyFollowUps', bucket, [payload]) });
      }
    }
    for (const [error] of await this.runInBuckets(calls)) if (error) throw scriptFailure('apply-follow-ups.lua', error);
    const confirms: BucketCall[] = [];
    for (const { bucket, kept } of batches) {
      for (let start = 0; start < kept.length; start += READ_CHUNK) {
        const members = kept.slice(start, start + READ_CHUNK);
        confirms.push({ bucket, queue: (p) => p.zrem(this.layout.outbox(bucket), ...members) });
      }
    }
    for (const [error] of await this.runInBuckets(confirms)) if (error) throw scriptFailure('ZREM outbox', error);
  }

  /** Follow-ups older than OUTBOX_GRACE_MS still in an outbox: their producer died before applying them. Applied now. */
  private async drainOutboxes(): Promise<void> {
    const cutoff = String((Date.now() - OUTBOX_GRACE_MS) * 1000);
    const replies = await this.runInBuckets(
      this.layout.buckets.map((bucket) => ({
        bucket,
        queue: (p) => p.zrangebyscore(this.layout.outbox(bucket), '-inf', cutoff, 'LIMIT', 0, UPKEEP_STEP),
      })),
    );
    const batches: FollowUpBatch[] = [];
    replies.forEach(([error, texts], i) => {
      if (!error && (texts as string[]).length > 0)
        batches.push({ bucket: this.layout.buckets[i], texts: texts as string[], kept: texts as string[] });
    });
    if (batches.length === 0) return;
    await this.settle(batches);
    this.log.warn(
      `Applied ${batches.reduce((n, b) => n + b.texts.length, 0)} follow-ups left in the outboxes (an instance stopped between the steps of an apply)`,
    );
  }

  /** A script run once in every bucket (sweeps); its follow-ups settled. Returns each bucket's reply without the follow-ups. */
  private async runEverywhere(name: ScriptName, args: readonly (string | number)[]): Promise<unknown[][]> {
    const replies = await this.runInBuckets(
      this.layout.buckets.map((bucket) => ({ bucket, queue: (p) => this.queueScript(p, name, bucket, args) })),
    );
    const results: unknown[][] = [];
    const batches: FollowUpBatch[] = [];
    replies.forEach(([error, reply], i) => {
      if (error) throw scriptFailure(`${SCRIPTS[name]}.lua`, error);
      if (!Array.isArray(reply)) return void results.push([reply]); // no follow-ups (prune-versions)
      const values = [...(reply as unknown[])];
      const [texts, kept] = values.pop() as [string[], string[]];
      if (texts.length > 0) batches.push({ bucket: this.layout.buckets[i], texts, kept });
      results.push(values);
    });
    await this.settle(batches);
    return results;
  }

  /** One step of a RESET in every bucket not done yet; the cursor lists "bucket:sscan-cursor" of those (see endServerSessionsStep). */
  private async bucketScanStep(
    name: 'resetServerSessions' | 'resetVoiceServer',
    serverId: string,
    resetAtMs: number,
    cursor: string,
    step: number,
  ) {
    const pending: [number, string][] =
      cursor === '0'
        ? this.layout.buckets.map((b) => [b, '0'])
        : cursor.split(',').map((part) => {
            const [bucket, at] = part.split(':');
            return [Number(bucket), at];
          });
    const replies = await this.runInBuckets(
      pending.map(([bucket, at]) => ({ bucket, queue: (p) => this.queueScript(p, name, bucket, [serverId, resetAtMs, at, step]) })),
    );
    const next: string[] = [];
    const batches: FollowUpBatch[] = [];
    let ended = 0;
    replies.forEach(([error, reply], i) => {
      if (error) throw scriptFailure(`${SCRIPTS[name]}.lua`, error);
      const [nextCursor, count, [texts, kept]] = reply as [string, number, [string[], string[]]];
      ended += Number(count);
      if (texts.length > 0) batches.push({ bucket: pending[i][0], texts, kept });
      if (nextCursor !== '0') next.push(`${pending[i][0]}:${nextCursor}`);
    });
    await this.settle(batches);
    return { cursor: next.length > 0 ? next.join(',') : '0', ended };
  }

  // --- routing ------------------------------------------------------------------------------------

  /** USER:STATE reads: HMGET per bucket shard, at most READ_CHUNK fields each; `assemble` puts the answers back in the order asked. */
  private stateReads(userIds: readonly string[]): {
    calls: BucketCall[];
    assemble: (replies: [Error | null, unknown][]) => (string | null)[];
  } {
    const byBucket = new Map<number, number[]>();
    userIds.forEach((id, i) => {
      const bucket = this.layout.bucketOf(id);
      const list = byBucket.get(bucket) ?? [];
      list.push(i);
      byBucket.set(bucket, list);
    });
    const calls: (BucketCall & { members: number[] })[] = [];
    for (const [bucket, members] of byBucket) {
      for (let start = 0; start < members.length; start += READ_CHUNK) {
        const chunk = members.slice(start, start + READ_CHUNK);
        calls.push({ bucket, members: chunk, queue: (p) => p.hmget(this.layout.userStates(bucket), ...chunk.map((i) => userIds[i])) });
      }
    }
    return {
      calls,
      assemble: (replies) => {
        const states = new Array<string | null>(userIds.length).fill(null);
        calls.forEach((call, c) => (replies[c][1] as (string | null)[]).forEach((state, j) => (states[call.members[j]] = state)));
        return states;
      },
    };
  }

  /**
   * Runs one command per call, each in its bucket: one pipeline per master node (the calls of its
   * buckets, in order), all nodes at once, so a batch or a query costs one round trip per node
   * whatever its size. Replies in the order of the calls. Throws StateStoreUnavailableError when a
   * node cannot be reached or answers an error that passes (isTransientReply): the caller retries
   * the whole work, which is idempotent.
   */
  private async runInBuckets(calls: readonly BucketCall[]): Promise<[Error | null, unknown][]> {
    if (calls.length === 0) return [];
    const groups = new Map<string, number[]>();
    const slots = this.clustered ? (this.redis as unknown as { slots: string[][] }).slots : [];
    calls.forEach((call, i) => {
      // ioredis accepts a pipeline whose slots are all served by one set of nodes (master and replicas).
      const node = this.clustered ? (slots[this.bucketSlots[call.bucket]]?.join(';') ?? '?') : '';
      const list = groups.get(node) ?? [];
      list.push(i);
      groups.set(node, list);
    });
    const replies = new Array<[Error | null, unknown]>(calls.length);
    await Promise.all(
      [...groups.values()].map(async (members) => {
        const pipeline = this.redis.pipeline();
        for (const i of members) calls[i].queue(pipeline);
        const results = await this.exec(pipeline);
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

  /** The master ("host:port") serving a bucket's slot, as the client last learned it. */
  private nodeOfBucket(bucket: number): string | undefined {
    if (!this.clustered) return this.singleNodeName();
    return (this.redis as unknown as { slots: string[][] }).slots[this.bucketSlots[bucket]]?.[0];
  }

  private singleNodeName(): string {
    const { host, port } = (this.redis as Redis).options;
    return `${host}:${port}`;
  }

  /** The master nodes and a client for each. */
  private masters(): { name: string; client: Redis }[] {
    if (!this.clustered) return [{ name: this.singleNodeName(), client: this.redis as Redis }];
    const cluster = this.redis as unknown as { nodes(role: 'master'): Redis[]; slots: string[][] };
    const serving = new Set(this.layout.buckets.map((b) => this.nodeOfBucket(b)).filter(Boolean));
    return cluster
      .nodes('master')
      .map((client) => ({ name: `${client.options.host}:${client.options.port}`, client }))
      .filter(({ name }) => serving.has(name) || serving.size === 0);
  }

  private queueScript(pipeline: ChainableCommander, name: ScriptName, bucket: number, args: readonly (string | number)[]): void {
    this.scripts.queue(pipeline, name, bucket, args);
  }

  private async exec(pipeline: ChainableCommander): Promise<[Error | null, unknown][]> {
    const replies = await this.call(() => pipeline.exec());
    if (!replies) throw new StateStoreUnavailableError('Redis pipeline was discarded');
    return replies;
  }

  private async call<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      const message = (error as Error).message;
      if (error instanceof ReplyError && !isTransientReply(error)) throw error;
      throw new StateStoreUnavailableError(message);
    }
  }
}

/** Follow-ups one call returned, and those of them its bucket's outbox keeps until applied. */
interface FollowUpBatch {
  bucket: number;
  texts: string[];
  kept: string[];
}

/** The id whose bucket a follow-up is applied in: the guild ("V", "O") or the session id ("E"). */
function followUpTarget(text: string): string {
  const [, id] = JSON.parse(text) as [string, string];
  return id;
}

function scriptFailure(what: string, error: Error): Error {
  if (!(error instanceof ReplyError) || isTransientReply(error)) return new StateStoreUnavailableError(error.message);
  return new Error(`${what} failed: ${error.message}`);
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

/** The compact form apply-events.lua reads (see its header). `claimed`: '' on a single Redis; on a cluster what the session id's step found. */
function encodeChange(change: StateChange, claimed: string): unknown[] {
  switch (change.kind) {
    case 'connect':
      return ['C', change.userId, change.sessionId, change.state, String(change.atMs), change.serverId ?? '', change.guildIds, claimed];
    case 'disconnect':
      return ['D', change.sessionId, change.userId ?? ''];
    case 'heartbeat':
      return ['H', change.sessionId, change.userId ?? ''];
    case 'join':
      return ['J', change.userId, change.guildId, change.channelId, String(change.atMs), change.serverId ?? ''];
    case 'leave':
      return ['L', change.userId, change.guildId, change.channelId, String(change.atMs)];
  }
}

const STORED_OUTCOMES: Record<number, StoredOutcome> = { 0: 'duplicate', 1: 'applied', 2: 'stale' };

/** One entry of apply-events.lua's reply (see its header). */
function decodeResult(reply: unknown): ChangeResult {
  if (typeof reply === 'string') return { outcome: { rejected: `Redis refused the change: ${reply}` } };
  const [code, ...extra] = Array.isArray(reply) ? (reply as unknown[]) : [reply];
  const outcome = STORED_OUTCOMES[Number(code)];
  if (!outcome) return { outcome: { rejected: `apply-events.lua answered ${JSON.stringify(reply)}` } };
  if (extra.length === 2) return { outcome, userId: (extra[0] as string) || undefined, endedLastSession: extra[1] === 1 };
  if (extra.length === 1) return { outcome, sessionsEvicted: Number(extra[0]) };
  return { outcome };
}

const ID_TEXT = '[1-9][0-9]{0,18}';
const CANONICAL_ID = new RegExp(`^${ID_TEXT}$`);
/** Our own spelling of a channel's members (lib.lua writes only this): ["1","2"]. */
const OWN_MEMBER_LIST = new RegExp(`^\\["${ID_TEXT}"(?:,"${ID_TEXT}")*\\]$`);

/**
 * GUILD:<id> values are JSON arrays of ids; read losslessly and tolerantly: another writer's
 * spelling (spaces, numbers) is parsed, a value that is not a JSON array of ids (the original
 * service's JDK-serialized bytes) is skipped and reported, never an error. Our own spelling is
 * split as text, its ids already checked by the pattern (a full JSON parse was ~10 % of a query's CPU).
 */
function parseChannels(key: string, raw: Record<string, string>): { channels: ChannelMembers; unreadable: UnreadableValue[] } {
  const channels: ChannelMembers = {};
  const unreadable: UnreadableValue[] = [];
  for (const [channelId, members] of Object.entries(raw)) {
    if (!CANONICAL_ID.test(channelId)) {
      unreadable.push({ key, field: channelId });
      continue;
    }
    if (OWN_MEMBER_LIST.test(members)) {
      channels[channelId] = members.slice(2, -2).split('","');
      continue;
    }
    let parsed: unknown;
    try {
      parsed = parseJsonKeepingNumbersAsText(members);
    } catch {
      parsed = undefined;
    }
    const ids = Array.isArray(parsed) ? parsed.map(String) : undefined;
    if (!ids || !ids.every((id) => CANONICAL_ID.test(id))) {
      unreadable.push({ key, field: channelId });
      continue;
    }
    if (ids.length > 0) channels[channelId] = ids;
  }
  return { channels, unreadable };
}
