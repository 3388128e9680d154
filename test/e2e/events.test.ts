import { request } from 'node:http';
import { getJson, RunningApp, startTestApp, waitUntilReady } from '../../testkit/app';
import { EventStreamClient } from '../../testkit/event-stream-client';
import { eventually } from '../../testkit/eventually';
import { createTopics } from '../../testkit/kafka';
import { readMetric } from '../../testkit/metrics';
import { startStack, TestStack } from '../../testkit/stack';

/**
 * GET/POST /events, server-sent events of the change stream, with two instances: a snapshot then
 * the changes of the named users and guilds; a client resuming with Last-Event-ID on the other
 * instance gets exactly what it missed; an id it cannot resume from gets a fresh snapshot; versions
 * only grow; a client that does not read is dropped; nothing reveals an invisible user.
 */

const CHANGE_TOPIC = `stateChanged-${Math.random().toString(36).slice(2, 8)}`;
let stack: TestStack<'none'>;
let first: RunningApp;
let second: RunningApp;
const clients: EventStreamClient[] = [];

beforeAll(async () => {
  stack = await startStack('events', { service: 'none', env: { CHANGE_TOPIC, VOICE_GRACE_SECONDS: '0' } });
  await createTopics(stack.kafka.kafka, [CHANGE_TOPIC], 3);
  first = await startTestApp(stack.serviceEnv);
  second = await startTestApp(stack.serviceEnv);
  await Promise.all([waitUntilReady(first.url), waitUntilReady(second.url)]);
  // Each instance reads the change topic once it is there (503 until then).
  for (const url of [first.url, second.url])
    await eventually(async () => {
      const probe = await EventStreamClient.open(`${url}/events?userIds=1`);
      probe.close();
      expect(probe.status).toBe(200);
    }, 20_000);
}, 60_000);
afterAll(async () => {
  for (const c of clients) c.close();
  await second?.close();
  await first?.close();
  await stack?.stop();
});

async function open(url: string, init?: Parameters<typeof EventStreamClient.open>[1]): Promise<EventStreamClient> {
  const client = await EventStreamClient.open(url, init);
  clients.push(client);
  return client;
}

/** Every version a client got per key only grows. */
function expectVersionsGrow(client: EventStreamClient): void {
  const last = new Map<string, number>();
  for (const e of client.events.filter((e) => e.event === 'presence' || e.event === 'voice')) {
    const r = JSON.parse(e.data) as { type: string; userId: string; guildId: string; channelId: string; version: number };
    const key = r.type === 'PRESENCE' ? r.userId : `${r.guildId}|${r.channelId}|${r.userId}`;
    expect(r.version).toBeGreaterThan(last.get(key) ?? 0);
    last.set(key, r.version);
  }
}

it('starts with a snapshot (offline for users never seen), then sends the changes of the named users and guilds', async () => {
  await stack.peers.connect('s1', 101, { state: 'idle' });
  await stack.peers.join(101, 1, 5);
  await eventually(async () =>
    expect((await getJson(`${first.url}/guilds/1/states?userIds=101`)).body.channelStates).toEqual({ 5: ['101'] }),
  );

  const client = await open(`${first.url}/events?userIds=101,102&guildIds=1`);
  await eventually(() => expect(client.data('snapshot')).toHaveLength(1));
  expect(client.data('snapshot')[0]).toEqual({ connectionStates: { 101: 'idle', 102: 'offline' }, channelStates: { 1: { 5: ['101'] } } });

  await stack.peers.connect('s2', 102);
  await stack.peers.join(102, 1, 6);
  await stack.peers.connect('s9', 999); // not named: not sent
  await stack.peers.join(999, 2, 7);
  await eventually(() => {
    expect(client.data('presence')).toEqual([
      expect.objectContaining({ userId: '102', state: 'online', previous: 'offline', cause: 'connect' }),
    ]);
    expect(client.data('voice')).toEqual([expect.objectContaining({ guildId: '1', channelId: '6', userId: '102', change: 'JOIN' })]);
  }, 20_000);
  expect(client.events.every((e) => e.event === 'snapshot' || e.id)).toBe(true);
  expectVersionsGrow(client);
});

