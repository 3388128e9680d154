import { createServer as createHttpServer, Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { KAFKA_IMAGE, REDIS_IMAGE } from '../../testkit/backends';
import { freePort } from '../../testkit/free-port';

/**
 * How a run picks its Kafka and Redis (testkit/backends.ts): what you set, else containers when
 * testcontainers finds a container runtime by its own rules, else the embedded broker and a local
 * redis-server, saying so in one line. No runtime here is faked by a closed port or a missing socket;
 * one that answers, by a server that speaks the two calls of the Docker engine API testcontainers
 * makes to accept it (GET /info, and GET /networks/bridge when the tests run inside a container).
 */
type Backends = typeof import('../../testkit/backends');
const run = promisify(execFile);

const SETTINGS = [
  'DOCKER_HOST',
  'DOCKER_TLS_VERIFY',
  'DOCKER_CERT_PATH',
  'TESTCONTAINERS_HOST_OVERRIDE',
  'KAFKA_BROKERS',
  'REDIS_URL',
  'TEST_BACKENDS',
];

/** testcontainers reads its configuration once per process: a fresh copy of both for each environment. */
async function chooseWith(env: Record<string, string>): Promise<ReturnType<Backends['chooseBackends']>> {
  const saved = { ...process.env };
  for (const name of SETTINGS) delete process.env[name];
  Object.assign(process.env, env);
  try {
    jest.resetModules();
    const backends: Backends = await import('../../testkit/backends');
    return await backends.chooseBackends();
  } finally {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  }
}

const oneLine = (notice: string) => expect(notice).not.toMatch(/\n/);

it('falls back to the embedded broker and a local redis-server when DOCKER_HOST is a closed port', async () => {
  const port = await freePort();
  const choice = await chooseWith({ DOCKER_HOST: `tcp://127.0.0.1:${port}` });
  expect(choice.kind).toBe('local');
  oneLine(choice.notice);
  expect(choice.notice).toBe(
    'Test backends: the embedded Kafka broker and a local redis-server per test file; no container runtime (Could not find a working container runtime strategy; DEBUG=testcontainers* says why)',
  );
});

it('falls back on this machine as it is, or finds its runtime, in one line either way', async () => {
  const choice = await chooseWith({});
  oneLine(choice.notice);
  if (choice.kind === 'local') expect(choice.notice).toMatch(/no container runtime \(.+\)$/);
  else expect(choice.notice).toContain(KAFKA_IMAGE);
});

it('still uses what you set first, without looking for a runtime', async () => {
  const choice = await chooseWith({ KAFKA_BROKERS: 'kafka-1:9092', REDIS_URL: 'redis://:secret@cache:6379' });
  expect(choice).toEqual({
    kind: 'given',
    notice: 'Test backends: KAFKA_BROKERS=kafka-1:9092 and REDIS_URL=redis://:<hidden>@cache:6379, as set',
  });
});

describe('with a container runtime that answers', () => {
  let dir: string;
  let engine: Server;
  let socket: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fake-engine-'));
    socket = join(dir, 'engine.sock');
    engine = createHttpServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/info') res.end(JSON.stringify({ ServerVersion: '28.2.2', OperatingSystem: 'Test Engine', OSType: 'linux' }));
      else if (req.url === '/networks/bridge') res.end(JSON.stringify({ IPAM: { Config: [{ Gateway: '172.17.0.1' }] } }));
      else res.writeHead(404).end('{"message":"not here"}');
    });
    await new Promise<void>((resolve) => engine.listen(socket, resolve));
  });
  afterAll(() => {
    engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('uses containers from pinned images, Kafka in KRaft mode, on the runtime DOCKER_HOST names', async () => {
    const choice = await chooseWith({ DOCKER_HOST: `unix://${socket}` });
    expect(choice.kind).toBe('containers');
    expect(choice.notice).toMatch(
      new RegExp(`containers ${KAFKA_IMAGE} \\(KRaft\\) and ${REDIS_IMAGE} on Test Engine 28\\.2\\.2 at \\S+ `),
    );
    expect(KAFKA_IMAGE).toMatch(/:\d+\.\d+\.\d+$/);
    expect(REDIS_IMAGE).toMatch(/:\d+\.\d+\.\d+/);
  });

  it('finds the runtime named in ~/.testcontainers.properties, which the hand-written detection ignored', async () => {
    const configured = mkdtempSync(join(tmpdir(), 'backends-home-'));
    writeFileSync(join(configured, '.testcontainers.properties'), `docker.host=unix://${socket}\n`);
    try {
      // The home directory comes from the real environment, which jest's process.env is a copy of: a child process.
      const env: NodeJS.ProcessEnv = { ...process.env, HOME: configured };
      for (const name of SETTINGS) delete env[name];
      const { stdout } = await run(
        process.execPath,
        [
          '-r',
          'ts-node/register/transpile-only',
          '-e',
          "require('./testkit/backends').chooseBackends().then((c) => console.log(JSON.stringify(c)))",
        ],
        { env, cwd: join(__dirname, '../..') },
      );
      const choice = JSON.parse(stdout) as { kind: string; notice: string };
      expect(choice.kind).toBe('containers');
      expect(choice.notice).toContain('on Test Engine 28.2.2');
    } finally {
      rmSync(configured, { recursive: true, force: true });
    }
  });

  it('uses the local ones when told to (TEST_BACKENDS=local)', async () => {
    const choice = await chooseWith({ DOCKER_HOST: `unix://${socket}`, TEST_BACKENDS: 'local' });
    expect(choice).toEqual({ kind: 'local', notice: expect.stringContaining('(TEST_BACKENDS=local)') });
  });
});
