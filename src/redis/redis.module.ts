import { Global, Inject, Injectable, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { AppConfig, usesDefault } from '../config/app-config';

export const REDIS_CLIENT = Symbol('REDIS_CLIENT');

/** The last connection error of each client while it is not connected. */
const connectionErrors = new WeakMap<Redis, string>();

/**
 * Why the client cannot talk to Redis, e.g. `connect ECONNREFUSED 127.0.0.1:6379`, or undefined
 * while connected. Commands refused meanwhile only say ioredis's "Stream isn't writeable…".
 */
export function redisConnectionProblem(client: Redis): string | undefined {
  return client.status === 'ready' ? undefined : connectionErrors.get(client) ?? `not connected (${client.status})`;
}

/**
 * The one ioredis connection of the process. No offline queue: while Redis is unreachable every
 * command fails at once, so HTTP answers 503 quickly and the consumer backs off instead of piling
 * up work in memory. ioredis reconnects by itself.
 */
export function createRedisClient(config: AppConfig): Redis {
  const logger = new Logger('Redis');
  // Easy to miss on a new machine: the service quietly talks to a local Redis.
  if (usesDefault(config, 'REDIS_URL')) logger.warn(`REDIS_URL is not set: using ${config.REDIS_URL}`);
  const client = new Redis(config.REDIS_URL, {
    enableOfflineQueue: false,
    commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000),
    connectionName: config.KAFKA_CLIENT_ID,
  });
  let down = false;
  client.on('error', (error: Error) => {
    if (client.status !== 'ready') connectionErrors.set(client, error.message);
    if (!down) logger.warn(`Redis unreachable: ${error.message}`);
    down = true;
  });
  client.on('ready', () => {
    connectionErrors.delete(client);
    if (down) logger.log('Redis reachable again');
    down = false;
  });
  return client;
}

@Injectable()
class RedisClientCloser implements OnApplicationShutdown {
  constructor(@Inject(REDIS_CLIENT) private readonly redis: Redis) {}
  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

@Global()
@Module({
  providers: [{ provide: REDIS_CLIENT, inject: [AppConfig], useFactory: createRedisClient }, RedisClientCloser],
  exports: [REDIS_CLIENT],
})
export class RedisModule {}
