import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/**
 * Response shapes as OpenAPI schemas. The handlers return plain objects typed by interfaces
 * (guild-states.dto.ts); these classes exist only to describe them in /docs.
 */

export class GuildStatesDoc {
  @ApiProperty({ description: 'The guild asked about, as a string', example: '100' })
  guildId: string;

  @ApiProperty({
    description: 'userId -> shown state: the highest-ranked state of the user\'s live sessions ("online", "idle", "dnd", …; invisible shows as "offline"); "offline" for users never seen or gone',
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

  @ApiPropertyOptional({ description: 'Whole-guild answers only: present while there are more online members; pass it as ?cursor= for the next page', example: '1234' })
  nextCursor?: string;
}

export class UserInfoDoc {
  @ApiProperty({
    description: 'userId -> state of the named users that were ever seen (users never seen are left out)',
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { '1': 'online' },
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

/** Every error the HTTP API answers has this shape; a 400 also names the offending field. */
export class ErrorDoc {
  @ApiProperty({ example: 400 })
  statusCode: number;

  @ApiProperty({ example: 'Bad Request' })
  error: string;

  @ApiProperty({ example: 'userIds must hold at least one id' })
  message: string;

  @ApiPropertyOptional({ description: '400 only: the request field at fault (path parameter, query parameter, body property, or "body")', example: 'userIds' })
  field?: string;
}
