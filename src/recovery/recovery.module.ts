import { Module } from '@nestjs/common';
import { StateStoreModule } from '../state-store/state-store.module';
import { PeriodicSteps } from './periodic-steps';
import { RecoveryEvents } from './recovery-events';
import { RedisWatch } from './redis-watch';
import { StateRebuild } from './state-rebuild.service';
import { SwitchoverPoint } from './switchover-point';

/**
 * The recovery room: Redis losing the state or writes (RedisWatch), the epoch claim and the group
 * switch of a rebuild (StateRebuild), the switch-over point (SwitchoverPoint), the failover rewind
 * (PartitionRewinder, run by the consumer), told through RecoveryEvents; the process's one timer
 * (PeriodicSteps) drives every periodic step.
 */
@Module({
  imports: [StateStoreModule],
  providers: [PeriodicSteps, RecoveryEvents, RedisWatch, StateRebuild, SwitchoverPoint],
  exports: [PeriodicSteps, RecoveryEvents, StateRebuild, SwitchoverPoint],
})
export class RecoveryModule {}
