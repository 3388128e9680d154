import { Logger } from '@nestjs/common';
import { createTopics, startTestKafka, TestKafka, uniqueTopics } from '../../testkit/kafka';
import { Peers } from '../../testkit/peers';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';
import { normalized, readObservableState } from '../../testkit/observed-state';
import { publish, StoryWorkload } from '../../testkit/story-workload';
import { eventually } from '../../testkit/eventually';

/** What every fault test needs: the embedded broker, its own redis-server, topics, a producer, and the service's environment. */
export interface FaultEnv {
  kafka: TestKafka;
  redis: TestRedis;
  topics: ReturnType<typeof uniqueTopics>;
  peers: Peers;
  /** Environment for ServiceProcess.start (KAFKA_GROUP_ID can be overridden). */
  serviceEnv: Record<string, string>;
  close(): Promise<void>;
}

export async function startFaultEnv(prefix: string, partitions = 4): Promise<FaultEnv> {
  Logger.overrideLogger(['error']);
  const [kafka, redis] = await Promise.all([startTestKafka(), startTestRedis()]);
  const topics = uniqueTopics(prefix);
  await createTopics(kafka.kafka, [topics.sessionEvents, topics.channelEvents], partitions);
  const peers = await Peers.connect(kafka.kafka, topics);
  const serviceEnv = {
    KAFKA_BROKERS: kafka.brokers.join(','),
    REDIS_URL: redis.url,
    KAFKA_GROUP_ID: topics.groupId,
    SESSION_EVENTS_TOPIC: topics.sessionEvents,
    CHANNEL_EVENTS_TOPIC: topics.channelEvents,
  };
  return {
    kafka,
    redis,
    topics,
    peers,
    serviceEnv,
    close: async () => {
      await peers.close().catch(() => undefined);
      await redis.stop();
      await kafka.stop();
    },
  };
}

export { eventually };

/** Publishes a round of the workload. */
export function produce(env: FaultEnv, events: Parameters<typeof publish>[2]): Promise<void> {
  return publish(env.peers, env.topics, events);
}

/** Waits until Redis holds the model's state for everything produced. */
export async function converged(env: FaultEnv, workload: StoryWorkload, timeoutMs = 40000): Promise<void> {
  await eventually(async () => expect(normalized(await readObservableState(env.redis.client))).toEqual(workload.expected()), timeoutMs, 200);
}

/** Events this instance counted with that outcome, from its /metrics. */
export async function eventsSeen(service: { url: string }, outcome: 'applied' | 'duplicate' | 'stale' | 'ignored'): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('state_server_events_total{') && line.includes(`outcome="${outcome}"`))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}
