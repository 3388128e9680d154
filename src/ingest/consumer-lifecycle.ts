import { Logger } from '@nestjs/common';
import { Consumer, Kafka, Partitioners, Producer } from 'kafkajs';
import { wakeableDelay } from '../common/wakeable-delay';
import { AppConfig } from '../config/app-config';
import { StateRebuild } from '../recovery/state-rebuild.service';
import { BatchLoop } from './batch-loop';
import { ConsumedProgress } from './consumed-progress';
import { DeadLetterPublisher } from './dead-letter.publisher';
import { FailoverReplay } from './failover-replay';
import { describeKafkaFailure, probeKafka } from './kafka-probe';

/** Back-off between attempts to reach Kafka at start-up. */
const CONNECT_RETRY_MIN_MS = 500;
const CONNECT_RETRY_MAX_MS = 5000;

/**
 * The consumer's clients and their group: connecting until Kafka answers, joining a group, and
 * every change after - a reconnect after a crash, a switch to a rebuild's group - in a queue, one at
 * a time and in order, so that two never overlap (two consumers at once, or one group's consumer
 * started after another's). Knows whether it is in its group, or why not.
 */
export class ConsumerLifecycle {
  private readonly log = new Logger('Ingest');
  private consumer?: Consumer;
  private producer?: Producer;
  private inGroup = false;
  /** The group this.consumer belongs to. */
  private consumerGroup?: string;
  private switching = false;
  private rebuildStarted = false;
  private reason = 'connecting to Kafka';
  private stopping = false;
  /** The queue: every change of the consumer runs after the ones queued before it. Awaited by close. */
  private changes: Promise<void> = Promise.resolve();
  /** Cuts the connect loop's back-off short when stopping. */
  private wakeUp?: () => void;

  constructor(
    private readonly kafka: Kafka,
    private readonly config: AppConfig,
    private readonly topics: string[],
    private readonly rebuild: StateRebuild,
    private readonly batches: BatchLoop,
    private readonly progress: ConsumedProgress,
    private readonly replay: FailoverReplay,
  ) {}

  /** True while the consumer is a member of its group, or switching to a rebuild's group (for readiness). */
  get isConsuming(): boolean {
    return this.inGroup || this.switching;
  }

  /** Why the consumer is not (yet) consuming, for /health/ready; the real cause, e.g. `cannot reach 127.0.0.1:9092 (connect ECONNREFUSED 127.0.0.1:9092)`. */
  get notConsumingReason(): string {
    return this.inGroup ? '' : this.reason;
  }

  get currentConsumer(): Consumer | undefined {
    return this.consumer;
  }

  /** Queues the connect loop; returns at once. */
  connect(): void {
    void this.enqueue('connecting', () => this.connectUntilDone());
  }

  /** Queues a move to the rebuild's current group (RecoveryEvents' `switch-group`), once the first connect has chosen a group. */
  followRebuildGroup(): void {
    if (this.rebuildStarted) void this.enqueue('switching groups', () => this.followGroup());
  }

  /** After a Redis failover or restart: replays what was applied since sinceMs, now or at the next join. */
  replayAfterFailover(sinceMs: number, reason: string): Promise<void> {
    return this.replay.since(this.member, sinceMs, reason);
  }

  /** Stops the connect loop, waits for the queued changes, then leaves the group. */
  async close(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    await this.changes;
    // kafkajs waits for the batches in flight, then commits what they resolved.
    await this.consumer?.disconnect();
    await this.producer?.disconnect();
    this.inGroup = false;
    this.progress.left();
  }

  /** The consumer while it is in its group. */
  private get member(): Consumer | undefined {
    return this.consumer && this.inGroup ? this.consumer : undefined;
  }

  /** Runs `step` after every change queued before it; never rejects. */
  private enqueue(what: string, step: () => Promise<void>): Promise<void> {
    this.changes = this.changes.then(step).catch((error: Error) => this.log.error(`Consumer: ${what} failed: ${error.message}`));
    return this.changes;
  }

  /**
   * Tries to reach Kafka until it answers and the topics exist, then starts consuming. One log line
   * per attempt, with the cause; the attempts back off from 0.5 s to 5 s. Each attempt first probes
   * (probeKafka), then starts the real producer and consumer.
   */
  private async connectUntilDone(): Promise<void> {
    let delay = CONNECT_RETRY_MIN_MS;
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await probeKafka(this.config, this.topics);
        if (this.stopping) return;
        await this.start();
        if (attempt > 1) this.log.log(`Kafka answers (attempt ${attempt}): consuming ${this.topics.join(', ')}`);
        return;
      } catch (error) {
        this.reason = describeKafkaFailure(error, this.config.KAFKA_BROKERS);
        await this.stopClients();
        if (this.stopping) return;
        this.log.warn(`Kafka not available (attempt ${attempt}): ${this.reason}; retrying in ${(delay / 1000).toFixed(1)} s`);
      }
      const pause = wakeableDelay(delay);
      this.wakeUp = pause.wake;
      await pause.done;
      this.wakeUp = undefined;
      delay = Math.min(delay * 2, CONNECT_RETRY_MAX_MS);
    }
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
    this.batches.publishDeadLettersWith(new DeadLetterPublisher(this.producer!, this.config.DEAD_LETTER_TOPIC_SUFFIX, groupId));
    const consumer = this.kafka.consumer({
      groupId,
      sessionTimeout: this.config.KAFKA_SESSION_TIMEOUT_MS,
      heartbeatInterval: this.config.KAFKA_HEARTBEAT_INTERVAL_MS,
      allowAutoTopicCreation: true,
    });
    if (groupId !== this.consumerGroup) {
      // Another group (a rebuild's) replays from the earliest offset: the old group's checkpoints and
      // a pending replay mean nothing to it, and seeking by them would skip part of the rebuild.
      this.progress.forgetCheckpoints();
      this.replay.forget();
    }
    this.consumer = consumer;
    this.consumerGroup = groupId;
    const fromBeginning = this.config.KAFKA_FROM_BEGINNING || groupId !== this.config.KAFKA_GROUP_ID;
    const { GROUP_JOIN, CRASH, STOP, DISCONNECT, END_BATCH_PROCESS } = consumer.events;
    consumer.on(GROUP_JOIN, ({ payload }) => {
      this.inGroup = true;
      this.progress.joined(groupId, payload.memberAssignment, fromBeginning);
      this.replay.joined(this.member);
    });
    for (const event of [STOP, DISCONNECT]) {
      consumer.on(event, () => {
        if (this.consumer !== consumer) return;
        this.inGroup = false;
        this.progress.left();
      });
    }
    consumer.on(END_BATCH_PROCESS, ({ payload }) => {
      this.progress.passedUnappliedBatch(groupId, payload.topic, payload.partition, payload.batchSize, payload.lastOffset);
    });
    consumer.on(CRASH, ({ payload }) => {
      if (this.consumer !== consumer) return;
      this.inGroup = false;
      this.progress.left();
      this.reason = describeKafkaFailure(payload.error, this.config.KAFKA_BROKERS);
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
      eachBatch: (payload) => this.batches.consume(payload, groupId),
    });
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
      this.reason = describeKafkaFailure(error, this.config.KAFKA_BROKERS);
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
}
