import { Logger } from '@nestjs/common';
import { EachBatchPayload } from 'kafkajs';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { BackoffRetries } from './backoff-retries';
import { BatchApplier, MAX_CHUNK, RecordOutcome } from './batch-applier';
import { ConsumedProgress } from './consumed-progress';
import { DeadLetter, DeadLetterPublisher } from './dead-letter.publisher';

/**
 * The consumer's eachBatch: one fetched batch of one partition, applied chunk by chunk through the
 * BatchApplier; dead letters published; offsets resolved (and so committed) only after Redis has
 * the writes and the DLT has the dead letters. Transient failures are retried with backoff
 * (BackoffRetries); nothing else stalls. What each resolved chunk leaves behind - applied
 * positions, failover checkpoints, lag - is ConsumedProgress's.
 */
export class BatchLoop {
  private readonly log = new Logger('Ingest');
  private readonly retries: BackoffRetries;
  /** The current consumer's dead-letter topic writer (its producer and group), set at each start of a consumer. */
  private deadLetters?: DeadLetterPublisher;

  constructor(
    private readonly applier: BatchApplier,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly progress: ConsumedProgress,
  ) {
    this.retries = new BackoffRetries(metrics);
  }

  publishDeadLettersWith(deadLetters: DeadLetterPublisher): void {
    this.deadLetters = deadLetters;
  }

  async consume(payload: EachBatchPayload, groupId: string): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    const heartbeat = () => payload.heartbeat();
    const isRunning = () => payload.isRunning();
    const isStale = () => payload.isStale();
    const resolveOffset = (offset: string) => payload.resolveOffset(offset);
    const untilDone = <T>(what: string, work: () => Promise<T>) => this.retries.untilDone(what, heartbeat, isRunning, work);
    for (let start = 0; start < batch.messages.length; start += MAX_CHUNK) {
      if (!isRunning() || isStale()) return;
      const chunk = batch.messages.slice(start, start + MAX_CHUNK);
      const timer = this.metrics.applySeconds.startTimer({ topic });
      const results = await untilDone(`apply ${topic}[${partition}]`, () => this.applier.applyChunk(topic, chunk, partition));
      if (results === undefined) return; // stopping: leave the rest uncommitted for the next owner
      timer();
      this.metrics.batchSize.observe({ topic }, chunk.length);

      const letters = this.countOutcomes(topic, results);
      if (letters.length > 0) {
        const sent = await untilDone(`dead-letter ${topic}[${partition}]`, () =>
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
        const raised = await untilDone(`record the applied position of ${topic}[${partition}]`, () =>
          this.progress.raiseAppliedPosition(groupId, partition, next).then(() => true),
        );
        if (raised === undefined) return;
      }
      resolveOffset(last);
      this.progress.resolved(topic, partition, chunk[0].offset, last, batch.highWatermark);
      await heartbeat();
    }
  }

  /** Counts the chunk's outcomes in eventsTotal, but for the dead letters, which it returns (counted once they are sent). */
  private countOutcomes(topic: string, results: RecordOutcome<DeadLetter['message']>[]): DeadLetter[] {
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
    return letters;
  }
}
