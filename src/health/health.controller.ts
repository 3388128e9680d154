import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { KafkaEventsServer } from '../ingest/kafka-events.server';
import { REDIS_CLIENT, RedisClient, redisConnectionProblem } from '../redis/redis.module';
import { StateRebuild } from '../recovery/state-rebuild.service';
import { StateStore } from '../state-store/state-store';

/**
 * live: the process answers. ready: Redis answers a PING (on Redis Cluster: every master serving
 * slots, each named in `nodes`) and the Kafka consumer is a member of its group; 503 otherwise, so
 * a load balancer stops sending queries. A 503 names the cause of each side that is down, e.g.
 * `kafka: cannot reach 127.0.0.1:9092 (connect ECONNREFUSED 127.0.0.1:9092)`,
 * `redis: connect ECONNREFUSED 127.0.0.1:6379`. While a lost state is rebuilt it stays 200.
 * Open without the API token and not rate limited: the platform probes them.
 */
@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly store: StateStore,
    private readonly kafka: KafkaEventsServer,
    private readonly rebuild: StateRebuild,
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
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
      error: { redis: { status: 'down', message: 'connect ECONNREFUSED 127.0.0.1:6379' } },
      details: { redis: { status: 'down', message: 'connect ECONNREFUSED 127.0.0.1:6379' }, kafka: { status: 'up' } },
    },
  })
  ready() {
    return this.health.check([
      async () => {
        const redis = this.indicators.check('redis');
        const nodes = await this.store.nodeStatuses();
        const clustered = this.store.isClustered;
        // On a cluster every master is named; on one Redis the real cause (`connect ECONNREFUSED …`).
        const shown = clustered ? { nodes: Object.fromEntries(nodes.map((n) => [n.node, n.up ? 'up' : `down: ${n.error}`])) } : {};
        const down = nodes.filter((n) => !n.up);
        if (down.length > 0) {
          const message = clustered
            ? down.map((n) => `${n.node} ${n.error}`).join('; ')
            : (redisConnectionProblem(this.redis) ?? down[0].error ?? 'unreachable');
          return redis.down({ message, ...shown });
        }
        const { lostAt, lostOn = [], rebuilding, progress, groupId } = this.rebuild.status;
        if (lostAt) {
          const where = lostOn.length > 0 ? ` on ${lostOn.join(', ')}` : '';
          return redis.down({
            message: `Redis lost the state${where} at ${lostAt.toISOString()} (it came back empty) and STATE_REBUILD=off: rebuild it by replaying the topics, then restart`,
            ...shown,
          });
        }
        // Rebuilding is ready: queries are answered (marked X-State-Rebuilding) while the replay catches up.
        return rebuilding
          ? redis.up({ rebuilding: true, progress: Number(progress!.toFixed(3)), group: groupId, ...shown })
          : redis.up({ ...shown });
      },
      () => {
        const kafka = this.indicators.check('kafka');
        return this.kafka.isConsuming ? kafka.up() : kafka.down({ message: this.kafka.notConsumingReason });
      },
    ]);
  }
}
