import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { KeyLayout } from '../src/state-store/redis-keys';
import { givenRedisUrl } from './backends';
import { freePort } from './free-port';
import { startTestRedisCluster } from './redis-cluster';

/**
 * A Redis for one test file: a throwaway redis-server on a free port, or REDIS_URL when given
 * (yours, or the run's container: backends.ts; then stop/start are refused), or with REDIS_CLUSTER=1
 * a throwaway 3-master Redis Cluster (testkit/redis-cluster.ts).
 */
export interface TestRedis {
  /** redis://… of the single Redis (on a cluster: of its first node, for tools that want one). */
  url: string;
  /** What the service needs to use it: REDIS_URL, or REDIS_CLUSTER_NODES. */
  env: Record<string, string>;
  clustered: boolean;
  /** The key layout the service uses on it (names of USER:STATE shards, GUILD:<g>, … per mode). */
  keys: KeyLayout;
  /**
   * A client for assertions and clean-up. On a cluster it is an ioredis Cluster, typed as Redis so
   * that helpers written for one Redis take it: single-key commands route by key; SCAN, KEYS and
   * FLUSHDB do not span the cluster (use the key layout, or `flush`).
   */
  client: Redis;
  /** Kills the server (SIGKILL: nothing is saved, as on this machine's Redis). */
  kill(): Promise<void>;
  /** Starts it again on the same port: empty, or with its data when persistent. */
  restart(): Promise<void>;
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * persistent: keep an append-only file (fsync always) in a temp dir, so a killed and restarted
 * server comes back with its data, as a production Redis with AOF would. By default nothing is kept,
 * like this machine's Redis. killable: a test that kills Redis always gets a server of its own,
 * even when REDIS_URL is set. own: a server of its own, and REDIS_URL set is an error (the bench,
 * whose figures are of a server it started). ownProcessGroup: the terminal's Ctrl-C does not reach
 * the server; its starter stops it (the demo, which stops everything in order).
 */
export interface TestRedisOptions {
  persistent?: boolean;
  killable?: boolean;
  own?: boolean;
  ownProcessGroup?: boolean;
  /** Always one redis-server, even with REDIS_CLUSTER=1 (e.g. a reference to compare a cluster with). */
  single?: boolean;
}

export async function startTestRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  if (options.own && process.env.REDIS_URL) throw new Error('the bench starts its own redis-server: unset REDIS_URL');
  const refuse = async () => {
    throw new Error('this test stops Redis: start it with { killable: true }');
  };
  if (clusterRequested() && !options.persistent && !options.killable && !options.single && !options.own) {
    const cluster = await startTestRedisCluster();
    return {
      url: `redis://${cluster.seeds[0]}`,
      env: { REDIS_CLUSTER_NODES: cluster.seeds.join(',') },
      clustered: true,
      keys: new KeyLayout(true),
      client: cluster.client as unknown as Redis,
      kill: refuse,
      restart: refuse,
      flush: cluster.flush,
      stop: cluster.stop,
    };
  }
  const given = givenRedisUrl();
  if (given && !options.persistent && !options.killable && !options.single) {
    const client = new Redis(given);
    return {
      url: given,
      env: { REDIS_URL: given },
      clustered: false,
      keys: new KeyLayout(false),
      client,
      kill: refuse,
      restart: refuse,
      flush: async () => void (await client.flushdb()),
      stop: async () => void client.disconnect(),
    };
  }
  const port = await freePort();
  const dir = options.persistent ? mkdtempSync(join(tmpdir(), 'state-server-redis-')) : undefined;
  const persistence = dir ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir] : ['--appendonly', 'no'];
  let proc: ChildProcess | undefined;
  const launch = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence], {
      stdio: 'ignore',
      detached: options.ownProcessGroup === true,
    });
    const missing = new Promise<never>((_, reject) =>
      proc!.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'ENOENT'
            ? new Error('redis-server is not installed: install it (apt-get install -y redis-server) or set REDIS_URL to a Redis to use')
            : error,
        ),
      ),
    );
    missing.catch(() => undefined); // reported through the race below
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: null });
    probe.on('error', () => undefined); // refused until the server listens: expected
    const answering = async () => {
      await probe.connect().catch(() => undefined);
      for (let i = 0; i < 100; i++) {
        if ((await probe.ping().catch(() => '')) === 'PONG') return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`redis-server did not start on port ${port}`);
    };
    try {
      await Promise.race([answering(), missing]);
    } finally {
      probe.disconnect();
    }
  };
  const kill = async () => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  };
  await launch();
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 100 });
  client.on('error', () => undefined);
  return {
    url,
    env: { REDIS_URL: url },
    clustered: false,
    keys: new KeyLayout(false),
    client,
    kill,
    restart: launch,
    flush: async () => void (await client.flushdb()),
    stop: async () => {
      client.disconnect();
      await kill();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** REDIS_CLUSTER=1: the suites that support it run on a local Redis Cluster instead of one Redis (.ci/run's second pass). */
export function clusterRequested(): boolean {
  return process.env.REDIS_CLUSTER === '1' || process.env.REDIS_CLUSTER === 'true';
}
