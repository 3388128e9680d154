import { Kafka, logLevel } from 'kafkajs';
import { startEmbeddedKafka } from '@state-server/embedded-kafka';
import { EventStreamClient } from '../../testkit/event-stream-client';
import { eventually } from '../../testkit/eventually';
import { givenKafkaBrokers } from '../../testkit/backends';
import { startTestKafka, TestKafka } from '../../testkit/kafka';
import { startStack, TestStack } from '../../testkit/stack';

/**
 * CHANGE_TOPIC missing on a broker that does not create topics by itself: the service creates it
 * (as many partitions as the session topic), /events answers 200 once it is read, and the relay
 * publishes to it. On the embedded broker with auto-creation off; with KAFKA_BROKERS (kbroker,
 * a real Kafka), the service's clients never ask the broker to auto-create, so the same holds.
 */

const CHANGE_TOPIC = `stateChanged-${Math.random().toString(36).slice(2, 8)}`;
let kafka: TestKafka;
let stack: TestStack;
const clients: EventStreamClient[] = [];

async function brokerWithoutAutoCreation(): Promise<TestKafka> {
  if (givenKafkaBrokers()) return startTestKafka();
  const embedded = await startEmbeddedKafka({ port: 0, autoCreateTopics: false, logger: { warn: () => undefined } });
  const client = new Kafka({ clientId: 'test', brokers: embedded.brokers, logLevel: logLevel.NOTHING });
  return { brokers: embedded.brokers, kafka: client, stop: () => embedded.stop() };
}

beforeAll(async () => {
  kafka = await brokerWithoutAutoCreation();
  stack = await startStack('change-topic', { kafka, partitions: 4, env: { CHANGE_TOPIC } });
}, 60_000);
afterAll(async () => {
  for (const c of clients) c.close();
  await stack?.stop();
  await kafka?.stop();
});

it('creates the missing change topic with the session topic’s partitions, then serves and relays through it', async () => {
  let client: EventStreamClient | undefined;
  await eventually(async () => {
    const probe = await EventStreamClient.open(`${stack.app.url}/events?userIds=4242`);
    clients.push(probe);
    expect(probe.status).toBe(200);
    client = probe;
  }, 20_000);
  const admin = kafka.kafka.admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [CHANGE_TOPIC] });
    expect(topics[0].partitions).toHaveLength(4);
  } finally {
    await admin.disconnect();
  }
  await eventually(() => expect(client!.data('snapshot')).toEqual([{ connectionStates: { 4242: 'offline' }, channelStates: {} }]));
  await stack.peers.connect('s1', 4242);
  await eventually(
    () => expect(client!.data('presence')).toEqual([expect.objectContaining({ userId: '4242', state: 'online', cause: 'connect' })]),
    20_000,
  );
}, 60_000);
