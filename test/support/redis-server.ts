import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import Redis from 'ioredis';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A Redis for one test file: a throwaway redis-server on a free port, or REDIS_URL when given (then stop/start are refused). */
export interface TestRedis {
  url: string;
  /** A plain client for assertions and clean-up. */
  client: Redis;
  /** Kills the server (SIGKILL: nothing is saved, as on this machine's Redis). */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  flush(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestRedis(): Promise<TestRedis> {
  if (process.env.REDIS_URL) {
    const client = new Redis(process.env.REDIS_URL);
    const refuse = async () => {
      throw new Error('this test stops Redis; it needs a redis-server of its own (unset REDIS_URL)');
    };
    return { url: process.env.REDIS_URL, client, kill: refuse, restart: refuse, flush: async () => void (await client.flushdb()), stop: async () => void client.disconnect() };
  }
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const launch = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: null });
    try {
      await probe.connect().catch(() => undefined);
      for (let i = 0; i < 100; i++) {
        if ((await probe.ping().catch(() => '')) === 'PONG') return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`redis-server did not start on port ${port}`);
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
    client,
    kill,
    restart: launch,
    flush: async () => void (await client.flushdb()),
    stop: async () => {
      client.disconnect();
      await kill();
    },
  };
}
