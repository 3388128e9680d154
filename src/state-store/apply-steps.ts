/** Applying changes: events encoded for apply-events.lua, run per bucket; their follow-ups settled; replies read by the event's kind. */
import { ReplyError } from 'ioredis';
import { isTransientReply } from '../redis/transient-reply';
import { KeyLayout } from './redis-keys';
import { StateScripts } from './state-scripts';
import { BucketCall, BucketRunner, ChangeResult, StateChange, StateStoreUnavailableError, StoredOutcome } from './state-types';

/**
 * Events per script call. One command per event costs ~10 µs of client and server overhead each;
 * one per run of events amortises it. Bounded so that one call keeps Redis busy for a few ms at
 * most and queries are not held up behind it.
 */
const EVENTS_PER_SCRIPT_CALL = 200;
/** Follow-ups per apply-follow-ups.lua call (cluster). */
const FOLLOW_UPS_PER_SCRIPT_CALL = 500;
/** Most members one ZREM of an outbox names. */
const CONFIRM_CHUNK = 1000;

/** The kind of an encoded event (apply-events.lua's header): the rules' step (upper case) or, on a cluster, the session id's (lower case). */
export type EventKind = 'C' | 'D' | 'H' | 'J' | 'L' | 'c' | 'd' | 'h';

/** A step of one event in one bucket: its index in the batch and its encoded form (apply-events.lua: its kind, then its fields, each one argument). */
export interface EventStep {
  index: number;
  bucket: number;
  event: [EventKind, ...string[]];
}

/** Follow-ups one call returned, and those of them its bucket's outbox keeps until applied. */
export interface FollowUpBatch {
  bucket: number;
  texts: string[];
  kept: string[];
}

/**
 * The script calls of every apply: runs of events per bucket (apply-events.lua), the follow-ups
 * they return applied in their own buckets and confirmed (on one Redis there are none). Works in
 * buckets only; the backend routes the calls and plans the steps (one, or cluster-steps.ts).
 */
export class ApplySteps {
  constructor(
    private readonly runner: BucketRunner,
    private readonly scripts: StateScripts,
  ) {}

  get layout(): KeyLayout {
    return this.runner.layout;
  }

  /** Every change applied whole by one script call per run of events (one bucket holds every key). */
  async applyInOneStep(changes: readonly StateChange[]): Promise<ChangeResult[]> {
    const steps = changes.map((change, index): EventStep => ({ index, bucket: 0, event: encodeChange(change, '') }));
    const { replies } = await this.runSteps(steps, false);
    return replies.map((reply, i) => decodeChange(steps[i].event[0], reply));
  }

  /**
   * Runs event steps: grouped by bucket (order kept within a bucket), at most
   * EVENTS_PER_SCRIPT_CALL per apply-events.lua call, all calls at once (one pipeline per node).
   * Returns each step's reply, in the order given, and every follow-up the calls returned.
   */
  async runSteps(steps: readonly EventStep[], durable: boolean): Promise<{ replies: unknown[]; followUps: FollowUpBatch[] }> {
    const calls: (BucketCall & { members: number[] })[] = [];
    for (const [bucket, members] of groupBy(steps, (step) => step.bucket)) {
      for (let start = 0; start < members.length; start += EVENTS_PER_SCRIPT_CALL) {
        const run = members.slice(start, start + EVENTS_PER_SCRIPT_CALL);
        const args: string[] = [durable ? '1' : '0'];
        for (const i of run) for (const field of steps[i].event) args.push(field);
        calls.push({ bucket, members: run, queue: (p) => this.scripts.queue(p, 'applyEvents', bucket, args) });
      }
    }
    const replies: unknown[] = new Array(steps.length);
    const followUps: FollowUpBatch[] = [];
    (await this.runner.runInBuckets(calls)).forEach(([error, result], c) => {
      if (error) throw scriptFailure('apply-events.lua', error);
      const [answers, [texts, kept]] = result as [unknown[], [string[], string[]]];
      let at = 0;
      for (const stepIndex of calls[c].members) {
        const kind = steps[stepIndex].event[0];
        replies[stepIndex] = eventReply(kind, answers, at);
        at += REPLY_WIDTH[kind];
      }
      if (texts.length > 0) followUps.push({ bucket: calls[c].bucket, texts, kept });
    });
    return { replies, followUps };
  }

