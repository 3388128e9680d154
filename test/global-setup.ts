import { chooseBackends, KAFKA_IMAGE, REDIS_IMAGE } from '../testkit/backends';
import { clusterRequested } from '../testkit/redis-server';

/** Containers started for the run, stopped by global-teardown.ts. */
interface Started {
  stop(): Promise<unknown>;
}
const RUN_CONTAINERS = Symbol.for('state-server.test-containers');

/**
 * Once per `jest` run: picks the backends (testkit/backends.ts), prints that choice and which Redis
 * the pass runs on (one Redis, or the Redis Cluster pass of `npm run test:cluster`), and on the
 * containers path starts Kafka (KRaft) and Redis and hands them to every test file as KAFKA_BROKERS
 * and REDIS_URL.
 */
export default async function globalSetup(): Promise<void> {
  const choice = await chooseBackends();
  const pass = clusterRequested()
    ? 'Redis Cluster pass (REDIS_CLUSTER=1): a local 3-master Redis Cluster per test file; one redis-server where a test stops Redis'
    : 'one-Redis pass (REDIS_CLUSTER=1 runs the Redis Cluster pass)';
  process.stderr.write(`\n${pass}\n${choice.notice}\n`);
  if (choice.kind !== 'containers') return;
  // Loaded only on this path (the runtime found by chooseBackends is reused by these containers).
  const [{ KafkaContainer }, { RedisContainer }] = await Promise.all([import('@testcontainers/kafka'), import('@testcontainers/redis')]);
  const [kafka, redis] = await Promise.all([new KafkaContainer(KAFKA_IMAGE).withKraft().start(), new RedisContainer(REDIS_IMAGE).start()]);
  (globalThis as Record<symbol, Started[]>)[RUN_CONTAINERS] = [kafka, redis];
  process.env.KAFKA_BROKERS = `${kafka.getHost()}:${kafka.getMappedPort(9093)}`;
  process.env.REDIS_URL = redis.getConnectionUrl();
  process.stderr.write(`Test backends: Kafka ${process.env.KAFKA_BROKERS}, Redis ${process.env.REDIS_URL}\n`);
}
