import { Global, Module } from '@nestjs/common';
import { IngestModule } from '../ingest/ingest.module';
import { StateRebuildModule } from '../state-rebuild/state-rebuild.module';
import { StateStoreModule } from '../state-store/state-store.module';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';
import { PresenceGauges } from './presence-gauges';
import { ReadinessGauge } from './readiness-gauge';

@Global()
@Module({
  imports: [StateStoreModule, StateRebuildModule, IngestModule],
  controllers: [MetricsController],
  providers: [MetricsService, PresenceGauges, ReadinessGauge],
  exports: [MetricsService],
})
export class MetricsModule {}
