import { createTopics, kafkaEnv, startTestKafka, TestKafka, uniqueTopics } from './kafka';
import { Peers } from './peers';
import { startTestRedis, TestRedis, TestRedisOptions } from './redis-server';
import { eventually, RunningApp, startTestApp, waitUntilReady } from './app';
import { ServiceProcess } from './service-process';

/**
 * Where the stack's service runs: in this process (startTestApp: the e2e tests), the built
 * dist/main.js as a child process (ServiceProcess: what kills and restarts it, the soak), or none
 * (the caller starts its own: several instances, other settings, the bench's profiled child).
 */
export type ServiceMode = 'in-process' | 'process' | 'none';

export interface StackOptions<S extends ServiceMode> {
  /** Default in-process. */
  service?: S;
  /** More of the service's environment, over the stack's Kafka, Redis, topics and consumer group. */
  env?: Record<string, string>;
  /** The stack's Redis (startTestRedis): persistent, killable (a server of its own even when REDIS_URL is set), own (never REDIS_URL). */
  redis?: TestRedisOptions;
  /** A broker already running, shared by several stacks (the bench's one broker): stop() leaves it running. Default: startTestKafka(). */
  kafka?: TestKafka;
  /** Partitions of each topic (default 3). */
  partitions?: number;
}

interface StackParts {
  kafka: TestKafka;
  redis: TestRedis;
  /** Producers that send as the peers do, on the stack's topics. */
  peers: Peers;
  topics: ReturnType<typeof uniqueTopics>;
  /** The environment the service was started with (to start another instance in the same group, or with other settings). */
  serviceEnv: Record<string, string>;
  /** Stops the service, Redis and Kafka (unless given), in that order. */
  stop(): Promise<void>;
}

/** Kafka, Redis (flushed), topics of its own, the peers' producer and the service, as `service` says. */
export type TestStack<S extends ServiceMode = 'in-process'> = StackParts &
  (S extends 'in-process' ? { app: RunningApp } : S extends 'process' ? { service: ServiceProcess } : unknown);

/**
 * The one environment builder of the tests, the bench and the soak. `name` prefixes the topics
 * and the consumer group (unique per call, so stacks sharing a broker never see each other's events).
 */
export async function startStack<S extends ServiceMode = 'in-process'>(name: string, options: StackOptions<S> = {}): Promise<TestStack<S>> {
  const topics = uniqueTopics(name);
  const [kafka, redis] = await Promise.all([options.kafka ?? startTestKafka(), startTestRedis(options.redis)]);
  await redis.flush();
  await createTopics(kafka.kafka, [topics.sessionEvents, topics.channelEvents], options.partitions ?? 3);
  const serviceEnv = {
    ...kafkaEnv(kafka.brokers, topics),
    ...redis.env,
    ...options.env,
  };
  const mode: ServiceMode = options.service ?? 'in-process';
  let app: RunningApp | undefined;
  let service: ServiceProcess | undefined;
  if (mode === 'in-process') {
    app = await startTestApp(serviceEnv);
    await waitUntilReady(app.url);
  } else if (mode === 'process') {
    service = await ServiceProcess.start(serviceEnv);
  }
  const peers = await Peers.connect(kafka.kafka, topics);
  const stack: StackParts & { app?: RunningApp; service?: ServiceProcess } = {
    kafka,
    redis,
    peers,
    topics,
    serviceEnv,
    ...(app ? { app } : {}),
    ...(service ? { service } : {}),
    stop: async () => {
      await peers.close().catch(() => undefined);
      await app?.close().catch(() => undefined);
      await service?.stop();
      await redis.stop();
      if (!options.kafka) await kafka.stop();
    },
  };
  return stack as TestStack<S>;
}

/**
 * Waits until the service has committed offsets up to the end of both topics, i.e. applied every
 * event produced so far (offsets are committed only after Redis has the write).
 */
export async function waitUntilConsumed(stack: Pick<TestStack, 'kafka' | 'topics'>, timeoutMs = 20000): Promise<void> {
  const admin = stack.kafka.kafka.admin();
  await admin.connect();
  try {
    await eventually(
      async () => {
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
      },
      timeoutMs,
      100,
    );
  } finally {
    await admin.disconnect();
  }
}
