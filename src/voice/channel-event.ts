import { IsIn } from 'class-validator';
import { IsSnowflakeId } from '../ingest/snowflake-id';

export const CHANNEL_EVENT_TYPES = ['JOIN', 'LEAVE'] as const;
export type ChannelEventType = (typeof CHANNEL_EVENT_TYPES)[number];

/** A record of topic `channelEvent`, as the signaling server sends it: {"type":"JOIN","userId":1,"guildId":2,"channelId":3}. */
export class ChannelEvent {
  @IsIn(CHANNEL_EVENT_TYPES, { message: `type must be one of ${CHANNEL_EVENT_TYPES.join(', ')}` })
  type: ChannelEventType;

  @IsSnowflakeId()
  userId: string;

  @IsSnowflakeId()
  guildId: string;

  @IsSnowflakeId()
  channelId: string;
}
