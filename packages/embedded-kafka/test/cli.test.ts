/** The CLI: one address line once listening, usable by clients, exit 0 on SIGTERM/SIGINT. */
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { kafkaClient } from './helpers';

const packageRoot = path.resolve(__dirname, '..');

function startCli(args: string[]): { child: ChildProcess; line: Promise<string>; output: () => string } {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/cli.ts', ...args], {
    cwd: packageRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const line = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    child.on('exit', (code) => reject(new Error(`cli exited early with ${code}: ${out}`)));
  });
  child.stderr!.on('data', (d) => (out += d));
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
});
