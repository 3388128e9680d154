/** The CLI: one address line once listening, usable by clients, exit 0 on SIGTERM/SIGINT, never outliving its launcher. */
import { ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import path from 'node:path';
import { kafkaClient } from './helpers';

const packageRoot = path.resolve(__dirname, '..');

const repoRoot = path.resolve(packageRoot, '../..');

function startCli(args: string[], viaNpm = false): { child: ChildProcess; line: Promise<string>; output: () => string } {
  const child = viaNpm
    ? spawn('npm', ['run', '--silent', 'kafka:embedded', '--', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/cli.ts', ...args], {
        cwd: packageRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
  let out = '';
  const line = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const first = out.split('\n').find((l) => l.startsWith('embedded kafka'));
      if (first && out.includes(`${first}\n`)) resolve(first);
    });
    child.on('exit', (code) => reject(new Error(`cli exited early with ${code}: ${out}`)));
  });
  child.stderr.on('data', (d) => (out += d));
  return { child, line, output: () => out };
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

describe('embedded kafka CLI', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`prints its address, serves clients and exits 0 on ${signal}`, async () => {
      const { child, line, output } = startCli(['--port', '0', '--partitions', '2']);
      try {
        const first = await line;
        const match = /^embedded kafka listening on (127\.0\.0\.1:\d+)$/.exec(first);
        expect(match).not.toBeNull();
        const kafka = kafkaClient([match![1]]);
        const producer = kafka.producer();
        const admin = kafka.admin();
        await Promise.all([producer.connect(), admin.connect()]);
        await producer.send({ topic: 'cli-topic', messages: [{ value: 'hi' }] });
        expect((await admin.fetchTopicMetadata({ topics: ['cli-topic'] })).topics[0].partitions).toHaveLength(2);
        await Promise.all([producer.disconnect(), admin.disconnect()]);
        const exit = exited(child);
        child.kill(signal);
        expect(await exit).toBe(0);
        expect(output().trim().split('\n')).toHaveLength(1);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  }

  /** True once nothing accepts connections on the address any more. */
  const refuses = (address: string) =>
    new Promise<boolean>((resolve) => {
      const [host, port] = address.split(':');
      const socket = connect(Number(port), host);
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });

  async function stopsWithin(address: string, timeoutMs: number): Promise<boolean> {
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
      if (await refuses(address)) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return refuses(address);
  }

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`stops the broker when its npm launcher gets ${signal}`, async () => {
      const { child, line } = startCli(['--port', '0'], true);
      try {
        const address = /listening on (\S+)$/.exec(await line)![1];
        expect(await refuses(address)).toBe(false);
        child.kill(signal);
        expect(await stopsWithin(address, 10000)).toBe(true);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  }
});
