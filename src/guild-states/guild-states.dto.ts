import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
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
  @ArrayMinSize(1, { message: 'userIds must be an array of at least one id' })
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

/** GET /guilds/:guildId/states and POST …/states/query: the answer, in the code and in /docs. */
export class GuildStates {
  @ApiProperty({ description: 'The guild asked about, as a string', example: '100' })
  guildId: string;

  @ApiProperty({
    description:
      'userId -> shown state: the highest-ranked state of the user\'s live sessions ("online", "idle", "dnd", …; invisible shows as "offline"); "offline" for users never seen or gone',
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { '1': 'online', '2': 'offline' },
  })
  connectionStates: Record<string, string>;

  @ApiProperty({
    description: 'voice channelId -> userIds sitting in it (only channels with someone in them)',
    type: 'object',
    additionalProperties: { type: 'array', items: { type: 'string' } },
    example: { '10': ['1'] },
  })
  channelStates: Record<string, string[]>;

  @ApiPropertyOptional({
    description: 'Whole-guild answers only: present while there are more online members; pass it as ?cursor= for the next page',
    example: '1234',
  })
  nextCursor?: string;
}

/** The original routes' answer (POST /api/state/community|direct/user/info), in the code and in /docs. */
export class UserInfo {
  @ApiProperty({
    description: 'userId -> state of every named user, "offline" for users never seen',
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { '1': 'online', '2': 'offline' },
  })
  connectionStates: Record<string, string>;

  @ApiPropertyOptional({
    description: 'Community route only: voice channelId -> userIds of the guild',
    type: 'object',
    additionalProperties: { type: 'array', items: { type: 'string' } },
    example: { '10': ['1'] },
  })
  channelStates?: Record<string, string[]>;
}
