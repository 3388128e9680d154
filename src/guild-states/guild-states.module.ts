import { Module } from '@nestjs/common';
import { StateStoreModule } from '../state-store/state-store.module';
import { GuildStatesController } from './guild-states.controller';
import { GuildStatesService } from './guild-states.service';
import { HarmonyUserInfoController } from './harmony-user-info.controller';

@Module({
  imports: [StateStoreModule],
  controllers: [GuildStatesController, HarmonyUserInfoController],
  providers: [GuildStatesService],
})
export class GuildStatesModule {}
