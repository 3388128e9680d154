import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { IngestModule } from '../ingest/ingest.module';
import { StateRebuildModule } from '../state-rebuild/state-rebuild.module';
import { StateStoreModule } from '../state-store/state-store.module';
import { HealthController } from './health.controller';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), StateStoreModule, StateRebuildModule, IngestModule],
  controllers: [HealthController],
})
export class HealthModule {}
