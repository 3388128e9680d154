import { Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { StateRebuild } from '../recovery/state-rebuild.service';
import { ChangeResult, StateStore, StateStoreUnavailableError } from '../state-store/state-store';
import { SessionEvent } from './session-event';
import { GroupCommit } from '../common/group-commit';
import { appliedState } from '../common/applied-state';
import { errorBody } from '../http/error-body';
import { LoggedSessionEvent, SessionEventLog } from './session-event-log';
import { SessionUpdate, SessionUpdateAnswer } from './session-update.dto';
import { SessionsService } from './sessions.service';
import { Fence, SessionCatchUp, WaitEnd, WaitOutcome } from './session-catch-up';

/** The 503 of an HTTP session event that could not be appended to the session topic. */
export const sessionNotRecorded = () => errorBody(503, 'the session event could not be recorded (Kafka unreachable); retry shortly');

/** How the answer's wait ended (docs/rules.md): `complete`, or why it stopped early. On every answer of the route. */
export const SESSION_WAIT_HEADER = 'X-Session-Wait';

/** Early answers are logged at most this often (with how many there were meanwhile). */
const EARLY_LOG_INTERVAL_MS = 60_000;

/** An answer, the label it is counted under, and how its wait ended. */
interface Answer {
  label: string;
  message: string;
  isSuccess: boolean;
  result: string | null;
}

export interface SessionRouteAnswer {
  body: SessionUpdateAnswer;
  wait: WaitOutcome;
}

/**
 * The chat server's HTTP session route (it sends DISCONNECT this way, not through Kafka, and acts
 * on the answer): apply the event through the same scripts as a Kafka record, append it with the
 * user it resolved to the session topic (durable from then on: while Redis is down the consumer
 * applies it once Redis is back, and a replay sees it), then - read-your-writes - wait until
 * every session record that was in Kafka when the request arrived is applied, and answer from the
 * state read after the wait (docs/rules.md): `result` is the user iff their session has ended
 * and they have no live session. A DISCONNECT whose session is unknown is held (within the same
 * bound) until a CONNECT uses up its pending marker.
 */
@Injectable()
export class SessionUpdatesService {
  private readonly log = new Logger('SessionRoute');
  private redisDownLogged = false;
  private earlyLoggedAt = -Infinity;
  private earlySinceLogged = 0;
  /** Concurrent requests share one script call and one Kafka append (see GroupCommit). */
  private readonly applying: GroupCommit<SessionEvent, ChangeResult>;
  private readonly appending: GroupCommit<Appending, ReadonlyMap<number, number>>;

  constructor(
    sessions: SessionsService,
    eventLog: SessionEventLog,
    private readonly metrics: MetricsService,
    private readonly catchUp: SessionCatchUp,
    private readonly rebuild: StateRebuild,
    private readonly store: StateStore,
    private readonly config: AppConfig,
  ) {
    this.applying = new GroupCommit((events) => sessions.applyNow(events.map((event) => ({ event, timestampMs: Date.now() }))));
    this.appending = new GroupCommit(async (items) => {
      const { firstOffsets, ranges } = await eventLog.appendAll(items.map((item) => item.event));
      // Every record of the batch applied here first (to the same state): no wait needs to see them applied again.
      const groupId = items[0].appliedTo;
      if (ranges && groupId !== undefined && items.every((item) => item.appliedTo === groupId)) catchUp.appliedHere(groupId, ranges);
      return items.map(() => firstOffsets);
    });
  }

  async update(body: SessionUpdate): Promise<SessionRouteAnswer> {
    const ticket = this.catchUp.arrive();
    const deadline = performance.now() + this.config.SESSION_ROUTE_WAIT_MS;
    const waits = body.type === 'DISCONNECT' && this.config.SESSION_ROUTE_WAIT_MS > 0 && !this.rebuild.rebuilding;
    // Listed while the event is applied and appended: a fence from after the arrival, not after the append.
    const fence = waits ? this.catchUp.fence(ticket) : undefined;
    fence?.catch(() => undefined); // a Kafka failure is read where the fence is awaited

    const groupId = this.rebuild.groupId;
    const applied = await this.apply(body);
    const userId = applied?.userId ?? body.userId ?? undefined;
    // Applied to the state of the group of its arrival, no rebuild meanwhile: the record it appends is applied already.
    const appliedHere =
      applied &&
      typeof applied.outcome !== 'object' &&
      this.config.SESSION_ROUTE_WAIT_MS > 0 &&
      !this.rebuild.rebuilding &&
      this.rebuild.groupId === groupId;
    const appendedAt = await this.append(body, userId, appliedHere ? groupId : undefined);
    // A CONNECT's answer is its own outcome; with Redis down or the change refused there is no state to read.
    if (body.type === 'CONNECT' || !applied || typeof applied.outcome === 'object') {
      return this.answer(body, answerFromApply(body, applied), { outcome: applied ? 'complete' : 'unavailable' });
    }

    let end: WaitEnd = fence
      ? await this.untilApplied(fence, appendedAt, deadline)
      : this.rebuild.rebuilding
        ? { outcome: 'rebuilding', detail: 'a rebuild of the state is under way' }
        : { outcome: 'bound', detail: 'SESSION_ROUTE_WAIT_MS=0' };
    if (end.outcome === 'unavailable') return this.answer(body, answerFromApply(body, applied), end);
    try {
      let owner = userId;
      if (!owner && end.outcome === 'complete') {
        owner = await this.untilConnected(body.sessionId, deadline);
        if (!owner) end = { outcome: 'bound', detail: `no CONNECT of session ${body.sessionId} came within the bound` };
      }
      if (!owner) return this.answer(body, UNKNOWN_SESSION, end);
      if (!userId) await this.append(body, owner); // the log then names the user: a replay needs no lookup
      const { ended, liveSessions } = await this.store.readSessionEnd(owner, body.sessionId);
      return this.answer(body, answerFromState(owner, ended, liveSessions, applied.outcome === 'duplicate'), end);
    } catch (error) {
      if (!(error instanceof StateStoreUnavailableError)) throw error;
      this.metrics.redisErrors.inc({ operation: 'session_route' });
      return this.answer(body, answerFromApply(body, applied), { outcome: 'unavailable', detail: `Redis: ${error.message}` });
    }
  }

  private async apply(body: SessionUpdate): Promise<ChangeResult | undefined> {
    const event = Object.assign(new SessionEvent(), {
      type: body.type,
      sessionId: body.sessionId,
      userId: body.userId ?? undefined,
      state: body.state,
    });
    try {
      const result = await this.applying.submit(event);
      appliedState.notify();
      this.redisDownLogged = false;
      return result;
    } catch (error) {
      if (!(error instanceof StateStoreUnavailableError)) throw error;
      this.metrics.redisErrors.inc({ operation: 'session_route' });
      if (!this.redisDownLogged)
        this.log.warn(`Redis unreachable (${error.message}): HTTP session events are appended to Kafka and applied once it is back`);
      this.redisDownLogged = true;
      return undefined;
    }
  }

  /**
   * Appends the event (acks=all) and returns where the batch it went with starts, per partition; 503
   * when Kafka does not take it. `appliedTo`: the group whose state this instance applied it to.
   */
  private async append(body: SessionUpdate, userId: string | undefined, appliedTo?: string): Promise<ReadonlyMap<number, number>> {
    try {
      const event: LoggedSessionEvent = {
        type: body.type,
        sessionId: body.sessionId,
        ...(userId ? { userId } : {}),
        ...(body.state !== undefined ? { state: body.state } : {}),
        origin: 'http',
      };
      return await this.appending.submit({ event, appliedTo });
    } catch (error) {
      this.metrics.sessionRouteEvents.inc({ type: body.type, result: 'not_recorded' });
      this.log.error(`Could not append ${body.type} of session ${body.sessionId} to Kafka: ${(error as Error).message}`);
      throw new ServiceUnavailableException(sessionNotRecorded());
    }
  }

  /**
   * Waits for the fence, less this request's own append: every record from the first offset its
   * batch took came after the request arrived, and this instance applied that DISCONNECT itself.
   */
  private async untilApplied(fence: Promise<Fence>, appendedAt: ReadonlyMap<number, number>, deadline: number): Promise<WaitEnd> {
    let ends: Fence | undefined;
    try {
      ends = await beforeDeadline(fence, deadline);
    } catch (error) {
      return { outcome: 'unavailable', detail: `Kafka: ${(error as Error).message}` };
    }
    if (!ends) return { outcome: 'bound', detail: "the session topic's end offsets did not come within the bound" };
    const before = new Map(ends);
    for (const [partition, first] of appendedAt) if ((before.get(partition) ?? 0) > first) before.set(partition, first);
    return this.catchUp.untilApplied(before, deadline);
  }

  /**
   * A DISCONNECT of a session nobody CONNECTed left a pending marker: held until a CONNECT uses it
   * up (its CONNECT was still on its way), or the bound. Applying the DISCONNECT again is how its
   * user is found: idempotent, and the same lookup as the first time.
   */
  private async untilConnected(sessionId: string, deadline: number): Promise<string | undefined> {
    const again = Object.assign(new SessionEvent(), { type: 'DISCONNECT', sessionId });
    for (;;) {
      const { userId } = await this.applying.submit(again);
      if (userId || performance.now() >= deadline) return userId;
      await this.catchUp.nextAdvance(deadline).catch((error: Error) => {
        throw new StateStoreUnavailableError(error.message);
      });
    }
  }

  private answer(body: SessionUpdate, answer: Answer, end: WaitEnd): SessionRouteAnswer {
    this.metrics.sessionRouteEvents.inc({ type: body.type, result: answer.label });
    let message = answer.message;
    if (end.outcome !== 'complete') {
      message += `; answered before every session record already in Kafka was applied (${end.outcome})`;
      this.noteEarly(end);
    }
    return { body: { code: 200, message, isSuccess: answer.isSuccess, result: answer.result }, wait: end.outcome };
  }

  /** Counted by reason; warned about at most once a minute. */
  private noteEarly(end: WaitEnd): void {
    this.metrics.sessionRouteEarlyAnswers.inc({ reason: end.outcome });
    this.earlySinceLogged++;
    const now = performance.now();
    if (now - this.earlyLoggedAt < EARLY_LOG_INTERVAL_MS) return;
    this.log.warn(
      `Answered a DISCONNECT without waiting for every session record already in Kafka (${end.outcome}: ${end.detail ?? 'no detail'}); ` +
        `${this.earlySinceLogged} such answers since the last warning (state_server_session_route_early_answers_total)`,
    );
    this.earlyLoggedAt = now;
    this.earlySinceLogged = 0;
  }
}

/** An event to append, and the group whose state this instance applied it to before (undefined: not applied here). */
interface Appending {
  event: LoggedSessionEvent;
  appliedTo?: string;
}

const UNKNOWN_SESSION: Answer = { label: 'unknown_session', message: 'unknown session', isSuccess: false, result: null };

/** The promise's value, or undefined once `deadline` (performance.now() time) passes first. */
function beforeDeadline<T>(promise: Promise<T>, deadline: number): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - performance.now()));
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error: unknown) => (clearTimeout(timer), reject(error instanceof Error ? error : new Error(String(error)))),
    );
  });
}

