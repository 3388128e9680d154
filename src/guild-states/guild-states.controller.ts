import { Body, Controller, UseInterceptors, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { RebuildingHeaderInterceptor } from '../state-rebuild/rebuilding-header.interceptor';
import { ApiBody, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { GuildStatesDoc } from '../docs/api-schemas';
import { ApiErrors, badRequestExamples, userIdsBodyErrors } from '../docs/api-responses';
import { GuildStates, UserIdsQuery } from './guild-states.dto';
import { GuildStatesService } from './guild-states.service';
import { SnowflakeIdPipe, UserIdListPipe } from './id-pipes';

const guildIdParam = ApiParam({ name: 'guildId', description: 'The guild (snowflake id)', example: '100' });
const namedUsersExample = { guildId: '100', connectionStates: { '1': 'online', '2': 'offline' }, channelStates: { '10': ['1'] } };

/** The community server's view of a guild: who is online and who sits in which voice channel. */
@ApiTags('guild states')
@UseInterceptors(RebuildingHeaderInterceptor)
@Controller('guilds/:guildId/states')
export class GuildStatesController {
  constructor(private readonly guildStates: GuildStatesService) {}

  @Get()
  @ApiOperation({
    summary: 'States of a guild\'s users and its voice channels',
    description:
      'With `userIds`: each named user\'s state ("offline" if never seen) and the guild\'s voice channels. ' +
      'Without: every user online in the guild or in one of its voice channels.',
  })
  @guildIdParam
  @ApiQuery({ name: 'userIds', required: false, description: 'Comma-separated user ids, at most MAX_QUERY_USER_IDS (1000 by default)', example: '1,2' })
  @ApiOkResponse({
    type: GuildStatesDoc,
    examples: {
      namedUsers: { summary: '?userIds=1,2', value: namedUsersExample },
      wholeGuild: { summary: 'no userIds: the guild\'s online users', value: { guildId: '100', connectionStates: { '1': 'online', '3': 'idle' }, channelStates: { '10': ['1'] } } },
    },
  })
  @ApiErrors({ guildId: badRequestExamples.guildId, userIds: badRequestExamples.userIdsQuery, tooMany: badRequestExamples.tooMany })
  get(
    @Param('guildId', new SnowflakeIdPipe('guildId')) guildId: string,
    @Query('userIds', UserIdListPipe) userIds?: string[],
  ): Promise<GuildStates> {
    return this.guildStates.guildStates(guildId, userIds);
  }

  /** Same answer as GET, for lists of userIds too long for a URL. */
  @Post('query')
  @HttpCode(200)
  @ApiOperation({ summary: 'Same answer as GET with userIds, for lists too long for a URL' })
  @guildIdParam
  @ApiBody({ type: UserIdsQuery, examples: { strings: { summary: 'ids as strings', value: { userIds: ['1', '2'] } }, numbers: { summary: 'ids as JSON numbers (as Jackson writes a long)', value: { userIds: [1, 2] } } } })
  @ApiOkResponse({ type: GuildStatesDoc, example: namedUsersExample })
  @ApiErrors(
    {
      guildId: badRequestExamples.guildId,
      ...userIdsBodyErrors,
    },
    { body: true },
  )
  query(@Param('guildId', new SnowflakeIdPipe('guildId')) guildId: string, @Body() body: UserIdsQuery): Promise<GuildStates> {
    return this.guildStates.guildStates(guildId, body.userIds);
  }
}
