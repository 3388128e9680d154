import { Module } from '@nestjs/common';
import { StateRebuildModule } from '../state-rebuild/state-rebuild.module';
import { StateStoreModule } from '../state-store/state-store.module';
import { GuildStatesController } from './guild-states.controller';
import { GuildStatesService } from './guild-states.service';
import { HarmonyUserInfoController } from './harmony-user-info.controller';

@Module({
  imports: [StateStoreModule, StateRebuildModule],
  controllers: [GuildStatesController, HarmonyUserInfoController],
  providers: [GuildStatesService],
})
export class GuildStatesModule {}
