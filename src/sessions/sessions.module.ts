import { Module } from '@nestjs/common';
import { StateStoreModule } from '../state-store/state-store.module';
import { SessionsController } from './sessions.controller';
import { SessionsService } from './sessions.service';

@Module({ imports: [StateStoreModule], controllers: [SessionsController], providers: [SessionsService] })
export class SessionsModule {}
