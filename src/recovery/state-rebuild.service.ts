import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Admin, KafkaJSProtocolError } from 'kafkajs';
import { AppConfig } from '../config/app-config';
import { createKafka } from '../kafka/kafka-client';
import { MetricsService } from '../metrics/metrics.service';
import { StateStore } from '../state-store/state-store';
import { PeriodicSteps } from './periodic-steps';
import { RecoveryEvents } from './recovery-events';
import { RedisWatch } from './redis-watch';
import { SwitchoverPoint } from './switchover-point';

const PROGRESS_LOG_MS = 5000;
/** How long start-up waits for Redis before consuming, so that the marker is checked first in the usual case. */
const SETTLE_WAIT_MS = 3000;

/**
 * The group's committed offsets on a topic; none when the group never committed. Apache Kafka answers
 * OffsetFetch of such a group with offset -1 per partition; other brokers (franz-go's kfake, some
 * Kafka-compatible services) with GROUP_ID_NOT_FOUND, which means the same and not that Kafka is unreachable.
 */
async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<{ partition: number; offset: string }[]> {
  try {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return offsets?.partitions ?? [];
  } catch (error) {
    if ((error as KafkaJSProtocolError).type === 'GROUP_ID_NOT_FOUND') return [];
    throw error;
  }
}

/** Per partition ("topic:partition"): where the retained log starts and the end offset a rebuild must reach. */
type Targets = Record<string, { low: number; high: number }>;

export interface RebuildStatus {
  /** The consumer group in use: KAFKA_GROUP_ID, or KAFKA_GROUP_ID.<epoch> after a rebuild. */
  groupId: string;
  rebuilding: boolean;
  /** 0..1 while rebuilding. */
  progress?: number;
  /** STATE_REBUILD=off only: when the state was found lost (readiness is 503 until an operator rebuilds it). */
  lostAt?: Date;
  /** With lostAt: the Redis nodes that came back without their part of the state, when known. */
  lostOn?: readonly string[];
}

/**
 * Rebuilds the state by itself when Redis loses it (a restart without persistence, a failover to
 * an empty replica, a FLUSHALL), through a fresh consumer group rather than a seek
 * (docs/reliability.md):
 *
 * - Redis holds a marker (STATE_STORE:SINCE). Every instance checks it each second (PeriodicSteps), and
 *   RedisWatch each bucket's own; when it is
 *   gone, the instance claims a new epoch with a compare-and-set from the epoch it consumes
 *   (claim-epoch.lua: one winner, no lock, no leader).
 * - Every instance that sees a new epoch switches its consumer to group `<KAFKA_GROUP_ID>.<epoch>`,
 *   which starts at the earliest retained offset and replays onto whatever state is there: the
 *   rules are idempotent and order-independent, so a replay onto a partial state converges.
 * - Meanwhile queries are answered (with X-State-Rebuilding: true) and readiness stays 200 with the
 *   progress, until the new group has reached the end offsets of the moment the loss was found.
 * - An instance that starts with no marker but finds committed offsets of KAFKA_GROUP_ID knows the
 *   deployment ran before: the state was lost while it was down, and it rebuilds too.
 * STATE_REBUILD=off keeps the manual procedure: not ready until an operator rebuilds.
 * The consumer hears of a switch through RecoveryEvents (`switch-group`), the change stream of the end (`rebuilt`).
 */
@Injectable()
export class StateRebuild implements OnApplicationShutdown {
  private readonly log = new Logger('StateRebuild');
  private readonly kafka;
  private admin?: Admin;
  /** The epoch consumed now: null = the first (group KAFKA_GROUP_ID). */
  private epoch: string | null = null;
  /** `replayed`: this instance applied records of the rebuild unrecorded (the change stream then owes a RESYNC). */
  private rebuild?: { epoch: string; startedAt: number; targets: Targets; progress: number; loggedAt: number; replayed: boolean };
  private lostAt?: Date;
  private checking = false;
  private settled = false;
  private ranBeforeStart = false;
  /** This start recorded the switch-over point: committed offsets of KAFKA_GROUP_ID are then the original's, not ours. */
  private switchoverCreated = false;

  constructor(
    private readonly store: StateStore,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly switchover: SwitchoverPoint,
    private readonly watch: RedisWatch,
    private readonly events: RecoveryEvents,
    private readonly periodic: PeriodicSteps,
  ) {
    this.kafka = createKafka(config);
  }

  get status(): RebuildStatus {
    return {
      groupId: this.groupId,
      rebuilding: this.rebuilding,
      ...(this.rebuild ? { progress: this.rebuild.progress } : {}),
      ...(this.lostAt ? { lostAt: this.lostAt, lostOn: this.watch.stateLostOn } : {}),
    };
  }

