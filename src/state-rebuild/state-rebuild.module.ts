import { Module } from '@nestjs/common';
import { StateStoreModule } from '../state-store/state-store.module';
import { StateRebuild } from './state-rebuild.service';
import { SwitchoverPoint } from './switchover-point';

/** Rebuilds a lost state through a fresh consumer group (see StateRebuild). */
@Module({
  imports: [StateStoreModule],
  providers: [StateRebuild, SwitchoverPoint],
  exports: [StateRebuild, SwitchoverPoint],
})
export class StateRebuildModule {}
