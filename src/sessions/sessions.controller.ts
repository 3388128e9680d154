import { Controller, UseFilters } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { ConsumedEvent, EventBatchHandler, SESSION_EVENTS } from '../ingest/event-patterns';
import { RethrowRpcExceptionFilter } from '../ingest/rethrow-rpc-exception.filter';
import { ApplyOutcome } from '../state-store/state-store';
import { SessionEvent } from './session-event';
import { SessionsService } from './sessions.service';

/** Where chat-server session events enter: topic SESSION_EVENTS_TOPIC (default `sessionEvent`). */
@Controller()
@UseFilters(RethrowRpcExceptionFilter)
export class SessionsController {
  constructor(private readonly sessions: SessionsService) {}

  @EventBatchHandler(SESSION_EVENTS, SessionEvent)
  apply(@Payload() events: ConsumedEvent<SessionEvent>[]): Promise<ApplyOutcome[]> {
    return this.sessions.applyAll(events);
  }
}
