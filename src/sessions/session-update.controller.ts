import { Body, Controller, HttpCode, Post, Res } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiErrors, sessionBodyErrors } from '../docs/api-responses';
import { SessionUpdate, SessionUpdateAnswer } from './session-update.dto';
import { SESSION_WAIT_HEADER, sessionNotRecorded, SessionUpdatesService } from './session-updates.service';

/** Where the chat server's HTTP session events enter (its DISCONNECT; CONNECT is accepted too): the original service's route. */
@ApiTags('original routes')
@Controller('api/state/update')
export class SessionUpdateController {
  constructor(private readonly updates: SessionUpdatesService) {}

  @Post('session')
  @HttpCode(200)
  @ApiOperation({
    summary: "A chat-server session event over HTTP (the original service's route)",
    description:
      'Applied at once and appended to the session topic; a DISCONNECT then waits (at most SESSION_ROUTE_WAIT_MS) until every session record ' +
      'already in Kafka when it arrived is applied, and answers from the state after that wait: `result` is the userId when the session has ' +
      'ended and the user has no live session (the chat server then broadcasts "offline"); an unknown session answers isSuccess:false, ' +
      'result:null. The X-Session-Wait header says how the wait ended.',
  })
  @ApiBody({
    type: SessionUpdate,
    examples: {
      disconnect: { summary: "the chat server's DISCONNECT", value: { sessionId: 'x1y2z3ab', type: 'DISCONNECT', state: 'offline' } },
      connect: { summary: 'CONNECT', value: { sessionId: 'x1y2z3ab', type: 'CONNECT', userId: 123, state: 'online' } },
    },
  })
  @ApiOkResponse({
    type: SessionUpdateAnswer,
    headers: {
      [SESSION_WAIT_HEADER]: {
        description:
          'How the wait ended: complete (every session record already in Kafka was applied), or why it answered earlier: bound ' +
          '(SESSION_ROUTE_WAIT_MS reached, or a backlog that cannot drain within it), stalled (a partition behind has not advanced for ' +
          '100 ms), rebuilding, unavailable (Redis or Kafka unreachable)',
        schema: { type: 'string', enum: ['complete', 'bound', 'stalled', 'rebuilding', 'unavailable'] },
      },
    },
    examples: {
      offline: {
        summary: "the user's last session ended",
        value: { code: 200, message: 'session ended; the user is offline', isSuccess: true, result: '123' },
      },
      stillOnline: {
        summary: 'another session of the user is live',
        value: { code: 200, message: 'session ended; the user is still online on another session', isSuccess: true, result: null },
      },
      unknown: { summary: 'no such session', value: { code: 200, message: 'unknown session', isSuccess: false, result: null } },
    },
  })
  @ApiErrors(sessionBodyErrors, {
    body: true,
    unavailable: {
      description:
        'Kafka is unreachable: the event could not be appended to the session topic (it may have been applied to Redis); retry shortly',
      examples: {
        kafkaDown: {
          summary: 'Kafka unreachable',
          value: sessionNotRecorded(),
        },
      },
    },
  })
  async update(@Body() body: SessionUpdate, @Res({ passthrough: true }) reply: FastifyReply): Promise<SessionUpdateAnswer> {
    try {
      const { body: answer, wait } = await this.updates.update(body);
      void reply.header(SESSION_WAIT_HEADER, wait);
      return answer;
    } catch (error) {
      void reply.header(SESSION_WAIT_HEADER, 'unavailable');
      throw error;
    }
  }
}
