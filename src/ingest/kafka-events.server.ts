import { Injectable } from '@nestjs/common';
import { CustomTransportStrategy, Server } from '@nestjs/microservices';
import { AppConfig } from '../config/app-config';
import { createKafka } from '../kafka/kafka-client';
import { MetricsService } from '../metrics/metrics.service';
import { PartitionRewinder } from '../recovery/partition-rewind';
import { RecoveryEvents } from '../recovery/recovery-events';
import { StateRebuild } from '../recovery/state-rebuild.service';
import { AppliedPositions } from '../sessions/applied-positions';
import { BatchApplier } from './batch-applier';
import { BatchLoop } from './batch-loop';
import { ConsumedProgress } from './consumed-progress';
import { ConsumerLifecycle } from './consumer-lifecycle';
import { EventRoutes } from './event-routes';
import { FailoverReplay } from './failover-replay';

/**
 * The Kafka side of the hybrid app: a NestJS custom transport that consumes `sessionEvent` and
 * `channelEvent` with kafkajs `eachBatch` and applies each partition's records through the
 * BatchLoop and the BatchApplier: decoded and validated, then handed to the service that
 * EventRoutes names for their topic (SessionsService.applyAll / VoiceService.applyAll).
 *
 * What it guarantees:
 * - per-partition order; partitions are applied concurrently;
 * - an offset is resolved (and so committed) only after Redis has the batch's writes and its dead
 *   letters are in the DLT: at-least-once, made exact by the idempotent scripts (BatchLoop);
 * - a bad record never blocks its partition: it goes to `<topic>.DLT` with the reason;
 * - while Redis (or the DLT) is unreachable, the partition waits and retries with backoff, still
 *   heart-beating, instead of skipping or crashing (BackoffRetries);
 * - while Kafka is unreachable at start-up (or a consumed topic is missing), HTTP still comes up and
 *   /health/ready names the cause; it consumes as soon as Kafka answers (ConsumerLifecycle);
 * - what the recovery room finds (RecoveryEvents) is followed: a Redis failover is replayed
 *   (FailoverReplay), a rebuild's group is joined (ConsumerLifecycle).
 */
@Injectable()
export class KafkaEventsServer extends Server implements CustomTransportStrategy {
  private readonly lifecycle: ConsumerLifecycle;

  constructor(
    config: AppConfig,
    metrics: MetricsService,
    rebuild: StateRebuild,
    positions: AppliedPositions,
    routes: EventRoutes,
    recovery: RecoveryEvents,
  ) {
    super();
    const kafka = createKafka(config);
    const rewinder = new PartitionRewinder(kafka, config.REDIS_FAILOVER_REPLAY_SECONDS * 1000);
    const progress = new ConsumedProgress(kafka, config, metrics, positions, rewinder);
    const batches = new BatchLoop(new BatchApplier(routes.byTopic, config.MAX_EVENT_BYTES), config, metrics, progress);
    const replay = new FailoverReplay(rewinder, metrics);
    this.lifecycle = new ConsumerLifecycle(kafka, config, [...routes.byTopic.keys()], rebuild, batches, progress, replay);
    // What the recovery room found: a failover to replay after, a rebuild's group to move to (queued, not awaited).
    recovery.subscribe((event) => {
      if (event.kind === 'rewind') void this.lifecycle.replayAfterFailover(event.sinceMs, event.reason);
      else if (event.kind === 'switch-group') this.lifecycle.followRebuildGroup();
    });
  }

  /** True while the consumer is a member of its group, or switching to a rebuild's group (for readiness). */
  get isConsuming(): boolean {
    return this.lifecycle.isConsuming;
  }

  /** Why the consumer is not (yet) consuming, for /health/ready; the real cause, e.g. `cannot reach 127.0.0.1:9092 (connect ECONNREFUSED 127.0.0.1:9092)`. */
  get notConsumingReason(): string {
    return this.lifecycle.notConsumingReason;
  }

  /**
   * Returns at once and connects in the background, so HTTP (health, metrics) comes up whether or
   * not Kafka answers; /health/ready says why it is not ready meanwhile.
   */
  listen(callback: (error?: unknown) => void): void {
    this.lifecycle.connect();
    callback();
  }

  /** Stops consuming: the batches in flight finish and their offsets are committed. */
  close(): Promise<void> {
    return this.lifecycle.close();
  }

  on(): never {
    throw new Error('KafkaEventsServer has no events to subscribe to');
  }

  unwrap<T>(): T {
    return this.lifecycle.currentConsumer as T;
  }
}
