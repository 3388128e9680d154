import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import type { Writable } from 'node:stream';
import { join } from 'node:path';
import { getJson, postJson } from '../../testkit/app';
import { eventually } from '../../testkit/eventually';
import { ensureBuilt } from '../../testkit/service-process';

/**
 * `npm run demo` as a newcomer runs it: one Ctrl-C (SIGINT to the whole foreground process group,
 * as a terminal sends it) stops everything with exit 0 and a last line "Stopped.", also when its
 * output goes through `| tee demo.log`, which the same Ctrl-C ends first; the commands it prints
 * work on a live session; a port that is taken stops what had started and names the flag to use.
 */
const ROOT = join(__dirname, '..', '..');

interface Demo {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

/** The demo with its output (stdout and stderr) to our pipes, or to `output` (another process's stdin). */
function startDemo(args: string[], output?: Writable): Demo {
  ensureBuilt();
  // detached: a process group of its own, like a terminal's foreground job (npm and the demo in it).
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'tools/demo.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', output ?? 'pipe', output ?? 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exit };
}

/** True when nothing accepts connections on 127.0.0.1:port. */
const refuses = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });

const portOf = (output: string, label: string) => Number(new RegExp(`${label}\\s+\\S*127\\.0\\.0\\.1:(\\d+)`).exec(output)?.[1]);

let demo: Demo | undefined;
afterEach(() => {
  if (demo && demo.child.exitCode === null) process.kill(-demo.child.pid!, 'SIGKILL');
  demo = undefined;
});

// SIGINT: a terminal's Ctrl-C; SIGTERM: what `timeout` sends. Either reaches every process of the
// foreground group (npm and the demo); the demo's children must get exactly one signal, from it.
it.each(['SIGINT', 'SIGTERM'] as const)(
  'stops everything on one %s to its process group, exit 0, ending with "Stopped."',
  async (signal) => {
    demo = startDemo(['--port', '0', '--kafka-port', '0', '--users', '50']);
    const d = demo;
    await eventually(() => expect(d.output()).toMatch(/events produced\n(\s+guild 1: \d+ online.*\n)/), 90000, 200);
    const out = d.output();
    expect(out).toMatch(/read back over HTTP/);
    expect(out).toMatch(/http:\/\/127\.0\.0\.1:\d+\/docs/);
    const [kafkaPort, redisPort, httpPort] = [portOf(out, 'Kafka'), portOf(out, 'Redis'), portOf(out, 'HTTP')];

    process.kill(-d.child.pid!, signal);
    expect(await d.exit).toBe(0);
    const lines = d.output().trim().split('\n');
    expect(lines[lines.length - 1]).toBe('Stopped.');
    expect(d.output()).not.toMatch(/again|exited with code/);
    for (const port of [kafkaPort, redisPort, httpPort]) expect(await refuses(port)).toBe(true);
  },
  150000,
);

it('piped to tee, its printed commands act on a live session, and one Ctrl-C stops everything with exit 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'demo-tee-'));
  const log = join(dir, 'demo.log');
  // `npm run demo 2>&1 | tee demo.log`: tee dies of the Ctrl-C (first, the worst case), the demo then
  // writes into a pipe nobody reads.
  const tee = spawn('tee', [log], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  const teeExit = new Promise((resolve) => tee.once('exit', resolve));
  try {
    demo = startDemo(['--port', '0', '--kafka-port', '0', '--users', '50'], tee.stdin);
    tee.stdin.destroy(); // the demo holds the pipe's write end now; this process must not
    const d = demo;
    const output = () => readFileSync(log, 'utf8');
    await eventually(() => expect(output()).toMatch(/events produced\n(\s+guild 1: \d+ online.*\n)/), 90000, 200);
    const out = output();

    // The DISCONNECT it prints ends the last session of the member it names: the answer's result is their id.
    const [, url, body] = /curl -X POST '(\S+)' -H 'content-type: application\/json' \\\n\s+-d '(\{.*\})'/.exec(out) ?? [];
    const [, user] = /"result":"(\d+)"/.exec(out) ?? [];
    const [, query] = /curl '(\S+\?userIds=[\d,]+)'/.exec(out) ?? [];
    expect([url, body, user, query].every(Boolean)).toBe(true);
    await eventually(async () => expect((await getJson(query)).body.connectionStates[user]).toBe('online'), 30000);
    expect(await postJson(url, JSON.parse(body))).toEqual({
      status: 200,
      body: expect.objectContaining({ isSuccess: true, result: user }),
    });
    // Shown offline, still seated: the grace period the live view explains.
    const after = (await getJson(query)).body;
    expect(after.connectionStates[user]).toBe('offline');
    expect(Object.values(after.channelStates).flat()).toContain(user);
    expect(out).toMatch(/offline while seated in voice is in the grace period/);
    const ports = [portOf(out, 'Kafka'), portOf(out, 'Redis'), portOf(out, 'HTTP')];

    tee.kill('SIGINT');
    await teeExit;
    process.kill(-d.child.pid!, 'SIGINT');
    expect(await d.exit).toBe(0);
    for (const port of ports) expect(await refuses(port)).toBe(true);
  } finally {
    tee.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}, 240000);

it('stops what it started and names --port when the HTTP port is taken', async () => {
  const taken: Server = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '0.0.0.0', resolve));
  const port = (taken.address() as { port: number }).port;
  try {
    demo = startDemo(['--port', String(port), '--kafka-port', '0']);
    expect(await demo.exit).toBe(1);
    const out = demo.output();
    expect(out).toContain(
      `demo failed: port ${port} is taken by another process: pick another with --port <port> (--port 0 = any free port)`,
    );
    expect(out).not.toMatch(/EADDRINUSE|\n\s+at /);
    expect(await refuses(portOf(out, 'Redis'))).toBe(true);
    expect(await refuses(portOf(out, 'Kafka'))).toBe(true);
  } finally {
    taken.close();
  }
});

it('names --kafka-port when the broker port is taken', async () => {
  const taken: Server = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as { port: number }).port;
  try {
    demo = startDemo(['--port', '0', '--kafka-port', String(port)]);
    expect(await demo.exit).toBe(1);
    expect(demo.output()).toContain(`pick another with --kafka-port <port> (--kafka-port 0 = any free port)`);
  } finally {
    taken.close();
  }
});
