import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { CommunityUserInfoQuery, DirectUserInfoQuery, UserInfo } from './guild-states.dto';
import { GuildStatesService } from './guild-states.service';

/** The original Java service's routes, same request and response shapes, for clients built against it. */
@Controller('api/state')
export class OriginalUserInfoController {
  constructor(private readonly guildStates: GuildStatesService) {}

  @Post('community/user/info')
  @HttpCode(200)
  community(@Body() body: CommunityUserInfoQuery): Promise<UserInfo> {
    return this.guildStates.communityUserInfo(body.guildId, body.userIds);
  }

  @Post('direct/user/info')
  @HttpCode(200)
  direct(@Body() body: DirectUserInfoQuery): Promise<UserInfo> {
    return this.guildStates.directUserInfo(body.userIds);
  }
}
