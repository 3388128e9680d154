import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { SkipThrottle } from '@nestjs/throttler';
import Redis from 'ioredis';
import { KafkaEventsServer } from '../ingest/kafka-events.server';
import { REDIS_CLIENT, redisConnectionProblem } from '../redis/redis.module';
import { StateRebuild } from '../state-rebuild/state-rebuild.service';
import { StateStore } from '../state-store/state-store.repository';

/**
 * live: the process answers. ready: Redis answers a PING and the Kafka consumer is a member of its
 * group; 503 otherwise (e.g. while Redis is unreachable), so a load balancer stops sending queries.
 * A 503 names the cause of each side that is down, e.g. `kafka: cannot reach 127.0.0.1:9092
 * (connect ECONNREFUSED 127.0.0.1:9092)`, `redis: connect ECONNREFUSED 127.0.0.1:6379`.
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
    private readonly rebuild: StateRebuild,
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
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
    example: { status: 'ok', info: { redis: { status: 'up' }, kafka: { status: 'up' } }, error: {}, details: { redis: { status: 'up' }, kafka: { status: 'up' } } },
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
        try {
          await this.store.ping();
        } catch (error) {
          // The real cause (`connect ECONNREFUSED …`), not the refused command's "Stream isn't writeable".
          return redis.down({ message: redisConnectionProblem(this.redis) ?? (error as Error).message });
        }
        const { lostAt, rebuilding, progress, groupId } = this.rebuild.status;
        if (lostAt) {
          return redis.down({ message: `Redis lost the state at ${lostAt.toISOString()} (it came back empty) and STATE_REBUILD=off: rebuild it by replaying the topics, then restart` });
        }
        // Rebuilding is ready: queries are answered (marked X-State-Rebuilding) while the replay catches up.
        return rebuilding ? redis.up({ rebuilding: true, progress: Number(progress!.toFixed(3)), group: groupId }) : redis.up();
      },
      () => {
        const kafka = this.indicators.check('kafka');
        return this.kafka.isConsuming ? kafka.up() : kafka.down({ message: this.kafka.notConsumingReason });
      },
    ]);
  }
}
