import { Module } from '@nestjs/common';
import { RecoveryModule } from '../recovery/recovery.module';
import { StateStoreModule } from '../state-store/state-store.module';
import { AppliedPositions } from './applied-positions';
import { SessionCatchUp } from './session-catch-up';
import { SessionEventLog } from './session-event-log';
import { SessionUpdateController } from './session-update.controller';
import { SessionUpdatesService } from './session-updates.service';
import { SessionsService } from './sessions.service';

@Module({
  imports: [StateStoreModule, RecoveryModule],
  controllers: [SessionUpdateController],
  providers: [SessionsService, SessionUpdatesService, SessionEventLog, AppliedPositions, SessionCatchUp],
  exports: [SessionsService, AppliedPositions],
})
export class SessionsModule {}
