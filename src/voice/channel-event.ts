import { IsIn, Matches, ValidateIf } from 'class-validator';
import { absentOr, EPOCH_MS_RULE, EPOCH_MS_TEXT, isEpochMsText } from '../common/event-time';
import { canonicalId, IsSnowflakeId } from '../common/snowflake-id';
import { isToken, IsToken } from '../common/token';

export const CHANNEL_EVENT_TYPES = ['JOIN', 'LEAVE', 'RESET'] as const;
export type ChannelEventType = (typeof CHANNEL_EVENT_TYPES)[number];

/**
 * A record of topic `channelEvent`, as the signaling server sends it (NestJS ClientKafka, unkeyed
 * JSON text, ids made by Number()):
 *   {"type":"JOIN","userId":1,"guildId":2,"channelId":3}        optional: "serverId":"sig-1"
 *   {"type":"LEAVE","userId":1,"guildId":2,"channelId":3}
 *   {"type":"LEAVE","userId":null,"guildId":null,"channelId":null}   a socket that never joined: ignored
 *   {"type":"RESET","serverId":"sig-1","timestamp":…}            optional: that signaling server restarted
 * The rules: docs/rules.md.
 */
export class ChannelEvent {
  @IsIn(CHANNEL_EVENT_TYPES, { message: `type must be one of ${CHANNEL_EVENT_TYPES.join(', ')}` })
  type: ChannelEventType;

  @ValidateIf((e: ChannelEvent) => e.type !== 'RESET' && !isNullLeave(e))
  @IsSnowflakeId()
  userId: string;

  @ValidateIf((e: ChannelEvent) => e.type !== 'RESET' && !isNullLeave(e))
  @IsSnowflakeId()
  guildId: string;

  @ValidateIf((e: ChannelEvent) => e.type !== 'RESET' && !isNullLeave(e))
  @IsSnowflakeId()
  channelId: string;

  @ValidateIf((e: ChannelEvent) => e.type === 'RESET' || e.serverId !== undefined)
  @IsToken()
  serverId?: string;

  @ValidateIf((e: ChannelEvent) => e.type === 'RESET' || e.timestamp !== undefined)
  @Matches(EPOCH_MS_TEXT, { message: EPOCH_MS_RULE })
  timestamp?: string;

  /**
   * The records that certainly pass the decorators above, told without class-validator (which cost
   * ~17 % of the consumer's CPU): a JOIN or LEAVE with its three ids, or the all-null LEAVE.
   * Anything else goes through class-validator, which names what is wrong. Must accept nothing the
   * decorators refuse: test/unit/event-fast-path.test.ts checks it against them.
   */
  static isPlainlyValid(e: Record<string, unknown>): boolean {
    if (e.type !== 'JOIN' && e.type !== 'LEAVE') return false;
    const ids =
      isNullLeave(e) ||
      (canonicalId(e.userId) !== undefined && canonicalId(e.guildId) !== undefined && canonicalId(e.channelId) !== undefined);
    return ids && absentOr(e.serverId, isToken) && absentOr(e.timestamp, isEpochMsText);
  }
}

/**
 * The LEAVE a signaling socket sends when it disconnects without ever having joined: its ids are
 * Number(undefined), written as null. Routine, not an error.
 */
export function isNullLeave(e: { type?: unknown; userId?: unknown; guildId?: unknown; channelId?: unknown }): boolean {
  return e.type === 'LEAVE' && e.userId === null && e.guildId === null && e.channelId === null;
}
