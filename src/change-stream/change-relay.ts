import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Producer } from 'kafkajs';
import { appliedState } from '../common/applied-state';
import { AppConfig } from '../config/app-config';
import { createKafka } from '../kafka/kafka-client';
import { MetricsService } from '../metrics/metrics.service';
import { StateRebuild } from '../recovery/state-rebuild.service';
import { ChangeOutbox, WaitingRecord } from './change-outbox';
import { kafkaKeyOf } from './change-record';
import { keyPartitioner } from './key-partitioner';
import { ChangeTopic } from './change-topic';

/** How long a relay holds a bucket's outbox without renewing (another instance takes over after it); renewed every second. */
const LEASE_MS = 5000;
const LEASE_RENEW_MS = 1000;
/**
 * An idle relay looks for new records this often; a busy one goes on at once, and one that hears
 * this instance apply state (appliedState) looks at once. The poll is for the changes recorded
 * elsewhere: another instance's ingest, lease expiry, the voice grace period, RESETs.
 */
const IDLE_POLL_MS = 50;
/**
 * Records read per step (one Kafka request), spread over the buckets held, at least MIN_PER_BUCKET
 * each. Not more: kafkajs groups a request's messages per partition by copying the list for each
 * message (quadratic), which outweighs the per-request cost past a few hundred per partition.
 */
const STEP_RECORDS = 500;
const MIN_PER_BUCKET = 16;
const MAX_BACKOFF_MS = 10_000;

/** Why a RESYNC record is sent: the outbox overflowed (changes in between were dropped), or a rebuild replayed unrecorded. */
export type ResyncReason = 'outbox_overflow' | 'rebuild';

/**
 * Publishes the change outboxes (change-outbox.lua) to CHANGE_TOPIC: each bucket's outbox by one
 * instance at a time (a lease in Redis), in order, one batch in flight per instance (so per
 * partition: a key lives in one bucket, and the producer keeps at most one request in flight),
 * records removed only once Kafka acknowledged them. A crash in between sends some again: harmless,
 * a record carries its version. Kafka unreachable or the topic missing degrades this feature only
 * (logged once per outage, counted, retried with backoff; readiness does not look at it); the
 * outbox is bounded meanwhile (the scripts keep the latest record per key past the limit, and this
 * sends a RESYNC before those).
 */
