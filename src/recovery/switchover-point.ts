import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Admin, Kafka } from 'kafkajs';
import { AppConfig } from '../config/app-config';

const READ_TIMEOUT_MS = 30_000;

/** What the switch-over record says: from which offset of each sessionEvent partition the records are ours. */
interface SwitchoverRecord {
  at: string;
  topic: string;
  /** partition -> the first offset this service is responsible for. */
  firstOffsets: Record<string, number>;
}

/**
 * The switch-over from the original state service, remembered outside Redis: one record (keyed
 * by the sessionEvent topic's name, so deployments sharing a broker keep theirs apart) on a
 * compacted topic of ours (SWITCHOVER_TOPIC), written by the first start of this service on a
 * deployment and read by every start after. The original never logged its HTTP
 * DISCONNECTs, so its sessions' CONNECTs in `sessionEvent` have nothing that ends them: a CONNECT
 * from before the point is never applied (outcome ignored, reason before_switchover), whether it is
 * met by a first start that reads from the earliest offset (KAFKA_FROM_BEGINNING) or by any later
 * rebuild. The sessions alive at the switch come from the original's Redis instead (adoption).
 *
 * The point, per partition: where the original stopped applying, i.e. KAFKA_GROUP_ID's committed
 * offset when the original used that group, else the end of the log at the first start. A Redis
 * that already holds this service's state (a deployment of an earlier version) excludes nothing.
 */
@Injectable()
export class SwitchoverPoint {
  private readonly log = new Logger('Switchover');
  /** partition -> first offset of ours; undefined until loaded (nothing excluded). */
  private firstOffsets?: Map<number, number>;
  /** The topic holds a record this process has not read yet. */
  private unread = false;

  constructor(private readonly config: AppConfig) {}

  /** Whether a sessionEvent record at (partition, offset) is from before the switch-over. */
  isBefore(partition: number | undefined, offset: string | undefined): boolean {
    if (partition === undefined || offset === undefined || !this.firstOffsets) return false;
    return Number(offset) < (this.firstOffsets.get(partition) ?? 0);
  }

  /**
   * Writes the record when there is none (this is the first start; `proposal` computes the point),
   * else notes that it exists: it is read only when records before it could be met (`ensureRead`),
   * since reading takes a consumer group's join and a start that resumes from committed offsets
   * never meets them. Returns whether this start wrote it. Throws when Kafka cannot say (the
   * caller's start-up retries).
   */
  async load(kafka: Kafka, admin: Admin, proposal: () => Promise<Record<string, number>>): Promise<{ created: boolean }> {
    const topic = this.config.SWITCHOVER_TOPIC;
    if (!(await admin.listTopics()).includes(topic)) {
      await admin
        .createTopics({
          topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
          waitForLeaders: true,
        })
        .catch((error: Error) => {
          if (!/already exists/i.test(error.message)) throw error; // another instance created it meanwhile
        });
    }
    const [{ low, high }] = await admin.fetchTopicOffsets(topic);
    if (Number(high) > Number(low)) {
      this.unread = true;
      return { created: false };
    }
    const record = { at: new Date().toISOString(), topic: this.config.SESSION_EVENTS_TOPIC, firstOffsets: await proposal() };
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      await producer.send({ topic, acks: -1, messages: [{ key: record.topic, value: JSON.stringify(record) }] });
    } finally {
      await producer.disconnect();
    }
    this.log.log(`First start on this deployment: switch-over point recorded on ${topic}: ${JSON.stringify(record.firstOffsets)}`);
    // Concurrent first starts may each have written one; later starts read the first on the topic.
    this.firstOffsets = new Map(Object.entries(record.firstOffsets).map(([p, o]) => [Number(p), Number(o)]));
    return { created: true };
  }

  /** Reads the recorded point if it exists and was not read yet: before consuming from the earliest offset (a rebuild, KAFKA_FROM_BEGINNING). */
  async ensureRead(kafka: Kafka, admin: Admin): Promise<void> {
    if (!this.unread) return;
    const record = await this.read(kafka, admin, this.config.SWITCHOVER_TOPIC);
    if (record) this.firstOffsets = new Map(Object.entries(record.firstOffsets).map(([p, o]) => [Number(p), Number(o)]));
    this.unread = false;
  }

  /** Our record (the first one: concurrent first starts may each have written one), or undefined if there is none. */
  private async read(kafka: Kafka, admin: Admin, topic: string): Promise<SwitchoverRecord | undefined> {
    const [{ low, high }] = await admin.fetchTopicOffsets(topic);
    if (Number(high) <= Number(low)) return undefined;
    // kafkajs reads only through a consumer group: a throwaway one, which commits nothing and is deleted.
    const groupId = `${this.config.KAFKA_GROUP_ID}-switchover-reader-${randomUUID()}`; // not "<group>.": a rebuild's epoch groups
    const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
    let found: SwitchoverRecord | undefined;
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`could not read ${topic} within ${READ_TIMEOUT_MS} ms`)), READ_TIMEOUT_MS);
        timer.unref();
        const done = () => (clearTimeout(timer), resolve());
        consumer
          .run({
            autoCommit: false,
            eachMessage: ({ message }) => {
              if (!found && message.key?.toString() === this.config.SESSION_EVENTS_TOPIC && message.value) {
                try {
                  found = JSON.parse(message.value.toString()) as SwitchoverRecord;
                } catch {
                  this.log.warn(`Skipped an unreadable record at offset ${message.offset} of ${topic}`);
                }
              }
              if (found || Number(message.offset) >= Number(high) - 1) done();
              return Promise.resolve();
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await admin.deleteGroups([groupId]).catch(() => undefined);
    }
    return found;
  }
}
