import { Body, Controller, Header, HttpCode, Post } from '@nestjs/common';
import { JSON_TYPE } from './guild-states.controller';
import { MarkedWhileRebuilding } from '../http/rebuilding-header';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors, badRequestExamples, anyUserIdsBodyErrors } from '../docs/api-responses';
import { CommunityUserInfoQuery, DirectUserInfoQuery, UserInfo } from './guild-states.dto';
import { GuildStatesService } from './guild-states.service';

/** The original (harmony) state service's query routes, same request and response shapes: the community server calls them unchanged. */
@ApiTags('original routes')
@Controller('api/state')
export class HarmonyUserInfoController {
  constructor(private readonly guildStates: GuildStatesService) {}

  @Post('community/user/info')
  @Header('Content-Type', JSON_TYPE)
  @MarkedWhileRebuilding()
  @HttpCode(200)
  @ApiOperation({
    summary: "States of users in a guild and the guild's voice channels (the original service's route)",
    description: 'Every named user gets a state, "offline" if never seen.',
  })
  @ApiBody({
    type: CommunityUserInfoQuery,
    examples: { request: { summary: 'two users of guild 100', value: { guildId: '100', userIds: ['1', '2'] } } },
  })
  @ApiOkResponse({ type: UserInfo, example: { connectionStates: { '1': 'online', '2': 'offline' }, channelStates: { '10': ['1'] } } })
  @ApiErrors(
    {
      guildId: badRequestExamples.bodyGuildId,
      ...anyUserIdsBodyErrors,
    },
    { body: true },
  )
  community(@Body() body: CommunityUserInfoQuery): Promise<string> {
    return this.guildStates.communityUserInfoJson(body.guildId, body.userIds);
  }

  @Post('direct/user/info')
  @MarkedWhileRebuilding()
  @HttpCode(200)
  @ApiOperation({
    summary: "States of users, whatever their guilds (the original service's route)",
    description: 'Every named user gets a state, "offline" if never seen.',
  })
  @ApiBody({ type: DirectUserInfoQuery, examples: { request: { summary: 'two users', value: { userIds: ['1', '2'] } } } })
  @ApiOkResponse({ type: UserInfo, example: { connectionStates: { '1': 'online', '2': 'offline' } } })
  @ApiErrors(anyUserIdsBodyErrors, { body: true })
  direct(@Body() body: DirectUserInfoQuery): Promise<UserInfo> {
    return this.guildStates.directUserInfo(body.userIds);
  }
}
