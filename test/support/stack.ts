import { createTopics, startTestKafka, TestKafka, uniqueTopics } from './kafka';
import { Peers } from './peers';
import { startTestRedis, TestRedis } from './redis-server';
import { eventually, RunningApp, startTestApp, waitUntilReady } from './app';

/** Everything an end-to-end test needs: Kafka, Redis, the service (in-process) and the peers' producer. */
export interface TestStack {
  kafka: TestKafka;
  redis: TestRedis;
  app: RunningApp;
  peers: Peers;
  topics: ReturnType<typeof uniqueTopics>;
  /** The environment the service was started with (to start a second instance in the same group). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startStack(
  name: string,
  options: { env?: Record<string, string>; redis?: { persistent?: boolean; killable?: boolean }; partitions?: number } = {},
): Promise<TestStack> {
  const topics = uniqueTopics(name);
  const [kafka, redis] = await Promise.all([startTestKafka(), startTestRedis(options.redis)]);
  await redis.flush();
  await createTopics(kafka.kafka, [topics.sessionEvents, topics.channelEvents], options.partitions ?? 3);
  const env = {
    KAFKA_BROKERS: kafka.brokers.join(','),
    ...redis.env,
    KAFKA_GROUP_ID: topics.groupId,
    SESSION_EVENTS_TOPIC: topics.sessionEvents,
    CHANNEL_EVENTS_TOPIC: topics.channelEvents,
    ...options.env,
  };
  const app = await startTestApp(env);
  await waitUntilReady(app.url);
  const peers = await Peers.connect(kafka.kafka, topics);
  return {
    kafka, redis, app, peers, topics, env,
    stop: async () => {
      await peers.close().catch(() => undefined);
      await app.close().catch(() => undefined);
      await redis.stop();
      await kafka.stop();
    },
  };
}

/**
 * Waits until the service has committed offsets up to the end of both topics, i.e. applied every
 * event produced so far (offsets are committed only after Redis has the write).
 */
export async function waitUntilConsumed(stack: Pick<TestStack, 'kafka' | 'topics'>, timeoutMs = 20000): Promise<void> {
  const admin = stack.kafka.kafka.admin();
  await admin.connect();
  try {
    await eventually(async () => {
      for (const topic of [stack.topics.sessionEvents, stack.topics.channelEvents]) {
        const [ends, [committed]] = await Promise.all([
          admin.fetchTopicOffsets(topic),
          admin.fetchOffsets({ groupId: stack.topics.groupId, topics: [topic] }),
        ]);
        for (const { partition, high } of ends) {
          const done = committed.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
          const target = Number(high);
          if (target > 0 && Number(done) < target) throw new Error(`${topic}[${partition}] committed ${done} of ${high}`);
        }
      }
    }, timeoutMs, 100);
  } finally {
    await admin.disconnect();
  }
}
