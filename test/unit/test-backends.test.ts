import { createServer as createHttpServer, Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseBackends, KAFKA_IMAGE, REDIS_IMAGE } from '../../testkit/backends';
import { freePort } from '../../testkit/free-port';

/**
 * How a run picks its Kafka and Redis (testkit/backends.ts): what you set, else containers
 * when a Docker engine answers, else the embedded broker and a local redis-server, saying so in
 * one line. No engine here is faked by a closed port or a missing socket; one that answers, by a
 * server that speaks the engine's GET /_ping.
 */
const oneLine = (notice: string) => expect(notice).not.toMatch(/\n/);

it('falls back to the embedded broker and a local redis-server when no Docker engine answers on a closed port', async () => {
  const port = await freePort();
  const choice = await chooseBackends({ DOCKER_HOST: `tcp://127.0.0.1:${port}` });
  expect(choice.kind).toBe('local');
  oneLine(choice.notice);
  expect(choice.notice).toBe(
    `Test backends: the embedded Kafka broker and a local redis-server per test file; no Docker engine reachable (tcp://127.0.0.1:${port}: connect ECONNREFUSED)`,
  );
});

it('falls back when the Docker socket does not exist (a docker CLI without an engine)', async () => {
  const choice = await chooseBackends({ DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
  expect(choice).toEqual({
    kind: 'local',
    notice: expect.stringContaining('no Docker engine reachable (unix:///nonexistent/docker.sock: connect ENOENT)'),
  });
});

it('falls back on this machine as it is, or finds its engine, in one line either way', async () => {
  const choice = await chooseBackends({ ...process.env, KAFKA_BROKERS: undefined, REDIS_URL: undefined, TEST_BACKENDS: undefined });
  oneLine(choice.notice);
  if (choice.kind === 'local') expect(choice.notice).toMatch(/no Docker engine reachable \(.+\)$/);
  else expect(choice.notice).toContain(KAFKA_IMAGE);
});

describe('with an engine that answers', () => {
  let dir: string;
  let engine: Server;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fake-docker-'));
    engine = createHttpServer((req, res) => res.end(req.url === '/_ping' ? 'OK' : ''));
    await new Promise<void>((resolve) => engine.listen(join(dir, 'docker.sock'), resolve));
  });
  afterAll(() => {
    engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('uses containers from pinned images, Kafka in KRaft mode', async () => {
    const choice = await chooseBackends({ DOCKER_HOST: `unix://${join(dir, 'docker.sock')}` });
    expect(choice.kind).toBe('containers');
    expect(choice.notice).toContain(`containers ${KAFKA_IMAGE} (KRaft) and ${REDIS_IMAGE}`);
    expect(KAFKA_IMAGE).toMatch(/:\d+\.\d+\.\d+$/);
    expect(REDIS_IMAGE).toMatch(/:\d+\.\d+\.\d+/);
  });

  it('still uses what you set first', async () => {
    const choice = await chooseBackends({
      DOCKER_HOST: `unix://${join(dir, 'docker.sock')}`,
      KAFKA_BROKERS: 'kafka-1:9092',
      REDIS_URL: 'redis://:secret@cache:6379',
    });
    expect(choice).toEqual({
      kind: 'given',
      notice: 'Test backends: KAFKA_BROKERS=kafka-1:9092 and REDIS_URL=redis://:<hidden>@cache:6379, as set',
    });
  });

  it('uses the local ones when told to (TEST_BACKENDS=local)', async () => {
    const choice = await chooseBackends({ DOCKER_HOST: `unix://${join(dir, 'docker.sock')}`, TEST_BACKENDS: 'local' });
    expect(choice.kind).toBe('local');
  });
});
