import { Module } from '@nestjs/common';
import { StateStoreModule } from '../state-store/state-store.module';
import { StateRebuild } from './state-rebuild.service';

/** Rebuilds a lost state through a fresh consumer group (see StateRebuild). */
@Module({
  imports: [StateStoreModule],
  providers: [StateRebuild],
  exports: [StateRebuild],
})
export class StateRebuildModule {}
