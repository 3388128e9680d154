import { Inject, Injectable } from '@nestjs/common';
import Redis from 'ioredis';
import { Gauge } from 'prom-client';
import { KafkaEventsServer } from '../ingest/kafka-events.server';
import { MetricsService } from '../metrics/metrics.service';
import { REDIS_CLIENT } from '../redis/redis.module';
import { StateRebuild } from '../recovery/state-rebuild.service';

/**
 * `state_server_ready{component="kafka"|"redis"}`: 1 when that side of /health/ready is up, 0 when
 * not, read at scrape time without a round trip (the client's connection state, not a PING), so a
 * Prometheus alert can fire on an instance that stays not ready (deploy/prometheus/alerts.yml).
 */
@Injectable()
export class ReadinessGauge {
  constructor(metrics: MetricsService, kafka: KafkaEventsServer, rebuild: StateRebuild, @Inject(REDIS_CLIENT) redis: Redis) {
    new Gauge({
      name: 'state_server_ready',
      help: 'Readiness by component: kafka (the consumer is in its group), redis (connected, state not lost); 1 = up, 0 = down (GET /health/ready says why)',
      labelNames: ['component'] as const,
      registers: [metrics.registry],
      collect() {
        this.set({ component: 'kafka' }, kafka.isConsuming ? 1 : 0);
        this.set({ component: 'redis' }, redis.status === 'ready' && !rebuild.status.lostAt ? 1 : 0);
      },
    });
  }
}
