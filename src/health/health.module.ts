import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { StateStoreModule } from '../state-store/state-store.module';
import { HealthController } from './health.controller';

@Module({ imports: [TerminusModule.forRoot({ logger: false }), StateStoreModule], controllers: [HealthController] })
export class HealthModule {}