it('resumes by Last-Event-ID on the other instance with exactly what was missed; an unusable id gets a fresh snapshot', async () => {
  const away = await open(`${first.url}/events?userIds=201,202`);
  await eventually(() => expect(away.data('snapshot')).toHaveLength(1));
  await stack.peers.connect('a', 201);
  await eventually(() => expect(away.data('presence')).toHaveLength(1), 20_000);
  const lastId = away.lastId!;
  away.close();

  // Missed while away: 201 goes invisible (reads as a disconnect), 202 comes online.
  await stack.peers.connect('a', 201, { state: 'invisible' });
  await stack.peers.connect('b', 202);
  const resumed = await open(`${second.url}/events?userIds=201,202`, { lastEventId: lastId });
  await eventually(() => expect(resumed.data('presence')).toHaveLength(2), 20_000);
  expect(resumed.data('snapshot')).toEqual([]);
  expect(
    resumed
      .data('presence')
      .map((r: { userId: string; state: string; cause: string }) => [r.userId, r.state, r.cause])
      .sort(),
  ).toEqual([
    ['201', 'offline', 'disconnect'],
    ['202', 'online', 'connect'],
  ]);
  expect(JSON.stringify(resumed.events)).not.toContain('invisible');

  const fresh = await open(`${second.url}/events?userIds=201,202`, { lastEventId: 'not-an-id' });
  await eventually(() => expect(fresh.data('snapshot')).toHaveLength(1));
  expect(fresh.data('snapshot')[0]).toEqual({ connectionStates: { 201: 'offline', 202: 'online' }, channelStates: {}, reset: true });
});

it('POST /events takes the ids in a body; a client that does not read is dropped with a reason', async () => {
  // 100,000 named users: a snapshot of megabytes that a client which never reads cannot take.
  const userIds = Array.from({ length: 100_000 }, (_, i) => String(1_000_000_000_000_000_000n + BigInt(i)));
  const url = new URL(`${second.url}/events`);
  await new Promise<void>((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: '/events', method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        expect(res.statusCode).toBe(200);
        res.pause(); // never reads
        resolve();
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ userIds }));
  });
  await eventually(
    async () => expect(await readMetric(second.url, 'state_server_event_stream_dropped_total', { reason: 'slow_client' })).toBe(1),
    20_000,
  );
});

it('with ?coalesceMs sends only the latest record per key within the window', async () => {
  const client = await open(`${second.url}/events?userIds=301&coalesceMs=5000`);
  await eventually(() => expect(client.data('snapshot')).toHaveLength(1));
  const T = Date.now();
  // One produce request: the three changes reach the window well within its 5 s.
  await stack.peers.sendMany(
    stack.topics.sessionEvents,
    ['online', 'idle', 'dnd'].map((state, i) => ({
      key: '301',
      value: JSON.stringify({ type: 'CONNECT', userId: 301, sessionId: 'c', state, timestamp: T + i }),
    })),
  );
  await eventually(() => expect(client.data('presence')).toHaveLength(1), 20_000);
  expect(client.data('presence')[0]).toMatchObject({ userId: '301', state: 'dnd' });
});

it('answers 400 naming the field for a bad id', async () => {
  const { status, body } = await getJson(`${first.url}/events?userIds=1,x`);
  expect(status).toBe(400);
  expect(body).toMatchObject({ field: 'userIds', message: expect.stringContaining('userIds[1]') });
});

it('answers 404 with a JSON error when the change topic is off', async () => {
  const off = await startTestApp({ ...stack.serviceEnv, CHANGE_TOPIC: '', KAFKA_GROUP_ID: `${stack.topics.groupId}-off` });
  try {
    const { status, body } = await getJson(`${off.url}/events?userIds=1`);
    expect(status).toBe(404);
    expect(body.message).toMatch(/CHANGE_TOPIC/);
  } finally {
    await off.close();
  }
});
