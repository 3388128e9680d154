import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { SkipThrottle } from '@nestjs/throttler';
import { KafkaEventsServer } from '../ingest/kafka-events.server';
import { StateStore } from '../state-store/state-store.repository';

/**
 * live: the process answers. ready: Redis answers a PING (on Redis Cluster: every master serving
 * slots, each named in `nodes`) and the Kafka consumer is a member of its group; 503 otherwise
 * (e.g. while a Redis node is unreachable, naming it), so a load balancer stops sending queries.
 * Open without the API token and not rate limited: the platform probes them.
 */
@ApiTags('operations')
@SkipThrottle()
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
  @ApiOperation({ summary: 'Liveness: the process answers (restart it if not)' })
  @ApiOkResponse({ example: { status: 'ok', info: {}, error: {}, details: {} } })
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: Redis answers and the Kafka consumer is in its group (send queries only when 200)' })
  @ApiOkResponse({
    example: {
      status: 'ok',
      info: { redis: { status: 'up', nodes: { '10.0.0.5:6379': 'up' } }, kafka: { status: 'up' } },
      error: {},
      details: { redis: { status: 'up', nodes: { '10.0.0.5:6379': 'up' } }, kafka: { status: 'up' } },
    },
  })
  @ApiServiceUnavailableResponse({
    example: {
      status: 'error',
      info: { kafka: { status: 'up' } },
      error: { redis: { status: 'down', message: '10.0.0.6:6379 Connection is closed.', nodes: { '10.0.0.5:6379': 'up', '10.0.0.6:6379': 'down: Connection is closed.' } } },
      details: { redis: { status: 'down', message: '10.0.0.6:6379 Connection is closed.', nodes: { '10.0.0.5:6379': 'up', '10.0.0.6:6379': 'down: Connection is closed.' } }, kafka: { status: 'up' } },
    },
  })
  ready() {
    return this.health.check([
      async () => {
        const redis = this.indicators.check('redis');
        const nodes = await this.store.nodeStatuses();
        const shown = Object.fromEntries(nodes.map((n) => [n.node, n.up ? 'up' : `down: ${n.error}`]));
        const down = nodes.filter((n) => !n.up);
        if (down.length > 0) {
          return redis.down({ message: down.map((n) => `${n.node} ${n.error}`).join('; '), nodes: shown });
        }
        const lostAt = this.store.stateLostAt;
        if (lostAt) {
          const where = this.store.stateLostOn.length > 0 ? ` on ${this.store.stateLostOn.join(', ')}` : '';
          return redis.down({ message: `Redis lost the state${where} at ${lostAt.toISOString()} (it came back empty): rebuild it by replaying the topics, then restart`, nodes: shown });
        }
        return redis.up({ nodes: shown });
      },
      () => {
        const kafka = this.indicators.check('kafka');
        return this.kafka.isConsuming ? kafka.up() : kafka.down({ message: 'consumer is not a member of its group' });
      },
    ]);
  }
}
