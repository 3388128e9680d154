import { Logger } from '@nestjs/common';
import { Kafka } from 'kafkajs';
import { eventually } from '../../testkit/eventually';
import { createTopics, kafkaEnv, startTestKafka, TestKafka, uniqueTopics } from '../../testkit/kafka';
import { ChatServer, SignalingServer } from '../../testkit/platform-peers';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';
import { ServiceProcess } from '../../testkit/service-process';
import { readMetric } from '../../testkit/metrics';

/**
 * Redis restarts empty (no persistence) under two running instances: both notice, both switch to
 * the rebuild's consumer group `<group>.<epoch>`, and the state converges to what every record
 * produced before, during and after the outage says - HTTP DISCONNECTs included - with no operator
 * step, and no query answering 503 once Redis is back. Then the same with an instance SIGKILLed in
 * the middle of the rebuild and a third joining during it.
 */

let kafka: TestKafka;
let redis: TestRedis;
let topics: ReturnType<typeof uniqueTopics>;
let serviceEnv: Record<string, string>;
let chat: ChatServer;
let signaling: SignalingServer;
const services: ServiceProcess[] = [];

beforeAll(async () => {
  Logger.overrideLogger(['error']);
  [kafka, redis] = await Promise.all([startTestKafka(), startTestRedis({ killable: true })]);
  topics = uniqueTopics('self-healing');
  await createTopics(kafka.kafka, [topics.sessionEvents, topics.channelEvents], 4);
  serviceEnv = {
    ...kafkaEnv(kafka.brokers, topics),
    REDIS_URL: redis.url,
  };
  services.push(await ServiceProcess.start(serviceEnv, 'a'), await ServiceProcess.start(serviceEnv, 'b'));
  chat = await ChatServer.start(kafka.kafka, topics.sessionEvents, services[0].url);
  signaling = await SignalingServer.start(kafka.kafka, topics.channelEvents);
}, 60000);
afterAll(async () => {
  await chat?.stop().catch(() => undefined);
  await signaling?.stop().catch(() => undefined);
  await Promise.all(services.map((s) => s.stop()));
  await redis?.stop();
  await kafka?.stop();
});

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** What a query of `service` answers for these users of guild 1: states and voice. */
async function answer(service: ServiceProcess, userIds: number[]) {
  const res = await fetch(`${service.url}/api/state/community/user/info`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ guildId: 1, userIds }),
  });
  return {
    status: res.status,
    rebuilding: res.headers.get('x-state-rebuilding'),
    body: (await res.json()) as { connectionStates: Record<string, string>; channelStates: Record<string, string[]> },
  };
}

/** How many of these users `service` answers online (every asked id gets a state, "offline" when never seen). */
async function onlineCount(service: ServiceProcess, userIds: number[]): Promise<number> {
  return Object.values((await answer(service, userIds)).body.connectionStates).filter((s) => s === 'online').length;
}

const metric = (service: ServiceProcess, name: string) => readMetric(service.url, name);

