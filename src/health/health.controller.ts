import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { KafkaEventsServer } from '../ingest/kafka-events.server';
import { StateStore } from '../state-store/state-store.repository';

/**
 * live: the process answers. ready: Redis answers a PING and the Kafka consumer is a member of its
 * group; 503 otherwise (e.g. while Redis is unreachable), so a load balancer stops sending queries.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly store: StateStore,
    private readonly kafka: KafkaEventsServer,
  ) {}

  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([
      async () => {
        const redis = this.indicators.check('redis');
        try {
          await this.store.ping();
          return redis.up();
        } catch (error) {
          return redis.down({ message: (error as Error).message });
        }
      },
      () => {
        const kafka = this.indicators.check('kafka');
        return this.kafka.isConsuming ? kafka.up() : kafka.down({ message: 'consumer is not a member of its group' });
      },
    ]);
  }
}
