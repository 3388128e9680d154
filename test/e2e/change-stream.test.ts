import { ChangeTopicReader } from '../../testkit/change-topic';
import { eventually } from '../../testkit/eventually';
import { createTopics } from '../../testkit/kafka';
import { readMetric } from '../../testkit/metrics';
import { ServiceProcess } from '../../testkit/service-process';
import { startStack, TestStack, waitUntilConsumed } from '../../testkit/stack';
import { readStoredState } from '../../testkit/stored-state';

/**
 * The change stream through Kafka with two instances (built service, child processes): every
 * change reaches CHANGE_TOPIC, keyed by user (presence) or guild (voice), and a consumer folding
 * the records by version ends with exactly what Redis holds, also when the instance that applied
 * the changes is SIGKILLed between the Redis write and the relay. A rebuild publishes only RESYNC.
 */

const CHANGE_TOPIC = `stateChanged-${Math.random().toString(36).slice(2, 8)}`;
let stack: TestStack<'none'>;
let first: ServiceProcess;
let second: ServiceProcess;
let reader: ChangeTopicReader;

beforeAll(async () => {
  stack = await startStack('change-stream', {
    service: 'none',
    partitions: 4,
    env: { CHANGE_TOPIC, VOICE_GRACE_SECONDS: '0' },
    redis: { killable: true },
  });
  await createTopics(stack.kafka.kafka, [CHANGE_TOPIC], 3);
  reader = await ChangeTopicReader.start(stack.kafka.kafka, CHANGE_TOPIC);
}, 60_000);
afterAll(async () => {
  await reader?.stop();
  await first?.stop();
  await second?.stop();
  await stack?.stop();
});

const USERS = Array.from({ length: 60 }, (_, i) => String(5000 + i));
const STATES = ['online', 'idle', 'dnd', 'invisible'];

/** Sessions, status changes (invisible among them), seats and moves, some users leaving again. */
async function produceTraffic(round: number): Promise<void> {
  const sessions = USERS.map((u, i) => ({
    type: 'CONNECT',
    userId: u,
    sessionId: `s${round}-${i}`,
    state: STATES[(i + round) % STATES.length],
    timestamp: Date.now(),
  }));
  await stack.peers.sendMany(
    stack.topics.sessionEvents,
    sessions.map((e) => ({ key: null, value: JSON.stringify(e) })),
  );
  const channel = USERS.flatMap((u, i) => {
    const guildId = String(1 + (i % 3));
    const events = [{ type: 'JOIN', userId: u, guildId, channelId: String(10 + ((i + round) % 4)) }];
    if (i % 5 === 0) events.push({ type: 'LEAVE', userId: u, guildId, channelId: String(10 + ((i + round) % 4)) });
    return events;
  });
  // Keyed by user so that each user's JOIN comes before their LEAVE (the record timestamps order them anyway).
  await stack.peers.sendMany(
    stack.topics.channelEvents,
    channel.map((e) => ({ key: e.userId, value: JSON.stringify(e) })),
  );
  const ends = USERS.filter((_, i) => i % 4 === round % 4).map((u, i) => ({
    type: 'DISCONNECT',
    userId: u,
    sessionId: `s${round}-${i * 4 + (round % 4)}`,
  }));
  await stack.peers.sendMany(
    stack.topics.sessionEvents,
    ends.map((e) => ({ key: null, value: JSON.stringify(e) })),
  );
}

/** What the stream says, folded by version, equals what Redis holds (users never recorded are offline). */
async function expectStreamEqualsState(): Promise<void> {
  const stored = await readStoredState(stack.redis.client);
  const shown = reader.presence();
  const expected = Object.fromEntries(Object.keys({ ...stored.userStates, ...shown }).map((u) => [u, stored.userStates[u] ?? 'offline']));
  const streamed = Object.fromEntries(Object.keys(expected).map((u) => [u, shown[u] ?? 'offline']));
  expect(streamed).toEqual(expected);
  expect(reader.seats()).toEqual(stored.guildChannels);
}

