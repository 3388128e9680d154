import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { Admin } from 'kafkajs';
import { wakeableDelay } from '../common/wakeable-delay';
import { AppConfig } from '../config/app-config';
import { createKafka } from '../kafka/kafka-client';
import { StateRebuild } from '../recovery/state-rebuild.service';
import { AppliedPositions, PartitionPositions } from './applied-positions';
import { OffsetRange } from './session-event-log';

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
/** ListOffsets of the fence in flight at most: bounds what the route asks of Kafka (two ListOffsets requests each). */
const LISTINGS_IN_FLIGHT = 2;
/** Ranges of records applied here before their append, kept at most (the oldest are forgotten: their records are waited for). */
const MAX_APPLIED_HERE = 10_000;

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
 *   Concurrent requests share one: a request joins the latest listing if it started after the
 *   request arrived, else starts one, unless LISTINGS_IN_FLIGHT are in flight: then it joins the
 *   next, which starts when one of those ends. (With one in flight, a request arriving just after a
 *   listing started waited for it to end and then for a whole listing of its own.)
 * - The positions (AppliedPositions, in Redis): one poller per instance reads them every few ms
 *   while anyone waits; this instance's own consumer's raises are taken as they are written, with
 *   no read.
 * - Records applied here: the route appends an event after applying it, so a record it appended
 *   is applied from the start (appliedHere). A partition whose records from its position up to the
 *   fence are all such records is caught up: a burst of DISCONNECTs does not wait for the consumer
 *   to apply each other's records again (a no-op).
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
  /** The listing started last. */
  private listing?: { coversUpTo: number; offsets: Promise<Fence> };
  /** Listings in flight, each settling to undefined. */
  private readonly listingsInFlight = new Set<Promise<void>>();
  private nextListing?: Promise<Fence>;
  private readonly waiters = new Set<Waiter>();
  private readonly observed = new Map<number, Observed>();
  private polling = false;
  /** Reads by the poller since it started (and raises taken). */
  private reads = 0;
  private wakePoller?: () => void;
  /** While polling: the positions last read, raised by this instance's raises since (Redis holds these or higher). */
  private known?: { groupId: string; positions: Map<number, number> };
  /** While a read is in flight: this instance's raises meanwhile, which that read may not include. */
  private raisedDuringRead?: { groupId: string; positions: Map<number, number> };
  /** Per partition, in offset order: the records this instance applied before appending them, in the state of `groupId`. */
  private appliedHereOf?: { groupId: string; ranges: Map<number, OffsetRange[]>; count: number };

  constructor(
    private readonly config: AppConfig,
    private readonly positions: AppliedPositions,
    private readonly rebuild: StateRebuild,
  ) {
    this.kafka = createKafka(config);
    positions.onRaised((groupId, raised) => this.raised(groupId, raised));
  }

  /** A ticket for a request arriving now: any fence listed after this covers it. */
  arrive(): number {
    return ++this.arrivals;
  }

  /** The fence of the request with `ticket`: from a ListOffsets that started after it arrived. Rejects when Kafka does not answer. */
  fence(ticket: number): Promise<Fence> {
    const current = this.listing;
    if (current && current.coversUpTo >= ticket) return current.offsets;
    if (this.listingsInFlight.size < LISTINGS_IN_FLIGHT) return this.listNow();
    this.nextListing ??= Promise.race(this.listingsInFlight).then(() => this.listNow());
    return this.nextListing;
  }

  /**
   * Records that the route appended these records (per partition, their offsets) after applying
   * them itself to the state of consumer group `groupId`: a wait need not see them applied again.
   * Appends are one at a time, so each partition's ranges come in offset order.
   */
  appliedHere(groupId: string, ranges: ReadonlyMap<number, OffsetRange>): void {
    if (this.appliedHereOf?.groupId !== groupId) this.appliedHereOf = { groupId, ranges: new Map(), count: 0 };
    const own = this.appliedHereOf;
    for (const [partition, range] of ranges) {
      if (range.next <= range.first) continue;
      const list = own.ranges.get(partition) ?? [];
      const last = list[list.length - 1];
      if (last && last.next === range.first) last.next = range.next;
      else if (!last || last.next < range.first) {
        list.push({ ...range });
        own.count++;
      } else continue; // out of order: not expected, not trusted
      own.ranges.set(partition, list);
    }
    if (own.count > MAX_APPLIED_HERE) {
      // Forgotten ranges only make a wait longer: their records are then waited for.
      for (const list of own.ranges.values()) own.count -= list.splice(0, Math.ceil(list.length / 2)).length;
    }
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
      // The positions known now may do already (each only ever rises): no read, no poll interval.
      const known = this.known;
      if (known && known.groupId === this.rebuild.groupId) {
        const end = waiter.verdict(this.withAppliedHere(known.groupId, known.positions), since, false);
        if (end) return resolve(end);
      }
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
        const groupId = this.rebuild.groupId;
        const raised = new Map<number, number>();
        this.raisedDuringRead = { groupId, positions: raised };
        let read: PartitionPositions;
        try {
          read = await this.positions.read(groupId);
        } catch (error) {
          this.finishAll({ outcome: 'unavailable', detail: `Redis: ${(error as Error).message}` });
          break;
        } finally {
          this.raisedDuringRead = undefined;
        }
        const positions = new Map(read);
        raiseTo(positions, raised);
        this.known = { groupId, positions };
        this.forgetAppliedHere(groupId, positions);
        this.judge(groupId, positions);
        if (this.waiters.size === 0) break;
        const pause = wakeableDelay(POLL_MS);
        this.wakePoller = pause.wake;
        await pause.done;
        this.wakePoller = undefined;
      }
    } finally {
      this.polling = false;
      this.observed.clear();
      this.reads = 0;
      this.known = undefined;
    }
  }

  /**
   * This instance raised positions of `groupId` (written: Redis holds them or higher): the waiters
   * are judged on them at once, with the positions last read, instead of reading them back.
   */
  private raised(groupId: string, raised: PartitionPositions): void {
    if (this.raisedDuringRead?.groupId === groupId) raiseTo(this.raisedDuringRead.positions, raised);
    if (this.known?.groupId !== groupId || this.waiters.size === 0) return;
    raiseTo(this.known.positions, raised);
    this.forgetAppliedHere(groupId, this.known.positions);
    this.judge(groupId, this.known.positions);
  }

  /** Gives each waiter its verdict on `positions` of `groupId` (records applied here counted in). */
  private judge(groupId: string, positions: PartitionPositions): void {
    const now = performance.now();
    const advanced = this.observe(positions, now);
    this.reads++;
    const reached = this.withAppliedHere(groupId, positions);
    for (const waiter of this.waiters) {
      const end = waiter.verdict(reached, now, advanced);
      if (end) {
        this.waiters.delete(waiter);
        waiter.done(end);
      }
    }
  }

  /** The positions, each moved past the records applied here that follow it without a gap. */
  private withAppliedHere(groupId: string, positions: PartitionPositions): PartitionPositions {
    const own = this.appliedHereOf;
    if (own?.groupId !== groupId || own.count === 0) return positions;
    const reached = new Map(positions);
    for (const [partition, ranges] of own.ranges) {
      let position = reached.get(partition) ?? 0;
      for (const range of ranges) {
        if (range.first > position) break;
        position = Math.max(position, range.next);
      }
      reached.set(partition, position);
    }
    return reached;
  }

  /** Ranges the positions read have passed are of no more use. */
  private forgetAppliedHere(groupId: string, positions: PartitionPositions): void {
    const own = this.appliedHereOf;
    if (!own) return;
    if (own.groupId !== groupId) {
      this.appliedHereOf = undefined;
      return;
    }
    for (const [partition, ranges] of own.ranges) {
      const position = positions.get(partition) ?? 0;
      let passed = 0;
      while (passed < ranges.length && ranges[passed].next <= position) passed++;
      if (passed > 0) {
        ranges.splice(0, passed);
        own.count -= passed;
      }
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
    const entry = { coversUpTo: this.arrivals, offsets: this.listEndOffsets() };
    const settled: Promise<void> = entry.offsets.then(
      () => void this.listingsInFlight.delete(settled),
      () => void this.listingsInFlight.delete(settled),
    );
    this.listingsInFlight.add(settled);
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

/** Raises each position of `positions` to that in `to`, if higher. */
function raiseTo(positions: Map<number, number>, to: PartitionPositions): void {
  for (const [partition, position] of to) if (position > (positions.get(partition) ?? -1)) positions.set(partition, position);
}

/** Records per ms a partition drained since the poller started watching it, once watched long enough. */
function drainRate(seen: Observed, now: number): number | undefined {
  const elapsed = now - seen.first.at;
  // Not advancing at all is a stall (STALL_MS), not a slow drain.
  if (elapsed < RATE_WINDOW_MS || seen.position === seen.first.position) return undefined;
  return (seen.position - seen.first.position) / elapsed;
}