/** Polls one query on every instance, collecting the X-State-Rebuilding values answered, until stopped. */
function watchRebuildingHeaders() {
  const seen = new Set<string | null>();
  let watching = true;
  const polling = (async () => {
    while (watching) {
      for (const service of services)
        seen.add(
          await answer(service, [1]).then(
            (a) => a.rebuilding,
            () => 'no answer',
          ),
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    seen,
    stop: async () => {
      watching = false;
      await polling;
    },
  };
}

async function groupsOf(k: Kafka): Promise<string[]> {
  const admin = k.admin();
  await admin.connect();
  try {
    return (await admin.listGroups()).groups.map((g) => g.groupId);
  } finally {
    await admin.disconnect();
  }
}

it('rebuilds a Redis that came back empty, by itself, while answering queries', async () => {
  // Before: 1..50 online, 1..10 ended over HTTP, 11..20 in voice channel 7.
  for (const id of range(1, 50)) await chat.connect(`s${id}`, id);
  for (const id of range(11, 20)) await signaling.join(id, 1, 7);
  await eventually(async () => expect(await onlineCount(services[0], range(1, 50))).toBe(50), 20000);
  for (const id of range(1, 10)) expect((await chat.disconnect(`s${id}`)).body.result).toBe(String(id));

  await redis.kill();
  // During the outage: 51..60 connect; 21..25 end over HTTP (appended to Kafka, applied later).
  for (const id of range(51, 60)) await chat.connect(`s${id}`, id);
  for (const id of range(21, 25)) {
    const res = await chat.disconnect(`s${id}`);
    expect(res.body).toMatchObject({ code: 200, isSuccess: true, result: null });
  }
  await redis.restart(); // empty
  // The X-State-Rebuilding header of both instances' answers meanwhile (each rebuild lasts at
  // least until the next once-a-second check after it caught up: many polls).
  const headers = watchRebuildingHeaders();
  try {
    // Once Redis answers again, queries never get 503.
    // (Each instance's Redis client reconnects on its own back-off: wait for every one.)
    for (const service of services) await eventually(async () => expect((await answer(service, [1])).status).toBe(200), 15000, 100);
    const statuses = new Set<number>();
    const expected = {
      connectionStates: Object.fromEntries(
        [...range(1, 10), ...range(21, 25)]
          .map((id) => [String(id), 'offline'])
          .concat([...range(11, 20), ...range(26, 60)].map((id) => [String(id), 'online'])),
      ),
      channelStates: { '7': range(11, 20).map(String) },
    };
    await eventually(
      async () => {
        for (const service of services) {
          const { status, body } = await answer(service, range(1, 60));
          statuses.add(status);
          expect(body.connectionStates).toEqual(expected.connectionStates);
          expect(
            Object.fromEntries(Object.entries(body.channelStates).map(([c, m]) => [c, [...m].sort((x, y) => Number(x) - Number(y))])),
          ).toEqual(expected.channelStates);
        }
      },
      40000,
      200,
    );
    expect([...statuses]).toEqual([200]);

    // Both instances took part, through the epoch's group; the rebuild finished. (The state can be
    // right before an instance has switched: the failover rewind replays the last seconds on its own,
    // and each instance checks the marker once a second; so wait for the switch rather than race it.)
    for (const service of services) {
      await eventually(async () => expect(await metric(service, 'state_server_rebuilds_total')).toBe(1), 20000);
      await eventually(async () => expect(await metric(service, 'state_server_rebuild_progress_ratio')).toBe(1), 20000);
      expect((await answer(service, [1])).rebuilding).toBeNull();
      expect(await service.status('/health/ready')).toBe(200);
    }
    expect((await groupsOf(kafka.kafka)).some((g) => g.startsWith(`${topics.groupId}.`))).toBe(true);
  } finally {
    await headers.stop();
  }
  // Queries said they were answered from a state being rebuilt, then stopped saying so (above).
  expect(headers.seen).toContain('true');

  // And it keeps going.
  for (const id of range(61, 65)) await chat.connect(`s${id}`, id);
  await eventually(async () => expect(await onlineCount(services[0], range(61, 65))).toBe(5), 20000);
}, 120000);

it('converges when an instance is SIGKILLed in the middle of a rebuild and a third joins during it', async () => {
  // A longer history, so that the rebuild takes a while: 2,000 more sessions, half ended over HTTP.
  const many = range(1000, 2999);
  for (let i = 0; i < many.length; i += 200) await Promise.all(many.slice(i, i + 200).map((id) => chat.connect(`m${id}`, id)));
  await eventually(async () => expect(await onlineCount(services[0], many)).toBe(many.length), 60000, 500);
  for (let i = 0; i < many.length; i += 2) await chat.disconnect(`m${many[i]}`);

  await redis.kill();
  await redis.restart(); // empty again: a second rebuild, a new epoch
  await eventually(async () => expect(await metric(services[0], 'state_server_rebuilds_total')).toBe(2), 20000, 100);
  await services[0].kill('SIGKILL');
  const third = await ServiceProcess.start(serviceEnv, 'c');
  services.push(third);

  await eventually(
    async () => {
      const { body } = await answer(third, many);
      const online = Object.entries(body.connectionStates)
        .filter(([, s]) => s === 'online')
        .map(([id]) => Number(id));
      expect(online).toHaveLength(many.length / 2);
      expect(online.every((id) => (id - 1000) % 2 === 1)).toBe(true);
      expect((await answer(services[1], many)).body).toEqual(body);
    },
    60000,
    500,
  );
  await eventually(async () => expect(await metric(third, 'state_server_rebuild_progress_ratio')).toBe(1), 30000);
}, 180000);
