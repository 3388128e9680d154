import { Admin } from 'kafkajs';
import { loadConfig } from '../../src/config/app-config';
import { LoggedSessionEvent, SessionEventLog } from '../../src/sessions/session-event-log';
import { createTopics, kafkaEnv, startTestKafka, TestKafka, uniqueTopics } from '../../testkit/kafka';

/**
 * The session route's appends say which offsets they took: the wait takes those records as applied
 * (the route applied them before appending), so the counts must be exactly Kafka's.
 */
const PARTITIONS = 4;
const topics = uniqueTopics('event-log');
let kafka: TestKafka;
let admin: Admin;
let log: SessionEventLog;

beforeAll(async () => {
  kafka = await startTestKafka();
  await createTopics(kafka.kafka, [topics.sessionEvents], PARTITIONS);
  admin = kafka.kafka.admin();
  await admin.connect();
  log = new SessionEventLog(loadConfig(kafkaEnv(kafka.brokers, topics)));
}, 30000);
afterAll(async () => {
  await log?.onApplicationShutdown();
  await admin?.disconnect();
  await kafka?.stop();
});

const disconnects = (from: number, count: number): LoggedSessionEvent[] =>
  Array.from({ length: count }, (_, i) => ({
    type: 'DISCONNECT',
    sessionId: `s-${from + i}`,
    userId: String(9000 + from + i),
    origin: 'http',
  }));

async function endOffsets(): Promise<Map<number, number>> {
  const offsets = await admin.fetchTopicOffsets(topics.sessionEvents);
  return new Map(offsets.map(({ partition, high }) => [partition, Number(high)]));
}

it('returns the offsets each append took in every partition it went to, from its first offset there', async () => {
  let before = await endOffsets();
  for (const [from, count] of [
    [0, 40],
    [40, 1],
    [41, 25],
  ]) {
    const { firstOffsets, ranges } = await log.appendAll(disconnects(from, count));
    const after = await endOffsets();
    expect(ranges).toBeDefined();
    let total = 0;
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const range = ranges!.get(partition);
      const took = after.get(partition)! - before.get(partition)!;
      if (took === 0) {
        expect(range).toBeUndefined();
        continue;
      }
      expect(range).toEqual({ first: before.get(partition), next: after.get(partition) });
      expect(firstOffsets.get(partition)).toBe(range!.first);
      total += range!.next - range!.first;
    }
    expect(total).toBe(count);
    before = after;
  }
}, 30000);
