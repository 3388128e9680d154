import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { Admin } from 'kafkajs';
import { AppConfig } from '../config/app-config';
import { createKafka } from '../kafka/kafka-client';
import { StateRebuild } from '../recovery/state-rebuild.service';
import { AppliedPositions, PartitionPositions } from './applied-positions';

/** Per session-topic partition: the end offset a wait must see applied. */
export type Fence = ReadonlyMap<number, number>;

/** How a wait ended: everything behind the fence applied, or why it stopped early. */
export type WaitOutcome = 'complete' | 'bound' | 'stalled' | 'rebuilding' | 'unavailable';

export interface WaitEnd {
  outcome: WaitOutcome;
  /** What stopped it early, for the log: e.g. "partition 2 at 1040 of 1043 has not advanced for 100 ms". */
  detail?: string;
}

/** A partition behind the fence that has not advanced for this long has a dead or stuck owner. */
export const STALL_MS = 100;
/** How often the positions are read while anyone waits (this instance's own applies wake the poller at once). */
const POLL_MS = 2;
/** A backlog's drain rate is trusted once it was watched this long. */
const RATE_WINDOW_MS = 50;

interface Waiter {
  /** performance.now() when the wait started. */
  since: number;
  deadline: number;
  /** The wait's verdict on the positions read now, or undefined to keep waiting. */
  verdict(positions: PartitionPositions, now: number, advanced: boolean): WaitEnd | undefined;
  done(end: WaitEnd): void;
}

/** What the poller saw of one partition since it started. */
interface Observed {
  position: number;
  /** When it was last seen to advance (undefined: not since the poller started). */
  advancedAt?: number;
  first: { at: number; position: number };
}

/**
 * The session route's read-your-writes wait (docs/rules.md): a request waits until every record
 * that was in the session topic when it arrived is applied, by whichever instance consumes its
 * partition.
 *
 * - The fence: the topic's end offsets from a ListOffsets started after the request arrived.
 *   Concurrent requests share one: a request joins the listing in flight if it started after the
 *   request arrived, else the next one, which starts when that one ends (at most one in flight).
 * - The positions (AppliedPositions, in Redis): one poller per instance reads them every few ms
 *   while anyone waits, at once after this instance's own consumer raised them.
 * - Early ends: the bound; a partition behind the fence that has not advanced for STALL_MS (its
 *   owner is dead or stuck until the group notices); a backlog that cannot drain before the bound at
 *   the rate it drains; Redis or Kafka unreachable.
 */
@Injectable()
export class SessionCatchUp implements OnApplicationShutdown {
  private readonly log = new Logger('SessionRoute');
  private readonly kafka;
  private admin?: Promise<Admin>;
  private arrivals = 0;
  private listing?: { coversUpTo: number; offsets: Promise<Fence>; settled: boolean };
  private nextListing?: Promise<Fence>;
  private readonly waiters = new Set<Waiter>();
  private readonly observed = new Map<number, Observed>();
  private polling = false;
  /** Reads by the poller since it started. */
  private reads = 0;
  private wakePoller?: () => void;

  constructor(
    private readonly config: AppConfig,
    private readonly positions: AppliedPositions,
    private readonly rebuild: StateRebuild,
  ) {
    this.kafka = createKafka(config);
    positions.onRaised(() => this.wakePoller?.());
  }

  /** A ticket for a request arriving now: any fence listed after this covers it. */
  arrive(): number {
    return ++this.arrivals;
  }

