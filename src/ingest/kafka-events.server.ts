import { Injectable, Logger } from '@nestjs/common';
import { BaseRpcContext, CustomTransportStrategy, MessageHandler, Server } from '@nestjs/microservices';
import { ClassConstructor } from 'class-transformer';
import { Consumer, EachBatchPayload, Kafka, KafkaMessage, Partitioners, Producer } from 'kafkajs';
import { lastValueFrom } from 'rxjs';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { ApplyOutcome, StateStoreUnavailableError } from '../state-store/state-store.repository';
import { DeadLetter, DeadLetterPublisher } from './dead-letter.publisher';
import { CHANNEL_EVENTS, ConsumedEvent, DECODE_AS, SESSION_EVENTS } from './event-patterns';
import { decodeEvent, InvalidEventError } from './event-decoding';
import { createKafka } from './kafka-client';
import { PartitionRewinder, RewindableConsumer } from './partition-rewind';

/** Records applied per Redis round trip; a fetched batch larger than this is applied in several. */
const MAX_CHUNK = 2000;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;

export class EventBatchContext extends BaseRpcContext<[topic: string, partition: number]> {}

/**
 * The Kafka side of the hybrid app: a NestJS custom transport that consumes `sessionEvent` and
 * `channelEvent` with kafkajs `eachBatch` and hands each partition's records, decoded and
 * validated, to the @EventBatchHandler of their stream (sessions / voice controllers).
 *
 * What it guarantees:
 * - per-partition order; partitions are applied concurrently;
 * - an offset is resolved (and so committed) only after Redis has the batch's writes and its dead
 *   letters are in the DLT: at-least-once, made exact by the idempotent scripts;
 * - a bad record never blocks its partition: it goes to `<topic>.DLT` with the reason;
 * - while Redis (or the DLT) is unreachable, the partition waits and retries with backoff, still
 *   heart-beating, instead of skipping or crashing.
 */
