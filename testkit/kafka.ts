import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Admin, Kafka, logLevel, Producer } from 'kafkajs';
import { startEmbeddedKafka } from '@state-server/embedded-kafka';
import { givenKafkaBrokers } from './backends';

/** The Kafka of a test file: KAFKA_BROKERS when set (yours, or the run's container), else the embedded broker (backends.ts). */
export interface TestKafka {
  brokers: string[];
  kafka: Kafka;
  stop(): Promise<void>;
}

/**
 * embedded: the embedded broker in this process even when KAFKA_BROKERS is set (the bench, which
 * measures against it); quiet: without the broker's warnings; clientId of the admin and producers.
 */
export async function startTestKafka(options: { embedded?: boolean; quiet?: boolean; clientId?: string } = {}): Promise<TestKafka> {
  const external = options.embedded ? undefined : givenKafkaBrokers();
  const embedded = external
    ? undefined
    : await startEmbeddedKafka({ port: 0, ...(options.quiet ? { logger: { warn: () => undefined } } : {}) });
  const brokers = external ?? embedded!.brokers;
  const kafka = new Kafka({ clientId: options.clientId ?? 'test', brokers, logLevel: logLevel.NOTHING });
  return { brokers, kafka, stop: async () => embedded?.stop() };
}

/**
 * KAFKA_BROKERS when set, else the embedded broker in a process of its own (its bin, as
 * `npm run kafka:embedded` runs it): for runs whose peers keep time (the platform simulation),
 * which a broker sharing their event loop would delay, and be delayed by.
 */
export async function startKafkaProcess(options: { clientId?: string } = {}): Promise<TestKafka> {
  const external = givenKafkaBrokers();
  if (external) return startTestKafka(options);
  const cli = join(dirname(require.resolve('@state-server/embedded-kafka/package.json')), 'dist', 'cli.js');
  const child = spawn(process.execPath, [cli, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the embedded broker exited (${code}) before it listened`)));
  });
  const broker = /listening on (\S+)/.exec(line)?.[1];
  if (!broker) throw new Error(`the embedded broker said: ${line}`);
  const kafka = new Kafka({ clientId: options.clientId ?? 'test', brokers: [broker], logLevel: logLevel.NOTHING });
  return {
    brokers: [broker],
    kafka,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Topic names unique to one test, so tests sharing a real cluster never see each other's events. */
export function uniqueTopics(prefix: string) {
  const suffix = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  return {
    sessionEvents: `${prefix}-sessionEvent-${suffix}`,
    channelEvents: `${prefix}-channelEvent-${suffix}`,
    groupId: `${prefix}-group-${suffix}`,
  };
}

/** The service's Kafka settings: these brokers, these topics and the topics' own consumer group. */
export function kafkaEnv(brokers: readonly string[], topics: ReturnType<typeof uniqueTopics>): Record<string, string> {
  return {
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_GROUP_ID: topics.groupId,
    SESSION_EVENTS_TOPIC: topics.sessionEvents,
    CHANNEL_EVENTS_TOPIC: topics.channelEvents,
  };
}

export async function createTopics(kafka: Kafka, topics: string[], numPartitions = 3): Promise<void> {
  const admin: Admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions })), waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** Reads every record of a topic from the start (e.g. a dead-letter topic) until `count` arrived or timeout. */
export async function readTopic(kafka: Kafka, topic: string, count: number, timeoutMs = 15000) {
  const consumer = kafka.consumer({
    groupId: `reader-${Math.random().toString(36).slice(2)}`,
    sessionTimeout: 6000,
    heartbeatInterval: 500,
  });
  const records: { key: string | null; value: string | null; headers: Record<string, Buffer | undefined> }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    void consumer.run({
      eachMessage: async ({ message }) => {
        records.push({
          key: message.key?.toString() ?? null,
          value: message.value?.toString() ?? null,
          headers: message.headers as Record<string, Buffer | undefined>,
        });
        if (records.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  return records;
}

export type { Producer };
