import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ConnectionNotice, StateStore } from '../state-store/state-store';
import { PeriodicSteps } from './periodic-steps';
import { RecoveryEvents } from './recovery-events';

/**
 * Watches Redis for what loses writes, every second (and at each reconnection):
 * - the markers (state lost?): a bucket's marker missing although this process saw it means that
 *   Redis node restarted without persistence (or was flushed), so its part of the state is gone;
 *   StateRebuild then rebuilds it (or reports it, STATE_REBUILD=off);
 * - each bucket's master and its run id (failover?): a new master (a replica promoted) or a new
 *   run id (a restart) means its last acknowledged writes may be lost (replication is
 *   asynchronous): the consumer replays from REDIS_FAILOVER_REPLAY_SECONDS before that node was last
 *   seen healthy (RecoveryEvents `rewind`).
 * Then the store's upkeep (on a cluster the outboxes and old versions).
 */
@Injectable()
export class RedisWatch implements OnModuleInit {
  private readonly log = new Logger('StateStore');
  /**
   * Whether the markers were ever there in this process's time (written by it, or found): until then
   * a missing marker is a new deployment that StateRebuild has not marked yet (it waits for Kafka
   * first), not a loss.
   */
  private markersSeen = false;
  /** When Redis was found to have lost the state (a bucket's marker missing), and on which nodes. */
  private lostAt?: Date;
  private lostOn: string[] = [];
  /** The first connection's look at the masters is done: the periodic watch runs from then on. */
  private watching = false;
  private ticks = 0;
  /** Per bucket: the master node and its run id, as last seen; a change means failover or restart. */
  private readonly masterOf = new Map<number, string>();
  private readonly lastHealthyAt = new Map<string, number>();
  private readonly replayWindowMs: number;

  constructor(
    private readonly store: StateStore,
    config: AppConfig,
    private readonly events: RecoveryEvents,
    private readonly periodic: PeriodicSteps,
  ) {
    this.replayWindowMs = config.REDIS_FAILOVER_REPLAY_SECONDS * 1000;
    store.onConnected((notice) => void this.connected(notice));
  }

  onModuleInit(): void {
    this.periodic.every('redis watch', () => this.tick());
  }

  /** Set when a bucket's marker went missing although this process saw it (see the class comment). */
  get stateLostAt(): Date | undefined {
    return this.lostAt;
  }

  get stateLostOn(): readonly string[] {
    return this.lostOn;
  }

  /** Marks the state started (every marker written) and forgets a loss found before: a rebuild started. */
  async markStarted(): Promise<void> {
    await this.store.markStarted();
    this.markersFound();
  }

  /** Claims a new epoch (StateStore.claimEpoch, which marks the state started first) and forgets a loss found before. */
  async claimEpoch(seen: string | null, candidate: string): Promise<string> {
    const epoch = await this.store.claimEpoch(seen, candidate);
    this.markersFound();
    return epoch;
  }

  private markersFound(): void {
    this.markersSeen = true;
    this.lostAt = undefined;
    this.lostOn = [];
  }

  private async connected({ first, markersWritten }: ConnectionNotice): Promise<void> {
    try {
      if (!first) return await this.checkMarkers();
      if (markersWritten) this.markersFound();
      await this.checkTopology();
      this.watching = true;
    } catch {
      // Redis went away again: the next 'ready' (or tick) checks again.
    }
  }

  /** Every second: the markers, each bucket's master, then the store's upkeep; each a bounded step per bucket, one pipeline per master. */
  private async tick(): Promise<void> {
    if (!this.watching) return;
    try {
      await this.checkMarkers();
      await this.checkTopology();
      await this.store.upkeep(this.ticks++);
    } catch {
      // Redis unreachable: readiness says so; the next tick tries again.
    }
  }

  private async checkMarkers(): Promise<void> {
    // Also on one Redis (whose one marker StateRebuild reads too): a master that restarted empty must not be replayed onto (checkTopology).
    if (this.lostAt || !this.store.prepared) return;
    const lost = await this.store.health.nodesMissingMarkers();
    if (lost.size === 0) {
      this.markersSeen = true;
      return;
    }
    if (!this.markersSeen) return; // a new deployment, not marked yet (StateRebuild marks it once it has asked Kafka)
    this.lostAt = new Date();
    this.lostOn = [...lost].sort();
    // The fact only: StateRebuild logs, once, what happens next (a rebuild, or with STATE_REBUILD=off the manual steps).
    this.log.warn(`Redis came back without ${this.store.health.markerName} on ${this.lostOn.join(', ')}: its state was lost`);
  }

  /**
   * Each bucket's master and that master's run id (INFO server): a new master (failover) or a new
   * run id (a restart, with or without persistence) means the last writes may be gone, so the
   * consumer rewinds. Also records when each node last answered.
   */
  private async checkTopology(): Promise<void> {
    const statuses = await this.store.health.masterRunIds();
    const now = Date.now();
    for (const [node, runId] of statuses) if (runId) this.lastHealthyAt.set(node, now);
    const changed: string[] = [];
    let since = now - this.replayWindowMs;
    for (const [bucket, node] of this.store.bucketMasters()) {
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
    if (this.lostAt) return;
    const reason = `Redis master changed or restarted (${[...new Set(changed)].join('; ')})`;
    this.log.warn(`${reason}: its last writes may be lost; replaying from ${new Date(since).toISOString()}`);
    this.events.publish({ kind: 'rewind', sinceMs: since, reason });
  }
}
