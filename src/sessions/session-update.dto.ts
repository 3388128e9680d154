import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, Matches, ValidateIf } from 'class-validator';
import { IsSnowflakeId } from '../common/snowflake-id';
import { IsToken } from '../common/token';
import { STATE_RULE, STATE_TEXT } from '../common/state-text';

/** POST /api/state/update/session: the original service's SessionDto, as the chat server sends it. */
export class SessionUpdate {
  @ApiProperty({ enum: ['CONNECT', 'DISCONNECT'], example: 'DISCONNECT' })
  @IsIn(['CONNECT', 'DISCONNECT'], { message: 'type must be one of CONNECT, DISCONNECT' })
  type: 'CONNECT' | 'DISCONNECT';

  @ApiProperty({ description: "The chat server's WebSocket session id", example: 'x1y2z3ab' })
  @IsToken()
  sessionId: string;

  @ApiPropertyOptional({
    description: "Required on CONNECT; on DISCONNECT the session's user is found from the session",
    type: String,
    example: '123',
  })
  @ValidateIf((e: SessionUpdate) => e.type === 'CONNECT' || (e.userId !== undefined && e.userId !== null))
  @IsSnowflakeId()
  userId?: string;

  @ApiPropertyOptional({
    description: 'The session\'s state (1-32 printable characters); the chat server sends "offline" with DISCONNECT',
    example: 'offline',
  })
  @IsOptional()
  @Matches(STATE_TEXT, { message: STATE_RULE })
  state?: string;
}

/** The original service's answer: always HTTP 200; `result` is what the chat server acts on. */
export class SessionUpdateAnswer {
  @ApiProperty({ example: 200 })
  code: number;

  @ApiProperty({ example: 'session ended; the user is offline' })
  message: string;

  @ApiProperty({ example: true })
  isSuccess: boolean;

  @ApiProperty({
    description:
      'DISCONNECT: the userId (a string) only when this ended the user\'s last live session - the chat server broadcasts "offline" for it; ' +
      'null when the user is still online elsewhere, the session was unknown or had ended already, or Redis was unreachable. CONNECT: the userId.',
    type: String,
    nullable: true,
    example: '123',
  })
  result: string | null;
}
