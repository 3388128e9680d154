import { Body, Controller, Get, Header, HttpCode, Param, Post, Query } from '@nestjs/common';
import { MarkedWhileRebuilding } from '../http/rebuilding-header';
import { ApiBody, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ApiErrors, badRequestExamples, userIdsBodyErrors } from '../docs/api-responses';
import { GuildStates, UserIdsQuery } from './guild-states.dto';
import { GuildStatesService } from './guild-states.service';
import { MAX_PAGE, PageCursorPipe, PageLimitPipe, SnowflakeIdPipe, UserIdListPipe } from './id-pipes';

/** Named-user answers are returned as JSON text (GuildStatesService.guildStatesJson), sent as is with this type. */
export const JSON_TYPE = 'application/json; charset=utf-8';

const guildIdParam = ApiParam({ name: 'guildId', description: 'The guild (snowflake id)', example: '100' });
const namedUsersExample = { guildId: '100', connectionStates: { '1': 'online', '2': 'offline' }, channelStates: { '10': ['1'] } };

/** The community server's view of a guild: who is online and who sits in which voice channel. */
@ApiTags('guild states')
@Controller('guilds/:guildId/states')
export class GuildStatesController {
  constructor(private readonly guildStates: GuildStatesService) {}

  @Get()
  @Header('Content-Type', JSON_TYPE)
  @MarkedWhileRebuilding()
  @ApiOperation({
    summary: "States of a guild's users and its voice channels",
    description:
      'With `userIds`: each named user\'s state ("offline" if never seen) and the guild\'s voice channels. ' +
      'Without: the users online in the guild, a page at a time (`limit`, default 1000, and `cursor`: the answer has `nextCursor` while there are more), ' +
      'and on the first page everyone in its voice channels.',
  })
  @guildIdParam
  @ApiQuery({
    name: 'userIds',
    required: false,
    description: 'Comma-separated user ids (for long lists use POST …/states/query)',
    example: '1,2',
  })
  @ApiQuery({
    name: 'limit',
    required: false,
    description: `Without userIds: online members per page, about this many (1 to ${MAX_PAGE}, default 1000)`,
    example: '1000',
  })
  @ApiQuery({ name: 'cursor', required: false, description: 'Without userIds: the nextCursor of the previous page' })
  @ApiOkResponse({
    type: GuildStates,
    examples: {
      namedUsers: { summary: '?userIds=1,2', value: namedUsersExample },
      wholeGuild: {
        summary: "no userIds: the guild's online users",
        value: { guildId: '100', connectionStates: { '1': 'online', '3': 'idle' }, channelStates: { '10': ['1'] } },
      },
    },
  })
  @ApiErrors({ guildId: badRequestExamples.guildId, userIds: badRequestExamples.userIdsQuery, tooMany: badRequestExamples.tooMany })
  get(
    @Param('guildId', new SnowflakeIdPipe('guildId')) guildId: string,
    @Query('userIds', UserIdListPipe) userIds?: string[],
    @Query('limit', PageLimitPipe) limit?: number,
    @Query('cursor', PageCursorPipe) cursor?: string,
  ): Promise<GuildStates | string> {
    return userIds === undefined
      ? this.guildStates.guildPresence(guildId, { cursor, limit })
      : this.guildStates.guildStatesJson(guildId, userIds);
  }

  /** Same answer as GET, for lists of userIds too long for a URL. */
  @Post('query')
  @Header('Content-Type', JSON_TYPE)
  @MarkedWhileRebuilding()
  @HttpCode(200)
  @ApiOperation({ summary: 'Same answer as GET with userIds, for lists too long for a URL' })
  @guildIdParam
  @ApiBody({
    type: UserIdsQuery,
    examples: {
      strings: { summary: 'ids as strings', value: { userIds: ['1', '2'] } },
      numbers: { summary: 'ids as JSON numbers (as Jackson writes a long)', value: { userIds: [1, 2] } },
    },
  })
  @ApiOkResponse({ type: GuildStates, example: namedUsersExample })
  @ApiErrors(
    {
      guildId: badRequestExamples.guildId,
      ...userIdsBodyErrors,
    },
    { body: true },
  )
  query(@Param('guildId', new SnowflakeIdPipe('guildId')) guildId: string, @Body() body: UserIdsQuery): Promise<string> {
    return this.guildStates.guildStatesJson(guildId, body.userIds);
  }
}