@Injectable()
export class KafkaEventsServer extends Server implements CustomTransportStrategy, RewindableConsumer {
  private readonly log = new Logger('Ingest');
  private readonly kafka: Kafka;
  private consumer?: Consumer;
  private producer?: Producer;
  private deadLetters?: DeadLetterPublisher;
  private readonly streamOfTopic: Map<string, string>;
  private inGroup = false;
  private stalled = 0;
  private readonly rewinder: PartitionRewinder;

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    super();
    this.kafka = createKafka(config);
    this.rewinder = new PartitionRewinder(this.kafka, config.REDIS_FAILOVER_REPLAY_SECONDS * 1000);
    this.streamOfTopic = new Map([
      [config.SESSION_EVENTS_TOPIC, SESSION_EVENTS],
      [config.CHANNEL_EVENTS_TOPIC, CHANNEL_EVENTS],
    ]);
  }

  /** True while the consumer is a member of its group (for readiness). */
  get isConsuming(): boolean {
    return this.inGroup;
  }

  async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
      await this.start();
      callback();
    } catch (error) {
      callback(error);
    }
  }

  async close(): Promise<void> {
    // kafkajs waits for the batches in flight, then commits what they resolved.
    await this.consumer?.disconnect();
    await this.producer?.disconnect();
    this.inGroup = false;
  }

  on(): never {
    throw new Error('KafkaEventsServer has no events to subscribe to');
  }

  unwrap<T>(): T {
    return this.consumer as T;
  }

  private async start(): Promise<void> {
    this.producer = this.kafka.producer({ allowAutoTopicCreation: true, idempotent: false, createPartitioner: Partitioners.DefaultPartitioner });
    this.deadLetters = new DeadLetterPublisher(this.producer, this.config.DEAD_LETTER_TOPIC_SUFFIX, this.config.KAFKA_GROUP_ID);
    this.consumer = this.kafka.consumer({
      groupId: this.config.KAFKA_GROUP_ID,
      sessionTimeout: this.config.KAFKA_SESSION_TIMEOUT_MS,
      heartbeatInterval: this.config.KAFKA_HEARTBEAT_INTERVAL_MS,
      allowAutoTopicCreation: true,
    });
    const { GROUP_JOIN, CRASH, STOP, DISCONNECT } = this.consumer.events;
    this.consumer.on(GROUP_JOIN, ({ payload }) => {
      this.inGroup = true;
      this.rewinder.assigned(payload.memberAssignment);
    });
    for (const event of [CRASH, STOP, DISCONNECT]) this.consumer.on(event, () => (this.inGroup = false));

    await this.producer.connect();
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [...this.streamOfTopic.keys()], fromBeginning: this.config.KAFKA_FROM_BEGINNING });
    await this.consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.config.KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY,
      eachBatch: (payload) => this.consumeBatch(payload),
    });
  }

  /** After a Redis failover or restart: replay what this instance applied since sinceMs (see partition-rewind.ts). */
  async rewindTo(sinceMs: number, reason: string): Promise<void> {
    if (!this.consumer || !this.inGroup) return;
    try {
      const partitions = await this.rewinder.rewind(this.consumer, sinceMs);
      if (partitions > 0) this.metrics.redisReplays.inc();
    } catch (error) {
      this.log.error(`Could not replay after "${reason}": ${(error as Error).message}`);
    }
  }

  private handlerOf(topic: string): { handler: MessageHandler; decodeAs: ClassConstructor<object> } {
    const stream = this.streamOfTopic.get(topic);
    const handler = stream ? this.getHandlerByPattern(stream) : null;
    const decodeAs = handler?.extras?.[DECODE_AS] as ClassConstructor<object> | undefined;
    if (!handler || !decodeAs) throw new Error(`No @EventBatchHandler for topic ${topic}`);
    return { handler, decodeAs };
  }

  private async consumeBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const { handler, decodeAs } = this.handlerOf(topic);
    const context = new EventBatchContext([topic, partition]);
    for (let start = 0; start < batch.messages.length; start += MAX_CHUNK) {
      if (!isRunning() || isStale()) return;
      const chunk = batch.messages.slice(start, start + MAX_CHUNK);
      const events: ConsumedEvent<{ type?: string }>[] = [];
      const eventMessages: KafkaMessage[] = [];
      const letters: (DeadLetter & { type: string })[] = [];
      for (const message of chunk) {
        try {
          events.push({ event: decodeEvent(message.value, decodeAs, this.config.MAX_EVENT_BYTES), timestampMs: Number(message.timestamp) });
          eventMessages.push(message);
        } catch (error) {
          if (!(error instanceof InvalidEventError)) throw error;
          letters.push({ message, reason: error.message, type: 'invalid' });
        }
      }

      const timer = this.metrics.applySeconds.startTimer({ topic });
      const outcomes = await this.untilDone(`apply ${topic}[${partition}]`, heartbeat, isRunning, () =>
        this.invoke(handler, events, context),
      );
      if (outcomes === undefined) return; // stopping: leave the rest uncommitted for the next owner
      timer();
      this.metrics.batchSize.observe({ topic }, chunk.length);

      outcomes.forEach((outcome, i) => {
        const type = events[i].event.type ?? 'unknown';
        if (typeof outcome === 'string') this.metrics.eventsTotal.inc({ topic, type, outcome, reason: '' });
        else if ('ignored' in outcome) {
          this.metrics.eventsTotal.inc({ topic, type, outcome: 'ignored', reason: outcome.ignored });
          this.log.debug(`Ignored ${topic}[${partition}]@${eventMessages[i].offset}: ${outcome.ignored}`);
        }
        else letters.push({ message: eventMessages[i], reason: outcome.rejected, type });
      });
      if (letters.length > 0) {
        const sent = await this.untilDone(`dead-letter ${topic}[${partition}]`, heartbeat, isRunning, () =>
          this.deadLetters!.publish(topic, partition, letters).then(() => true),
        );
        if (sent === undefined) return;
        for (const { message, reason, type } of letters) {
          this.metrics.eventsTotal.inc({ topic, type, outcome: 'dead_lettered', reason: '' });
          this.log.warn(`Dead-lettered ${topic}[${partition}]@${message.offset} to ${this.deadLetters!.topicFor(topic)}: ${reason}`);
        }
      }
      const last = chunk[chunk.length - 1].offset;
      resolveOffset(last);
      this.rewinder.applied(topic, partition, chunk[0].offset, last);
      this.metrics.consumerLag.set({ topic, partition: String(partition) }, Math.max(0, Number(batch.highWatermark) - Number(last) - 1));
      await heartbeat();
    }
  }

  private async invoke(handler: MessageHandler, events: ConsumedEvent<object>[], context: EventBatchContext): Promise<ApplyOutcome[]> {
    if (events.length === 0) return [];
    const outcomes = (await lastValueFrom(this.transformToObservable(await handler(events, context)))) as ApplyOutcome[];
    if (!Array.isArray(outcomes) || outcomes.length !== events.length) {
      throw new Error(`Event handler returned ${outcomes?.length} outcomes for ${events.length} events`);
    }
    return outcomes;
  }

  /**
   * Runs `work` until it succeeds, backing off (100 ms doubling to 5 s) and heart-beating in
   * between, so the partition waits out a Redis or Kafka outage without losing its assignment.
   * Returns undefined if the consumer is stopping meanwhile. Logs once per outage, not per retry.
   */
  private async untilDone<T>(what: string, heartbeat: () => Promise<void>, isRunning: () => boolean, work: () => Promise<T>): Promise<T | undefined> {
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
