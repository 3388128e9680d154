import { Admin } from 'kafkajs';
import { createTopics, kafkaEnv, startTestKafka, TestKafka, uniqueTopics } from '../../testkit/kafka';
import { Peers, toJson } from '../../testkit/peers';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';
import { ServiceProcess } from '../../testkit/service-process';
import { waitUntilConsumed } from '../../testkit/stack';
import { eventually, postJson } from '../../testkit/app';
import { readMetric } from '../../testkit/metrics';

/**
 * SIGTERM in the middle of a stream of events: the built service (`node dist/main.js`, as in
 * production) stops fetching, finishes and commits what it applied, closes Kafka and Redis and
 * exits 0; started again, it carries on from its commits. Across the two runs every event is
 * applied exactly once: none lost, none redelivered.
 */
const GUILD = 900;
const USERS = 600;
const CHANNELS = 5;
const firstUser = 5001;
const topics = uniqueTopics('graceful');

let kafka: TestKafka;
let redis: TestRedis;
let peers: Peers;
let service: ServiceProcess | undefined;
let admin: Admin;

beforeAll(async () => {
  [kafka, redis] = await Promise.all([startTestKafka(), startTestRedis()]);
  await createTopics(kafka.kafka, [topics.sessionEvents, topics.channelEvents], 3);
  peers = await Peers.connect(kafka.kafka, topics);
  admin = kafka.kafka.admin();
  await admin.connect();
}, 180000);
afterAll(async () => {
  await service?.stop();
  await admin?.disconnect();
  await peers?.close();
  await redis?.stop();
  await kafka?.stop();
});

/**
 * Every event changes the state exactly once (so a redelivery shows as a duplicate): each user
 * connects; every third one then disconnects; the others join a voice channel of the guild.
 */
function events() {
  const sessions: { key: string; value: string }[] = [];
  const channels: { key: string; value: string }[] = [];
  for (let i = 0; i < USERS; i++) {
    const userId = firstUser + i;
    sessions.push({
      key: String(userId),
      value: toJson({ type: 'CONNECT', sessionId: `g-${userId}`, userId, state: 'online', guildIds: [GUILD] }),
    });
    if (i % 3 === 0) {
      sessions.push({ key: String(userId), value: toJson({ type: 'DISCONNECT', sessionId: `g-${userId}`, userId, state: 'offline' }) });
    } else {
      channels.push({ key: String(userId), value: toJson({ type: 'JOIN', userId, guildId: GUILD, channelId: 1 + (i % CHANNELS) }) });
    }
  }
  return { sessions, channels };
}

/** Publishes both streams ten records at a time, a few milliseconds apart, like live traffic. */
async function produce(stream: ReturnType<typeof events>): Promise<void> {
  for (let start = 0; start < Math.max(stream.sessions.length, stream.channels.length); start += 10) {
    const sessions = stream.sessions.slice(start, start + 10);
    const channels = stream.channels.slice(start, start + 10);
    if (sessions.length > 0) await peers.sendMany(topics.sessionEvents, sessions);
    if (channels.length > 0) await peers.sendMany(topics.channelEvents, channels);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sum of one counter's samples in the service's /metrics, over the given label values. */
const counted = (svc: ServiceProcess, outcome: string) => readMetric(svc.url, 'state_server_events_total', { outcome });

async function committedOffsets(): Promise<number> {
  let total = 0;
  for (const topic of [topics.sessionEvents, topics.channelEvents]) {
    const [{ partitions }] = await admin.fetchOffsets({ groupId: topics.groupId, topics: [topic] });
    for (const { offset } of partitions) total += Math.max(0, Number(offset));
  }
  return total;
}

it('stops on SIGTERM with exit 0 mid-stream, and loses or repeats no event across the restart', async () => {
  service = await ServiceProcess.start(
    {
      ...kafkaEnv(kafka.brokers, topics),
      REDIS_URL: redis.url,
      SHUTDOWN_TIMEOUT_MS: '15000',
    },
    'state server',
  );
  const stream = events();
  const total = stream.sessions.length + stream.channels.length;

  // Run 1: SIGTERM once it is applying, while the peers keep publishing.
  const producing = produce(stream);
  await eventually(async () => expect(await counted(service!, 'applied')).toBeGreaterThanOrEqual(200), 30000);
  const exitCode = await service.kill('SIGTERM');
  expect({ exitCode, output: exitCode === 0 ? [] : service.output }).toEqual({ exitCode: 0, output: [] });
  await producing;

  const committedByRun1 = await committedOffsets();
  expect(committedByRun1).toBeGreaterThanOrEqual(200);
  expect(committedByRun1).toBeLessThan(total);

  // Run 2: same group, same environment; it resumes from run 1's commits.
  await service.restart();
  await waitUntilConsumed({ kafka, topics }, 30000);
  // Run 1 committed everything it applied: nothing comes back as a duplicate, the rest is applied once.
  expect({
    applied: await counted(service, 'applied'),
    duplicate: await counted(service, 'duplicate'),
    deadLettered: await counted(service, 'dead_lettered'),
  }).toEqual({ applied: total - committedByRun1, duplicate: 0, deadLettered: 0 });

  // And the state is what the events say.
  const userIds = Array.from({ length: USERS }, (_, i) => String(firstUser + i));
  const expected = {
    guildId: String(GUILD),
    connectionStates: Object.fromEntries(userIds.map((id, i) => [id, i % 3 === 0 ? 'offline' : 'online'])),
    channelStates: Object.fromEntries(
      Array.from({ length: CHANNELS }, (_, c) => [String(c + 1), userIds.filter((_, i) => i % 3 !== 0 && i % CHANNELS === c)]),
    ),
  };
  const { status, body } = await postJson(`${service.url}/guilds/${GUILD}/states/query`, { userIds });
  expect(status).toBe(200);
  for (const members of Object.values(body.channelStates as Record<string, string[]>)) members.sort();
  expect(body).toEqual(expected);
}, 120000);
