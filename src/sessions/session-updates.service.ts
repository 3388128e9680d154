import { Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import { MetricsService } from '../metrics/metrics.service';
import { ChangeResult, StateStoreUnavailableError } from '../state-store/state-store';
import { SessionEvent } from './session-event';
import { GroupCommit } from '../common/group-commit';
import { errorBody } from '../http/error-body';
import { LoggedSessionEvent, SessionEventLog } from './session-event-log';
import { SessionUpdate, SessionUpdateAnswer } from './session-update.dto';
import { SessionsService } from './sessions.service';

/** The 503 of an HTTP session event that could not be appended to the session topic. */
export const sessionNotRecorded = () => errorBody(503, 'the session event could not be recorded (Kafka unreachable); retry shortly');

/**
 * The chat server's HTTP session route (it sends DISCONNECT this way, not through Kafka, and acts
 * on the answer): apply the event through the same scripts as a Kafka record, append it with the
 * user it resolved to the session topic, then answer. The append makes it durable: while Redis is
 * down the consumer applies it once Redis is back, and a replay of the topic sees it.
 */
@Injectable()
export class SessionUpdatesService {
  private readonly log = new Logger('SessionRoute');
  private redisDownLogged = false;
  /** Concurrent requests share one script call and one Kafka append (see GroupCommit). */
  private readonly applying: GroupCommit<SessionEvent, ChangeResult>;
  private readonly appending: GroupCommit<LoggedSessionEvent, void>;

  constructor(
    sessions: SessionsService,
    eventLog: SessionEventLog,
    private readonly metrics: MetricsService,
  ) {
    this.applying = new GroupCommit((events) => sessions.applyNow(events.map((event) => ({ event, timestampMs: Date.now() }))));
    this.appending = new GroupCommit((events) => eventLog.appendAll(events).then(() => events.map(() => undefined)));
  }

  async update(body: SessionUpdate): Promise<SessionUpdateAnswer> {
    const event = Object.assign(new SessionEvent(), {
      type: body.type,
      sessionId: body.sessionId,
      userId: body.userId ?? undefined,
      state: body.state,
    });
    let result: ChangeResult | undefined;
    try {
      result = await this.applying.submit(event);
      this.redisDownLogged = false;
    } catch (error) {
      if (!(error instanceof StateStoreUnavailableError)) throw error;
      this.metrics.redisErrors.inc({ operation: 'session_route' });
      if (!this.redisDownLogged)
        this.log.warn(`Redis unreachable (${error.message}): HTTP session events are appended to Kafka and applied once it is back`);
      this.redisDownLogged = true;
    }
    const userId = result?.userId ?? body.userId ?? undefined;
    try {
      await this.appending.submit({
        type: body.type,
        sessionId: body.sessionId,
        ...(userId ? { userId } : {}),
        ...(body.state !== undefined ? { state: body.state } : {}),
        origin: 'http',
      });
    } catch (error) {
      this.metrics.sessionRouteEvents.inc({ type: body.type, result: 'not_recorded' });
      this.log.error(`Could not append ${body.type} of session ${body.sessionId} to Kafka: ${(error as Error).message}`);
      throw new ServiceUnavailableException(sessionNotRecorded());
    }
    const answer = answerFor(body, result);
    this.metrics.sessionRouteEvents.inc({ type: body.type, result: answer.label });
    return { code: 200, message: answer.message, isSuccess: answer.isSuccess, result: answer.result };
  }
}

function answerFor(
  body: SessionUpdate,
  result: ChangeResult | undefined,
): { label: string; message: string; isSuccess: boolean; result: string | null } {
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
  if (!result.userId) return { label: 'unknown_session', message: 'unknown session', isSuccess: false, result: null };
  if (outcome === 'duplicate') return { label: 'already_ended', message: 'session had ended already', isSuccess: true, result: null };
  return result.endedLastSession
    ? { label: 'offline', message: 'session ended; the user is offline', isSuccess: true, result: result.userId }
    : { label: 'still_online', message: 'session ended; the user is still online on another session', isSuccess: true, result: null };
}
