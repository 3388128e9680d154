import { Kafka, logLevel } from 'kafkajs';
import { startEmbeddedKafka } from '@state-server/embedded-kafka';
import { freePort, startTestRedis, TestRedis } from '../../testkit/redis-server';
import { BenchEvent, Workload } from '../../testkit/mixed-workload';

/** What every scenario gets from run.ts. */
export interface BenchContext {
  quick: boolean;
  events: number;
  workload: Workload;
  /** Seconds per autocannon run. */
  queryDurationSeconds: number;
  freshnessSeconds: number;
  freshnessRate: number;
  memoryUsers: number;
  originalEvents: number;
  queryUserCounts: number[];
  /** Directory for CPU profiles of the children, when --profile is given. */
  profileDir?: string;
  /** Figures one scenario measured that another quotes (e.g. ours apply for the original's ratio). */
  shared: Record<string, number>;
}

export interface BenchKafka {
  brokers: string[];
  kafka: Kafka;
  stop(): Promise<void>;
}

/** The embedded broker, in this process (the consumer under test runs in a child process). */
export async function startBenchKafka(): Promise<BenchKafka> {
  const embedded = await startEmbeddedKafka({ port: 0, logger: { warn: () => undefined } });
  const kafka = new Kafka({ clientId: 'bench', brokers: embedded.brokers, logLevel: logLevel.NOTHING });
  return { brokers: embedded.brokers, kafka, stop: () => embedded.stop() };
}

/** A redis-server of the scenario's own, on a free port. */
export async function startBenchRedis(): Promise<TestRedis> {
  if (process.env.REDIS_URL) throw new Error('the bench starts its own redis-server: unset REDIS_URL');
  return startTestRedis();
}

export async function createBenchTopics(kafka: Kafka, prefix: string, partitions = 3) {
  const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const topics = { sessionEvents: `${prefix}-sessionEvent-${suffix}`, channelEvents: `${prefix}-channelEvent-${suffix}` };
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: Object.values(topics).map((topic) => ({ topic, numPartitions: partitions })), waitForLeaders: true });
  await admin.disconnect();
  return topics;
}

export const topicOf = (topics: { sessionEvents: string; channelEvents: string }, e: BenchEvent) =>
  e.topic === 'session' ? topics.sessionEvents : topics.channelEvents;

/** The service's environment for a bench run: production defaults, but no rate limit and quiet logs. */
export async function serviceEnv(kafka: BenchKafka, redisUrl: string, topics: { sessionEvents: string; channelEvents: string }, groupId: string) {
  return {
    PORT: String(await freePort()),
    KAFKA_BROKERS: kafka.brokers.join(','),
    REDIS_URL: redisUrl,
    KAFKA_GROUP_ID: groupId,
    KAFKA_CLIENT_ID: groupId,
    SESSION_EVENTS_TOPIC: topics.sessionEvents,
    CHANNEL_EVENTS_TOPIC: topics.channelEvents,
    RATE_LIMIT_PER_MINUTE: String(1_000_000_000),
    LOG_LEVEL: 'warn',
  };
}