  /** Whether a rebuild is under way (the queries' X-State-Rebuilding header); cheaper than `status`. */
  get rebuilding(): boolean {
    return this.rebuild !== undefined;
  }

  get groupId(): string {
    return this.epoch ? `${this.config.KAFKA_GROUP_ID}.${this.epoch}` : this.config.KAFKA_GROUP_ID;
  }

  /** Called when a rebuild this instance replayed records of is done (the change stream sends RESYNC). */
  onRebuilt(listener: (epoch: string) => void): void {
    this.events.subscribe((event) => event.kind === 'rebuilt' && listener(event.epoch));
  }

  /**
   * Settles which group to consume with before the consumer starts, and starts watching the
   * marker. With Redis unreachable it starts with the first group; the watch switches later if needed.
   * Rejects when Kafka cannot say whether the deployment consumed before (the ingest layer's connect
   * loop then tries again): guessing "no" would take a state lost while no instance ran for a new one.
   */
  async start(): Promise<void> {
    // Read before this process consumes anything: whether the deployment consumed before decides
    // what a missing marker means, and our own commits would answer "yes" a moment later.
    this.ranBeforeStart = await this.ranBefore();
    await this.store.whenConnected(SETTLE_WAIT_MS);
    const { created } = await this.switchover.load(this.kafka, await this.connectedAdmin(), () => this.switchoverProposal());
    this.switchoverCreated ||= created;
    await this.settle().catch((error: Error) =>
      this.log.warn(
        `Could not check the state marker at start-up (${error.message}); starting with group ${this.groupId}, checking again every second`,
      ),
    );
    // A group that replays from the earliest offset may meet records from before the switch-over.
    if (this.config.KAFKA_FROM_BEGINNING || this.groupId !== this.config.KAFKA_GROUP_ID)
      await this.switchover.ensureRead(this.kafka, await this.connectedAdmin());
    this.periodic.every('state-loss watch', () => this.check());
  }