async function outboxLength(): Promise<number> {
  let total = 0;
  for (const bucket of stack.redis.keys.buckets) total += await stack.redis.client.xlen(stack.redis.keys.changeOutbox(bucket));
  return total;
}

it('the last record per key equals the state, after the instance that applied them was SIGKILLed before relaying them', async () => {
  // A third party holds every outbox's lease: the instances apply but cannot relay yet.
  const leases = stack.redis.keys.buckets.map((b) => stack.redis.keys.changeRelay(b));
  for (const key of leases) await stack.redis.client.set(key, 'someone-else', 'PX', 120_000);

  first = await ServiceProcess.start(stack.serviceEnv, 'first');
  await produceTraffic(0);
  await waitUntilConsumed(stack);
  expect(await outboxLength()).toBeGreaterThan(0);
  expect(reader.records).toEqual([]);

  // Killed with its changes in Redis only; another instance takes the outboxes over.
  expect(await first.kill('SIGKILL')).toBeNull();
  second = await ServiceProcess.start(stack.serviceEnv, 'second');
  for (const key of leases) await stack.redis.client.del(key);
  await eventually(expectStreamEqualsState, 30_000, 200);
  await eventually(async () => expect(await outboxLength()).toBe(0), 10_000, 100);
  expect(await readMetric(second.url, 'state_server_change_records_relayed_total')).toBeGreaterThan(0);

  // Live traffic through both instances: still equal.
  await first.restart();
  for (let round = 1; round <= 3; round++) await produceTraffic(round);
  await waitUntilConsumed(stack);
  await eventually(expectStreamEqualsState, 30_000, 200);
}, 120_000);

it('keys each record by its user or guild, versions growing per key, no record revealing invisibility', async () => {
  const lastVersion = new Map<string, number>();
  for (const r of reader.records) {
    if (r.type === 'RESYNC') continue;
    expect(r.key).toBe(r.type === 'PRESENCE' ? r.userId : r.guildId);
    expect(JSON.stringify(r)).not.toMatch(/invisible/);
    const key = r.type === 'PRESENCE' ? `p${r.userId}` : `v${r.guildId}|${r.channelId}|${r.userId}`;
    // A relay retry may publish a record twice (same version); never an older one after a newer.
    expect(r.version!).toBeGreaterThanOrEqual(lastVersion.get(key) ?? 0);
    lastVersion.set(key, r.version!);
  }
  expect(lastVersion.size).toBeGreaterThan(USERS.length);
});

it('a rebuild after Redis lost the state publishes only RESYNC, to every partition, with its epoch', async () => {
  const before = reader.records.length;
  await stack.redis.kill();
  await stack.redis.restart();
  // Both instances rebuild (replaying every record unrecorded), then each announces it.
  await eventually(
    async () => {
      const resyncs = reader.records.slice(before).filter((r) => r.type === 'RESYNC');
      expect(new Set(resyncs.map((r) => r.partition))).toEqual(new Set([0, 1, 2]));
    },
    60_000,
    200,
  );
  // Both done (a change applied by an instance still replaying is not recorded: its own RESYNC covers it).
  for (const service of [first, second])
    await eventually(
      async () => {
        expect(await readMetric(service.url, 'state_server_rebuilds_total')).toBe(1);
        expect(await readMetric(service.url, 'state_server_rebuild_progress_ratio')).toBe(1);
      },
      60_000,
      200,
    );
  const after = reader.records.slice(before);
  expect(after.filter((r) => r.type !== 'RESYNC')).toEqual([]);
  expect(after.every((r) => r.reason === 'rebuild' && /^\d+$/.test(r.epoch ?? ''))).toBe(true);

  // Recording again after the rebuild, with versions above any before it.
  const newest = Math.max(...reader.records.slice(0, before).map((r) => r.version ?? 0));
  await stack.peers.connect('after-rebuild', 777, { state: 'dnd' });
  await eventually(async () => {
    const record = reader.records.find((r) => r.userId === '777');
    expect(record).toMatchObject({ type: 'PRESENCE', state: 'dnd', previous: 'offline', cause: 'connect' });
    expect(record!.version!).toBeGreaterThan(newest);
  }, 30_000);
}, 120_000);
