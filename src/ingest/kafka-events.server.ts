import { Injectable, Logger } from '@nestjs/common';
import { CustomTransportStrategy, Server } from '@nestjs/microservices';
import { Consumer, EachBatchPayload, Kafka, Partitioners, Producer } from 'kafkajs';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { StateStoreUnavailableError } from '../state-store/state-store';
import { BatchApplier, MAX_CHUNK } from './batch-applier';
import { DeadLetter, DeadLetterPublisher } from './dead-letter.publisher';
import { EventRoutes } from './event-routes';
import { StateRebuild } from '../recovery/state-rebuild.service';
import { createKafka } from '../kafka/kafka-client';
import { PartitionRewinder } from '../recovery/partition-rewind';
import { RecoveryEvents } from '../recovery/recovery-events';
import { AppliedPositions } from '../sessions/applied-positions';
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;
/** Back-off between attempts to reach Kafka at start-up. */
const CONNECT_RETRY_MIN_MS = 500;
const CONNECT_RETRY_MAX_MS = 5000;

/** The consumed topics that do not exist while the broker does not create topics on demand. */
class MissingTopicsError extends Error {
  constructor(readonly topics: string[]) {
    super(`missing topics ${topics.join(', ')}`);
  }
}

/**
 * The Kafka side of the hybrid app: a NestJS custom transport that consumes `sessionEvent` and
 * `channelEvent` with kafkajs `eachBatch` and applies each partition's records through the
 * BatchApplier: decoded and validated, then handed to the service that EventRoutes names for
 * their topic (SessionsService.applyAll / VoiceService.applyAll).
 *
 * What it guarantees:
 * - per-partition order; partitions are applied concurrently;
 * - an offset is resolved (and so committed) only after Redis has the batch's writes and its dead
 *   letters are in the DLT: at-least-once, made exact by the idempotent scripts;
 * - a bad record never blocks its partition: it goes to `<topic>.DLT` with the reason;
 * - while Redis (or the DLT) is unreachable, the partition waits and retries with backoff, still
 *   heart-beating, instead of skipping or crashing;
 * - while Kafka is unreachable at start-up (or a consumed topic is missing), HTTP still comes up and
 *   /health/ready names the cause; it consumes as soon as Kafka answers.
 */
