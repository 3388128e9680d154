import { Kafka } from 'kafkajs';
import { AppConfig } from '../config/app-config';
import { createKafka } from '../kafka/kafka-client';

/** The consumed topics that do not exist while the broker does not create topics on demand. */
class MissingTopicsError extends Error {
  constructor(readonly topics: string[]) {
    super(`missing topics ${topics.join(', ')}`);
  }
}

/**
 * One attempt to reach Kafka: connects and fetches the topics' metadata as the consumer will, with
 * a client that does not retry by itself (kafkajs's own retries would take 8-15 s and log a line
 * each). Throws what failed; describeKafkaFailure says it in words.
 */
export async function probeKafka(config: AppConfig, topics: string[]): Promise<void> {
  const probe = createKafka(config, { retries: config.KAFKA_BROKERS.length - 1 });
  const consumer = probe.consumer({ groupId: config.KAFKA_GROUP_ID, allowAutoTopicCreation: true, retry: { retries: 0 } });
  try {
    await consumer.connect();
    try {
      await consumer.subscribe({ topics });
    } catch (error) {
      if ((error as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
      throw new MissingTopicsError(await missingTopics(probe, topics));
    }
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}

async function missingTopics(probe: Kafka, topics: string[]): Promise<string[]> {
  const admin = probe.admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    return topics.filter((topic) => !existing.has(topic));
  } catch {
    return topics;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * The cause of a failed attempt or a crash, in words an operator can act on, for the log and
 * /health/ready: e.g. `cannot reach 127.0.0.1:9092 (connect ECONNREFUSED 127.0.0.1:9092)`.
 */
export function describeKafkaFailure(error: unknown, brokerList: string[]): string {
  if (error instanceof MissingTopicsError) {
    const [what, verb] = error.topics.length === 1 ? ['topic', 'does'] : ['topics', 'do'];
    return `${what} ${error.topics.join(', ')} ${verb} not exist and the broker does not create topics automatically: create ${error.topics.length === 1 ? 'it' : 'them'}`;
  }
  let cause = error as Error & { cause?: Error };
  while (cause.cause instanceof Error) cause = cause.cause as Error & { cause?: Error };
  const brokers = brokerList.join(', ');
  if (/^(KafkaJSConnectionError|KafkaJSConnectionClosedError|KafkaJSRequestTimeoutError)$/.test(cause.name)) {
    return `cannot reach ${brokers} (${cause.message.replace(/^Connection error: /, '')})`;
  }
  return `${brokers}: ${cause.message}`;
}
