import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { GuildStates, UserIdsQuery } from './guild-states.dto';
import { GuildStatesService } from './guild-states.service';
import { SnowflakeIdPipe, UserIdListPipe } from './id-pipes';

/** The community server's view of a guild: who is online and who sits in which voice channel. */
@Controller('guilds/:guildId/states')
export class GuildStatesController {
  constructor(private readonly guildStates: GuildStatesService) {}

  @Get()
  get(
    @Param('guildId', new SnowflakeIdPipe('guildId')) guildId: string,
    @Query('userIds', UserIdListPipe) userIds?: string[],
  ): Promise<GuildStates> {
    return this.guildStates.guildStates(guildId, userIds);
  }

  /** Same answer as GET, for lists of userIds too long for a URL. */
  @Post('query')
  @HttpCode(200)
  query(@Param('guildId', new SnowflakeIdPipe('guildId')) guildId: string, @Body() body: UserIdsQuery): Promise<GuildStates> {
    return this.guildStates.guildStates(guildId, body.userIds);
  }
}
