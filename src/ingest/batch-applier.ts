import type { ClassConstructor } from 'class-transformer';
import { isTransientReply } from '../redis/transient-reply';
import { ApplyOutcome, StateStoreUnavailableError } from '../state-store/state-store';
import { decodeEvent, InvalidEventError } from './event-decoding';
import { ConsumedEvent } from '../common/consumed-event';
import { appliedState } from '../common/applied-state';

/** Records applied per Redis round trip; a fetched batch larger than this is applied in several chunks. */
export const MAX_CHUNK = 2000;

/** The part of a Kafka record the applier reads (kafkajs' KafkaMessage has it). */
export interface RawRecord {
  offset: string;
  /** Record timestamp (ms, as a decimal string): the producer's clock. */
  timestamp: string;
  value: Buffer | null;
}

/** How one topic's records are decoded (as T) and applied (the sessions / voice services' rules): see event-routes.ts. */
export interface TopicRoute<T extends object = object> {
  decodeAs: ClassConstructor<T>;
  /** One outcome per event, in order; events of one partition, in order. */
  apply(events: ConsumedEvent<T>[]): Promise<ApplyOutcome[]>;
}

/** What became of one record. `reason` says why it was dead-lettered or ignored. */
export interface RecordOutcome<R extends RawRecord = RawRecord> {
  record: R;
  /** The event's type ("CONNECT", "JOIN", …), or "invalid" when it could not be decoded. */
  type: string;
  outcome: 'applied' | 'duplicate' | 'stale' | 'ignored' | 'dead_lettered';
  reason?: string;
}

/** Errors worth retrying as they are: Redis unreachable or timed out, or an error reply that passes (isTransientReply). */
export function isTransient(error: unknown): boolean {
  return error instanceof StateStoreUnavailableError || isTransientReply(error);
}

/**
 * Turns a chunk of one partition's records into per-record outcomes: decode and validate each,
 * apply the valid ones in order through their topic's route, and say for each what it did. Pure of
 * kafkajs; the Kafka transport, the bench and the test harness all apply records through it.
 *
 * - A record that cannot be decoded, or that Redis refuses, is `dead_lettered` with the reason; the
 *   others of the chunk are applied.
 * - A transient failure (see isTransient) is thrown: the caller retries the whole chunk, which is
 *   safe since applying is idempotent.
 * - Any other failure of the chunk is isolated: its events are applied one at a time, and only the
 *   ones that fail again are dead-lettered, so a bug or a poison record never stalls the partition.
 */
export class BatchApplier {
  constructor(
    private readonly routes: ReadonlyMap<string, TopicRoute>,
    private readonly maxEventBytes: number,
  ) {}

  async applyChunk<R extends RawRecord>(topic: string, records: readonly R[], partition?: number): Promise<RecordOutcome<R>[]> {
    const route = this.routes.get(topic);
    if (!route) throw new Error(`No route for topic ${topic}`);
    const results = new Array<RecordOutcome<R>>(records.length);
    const events: ConsumedEvent<{ type?: string }>[] = [];
    const positions: number[] = [];
    records.forEach((record, i) => {
      try {
        const event = decodeEvent(record.value, route.decodeAs, this.maxEventBytes);
        events.push({ event, timestampMs: Number(record.timestamp), partition, offset: record.offset });
        positions.push(i);
      } catch (error) {
        if (!(error instanceof InvalidEventError)) throw error;
        results[i] = { record, type: 'invalid', outcome: 'dead_lettered', reason: error.message };
      }
    });
    const outcomes = await this.applyIsolatingFailures(route, events);
    appliedState.notify();
    outcomes.forEach((outcome, j) => {
      const i = positions[j];
      const type = events[j].event.type ?? 'unknown';
      if (typeof outcome === 'string') results[i] = { record: records[i], type, outcome };
      else if ('ignored' in outcome) results[i] = { record: records[i], type, outcome: 'ignored', reason: outcome.ignored };
      else results[i] = { record: records[i], type, outcome: 'dead_lettered', reason: outcome.rejected };
    });
    return results;
  }

  private async applyIsolatingFailures(route: TopicRoute, events: ConsumedEvent<object>[]): Promise<ApplyOutcome[]> {
    if (events.length === 0) return [];
    try {
      return checked(await route.apply(events), events.length);
    } catch (error) {
      if (isTransient(error)) throw error;
      if (events.length === 1) return [{ rejected: `could not be applied: ${(error as Error).message}` }];
    }
    const outcomes: ApplyOutcome[] = [];
    for (const event of events) outcomes.push(...(await this.applyIsolatingFailures(route, [event])));
    return outcomes;
  }
}

function checked(outcomes: ApplyOutcome[], expected: number): ApplyOutcome[] {
  if (!Array.isArray(outcomes) || outcomes.length !== expected) {
    throw new Error(
      `the event handler returned ${Array.isArray(outcomes) ? outcomes.length : typeof outcomes} outcomes for ${expected} events`,
    );
  }
  return outcomes;
}
