import { ArrayMaxSize, IsArray, IsIn, IsOptional, Matches, ValidateIf } from 'class-validator';
import { absentOr, EPOCH_MS_RULE, EPOCH_MS_TEXT, isEpochMsText } from '../common/event-time';
import { canonicalId, IsSnowflakeId } from '../common/snowflake-id';
import { isToken, IsToken } from '../common/token';
import { STATE_RULE, STATE_TEXT } from '../common/state-text';

export const SESSION_EVENT_TYPES = ['CONNECT', 'DISCONNECT', 'HEARTBEAT', 'RESET'] as const;
export type SessionEventType = (typeof SESSION_EVENT_TYPES)[number];

/** The most guildIds a CONNECT may carry. */
const MAX_GUILD_IDS = 1000;

/**
 * A record of topic `sessionEvent`, as the chat server sends it (Spring's JsonSerializer, unkeyed):
 *   {"type":"CONNECT","sessionId":"abc","userId":123,"state":"online"}
 *     optional: "guildIds":[1,2], "serverId":"chat-1", "timestamp":1700000000000
 *   {"type":"DISCONNECT","sessionId":"abc","state":"offline"}            (userId optional: found from the session)
 *   {"type":"HEARTBEAT","sessionId":"abc"}                                 (renews a session lease)
 *   {"type":"RESET","serverId":"chat-1","timestamp":…}                     (that chat server restarted: end its sessions)
 * Ids are canonical decimal strings after decoding. The rules: docs/rules.md.
 */
export class SessionEvent {
  @IsIn(SESSION_EVENT_TYPES, { message: `type must be one of ${SESSION_EVENT_TYPES.join(', ')}` })
  type: SessionEventType;

  @ValidateIf((e: SessionEvent) => e.type !== 'RESET' || e.sessionId !== undefined)
  @IsToken()
  sessionId: string;

  @ValidateIf((e: SessionEvent) => e.type === 'CONNECT' || (e.userId !== undefined && e.userId !== null))
  @IsSnowflakeId()
  userId?: string;

  @IsOptional()
  @Matches(STATE_TEXT, { message: STATE_RULE })
  state?: string;

  @IsOptional()
  @IsArray({ message: 'guildIds must be an array of ids' })
  @ArrayMaxSize(MAX_GUILD_IDS, { message: `guildIds must hold at most ${MAX_GUILD_IDS} ids` })
  @IsSnowflakeId({ each: true })
  guildIds?: string[];

  @ValidateIf((e: SessionEvent) => e.type === 'RESET' || e.serverId !== undefined)
  @IsToken()
  serverId?: string;

  @ValidateIf((e: SessionEvent) => e.type === 'RESET' || e.timestamp !== undefined)
  @Matches(EPOCH_MS_TEXT, { message: EPOCH_MS_RULE })
  timestamp?: string;

  /**
   * The records that certainly pass the decorators above, told without class-validator (which cost
   * ~17 % of the consumer's CPU): a CONNECT or DISCONNECT in its usual shape. Anything else, valid
   * or not, goes through class-validator, which names what is wrong. Must accept nothing the
   * decorators refuse: test/unit/event-fast-path.test.ts checks it against them.
   */
  static isPlainlyValid(e: Record<string, unknown>): boolean {
    if (e.type === 'CONNECT') {
      if (canonicalId(e.userId) === undefined) return false;
    } else if (e.type === 'DISCONNECT') {
      if (!absentOr(e.userId, (id) => canonicalId(id) !== undefined)) return false;
    } else {
      return false;
    }
    return (
      isToken(e.sessionId) &&
      absentOr(e.state, (state) => typeof state === 'string' && STATE_TEXT.test(state)) &&
      absentOr(
        e.guildIds,
        (ids) => Array.isArray(ids) && ids.length <= MAX_GUILD_IDS && ids.every((id) => canonicalId(id) !== undefined),
      ) &&
      absentOr(e.serverId, isToken) &&
      absentOr(e.timestamp, isEpochMsText)
    );
  }
}
