import { Module } from '@nestjs/common';
import { StateStoreModule } from '../state-store/state-store.module';
import { RebuildingHeaderInterceptor } from './rebuilding-header.interceptor';
import { StateRebuild } from './state-rebuild.service';

/** Rebuilds a lost state through a fresh consumer group (see StateRebuild). */
@Module({
  imports: [StateStoreModule],
  providers: [StateRebuild, RebuildingHeaderInterceptor],
  exports: [StateRebuild, RebuildingHeaderInterceptor],
})
export class StateRebuildModule {}
