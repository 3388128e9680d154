import { Peers } from '../support/peers';
import { startTestKafka, TestKafka, uniqueTopics, createTopics } from '../support/kafka';
import { startTestRedis, TestRedis } from '../support/redis-server';
import { eventually, getJson, RunningApp, startTestApp, waitUntilReady } from '../support/app';

let kafka: TestKafka;
let redis: TestRedis;
let app: RunningApp;
let peers: Peers;
const topics = uniqueTopics('smoke');

beforeAll(async () => {
  [kafka, redis] = await Promise.all([startTestKafka(), startTestRedis()]);
  await createTopics(kafka.kafka, [topics.sessionEvents, topics.channelEvents]);
  app = await startTestApp({
    KAFKA_BROKERS: kafka.brokers.join(','),
    REDIS_URL: redis.url,
    KAFKA_GROUP_ID: topics.groupId,
    SESSION_EVENTS_TOPIC: topics.sessionEvents,
    CHANNEL_EVENTS_TOPIC: topics.channelEvents,
  });
  await waitUntilReady(app.url);
  peers = await Peers.connect(kafka.kafka, topics);
});
afterAll(async () => {
  await peers?.close();
  await app?.close();
  await redis?.stop();
  await kafka?.stop();
});

it('shows a connected user in voice', async () => {
  await peers.connect('s1', 1, { guildIds: [100] });
  await peers.join(1, 100, 10);
  await eventually(async () => {
    const { body } = await getJson(`${app.url}/guilds/100/states?userIds=1,2`);
    expect(body).toEqual({ guildId: '100', connectionStates: { '1': 'online', '2': 'offline' }, channelStates: { '10': ['1'] } });
  });
});