@Injectable()
export class ChangeRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('ChangeRelay');
  private readonly topic: string;
  private readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private producer?: Producer;
  private held: number[] = [];
  private leaseCheckedAt = 0;
  private timer?: NodeJS.Timeout;
  /** The timer pending is the idle poll (a wake-up may cut it short; a backoff it may not). */
  private idle = false;
  private stepping = false;
  /** State was applied during the step: look again at once even if the step found nothing. */
  private woken = false;
  private stopListening?: () => void;
  /** Per bucket: the id of the last record Kafka acknowledged, removed from the outbox with the next read. */
  private readonly published = new Map<number, string>();
  private stopped = false;
  private failingSince?: number;
  private backoffMs = 0;
  /** RESYNCs owed to every partition (a rebuild this instance replayed), sent before anything else. */
  private readonly owedResyncs: { reason: ResyncReason; epoch?: string }[] = [];

  constructor(
    private readonly outbox: ChangeOutbox,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly rebuild: StateRebuild,
    private readonly changeTopic: ChangeTopic,
  ) {
    this.topic = config.CHANGE_TOPIC;
  }

  onApplicationBootstrap(): void {
    if (this.topic === '') return;
    this.rebuild.onRebuilt((epoch) => this.owedResyncs.push({ reason: 'rebuild', epoch }));
    this.stopListening = appliedState.listen(() => this.wake());
    this.schedule(0);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.stopListening?.();
    clearTimeout(this.timer);
    // What Kafka acknowledged leaves the outbox now, not with a next read (else the next owner sends it again).
    if (this.published.size > 0) await this.outbox.trim(this.published).catch(() => undefined);
    if (this.held.length > 0) await this.outbox.releaseLeases(this.owner, this.held).catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
  }

  private schedule(ms: number, idle = false): void {
    if (this.stopped) return;
    this.idle = idle;
    this.timer = setTimeout(() => void this.step(), ms);
    this.timer.unref();
  }

  /** State was just applied: changes may be waiting. At most one step at a time, and never during a backoff. */
  private wake(): void {
    if (this.stepping) this.woken = true;
    else if (this.idle) {
      clearTimeout(this.timer);
      this.schedule(0);
    }
  }

  private async step(): Promise<void> {
    this.idle = false;
    this.stepping = true;
    this.woken = false;
    let busy = false;
    try {
      busy = await this.relay();
      if (this.failingSince !== undefined) {
        this.log.log(`Publishing to ${this.topic} again after ${((Date.now() - this.failingSince) / 1000).toFixed(1)} s`);
        this.failingSince = undefined;
      }
      this.backoffMs = 0;
    } catch (error) {
      this.metrics.changeRelayErrors.inc();
      if (this.failingSince === undefined) {
        this.failingSince = Date.now();
        // Once per outage: the records wait in Redis (bounded), nothing else is affected.
        this.log.warn(
          `Cannot publish the change stream to ${this.topic} (${(error as Error).message}); the changes wait in Redis, retrying`,
        );
      }
      this.backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(200, this.backoffMs * 2));
    }
    this.stepping = false;
    if (this.backoffMs > 0) this.schedule(this.backoffMs);
    else if (busy || this.woken) this.schedule(0);
    else this.schedule(IDLE_POLL_MS, true);
  }

  /** One step: leases, owed RESYNCs, then a batch of the outboxes held (or of their overflow). Returns whether there may be more. */
  private async relay(): Promise<boolean> {
    if (Date.now() - this.leaseCheckedAt >= LEASE_RENEW_MS) {
      this.held = await this.outbox.holdLeases(this.owner, LEASE_MS);
      this.leaseCheckedAt = Date.now();
      await this.updateLag();
    }
    while (this.owedResyncs.length > 0) {
      await this.sendResync(this.owedResyncs[0]);
      this.owedResyncs.shift();
    }
    if (this.held.length === 0) return false;
    const perBucket = Math.max(MIN_PER_BUCKET, Math.ceil(STEP_RECORDS / this.held.length));
    const { records, overflows } = await this.outbox.step(this.held, perBucket, this.published);
    this.published.clear(); // removed (a bucket no longer held: its new owner sends those again, harmless)
    if (records.length > 0) {
      await this.publish(records);
      for (const record of records) this.published.set(record.bucket, record.id!);
      return true;
    }
    // Every outbox held is empty: what overflowed is newer than anything they held.
    if (overflows.length === 0) return false;
    const owing = overflows.filter((o) => o.resyncOwed).map((o) => o.bucket);
    if (owing.length > 0) {
      await this.sendResync({ reason: 'outbox_overflow' });
      await this.outbox.resyncSent(owing);
      this.metrics.changeOutboxOverflows.inc(owing.length);
      this.log.warn(
        `The change outbox overflowed (Kafka took no records for a while): sent RESYNC, then the latest change per key of ${owing.length} bucket(s)`,
      );
    }
    const latest = await this.outbox.readOverflow(
      overflows.map((o) => o.bucket),
      perBucket,
    );
    if (latest.length > 0) {
      await this.publish(latest);
      await this.outbox.takeFromOverflow(latest);
    }
    return true;
  }

  private async publish(records: readonly WaitingRecord[]): Promise<void> {
    await this.changeTopic.partitionCount(); // the topic created when missing: the producer never has the broker do it
    const producer = await this.connectedProducer();
    await producer.send({
      topic: this.topic,
      acks: -1,
      messages: records.map((r) => ({ key: kafkaKeyOf(r.json), value: r.json })),
    });
    this.metrics.changeRecordsRelayed.inc(records.length);
  }

  /** A RESYNC to every partition of the topic: consumers take a fresh snapshot. */
  private async sendResync(resync: { reason: ResyncReason; epoch?: string }): Promise<void> {
    const producer = await this.connectedProducer();
    const partitions = await this.changeTopic.partitionCount();
    const value = JSON.stringify({
      type: 'RESYNC',
      reason: resync.reason,
      ...(resync.epoch ? { epoch: resync.epoch } : {}),
      at: Date.now(),
    });
    await producer.send({
      topic: this.topic,
      acks: -1,
      messages: Array.from({ length: partitions }, (_, partition) => ({ partition, value })),
    });
    this.log.log(
      `Sent RESYNC (${resync.reason}${resync.epoch ? `, epoch ${resync.epoch}` : ''}) to the ${partitions} partitions of ${this.topic}`,
    );
  }

  /** The lag gauge: how old the oldest record waiting in the outboxes this instance relays is (0 when none). */
  private async updateLag(): Promise<void> {
    const { records, oldestAtMs } = await this.outbox.waiting(this.held);
    this.metrics.changeOutboxRecords.set(records);
    this.metrics.changeRelayLag.set(oldestAtMs === undefined ? 0 : Math.max(0, Date.now() - oldestAtMs) / 1000);
  }

  private async connectedProducer(): Promise<Producer> {
    if (!this.producer) {
      // No retries of its own beyond a few quick ones: this loop retries with backoff and logs once.
      const producer = createKafka(this.config, { retries: 2 }).producer({
        allowAutoTopicCreation: false,
        maxInFlightRequests: 1,
        createPartitioner: keyPartitioner, // the DefaultPartitioner's choice, cheaper
      });
      await producer.connect();
      this.producer = producer;
    }
    return this.producer;
  }
}
