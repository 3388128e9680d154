import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors, sessionBodyErrors } from '../docs/api-responses';
import { SessionUpdate, SessionUpdateAnswer } from './session-update.dto';
import { sessionNotRecorded, SessionUpdatesService } from './session-updates.service';

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
      'Applied at once and appended to the session topic before the answer. `result` is the userId only when this DISCONNECT ended the ' +
      'user\'s last live session (the chat server then broadcasts "offline"); an unknown session answers isSuccess:false, result:null.',
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
  update(@Body() body: SessionUpdate): Promise<SessionUpdateAnswer> {
    return this.updates.update(body);
  }
}