@Injectable()
export class KafkaEventsServer extends Server implements CustomTransportStrategy {
  private readonly log = new Logger('Ingest');
  private readonly kafka: Kafka;
  private consumer?: Consumer;
  private producer?: Producer;
  private deadLetters?: DeadLetterPublisher;
  private readonly applier: BatchApplier;
  private inGroup = false;
  /** The group this.consumer belongs to. */
  private consumerGroup?: string;
  private switching = false;
  /** A Redis failover noticed while not in the group: replayed from here at the next join. */
  private pendingRewind?: { sinceMs: number; reason: string };
  private rebuildStarted = false;
  private stalled = 0;
  private reason = 'connecting to Kafka';
  private stopping = false;
  /**
   * Every change of the consumer - the first connect loop, a reconnect after a crash, a switch to a
   * rebuild's group - runs here, one at a time and in order, so that two never overlap (two
   * consumers at once, or one group's consumer started after another's). Awaited by close.
   */
  private lifecycle: Promise<void> = Promise.resolve();
  /** Cuts the connect loop's back-off short when stopping. */
  private wakeUp?: () => void;
  private readonly rewinder: PartitionRewinder;
  /** The partitions ("topic|partition") the lag gauge reports: only ones this consumer holds. */
  private readonly lagReported = new Set<string>();

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly rebuild: StateRebuild,
    private readonly positions: AppliedPositions,
    private readonly routes: EventRoutes,
    recovery: RecoveryEvents,
  ) {
    super();
    this.kafka = createKafka(config);
    this.rewinder = new PartitionRewinder(this.kafka, config.REDIS_FAILOVER_REPLAY_SECONDS * 1000);
    this.applier = new BatchApplier(routes.byTopic, config.MAX_EVENT_BYTES);
    // What the recovery room found: a failover to replay after, a rebuild's group to move to (queued, not awaited).
    recovery.subscribe((event) => {
      if (event.kind === 'rewind') void this.rewindTo(event.sinceMs, event.reason);
      else if (event.kind === 'switch-group' && this.rebuildStarted) void this.enqueue('switching groups', () => this.followGroup());
    });
  }

  private get topics(): string[] {
    return [...this.routes.byTopic.keys()];
  }

  /** True while the consumer is a member of its group, or switching to a rebuild's group (for readiness). */
  get isConsuming(): boolean {
    return this.inGroup || this.switching;
  }

  /** Why the consumer is not (yet) consuming, for /health/ready; the real cause, e.g. `cannot reach 127.0.0.1:9092 (connect ECONNREFUSED 127.0.0.1:9092)`. */
  get notConsumingReason(): string {
    return this.inGroup ? '' : this.reason;
  }

  /**
   * Returns at once and connects in the background, so HTTP (health, metrics) comes up whether or
   * not Kafka answers; /health/ready says why it is not ready meanwhile.
   */
  listen(callback: (error?: unknown) => void): void {
    void this.enqueue('connecting', () => this.connectUntilDone());
    callback();
  }

  async close(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    await this.lifecycle;
    // kafkajs waits for the batches in flight, then commits what they resolved.
    await this.consumer?.disconnect();
    await this.producer?.disconnect();
    this.inGroup = false;
    this.forgetLag();
  }

  on(): never {
    throw new Error('KafkaEventsServer has no events to subscribe to');
  }

  unwrap<T>(): T {
    return this.consumer as T;
  }

  /**
   * Tries to reach Kafka until it answers and the topics exist, then starts consuming. One log line
   * per attempt, with the cause; the attempts back off from 0.5 s to 5 s. Each attempt first probes
   * with a client that does not retry by itself (kafkajs's own retries would take 8-15 s and log a
   * line each), then starts the real producer and consumer.
   */
  private async connectUntilDone(): Promise<void> {
    let delay = CONNECT_RETRY_MIN_MS;
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await this.probe();
        if (this.stopping) return;
        await this.start();
        if (attempt > 1) this.log.log(`Kafka answers (attempt ${attempt}): consuming ${this.topics.join(', ')}`);
        return;
      } catch (error) {
        this.reason = this.describe(error);
        await this.stopClients();
        if (this.stopping) return;
        this.log.warn(`Kafka not available (attempt ${attempt}): ${this.reason}; retrying in ${(delay / 1000).toFixed(1)} s`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = undefined;
      delay = Math.min(delay * 2, CONNECT_RETRY_MAX_MS);
    }
  }

  /** Connects and fetches the topics' metadata as the consumer will, without kafkajs's retries or logs. */
  private async probe(): Promise<void> {
    const probe = createKafka(this.config, { retries: this.config.KAFKA_BROKERS.length - 1 });
    const consumer = probe.consumer({ groupId: this.config.KAFKA_GROUP_ID, allowAutoTopicCreation: true, retry: { retries: 0 } });
    try {
      await consumer.connect();
      try {
        await consumer.subscribe({ topics: this.topics });
      } catch (error) {
        if ((error as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
        throw new MissingTopicsError(await this.missingTopics(probe));
      }
    } finally {
      await consumer.disconnect().catch(() => undefined);
    }
  }

  private async missingTopics(probe: Kafka): Promise<string[]> {
    const admin = probe.admin({ retry: { retries: 0 } });
    try {
      await admin.connect();
      const existing = new Set(await admin.listTopics());
      return this.topics.filter((topic) => !existing.has(topic));
    } catch {
      return this.topics;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** The cause of a failed attempt, in words an operator can act on. */
  private describe(error: unknown): string {
    if (error instanceof MissingTopicsError) {
      const [what, verb] = error.topics.length === 1 ? ['topic', 'does'] : ['topics', 'do'];
      return `${what} ${error.topics.join(', ')} ${verb} not exist and the broker does not create topics automatically: create ${error.topics.length === 1 ? 'it' : 'them'}`;
    }
    let cause = error as Error & { cause?: Error };
    while (cause.cause instanceof Error) cause = cause.cause as Error & { cause?: Error };
    const brokers = this.config.KAFKA_BROKERS.join(', ');
    if (/^(KafkaJSConnectionError|KafkaJSConnectionClosedError|KafkaJSRequestTimeoutError)$/.test(cause.name)) {
      return `cannot reach ${brokers} (${cause.message.replace(/^Connection error: /, '')})`;
    }
    return `${brokers}: ${cause.message}`;
  }

  private async stopClients(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
    this.consumer = undefined;
    this.producer = undefined;
  }

  private async start(): Promise<void> {
    this.producer = this.kafka.producer({
      allowAutoTopicCreation: true,
      idempotent: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await this.producer.connect();
    if (!this.rebuildStarted) {
      // Once: which group to consume with (a rebuild's epoch group after a loss); later switches come as `switch-group`.
      await this.rebuild.start();
      this.rebuildStarted = true;
    }
    await this.startConsumer(this.rebuild.groupId);
  }

  /**
   * Joins `groupId` and consumes. A group with no committed offsets starts at the earliest retained
   * offset (KAFKA_FROM_BEGINNING, always for a rebuild's group).
   */
  private async startConsumer(groupId: string): Promise<void> {
    this.reason = `joining consumer group ${groupId}`;
    this.deadLetters = new DeadLetterPublisher(this.producer!, this.config.DEAD_LETTER_TOPIC_SUFFIX, groupId);
    const consumer = this.kafka.consumer({
      groupId,
      sessionTimeout: this.config.KAFKA_SESSION_TIMEOUT_MS,
      heartbeatInterval: this.config.KAFKA_HEARTBEAT_INTERVAL_MS,
      allowAutoTopicCreation: true,
    });
    if (groupId !== this.consumerGroup) {
      // Another group (a rebuild's) replays from the earliest offset: the old group's checkpoints and
      // a pending replay mean nothing to it, and seeking by them would skip part of the rebuild.
      this.rewinder.forget();
      this.pendingRewind = undefined;
    }
    this.consumer = consumer;
    this.consumerGroup = groupId;
    const fromBeginning = this.config.KAFKA_FROM_BEGINNING || groupId !== this.config.KAFKA_GROUP_ID;
    const { GROUP_JOIN, CRASH, STOP, DISCONNECT, END_BATCH_PROCESS } = consumer.events;
    consumer.on(GROUP_JOIN, ({ payload }) => {
      this.inGroup = true;
      this.rewinder.assigned(payload.memberAssignment);
      this.forgetLag(payload.memberAssignment);
      void this.startPositions(groupId, payload.memberAssignment[this.config.SESSION_EVENTS_TOPIC] ?? [], fromBeginning);
      const pending = this.pendingRewind;
      this.pendingRewind = undefined;
      if (pending) void this.rewindTo(pending.sinceMs, pending.reason);
    });
    for (const event of [STOP, DISCONNECT]) {
      consumer.on(event, () => {
        if (this.consumer !== consumer) return;
        this.inGroup = false;
        this.forgetLag();
      });
    }
    // A fetch of only control records (or aborted ones) never reaches eachBatch; kafkajs resolves it itself.
    consumer.on(END_BATCH_PROCESS, ({ payload }) => {
      if (payload.batchSize > 0 || payload.topic !== this.config.SESSION_EVENTS_TOPIC) return;
      this.positions.raise(groupId, new Map([[payload.partition, BigInt(payload.lastOffset) + 1n]])).catch(() => undefined);
    });
    consumer.on(CRASH, ({ payload }) => {
      if (this.consumer !== consumer) return;
      this.inGroup = false;
      this.forgetLag();
      this.reason = this.describe(payload.error);
      // kafkajs restarts the consumer itself after a retriable error; after any other, start over.
      if (!payload.restart && !this.stopping) {
        this.log.error(`Consumer stopped: ${this.reason}; reconnecting`);
        void this.enqueue('reconnecting', async () => {
          if (this.consumer === consumer) await this.restart(); // else already replaced
        });
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topics: this.topics, fromBeginning });
    await consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.config.KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY,
      eachBatch: (payload) => this.consumeBatch(payload, groupId),
    });
  }

  /**
   * On joining: the session route's applied positions of the partitions this consumer now holds
   * start where the group's commits are (everything before was applied: offsets are committed only
   * after Redis has the writes), or, with no commit, at the start of the retained log when it
   * replays from there. Without this a partition with nothing new to fetch would never report its
   * position. Raise-only, so a previous owner's higher position stays.
   */
  private async startPositions(groupId: string, partitions: number[], fromBeginning: boolean): Promise<void> {
    if (partitions.length === 0) return;
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const topic = this.config.SESSION_EVENTS_TOPIC;
      const [[committed], retained] = await Promise.all([admin.fetchOffsets({ groupId, topics: [topic] }), admin.fetchTopicOffsets(topic)]);
      const start = new Map<number, bigint>();
      for (const partition of partitions) {
        const offset = Number(committed?.partitions.find((p) => p.partition === partition)?.offset ?? -1);
        const low = retained.find((p) => p.partition === partition)?.low;
        if (offset >= 0) start.set(partition, BigInt(offset));
        else if (fromBeginning && low !== undefined) start.set(partition, BigInt(low));
      }
      await this.positions.raise(groupId, start);
    } catch (error) {
      this.log.warn(`Could not record where the session topic's partitions start (${(error as Error).message}); their next batch does`);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** Drops the lag of partitions this consumer no longer holds (all of them, without an assignment: stopped or crashed). */
  private forgetLag(assignment: Record<string, number[]> = {}): void {
    for (const key of this.lagReported) {
      const [topic, partition] = key.split('|');
      if (assignment[topic]?.includes(Number(partition))) continue;
      this.metrics.consumerLag.remove({ topic, partition });
      this.lagReported.delete(key);
    }
  }

  /** Runs `step` after every change queued before it (see `lifecycle`); never rejects. */
  private enqueue(what: string, step: () => Promise<void>): Promise<void> {
    this.lifecycle = this.lifecycle.then(step).catch((error: Error) => this.log.error(`Consumer: ${what} failed: ${error.message}`));
    return this.lifecycle;
  }

  /**
   * Moves the consumer to the rebuild's current group if it is not there yet: leaves the old group
   * (finishing and committing the batches in flight) and joins the new one. If that fails (Kafka
   * unreachable meanwhile), starts over with the connect loop, which joins the current group.
   */
  private async followGroup(): Promise<void> {
    const groupId = this.rebuild.groupId;
    // Shutting down, not connected yet (the connect loop joins the current group), or there already.
    if (this.stopping || !this.producer || this.consumerGroup === groupId) return;
    this.switching = true;
    try {
      await this.consumer?.disconnect();
      if (!this.stopping) await this.startConsumer(groupId);
      return;
    } catch (error) {
      this.reason = this.describe(error);
      this.log.error(`Could not switch to consumer group ${groupId}: ${this.reason}; reconnecting`);
    } finally {
      this.switching = false;
    }
    await this.restart();
  }

  /** Starts over with new clients through the connect loop (which joins the current group), unless stopping. */
  private async restart(): Promise<void> {
    if (this.stopping) return;
    await this.stopClients();
    await this.connectUntilDone();
  }

  /** After a Redis failover or restart: replay what this instance applied since sinceMs (see recovery/partition-rewind.ts). */
  private async rewindTo(sinceMs: number, reason: string): Promise<void> {
    if (!this.consumer || !this.inGroup) {
      // Rebalancing, switching or reconnecting: replay once the group has given this instance its partitions.
      if (!this.pendingRewind || sinceMs < this.pendingRewind.sinceMs) this.pendingRewind = { sinceMs, reason };
      this.log.warn(`Redis failover noticed ("${reason}") while not in the consumer group: replaying at the next join`);
      return;
    }
    try {
      const partitions = await this.rewinder.rewind(this.consumer, sinceMs);
      if (partitions > 0) this.metrics.redisReplays.inc();
    } catch (error) {
      this.log.error(`Could not replay after "${reason}": ${(error as Error).message}`);
    }
  }

  /**
   * One fetched batch of one partition: applied chunk by chunk through the BatchApplier; dead
   * letters published; offsets resolved (and so committed) only after Redis has the writes and the
   * DLT has the dead letters. Transient failures are retried with backoff; nothing else stalls.
   */
  private async consumeBatch(payload: EachBatchPayload, groupId: string): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    const heartbeat = () => payload.heartbeat();
    const isRunning = () => payload.isRunning();
    const isStale = () => payload.isStale();
    const resolveOffset = (offset: string) => payload.resolveOffset(offset);
    for (let start = 0; start < batch.messages.length; start += MAX_CHUNK) {
      if (!isRunning() || isStale()) return;
      const chunk = batch.messages.slice(start, start + MAX_CHUNK);
      const timer = this.metrics.applySeconds.startTimer({ topic });
      const results = await this.untilDone(`apply ${topic}[${partition}]`, heartbeat, isRunning, () =>
        this.applier.applyChunk(topic, chunk, partition),
      );
      if (results === undefined) return; // stopping: leave the rest uncommitted for the next owner
      timer();
      this.metrics.batchSize.observe({ topic }, chunk.length);

      const letters: DeadLetter[] = [];
      const counted = new Map<string, { type: string; outcome: string; reason: string; n: number }>();
      for (const { record, type, outcome, reason } of results) {
        if (outcome === 'dead_lettered') {
          letters.push({ message: record, reason: reason! });
          continue;
        }
        // Counted per chunk, not per record: a label lookup per record showed in the consumer's profile.
        const labels = { type, outcome, reason: outcome === 'ignored' ? reason! : '' };
        const key = `${labels.type}|${labels.outcome}|${labels.reason}`;
        const seen = counted.get(key);
        if (seen) seen.n++;
        else counted.set(key, { ...labels, n: 1 });
      }
      for (const { n, ...labels } of counted.values()) this.metrics.eventsTotal.inc({ topic, ...labels }, n);
      if (letters.length > 0) {
        const sent = await this.untilDone(`dead-letter ${topic}[${partition}]`, heartbeat, isRunning, () =>
          this.deadLetters!.publish(topic, partition, letters).then(() => true),
        );
        if (sent === undefined) return;
        for (const { record, type, outcome, reason } of results) {
          if (outcome !== 'dead_lettered') continue;
          this.metrics.eventsTotal.inc({ topic, type, outcome, reason: '' });
          this.log.warn(`Dead-lettered ${topic}[${partition}]@${record.offset} to ${this.deadLetters!.topicFor(topic)}: ${reason}`);
        }
      }
      const last = chunk[chunk.length - 1].offset;
      if (topic === this.config.SESSION_EVENTS_TOPIC) {
        // The next fetch position (past a trailing control record too): what the session route waits for.
        const next = BigInt(start + MAX_CHUNK >= batch.messages.length ? batch.lastOffset() : last) + 1n;
        const raised = await this.untilDone(`record the applied position of ${topic}[${partition}]`, heartbeat, isRunning, () =>
          this.positions.raise(groupId, new Map([[partition, next]])).then(() => true),
        );
        if (raised === undefined) return;
      }
      resolveOffset(last);
      this.rewinder.applied(topic, partition, chunk[0].offset, last);
      this.metrics.consumerLag.set({ topic, partition: String(partition) }, Math.max(0, Number(batch.highWatermark) - Number(last) - 1));
      this.lagReported.add(`${topic}|${partition}`);
      await heartbeat();
    }
  }

  /**
   * Runs `work` until it succeeds, backing off (100 ms doubling to 5 s) and heart-beating in
   * between, so the partition waits out a Redis or Kafka outage without losing its assignment.
   * Returns undefined if the consumer is stopping meanwhile. Logs once per outage, not per retry.
   */
  private async untilDone<T>(
    what: string,
    heartbeat: () => Promise<void>,
    isRunning: () => boolean,
    work: () => Promise<T>,
  ): Promise<T | undefined> {
    let delay = RETRY_MIN_MS;
    let failures = 0;
    for (;;) {
      try {
        const result = await work();
        if (failures > 0 && --this.stalled === 0) this.log.log(`Resumed: ${what} succeeded after ${failures} attempts`);
        return result;
      } catch (error) {
        if (error instanceof StateStoreUnavailableError) this.metrics.redisErrors.inc({ operation: 'apply' });
        if (failures++ === 0 && this.stalled++ === 0) {
          this.log.warn(`Pausing consumption: ${what} failed (${(error as Error).message}); retrying with backoff`);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, RETRY_MAX_MS);
      if (!isRunning()) {
        if (failures > 0) this.stalled--;
        return undefined;
      }
      await heartbeat().catch(() => undefined);
    }
  }
}