  /**
   * The follow-ups (cluster): applied in their buckets (a guild's view and online set, a session
   * id's claims), then those kept in an outbox removed from it. If this process dies in between,
   * those stay in the outboxes and any instance applies them (drainOutboxes); the others belong to
   * Kafka records whose offsets are not committed yet, which a redelivery sends again. Applying one
   * twice changes nothing.
   */
  async settle(batches: readonly FollowUpBatch[]): Promise<void> {
    if (batches.length === 0) return;
    const layout = this.runner.layout;
    const texts = batches.flatMap((batch) => batch.texts);
    const calls: BucketCall[] = [];
    for (const [bucket, members] of groupBy(texts, (text) => layout.bucketOf(followUpTarget(text)))) {
      for (let start = 0; start < members.length; start += FOLLOW_UPS_PER_SCRIPT_CALL) {
        const payload = JSON.stringify(members.slice(start, start + FOLLOW_UPS_PER_SCRIPT_CALL).map((i) => texts[i]));
        calls.push({ bucket, queue: (p) => this.scripts.queue(p, 'applyFollowUps', bucket, [payload]) });
      }
    }
    for (const [error] of await this.runner.runInBuckets(calls)) if (error) throw scriptFailure('apply-follow-ups.lua', error);
    const confirms: BucketCall[] = [];
    for (const { bucket, kept } of batches) {
      for (let start = 0; start < kept.length; start += CONFIRM_CHUNK) {
        const members = kept.slice(start, start + CONFIRM_CHUNK);
        confirms.push({ bucket, queue: (p) => p.zrem(layout.outbox(bucket), ...members) });
      }
    }
    for (const [error] of await this.runner.runInBuckets(confirms)) if (error) throw scriptFailure('ZREM outbox', error);
  }
}

/** How many values of apply-events.lua's flat answer each kind of event has (see its header). */
const REPLY_WIDTH: Record<EventKind, number> = { C: 2, D: 3, H: 1, J: 1, L: 1, c: 1, d: 2, h: 2 };

/**
 * One event's answer from the flat array, in the shape decodeChange and decodeIdStep read: an error
 * text, a lone outcome, or its values ("h": [owner]).
 */
function eventReply(kind: EventKind, answers: readonly unknown[], at: number): unknown {
  const first = answers[at];
  const width = REPLY_WIDTH[kind];
  if (typeof first === 'string' || width === 1) return first;
  return kind === 'h' ? [answers[at + 1]] : answers.slice(at, at + width);
}

/** Indexes of `items` per key, in order. */
function groupBy<T>(items: readonly T[], keyOf: (item: T) => number): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  items.forEach((item, i) => {
    const key = keyOf(item);
    const list = groups.get(key) ?? [];
    list.push(i);
    groups.set(key, list);
  });
  return groups;
}

/** The id whose bucket a follow-up is applied in: the guild ("V", "O") or the session id ("E"). */
function followUpTarget(text: string): string {
  const [, id] = JSON.parse(text) as [string, string];
  return id;
}

export function scriptFailure(what: string, error: Error): Error {
  if (!(error instanceof ReplyError) || isTransientReply(error)) return new StateStoreUnavailableError(error.message);
  return new Error(`${what} failed: ${error.message}`);
}

/** The compact form apply-events.lua reads (see its header). `claimed`: '' on a single Redis; on a cluster what the session id's step found. */
export function encodeChange(change: StateChange, claimed: string): EventStep['event'] {
  switch (change.kind) {
    case 'connect':
      return [
        'C',
        change.userId,
        change.sessionId,
        change.state,
        String(change.atMs),
        change.serverId ?? '',
        change.guildIds.join(','),
        claimed,
      ];
    case 'disconnect':
      return ['D', change.sessionId, change.userId ?? ''];
    case 'heartbeat':
      return ['H', change.sessionId, change.userId ?? ''];
    case 'join':
      return ['J', change.userId, change.guildId, change.channelId, String(change.atMs), change.serverId ?? ''];
    case 'leave':
      return ['L', change.userId, change.guildId, change.channelId, String(change.atMs)];
  }
}

const STORED_OUTCOMES: Record<number, StoredOutcome> = { 0: 'duplicate', 1: 'applied', 2: 'stale' };

/**
 * One entry of apply-events.lua's reply, read as the answer to the event of `kind` (see its header):
 * an error text when Redis refused it; else its outcome, with a CONNECT's sessions ended by the
 * bound, a DISCONNECT's user and whether it ended their last live session ("d": the user found).
 */
export function decodeChange(kind: EventKind, reply: unknown): ChangeResult {
  if (typeof reply === 'string') return { outcome: { rejected: `Redis refused the change: ${reply}` } };
  const [code, ...extra] = Array.isArray(reply) ? (reply as unknown[]) : [reply];
  const outcome = STORED_OUTCOMES[Number(code)];
  if (!outcome) return { outcome: { rejected: `apply-events.lua answered ${JSON.stringify(reply)}` } };
  switch (kind) {
    case 'C':
      return extra.length === 1 ? { outcome, sessionsEvicted: Number(extra[0]) } : { outcome };
    case 'D':
      return extra.length === 2 ? { outcome, userId: (extra[0] as string) || undefined, endedLastSession: extra[1] === 1 } : { outcome };
    default:
      return { outcome };
  }
}