  /** The fence of the request with `ticket`: from a ListOffsets that started after it arrived. Rejects when Kafka does not answer. */
  fence(ticket: number): Promise<Fence> {
    const current = this.listing;
    if (current && current.coversUpTo >= ticket) return current.offsets;
    if (!current || current.settled) return this.listNow();
    this.nextListing ??= current.offsets
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => this.listNow());
    return this.nextListing;
  }

  /**
   * Waits until every partition's applied position reaches the fence, or `deadline`
   * (performance.now() time) passes, or it ends early (see the class).
   */
  untilApplied(fence: Fence, deadline: number): Promise<WaitEnd> {
    return this.enqueue(deadline, (positions, now, since) => {
      let behind: string | undefined;
      for (const [partition, end] of fence) {
        const position = positions.get(partition) ?? 0;
        if (position >= end) continue;
        behind ??= `partition ${partition} at ${position} of ${end}`;
        const seen = this.observed.get(partition);
        if (now - Math.max(since, seen?.advancedAt ?? -Infinity) >= STALL_MS) {
          return { outcome: 'stalled', detail: `partition ${partition} at ${position} of ${end} has not advanced for ${STALL_MS} ms` };
        }
        const rate = seen ? drainRate(seen, now) : undefined;
        if (rate !== undefined && (end - position) / rate > deadline - now) {
          return { outcome: 'bound', detail: `partition ${partition} at ${position} of ${end} cannot drain within the bound` };
        }
      }
      if (behind === undefined) return { outcome: 'complete' };
      return now >= deadline ? { outcome: 'bound', detail: `${behind} when the bound was reached` } : undefined;
    });
  }

  /** Resolves once any partition's position advances, or at `deadline`; rejects (StateStoreUnavailableError) when Redis fails. */
  async nextAdvance(deadline: number): Promise<void> {
    const end = await this.enqueue(deadline, (_positions, now, _since, advanced) =>
      advanced || now >= deadline ? { outcome: 'complete' } : undefined,
    );
    if (end.outcome === 'unavailable') throw new Error(end.detail);
  }

  async onApplicationShutdown(): Promise<void> {
    const admin = await this.admin?.catch(() => undefined);
    await admin?.disconnect().catch(() => undefined);
  }

  private enqueue(
    deadline: number,
    verdict: (positions: PartitionPositions, now: number, since: number, advanced: boolean) => WaitEnd | undefined,
  ): Promise<WaitEnd> {
    return new Promise((resolve) => {
      const since = performance.now();
      const waiter: Waiter = {
        since,
        deadline,
        verdict: (positions, now, advanced) => verdict(positions, now, since, advanced),
        done: resolve,
      };
      this.waiters.add(waiter);
      if (this.polling) this.wakePoller?.();
      else void this.poll();
    });
  }

  /** One poller per instance while anyone waits: reads the positions, gives each waiter its verdict. */
  private async poll(): Promise<void> {
    this.polling = true;
    try {
      while (this.waiters.size > 0) {
        let positions: PartitionPositions;
        try {
          positions = await this.positions.read(this.rebuild.groupId);
        } catch (error) {
          this.finishAll({ outcome: 'unavailable', detail: `Redis: ${(error as Error).message}` });
          break;
        }
        const now = performance.now();
        const advanced = this.observe(positions, now);
        this.reads++;
        for (const waiter of this.waiters) {
          const end = waiter.verdict(positions, now, advanced);
          if (end) {
            this.waiters.delete(waiter);
            waiter.done(end);
          }
        }
        if (this.waiters.size === 0) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, POLL_MS);
          this.wakePoller = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakePoller = undefined;
      }
    } finally {
      this.polling = false;
      this.observed.clear();
      this.reads = 0;
    }
  }

  /** Notes which partitions advanced since the last read; true if any did. */
  private observe(positions: PartitionPositions, now: number): boolean {
    let advanced = false;
    for (const [partition, position] of positions) {
      const seen = this.observed.get(partition);
      if (!seen) {
        // A partition that shows up after the first read got its first position meanwhile: an advance.
        const appeared = this.reads > 0;
        this.observed.set(partition, { position, first: { at: now, position }, ...(appeared ? { advancedAt: now } : {}) });
        advanced ||= appeared;
      } else if (position > seen.position) {
        seen.position = position;
        seen.advancedAt = now;
        advanced = true;
      }
    }
    return advanced;
  }

  private finishAll(end: WaitEnd): void {
    for (const waiter of this.waiters) waiter.done(end);
    this.waiters.clear();
  }

  private listNow(): Promise<Fence> {
    this.nextListing = undefined;
    const entry = { coversUpTo: this.arrivals, offsets: this.listEndOffsets(), settled: false };
    const settle = () => void (entry.settled = true);
    entry.offsets.then(settle, settle);
    this.listing = entry;
    return entry.offsets;
  }

  private async listEndOffsets(): Promise<Fence> {
    const admin = await this.connectedAdmin();
    const offsets = await admin.fetchTopicOffsets(this.config.SESSION_EVENTS_TOPIC);
    return new Map(offsets.map(({ partition, high }) => [partition, Number(high)]));
  }

  private connectedAdmin(): Promise<Admin> {
    this.admin ??= (async () => {
      const admin = this.kafka.admin({ retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 200 } });
      await admin.connect();
      return admin;
    })().catch((error: Error) => {
      this.admin = undefined;
      this.log.debug(`Cannot connect to Kafka to list the session topic's end offsets: ${error.message}`);
      throw error;
    });
    return this.admin;
  }
}

/** Records per ms a partition drained since the poller started watching it, once watched long enough. */
function drainRate(seen: Observed, now: number): number | undefined {
  const elapsed = now - seen.first.at;
  // Not advancing at all is a stall (STALL_MS), not a slow drain.
  if (elapsed < RATE_WINDOW_MS || seen.position === seen.first.position) return undefined;
  return (seen.position - seen.first.position) / elapsed;
}
