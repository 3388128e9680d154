import { Module } from '@nestjs/common';
import { StateRebuildModule } from '../state-rebuild/state-rebuild.module';
import { StateStoreModule } from '../state-store/state-store.module';
import { SessionEventLog } from './session-event-log';
import { SessionUpdateController } from './session-update.controller';
import { SessionUpdatesService } from './session-updates.service';
import { SessionsController } from './sessions.controller';
import { SessionsService } from './sessions.service';

@Module({
  imports: [StateStoreModule, StateRebuildModule],
  controllers: [SessionsController, SessionUpdateController],
  providers: [SessionsService, SessionUpdatesService, SessionEventLog],
})
export class SessionsModule {}
