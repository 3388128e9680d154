import { Kafka, logLevel } from 'kafkajs';
import { startEmbeddedKafka } from '@state-server/embedded-kafka';
import { eventually, getJson, RunningApp, startTestApp, waitUntilReady } from '../../testkit/app';
import { givenKafkaBrokers } from '../../testkit/backends';
import { startTestKafka, TestKafka } from '../../testkit/kafka';
import { startStack, TestStack, waitUntilConsumed } from '../../testkit/stack';

/**
 * Apache Kafka answers OffsetFetch of a group that never committed with offsets of -1; franz-go's
 * kfake and some Kafka-compatible brokers answer GROUP_ID_NOT_FOUND. Both mean "no committed
 * offsets": the service starts on such a broker (it retried start-up forever, taking the error for
 * an unreachable Kafka), and still tells a first start from a restart whose Redis was lost meanwhile.
 * Here on the embedded broker set to answer like them, or on KAFKA_BROKERS as it is (the kbroker pass).
 */
let kafka: TestKafka;
let stack: TestStack;
const apps: RunningApp[] = [];

beforeAll(async () => {
  if (givenKafkaBrokers()) {
    kafka = await startTestKafka();
  } else {
    const broker = await startEmbeddedKafka({ unknownGroupOffsetFetch: 'GROUP_ID_NOT_FOUND', logger: { warn: () => undefined } });
    kafka = {
      brokers: broker.brokers,
      kafka: new Kafka({ clientId: 'test', brokers: broker.brokers, logLevel: logLevel.NOTHING }),
      stop: () => broker.stop(),
    };
  }
  stack = await startStack('uncommitted', { kafka }); // resolves once the service is ready
}, 60000);

afterAll(async () => {
  for (const app of apps) await app.close().catch(() => undefined);
  await stack?.stop();
  await kafka?.stop();
});

const connectionState = async (url: string, userId: number) =>
  (await getJson(`${url}/guilds/1/states?userIds=${userId}`)).body.connectionStates?.[String(userId)];

it('starts with a consumer group that never committed, and applies events', async () => {
  await stack.peers.connect('s1', 101, { guildIds: [1] });
  await waitUntilConsumed(stack);
  expect(await connectionState(stack.app.url, 101)).toBe('online');
});

it('sees its committed offsets after a restart and rebuilds the state Redis lost while it was down', async () => {
  await stack.app.close();
  await stack.redis.flush();
  const restarted = await startTestApp(stack.serviceEnv);
  apps.push(restarted);
  await waitUntilReady(restarted.url);
  // The rebuild replays through a fresh group (which never committed either) and brings the session back.
  await eventually(async () => expect(await connectionState(restarted.url, 101)).toBe('online'), 30000, 200);
});
