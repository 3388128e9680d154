import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis, { Cluster } from 'ioredis';
import { freePort, isFree } from './free-port';

const run = promisify(execFile);
const REPLICATION_PASSWORD = 'replication-secret';

/** One redis-server of the test cluster. */
export interface ClusterNode {
  port: number;
  /** "127.0.0.1:<port>" */
  address: string;
  readonly running: boolean;
}

/** A real Redis Cluster on this machine, for one test file. */
export interface TestRedisCluster {
  nodes: ClusterNode[];
  /** Seed nodes for REDIS_CLUSTER_NODES (the masters at start). */
  seeds: string[];
  /** A cluster client for assertions and clean-up. */
  client: Cluster;
  /** The nodes that are masters now and serve slots, as "127.0.0.1:<port>". */
  masters(): Promise<string[]>;
  /** SIGKILL one node (nothing is saved: no persistence, like this machine's Redis). */
  kill(address: string): Promise<void>;
  /** Starts a killed node again on its port, with its cluster config: it rejoins (empty, as a replica if it was failed over). */
  restart(address: string): Promise<void>;
  /** Waits until every slot is served by a master that answers and the cluster says ok. */
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
  /** FLUSHALL on every master. */
  flush(): Promise<void>;
  /** The replicas of a master, as "127.0.0.1:<port>". */
  replicasOf(master: string): Promise<string[]>;
  /**
   * Cuts the replication link of a master and keeps it cut: its replicas can no longer log in, so
   * every write it accepts from now on exists on it alone, as the writes of a master's last moments
   * do when replication is asynchronous. Kill it then, and its replica takes over without them.
   */
  severReplication(master: string): Promise<void>;
  /** Replication offsets: how far a master's stream got, and how far each of its replicas read it. */
  replicationOffsets(master: string): Promise<{ master: number; replicas: number[] }>;
  stop(): Promise<void>;
}

/**
 * Starts `masters` redis-server processes (plus `replicasPerMaster` replicas each) with
 * --cluster-enabled yes on free ports, joins them with `redis-cli --cluster create … --cluster-yes`,
 * and waits until the cluster is ok. `nodeTimeoutMs` is cluster-node-timeout: how long a master may
 * be silent before its replica takes over (short here, so failover tests are quick).
 */
