/**
 * The one place that decides which Kafka and Redis the tests talk to, in this order:
 * 1. KAFKA_BROKERS / REDIS_URL when set (a cluster of yours: each is used as given);
 * 2. else, when testcontainers finds a container runtime (by its own rules: findContainerRuntime), containers
 *    started once for the whole run (test/global-setup.ts): Kafka in KRaft mode and Redis, from the pinned images below;
 * 3. else the embedded Kafka broker (packages/embedded-kafka) and a local `redis-server`, one of each
 *    per test file (kafka.ts, redis-server.ts).
 * TEST_BACKENDS=local or TEST_BACKENDS=containers skips the detection. Tests that kill or restart
 * Redis, or need a broker on a port of their choosing, always start their own local ones.
 */
export const KAFKA_IMAGE = 'confluentinc/cp-kafka:7.9.0';
export const REDIS_IMAGE = 'redis:7.4.2-alpine';

export type BackendKind = 'given' | 'containers' | 'local';

export interface BackendChoice {
  kind: BackendKind;
  /** One line saying what the run uses and why, printed once at the start of `npm test`. */
  notice: string;
}

type Env = Record<string, string | undefined>;

/** KAFKA_BROKERS as a list, when set. */
export function givenKafkaBrokers(env: Env = process.env): string[] | undefined {
  const brokers = env.KAFKA_BROKERS?.split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  return brokers && brokers.length > 0 ? brokers : undefined;
}

export function givenRedisUrl(env: Env = process.env): string | undefined {
  return env.REDIS_URL || undefined;
}

/**
 * The container runtime testcontainers finds, the way it always does (~/.testcontainers.properties,
 * DOCKER_HOST with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH, the usual and rootless sockets, a named pipe):
 * its description, or why none. Containers started later reuse the client it found.
 */
export async function findContainerRuntime(): Promise<{ runtime?: string; problem?: string }> {
  // Loaded only when asked: runs with given or local backends never load testcontainers.
  const { getContainerRuntimeClient } = await import('testcontainers');
  try {
    const { containerRuntime } = (await getContainerRuntimeClient()).info;
    return { runtime: `${containerRuntime.operatingSystem} ${containerRuntime.serverVersion} at ${containerRuntime.host}` };
  } catch (error) {
    return { problem: `${(error as Error).message}; DEBUG=testcontainers* says why` };
  }
}

/** env: what decides between given, forced and detected; the runtime is found from the process' own environment and files. */
export async function chooseBackends(env: Env = process.env): Promise<BackendChoice> {
  const local = 'the embedded Kafka broker and a local redis-server per test file';
  const kafka = givenKafkaBrokers(env);
  const redis = givenRedisUrl(env);
  if (kafka || redis) {
    const given = [kafka && `KAFKA_BROKERS=${kafka.join(',')}`, redis && `REDIS_URL=${redis.replace(/:[^:@/]*@/, ':<hidden>@')}`]
      .filter(Boolean)
      .join(' and ');
    const rest =
      kafka && redis ? '' : kafka ? ' (Redis: a local redis-server per test file)' : ' (Kafka: the embedded broker per test file)';
    return { kind: 'given', notice: `Test backends: ${given}, as set${rest}` };
  }
  const forced = env.TEST_BACKENDS;
  if (forced === 'local') return { kind: 'local', notice: `Test backends: ${local} (TEST_BACKENDS=local)` };
  if (forced === 'containers')
    return { kind: 'containers', notice: `Test backends: containers ${KAFKA_IMAGE} (KRaft) and ${REDIS_IMAGE} (TEST_BACKENDS=containers)` };
  const { runtime, problem } = await findContainerRuntime();
  if (runtime)
    return {
      kind: 'containers',
      notice: `Test backends: containers ${KAFKA_IMAGE} (KRaft) and ${REDIS_IMAGE} on ${runtime} (TEST_BACKENDS=local to use ${local} instead)`,
    };
  return { kind: 'local', notice: `Test backends: ${local}; no container runtime (${problem})` };
}
