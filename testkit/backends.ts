import { request } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The one place that decides which Kafka and Redis the tests talk to, in this order:
 * 1. KAFKA_BROKERS / REDIS_URL when set (a cluster of yours: each is used as given);
 * 2. else, when a Docker engine answers, containers started once for the whole run by
 *    testcontainers (test/global-setup.ts): Kafka in KRaft mode and Redis, from the pinned images below;
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

/** Where a Docker engine would listen: DOCKER_HOST, else the usual sockets (the first that exists is tried). */
function dockerEndpoints(env: Env): { label: string; socketPath?: string; host?: string; port?: number }[] {
  const host = env.DOCKER_HOST;
  if (host) {
    if (host.startsWith('unix://')) return [{ label: host, socketPath: host.slice('unix://'.length) }];
    const tcp = /^tcp:\/\/([^:/]+):(\d+)/.exec(host);
    if (tcp) return [{ label: host, host: tcp[1], port: Number(tcp[2]) }];
    return [{ label: host }]; // ssh://, npipe://: not probed here
  }
  const sockets = [
    '/var/run/docker.sock',
    env.XDG_RUNTIME_DIR && join(env.XDG_RUNTIME_DIR, 'docker.sock'),
    join(env.HOME ?? homedir(), '.docker', 'run', 'docker.sock'),
  ];
  return sockets.filter((s): s is string => Boolean(s)).map((socketPath) => ({ label: `unix://${socketPath}`, socketPath }));
}

/** Asks the engine's GET /_ping; resolves with why not when it does not answer OK. */
function ping(endpoint: ReturnType<typeof dockerEndpoints>[number], timeoutMs: number): Promise<string | undefined> {
  if (!endpoint.socketPath && !endpoint.host) return Promise.resolve(`cannot probe ${endpoint.label}`);
  return new Promise((resolve) => {
    const req = request(
      { socketPath: endpoint.socketPath, host: endpoint.host, port: endpoint.port, path: '/_ping', timeout: timeoutMs },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () =>
          resolve(res.statusCode === 200 && body.trim() === 'OK' ? undefined : `answered ${res.statusCode} ${body.trim().slice(0, 80)}`),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ? `${error.syscall ?? 'connect'} ${error.code}` : error.message));
    req.end();
  });
}

/** Undefined when a Docker engine answers; else why not, e.g. `unix:///var/run/docker.sock: connect ENOENT`. */
export async function dockerEngineProblem(env: Env = process.env, timeoutMs = 2000): Promise<string | undefined> {
  const problems: string[] = [];
  for (const endpoint of dockerEndpoints(env)) {
    const problem = await ping(endpoint, timeoutMs);
    if (!problem) return undefined;
    problems.push(`${endpoint.label}: ${problem}`);
  }
  return problems.join('; ') || 'no Docker socket to try';
}

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
  const problem = await dockerEngineProblem(env);
  if (!problem)
    return {
      kind: 'containers',
      notice: `Test backends: containers ${KAFKA_IMAGE} (KRaft) and ${REDIS_IMAGE}, a Docker engine answers (TEST_BACKENDS=local to use ${local} instead)`,
    };
  return { kind: 'local', notice: `Test backends: ${local}; no Docker engine reachable (${problem})` };
}