/** A DISCONNECT's answer from the state after the wait: the user iff their session has ended and none of theirs is live. */
function answerFromState(userId: string, ended: boolean, liveSessions: number, endedBefore: boolean): Answer {
  const what = endedBefore ? 'session had ended already' : 'session ended';
  if (liveSessions > 0)
    return { label: 'still_online', message: `${what}; the user is still online on another session`, isSuccess: true, result: null };
  if (!ended) return UNKNOWN_SESSION;
  return { label: 'offline', message: `${what}; the user is offline`, isSuccess: true, result: userId };
}

/** The answer from the apply alone: a CONNECT, the change refused, Redis down, or the wait cut short by an outage. */
function answerFromApply(body: SessionUpdate, result: ChangeResult | undefined): Answer {
  if (!result)
    return {
      label: 'deferred',
      message: 'recorded; the state store is unreachable, it is applied once it is back',
      isSuccess: true,
      result: null,
    };
  const { outcome } = result;
  if (typeof outcome === 'object') return { label: 'rejected', message: outcome.rejected, isSuccess: false, result: null };
  if (body.type === 'CONNECT') {
    return outcome === 'stale'
      ? { label: 'already_ended', message: 'session had ended already', isSuccess: true, result: null }
      : { label: 'connected', message: 'session connected', isSuccess: true, result: body.userId! };
  }
  if (!result.userId) return UNKNOWN_SESSION;
  if (outcome === 'duplicate') return { label: 'already_ended', message: 'session had ended already', isSuccess: true, result: null };
  return result.endedLastSession
    ? { label: 'offline', message: 'session ended; the user is offline', isSuccess: true, result: result.userId }
    : { label: 'still_online', message: 'session ended; the user is still online on another session', isSuccess: true, result: null };
}
