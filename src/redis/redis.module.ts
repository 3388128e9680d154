import { Global, Inject, Injectable, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import Redis, { Cluster } from 'ioredis';
import { AppConfig, usesDefault } from '../config/app-config';

export const REDIS_CLIENT = Symbol('REDIS_CLIENT');

/** The client of the process: one Redis (REDIS_URL), or Redis Cluster (REDIS_CLUSTER_NODES). */
export type RedisClient = Redis | Cluster;

export function isCluster(client: RedisClient): client is Cluster {
  return (client as Cluster).isCluster === true;
}

const retryDelay = (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000);

/** The last connection error of each client while it is not connected. */
const connectionErrors = new WeakMap<RedisClient, string>();

/**
 * Why the client cannot talk to Redis, e.g. `connect ECONNREFUSED 127.0.0.1:6379`, or undefined
 * while connected. Commands refused meanwhile only say ioredis's "Stream isn't writeable…".
 */
export function redisConnectionProblem(client: RedisClient): string | undefined {
  return client.status === 'ready' ? undefined : (connectionErrors.get(client) ?? `not connected (${client.status})`);
}

/**
 * The one ioredis client of the process. No offline queue: while Redis is unreachable every
 * command fails at once, so HTTP answers 503 quickly and the consumer backs off instead of piling
 * up work in memory. ioredis reconnects by itself.
 *
 * With REDIS_CLUSTER_NODES, an ioredis Cluster seeded with those nodes: it learns the slot map,
 * sends each command to the master of its key's slot (reads too: replicas lag), follows MOVED/ASK,
 * and refreshes the map every second so that a failover is seen quickly (docs/cluster.md).
 */
export function createRedisClient(config: AppConfig): RedisClient {
  const logger = new Logger('Redis');
  // Easy to miss on a new machine: the service quietly talks to a local Redis.
  if (!config.REDIS_CLUSTER_NODES && usesDefault(config, 'REDIS_URL')) logger.warn(`REDIS_URL is not set: using ${config.REDIS_URL}`);
  const nodeOptions = {
    commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectionName: config.KAFKA_CLIENT_ID,
  };
  const client: RedisClient = config.REDIS_CLUSTER_NODES
    ? new Cluster(
        config.REDIS_CLUSTER_NODES.map((node) => {
          const at = node.lastIndexOf(':');
          return { host: node.slice(0, at), port: Number(node.slice(at + 1)) };
        }),
        {
          enableOfflineQueue: false,
          scaleReads: 'master',
          slotsRefreshInterval: 1000,
          slotsRefreshTimeout: Math.min(config.REDIS_COMMAND_TIMEOUT_MS, 2000),
          retryDelayOnFailover: 100,
          retryDelayOnClusterDown: 100,
          retryDelayOnTryAgain: 100,
          clusterRetryStrategy: retryDelay,
          redisOptions: nodeOptions,
        },
      )
    : new Redis(config.REDIS_URL, { ...nodeOptions, enableOfflineQueue: false, retryStrategy: retryDelay });
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
  constructor(@Inject(REDIS_CLIENT) private readonly redis: RedisClient) {}
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
