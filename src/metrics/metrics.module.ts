import { Global, Module } from '@nestjs/common';
import { StateStoreModule } from '../state-store/state-store.module';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';
import { PresenceGauges } from './presence-gauges';

@Global()
@Module({
  imports: [StateStoreModule],
  controllers: [MetricsController],
  providers: [MetricsService, PresenceGauges],
  exports: [MetricsService],
})
export class MetricsModule {}
