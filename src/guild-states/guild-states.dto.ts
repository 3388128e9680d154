import { ApiProperty } from '@nestjs/swagger';
import { ArrayMinSize, IsArray } from 'class-validator';
import { IsSnowflakeId } from '../common/snowflake-id';

/** POST /guilds/:guildId/states/query. (The most ids one query may name is MAX_QUERY_USER_IDS, checked by the service.) */
export class UserIdsQuery {
  @ApiProperty({
    description: 'User ids (decimal strings, or bare JSON numbers: every digit is kept), 1 to MAX_QUERY_USER_IDS (100,000 by default)',
    type: [String],
    example: ['1', '2'],
  })
  @IsArray({ message: 'userIds must be an array of ids' })
  @ArrayMinSize(1, { message: 'userIds must hold at least one id' })
  @IsSnowflakeId({ each: true })
  userIds: string[];
}

/**
 * The original service's routes take any number of ids, none included (the community server sends
 * every member of the guild, and an empty guild is a normal request), up to MAX_QUERY_USER_IDS.
 */
export class AnyUserIdsQuery {
  @ApiProperty({
    description: 'User ids (decimal strings, or bare JSON numbers: every digit is kept), 0 to MAX_QUERY_USER_IDS (100,000 by default)',
    type: [String],
    example: ['1', '2'],
  })
  @IsArray({ message: 'userIds must be an array of ids' })
  @IsSnowflakeId({ each: true })
  userIds: string[];
}

/** POST /api/state/community/user/info (the original service's route) */
export class CommunityUserInfoQuery extends AnyUserIdsQuery {
  @ApiProperty({ description: 'The guild (a decimal string or a bare JSON number)', type: String, example: '100' })
  @IsSnowflakeId()
  guildId: string;
}

/** POST /api/state/direct/user/info (the original service's route) */
export class DirectUserInfoQuery extends AnyUserIdsQuery {}

export interface GuildStates {
  guildId: string;
  connectionStates: Record<string, string>;
  channelStates: Record<string, string[]>;
  /** Whole-guild answers only: present when there are more online members; pass it as ?cursor= for the next page. */
  nextCursor?: string;
}

export interface UserInfo {
  connectionStates: Record<string, string>;
  channelStates?: Record<string, string[]>;
}
