import { Logger } from '@nestjs/common';
import { MetricsService } from '../metrics/metrics.service';
import { StateStoreUnavailableError } from '../state-store/state-store';

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;

/**
 * How a partition waits out a Redis or Kafka outage: it retries the failed step with backoff,
 * heart-beating in between so that it keeps its assignment, instead of skipping or crashing. Shared
 * by the partitions of one consumer, so that an outage is logged once, not per partition or retry.
 */
export class BackoffRetries {
  private readonly log = new Logger('Ingest');
  /** Steps retrying now, over every partition: "Pausing" is logged by the first, "Resumed" by the last. */
  private stalled = 0;

  constructor(private readonly metrics: MetricsService) {}

  /**
   * Runs `work` until it succeeds, backing off (100 ms doubling to 5 s) and heart-beating in
   * between, so the partition waits out a Redis or Kafka outage without losing its assignment.
   * Returns undefined if the consumer is stopping meanwhile. Logs once per outage, not per retry.
   */
  async untilDone<T>(
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
