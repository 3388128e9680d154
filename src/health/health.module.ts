import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { IngestModule } from '../ingest/ingest.module';
import { RecoveryModule } from '../recovery/recovery.module';
import { StateStoreModule } from '../state-store/state-store.module';
import { HealthController } from './health.controller';
import { ReadinessGauge } from './readiness-gauge';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), StateStoreModule, RecoveryModule, IngestModule],
  controllers: [HealthController],
  // /health/ready's answer as a gauge on /metrics (MetricsModule is global): it reads what the readiness check reads.
  providers: [ReadinessGauge],
})
export class HealthModule {}