export async function startTestRedisCluster(
  options: { masters?: number; replicasPerMaster?: number; nodeTimeoutMs?: number } = {},
  attempt = 1,
): Promise<TestRedisCluster> {
  const masterCount = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 0;
  const nodeTimeout = options.nodeTimeoutMs ?? 2000;
  const dir = mkdtempSync(join(tmpdir(), 'state-server-cluster-'));
  const ports: number[] = [];
  while (ports.length < masterCount * (1 + replicas)) {
    const port = await freePort();
    // The cluster bus listens on port + 10000: both must be free.
    if (port < 55000 && !ports.includes(port) && (await isFree(port + 10000))) ports.push(port);
  }
  const processes = new Map<number, ChildProcess>();

  const launch = async (port: number) => {
    const nodeDir = join(dir, String(port));
    mkdirSync(nodeDir, { recursive: true });
    const proc = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        String(nodeTimeout),
        '--dir',
        nodeDir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--cluster-replica-validity-factor',
        '0',
        '--repl-diskless-sync-delay',
        '0',
        // Replicas log in to their master as `repl`, so a test can cut one replication link (severReplication).
        '--user',
        'repl',
        'on',
        `>${REPLICATION_PASSWORD}`,
        '~*',
        '&*',
        '+@all',
        '--user',
        'default',
        'on',
        'nopass',
        '~*',
        '&*',
        '+@all',
        '--masteruser',
        'repl',
        '--masterauth',
        REPLICATION_PASSWORD,
      ],
      { stdio: 'ignore' },
    );
    processes.set(port, proc);
    const failed = new Promise<never>((_, reject) =>
      proc.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'ENOENT' ? new Error('redis-server is not installed: install it (apt-get install -y redis-server)') : error),
      ),
    );
    failed.catch(() => undefined);
    await Promise.race([untilAnswers(port), failed]);
  };

  await Promise.all(ports.map(launch));
  const addresses = ports.map((p) => `127.0.0.1:${p}`);
  try {
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'], {
      timeout: 60000,
    });
  } catch (error) {
    for (const proc of processes.values()) proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    // Ports are checked free one at a time, and two clusters may start at once: a port (or its bus
    // port, +10000) can be taken between the check and the start. Fresh ports, up to three times.
    if (attempt < 3) return startTestRedisCluster(options, attempt + 1);
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`redis-cli --cluster create failed: ${(error as Error).message}\n${stdout ?? ''}${stderr ?? ''}`, { cause: error });
  }

  const nodes: ClusterNode[] = ports.map((port) => ({
    port,
    address: `127.0.0.1:${port}`,
    get running() {
      const p = processes.get(port);
      return p !== undefined && p.exitCode === null && p.signalCode === null;
    },
  }));
  const seeds = addresses.slice(0, masterCount);

  const masters = async (): Promise<string[]> => {
    for (const node of nodes.filter((n) => n.running)) {
      const probe = new Redis({
        port: node.port,
        host: '127.0.0.1',
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        const slots = (await probe.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
        return [...new Set(slots.map(([, , [host, port]]) => `${host}:${port}`))].sort();
      } catch {
        // try the next node
      } finally {
        probe.disconnect();
      }
    }
    return [];
  };

  const waitUntilHealthy = async (timeoutMs = 30000) => {
    const deadline = Date.now() + timeoutMs;
    let problem = '';
    while (Date.now() < deadline) {
      problem = await clusterProblem(nodes.filter((n) => n.running).map((n) => n.port));
      if (!problem) {
        const dead = (await masters()).filter((m) => !nodes.find((n) => n.address === m)?.running);
        if (dead.length === 0) return;
        problem = `${dead.join(', ')} still serve slots but are down`;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`Redis Cluster not healthy after ${timeoutMs} ms: ${problem}`);
  };
  await waitUntilHealthy();

  const client = new Cluster(
    seeds.map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) })),
    {
      slotsRefreshInterval: 500,
      clusterRetryStrategy: () => 100,
      redisOptions: { maxRetriesPerRequest: 3 },
    },
  );
  client.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    setTimeout(() => reject(new Error('cluster client not ready')), 10000).unref();
  });

  const kill = async (address: string) => {
    const port = Number(address.split(':')[1]);
    const proc = processes.get(port);
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  };

  return {
    nodes,
    seeds,
    client,
    masters,
    kill,
    restart: async (address: string) => launch(Number(address.split(':')[1])),
    waitUntilHealthy,
    flush: async () => {
      await Promise.all(client.nodes('master').map((node) => node.flushall()));
    },
    replicasOf: async (master: string) => {
      const info = await onNode(master, (r) => r.info('replication'));
      return [...info.matchAll(/^slave\d+:ip=([^,]+),port=(\d+)/gm)].map(([, ip, port]) => `${ip}:${port}`);
    },
    severReplication: async (master: string) => {
      await onNode(master, async (r) => {
        await r.call('ACL', 'SETUSER', 'repl', 'off');
        await r.call('CLIENT', 'KILL', 'TYPE', 'replica');
      });
    },
    replicationOffsets: async (master: string) => {
      const info = await onNode(master, (r) => r.info('replication'));
      return {
        master: Number(/master_repl_offset:(\d+)/.exec(info)?.[1] ?? 0),
        replicas: [...info.matchAll(/^slave\d+:.*,offset=(\d+)/gm)].map(([, offset]) => Number(offset)),
      };
    },
    stop: async () => {
      client.disconnect();
      await Promise.all(nodes.map((n) => kill(n.address)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** '' when every slot is served by a master that answers and every running node says cluster_state:ok. */
async function clusterProblem(ports: number[]): Promise<string> {
  for (const port of ports) {
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      const replication = await probe.info('replication');
      if (/role:slave/.test(replication) && !/master_link_status:up/.test(replication)) {
        if (await masterAnswers(replication)) return `replica 127.0.0.1:${port} has not synced with its master yet`;
      }
      const info = (await probe.call('CLUSTER', 'INFO')) as string;
      if (!/cluster_state:ok/.test(info)) return `127.0.0.1:${port} says ${/cluster_state:(\w+)/.exec(info)?.[1]}`;
      // slots_ok leaves out the slots of a master that is failing (PFAIL or FAIL)
      if (!/cluster_slots_ok:16384/.test(info)) return `127.0.0.1:${port}: not every slot ok`;
    } catch (error) {
      return `127.0.0.1:${port}: ${(error as Error).message}`;
    } finally {
      probe.disconnect();
    }
  }
  return '';
}

/** Whether the master named in a replica's INFO replication answers (a replica of a dead master never syncs). */
async function masterAnswers(replication: string): Promise<boolean> {
  const host = /master_host:(\S+)/.exec(replication)?.[1];
  const port = /master_port:(\d+)/.exec(replication)?.[1];
  if (!host || !port) return false;
  return onNode(`${host}:${port}`, async (r) => (await r.ping()) === 'PONG').catch(() => false);
}

/** Runs `work` with a plain connection to one node. */
async function onNode<T>(address: string, work: (redis: Redis) => Promise<T>): Promise<T> {
  const [host, port] = address.split(':');
  const redis = new Redis({ host, port: Number(port), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}

async function untilAnswers(port: number): Promise<void> {
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: null });
  probe.on('error', () => undefined);
  try {
    await probe.connect().catch(() => undefined);
    for (let i = 0; i < 200; i++) {
      if ((await probe.ping().catch(() => '')) === 'PONG') return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server did not start on port ${port}`);
  } finally {
    probe.disconnect();
  }
}
