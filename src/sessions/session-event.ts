import { ArrayMaxSize, IsArray, IsIn, IsOptional, Matches, ValidateIf } from 'class-validator';
import { IsSnowflakeId } from '../ingest/snowflake-id';
import { IsToken } from '../ingest/token';

export const SESSION_EVENT_TYPES = ['CONNECT', 'DISCONNECT', 'HEARTBEAT', 'RESET'] as const;
export type SessionEventType = (typeof SESSION_EVENT_TYPES)[number];

/**
 * A record of topic `sessionEvent`, as the chat server sends it:
 *   {"type":"CONNECT","sessionId":"abc","userId":123,"state":"online","guildIds":[1,2],"serverId":"chat-1","timestamp":1700000000000}
 *   {"type":"DISCONNECT","sessionId":"abc","state":"offline"}            (userId optional: found from the session)
 *   {"type":"HEARTBEAT","sessionId":"abc"}                                 (renews a session lease)
 *   {"type":"RESET","serverId":"chat-1"}                                   (that chat server restarted: end its sessions)
 * Ids are canonical decimal strings after decoding.
 */
export class SessionEvent {
  @IsIn(SESSION_EVENT_TYPES, { message: `type must be one of ${SESSION_EVENT_TYPES.join(', ')}` })
  type: SessionEventType;

  @ValidateIf((e: SessionEvent) => e.type !== 'RESET' || e.sessionId !== undefined)
  @IsToken()
  sessionId: string;

  @ValidateIf((e: SessionEvent) => e.type === 'CONNECT' || e.userId !== undefined)
  @IsSnowflakeId()
  userId?: string;

  @IsOptional()
  @Matches(/^[a-z_]{1,16}$/, { message: 'state must be a short lowercase word such as online or offline' })
  state?: string;

  @IsOptional()
  @IsArray({ message: 'guildIds must be an array of ids' })
  @ArrayMaxSize(1000, { message: 'guildIds must hold at most 1000 ids' })
  @IsSnowflakeId({ each: true })
  guildIds?: string[];

  @ValidateIf((e: SessionEvent) => e.type === 'RESET' || e.serverId !== undefined)
  @IsToken()
  serverId?: string;

  @IsOptional()
  @Matches(/^[0-9]{1,15}$/, { message: 'timestamp must be milliseconds since the epoch' })
  timestamp?: string;
}
