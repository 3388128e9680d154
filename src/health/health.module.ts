import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { IngestModule } from '../ingest/ingest.module';
import { RecoveryModule } from '../recovery/recovery.module';
import { StateStoreModule } from '../state-store/state-store.module';
import { HealthController } from './health.controller';
import { PresenceGauges } from './presence-gauges';
import { ReadinessGauge } from './readiness-gauge';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), StateStoreModule, RecoveryModule, IngestModule],
  controllers: [HealthController],
  // Gauges on /metrics (MetricsModule is global), read at scrape time: /health/ready's answer, and
  // presence counts and Redis nodes read from the state store.
  providers: [ReadinessGauge, PresenceGauges],
})
export class HealthModule {}