  /** The start-up decision, once Redis answers: a fresh state, a known epoch, or a loss that happened while no instance ran. */
  private async settle(): Promise<void> {
    const { since, epoch } = await this.store.readMarker();
    if (since === null) {
      // The first start on the original's Redis (the switch-over) finds its committed offsets if it used our group id: not a loss.
      if (this.ranBeforeStart && !this.switchoverCreated)
        await this.lost('at start-up, Redis has no state although this deployment consumed before');
      else await this.watch.markStarted();
    } else if (epoch !== null && epoch !== this.epoch) {
      await this.switchTo(epoch, false);
    }
    this.settled = true;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.admin?.disconnect().catch(() => undefined);
  }

  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      if (!this.settled) return await this.settle();
      const { since, epoch } = await this.store.readMarker();
      if (since === null) await this.lost('Redis no longer holds the state marker (restarted empty, failed over or flushed)');
      else if (this.watch.stateLostAt)
        await this.lost(`Redis node(s) ${this.watch.stateLostOn.join(', ')} came back without their part of the state`);
      else if (epoch !== this.epoch && epoch !== null) await this.switchTo(epoch);
      if (this.rebuild) await this.updateProgress();
    } catch {
      // Redis or Kafka unreachable: the next check tries again.
    } finally {
      this.checking = false;
    }
  }

  /** The state is gone: claim a new epoch (one winner among the instances) and switch to it, or, with STATE_REBUILD=off, report it. */
  private async lost(why: string): Promise<void> {
    if (this.config.STATE_REBUILD === 'off') {
      if (!this.lostAt)
        this.log.error(`State lost: ${why}. STATE_REBUILD=off: rebuild it by hand (docs/reliability.md); not ready until then`);
      this.lostAt ??= new Date();
      return;
    }
    const epoch = await this.watch.claimEpoch(this.epoch, String(Date.now()));
    this.log.error(
      `State lost: ${why}. Rebuilding it from the topics as epoch ${epoch} (consumer group ${this.config.KAFKA_GROUP_ID}.${epoch})`,
    );
    if (epoch !== this.epoch) await this.switchTo(epoch);
  }

  /** `replaying`: false at start-up with an epoch found in Redis, whose rebuild may be done already (nothing replayed then). */
  private async switchTo(epoch: string, replaying = true): Promise<void> {
    await this.switchover.ensureRead(this.kafka, await this.connectedAdmin()); // the new group replays from the earliest offset
    const proposed = JSON.stringify(await this.endOffsets());
    const targets = JSON.parse(await this.store.rebuildTargets(epoch, proposed)) as Targets;
    this.epoch = epoch;
    // A replay records no change per record (no storm of old changes): a RESYNC at the end instead.
    this.store.setChangeRecording({ on: false, epoch });
    this.rebuild = { epoch, startedAt: Date.now(), targets, progress: 0, loggedAt: Date.now(), replayed: replaying };
    this.metrics.rebuildsStarted.inc();
    this.metrics.rebuildProgress.set(0);
    this.log.warn(`Switching the consumer to group ${this.groupId}: replaying the topics from the earliest retained offset`);
    await this.updateProgress();
    this.events.publish({ kind: 'switch-group', groupId: this.groupId });
  }

  private async updateProgress(): Promise<void> {
    const rebuild = this.rebuild!;
    const admin = await this.connectedAdmin();
    const committed = new Map<string, number>();
    for (const topic of this.topics()) {
      for (const p of await committedOffsets(admin, this.groupId, topic)) committed.set(`${topic}:${p.partition}`, Number(p.offset));
    }
    let total = 0;
    let done = 0;
    for (const [partition, { low, high }] of Object.entries(rebuild.targets)) {
      const at = Math.max(committed.get(partition) ?? -1, low);
      total += Math.max(0, high - low);
      done += Math.max(0, Math.min(at, high) - low);
    }
    rebuild.progress = total === 0 ? 1 : done / total;
    this.metrics.rebuildProgress.set(rebuild.progress);
    if (done >= total) {
      this.log.log(
        `Rebuild of epoch ${rebuild.epoch} done in ${((Date.now() - rebuild.startedAt) / 1000).toFixed(1)} s: group ${this.groupId} caught up with the offsets of the moment the loss was found`,
      );
      this.rebuild = undefined;
      this.store.setChangeRecording({ on: true, epoch: rebuild.epoch });
      if (rebuild.replayed) this.events.publish({ kind: 'rebuilt', epoch: rebuild.epoch });
      return;
    }
    rebuild.replayed = true;
    if (Date.now() - rebuild.loggedAt >= PROGRESS_LOG_MS) {
      rebuild.loggedAt = Date.now();
      this.log.log(`Rebuilding epoch ${rebuild.epoch}: ${(rebuild.progress * 100).toFixed(0)} % (${done} of ${total} records)`);
    }
  }

  /** Whether KAFKA_GROUP_ID has committed offsets on our topics: the deployment consumed before. */
  private async ranBefore(): Promise<boolean> {
    const admin = await this.connectedAdmin();
    for (const topic of this.topics()) {
      if ((await committedOffsets(admin, this.config.KAFKA_GROUP_ID, topic)).some((p) => Number(p.offset) > 0)) return true;
    }
    return false;
  }

  /**
   * The switch-over point a first start records (SwitchoverPoint): per sessionEvent partition,
   * where the original stopped applying - KAFKA_GROUP_ID's committed offset if it used that group,
   * else the end of the log now. Nothing, when Redis holds this service's own state already (an
   * earlier version of it ran here: every record is ours). Throws if Redis cannot say.
   */
  private async switchoverProposal(): Promise<Record<string, number>> {
    if ((await this.store.readMarker()).since !== null) return {};
    const admin = await this.connectedAdmin();
    const topic = this.config.SESSION_EVENTS_TOPIC;
    const committed = new Map<number, number>();
    for (const p of await committedOffsets(admin, this.config.KAFKA_GROUP_ID, topic))
      if (Number(p.offset) >= 0) committed.set(p.partition, Number(p.offset));
    // Neither the original's commits nor anything of its state in Redis: a new deployment, whose
    // log holds only CONNECTs of sockets open while no state server consumed - nothing to exclude.
    // (Unknown, Redis unreachable: excluded as if the original ran, the safe side.)
    if (committed.size === 0 && (await this.store.foundOriginalState(SETTLE_WAIT_MS)) === false) return {};
    const point: Record<string, number> = {};
    for (const p of await admin.fetchTopicOffsets(topic))
      point[p.partition] = Math.min(committed.get(p.partition) ?? Infinity, Number(p.high));
    return point;
  }

  private async endOffsets(): Promise<Targets> {
    const admin = await this.connectedAdmin();
    const targets: Targets = {};
    for (const topic of this.topics()) {
      for (const p of await admin.fetchTopicOffsets(topic))
        targets[`${topic}:${p.partition}`] = { low: Number(p.low), high: Number(p.high) };
    }
    return targets;
  }

  private topics(): string[] {
    return [this.config.SESSION_EVENTS_TOPIC, this.config.CHANNEL_EVENTS_TOPIC];
  }

  private async connectedAdmin(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }
}
