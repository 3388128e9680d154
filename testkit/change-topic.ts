import { Consumer, Kafka } from 'kafkajs';

/** A record of the change topic (docs/contracts.md, "Change stream"), with where it was read. */
export interface ChangeRecord {
  type: 'PRESENCE' | 'VOICE' | 'RESYNC';
  userId?: string;
  guildId?: string;
  channelId?: string;
  state?: string;
  previous?: string;
  change?: 'JOIN' | 'LEAVE';
  cause?: string;
  reason?: string;
  epoch?: string;
  at: number;
  version?: number;
  key: string | null;
  partition: number;
  offset: string;
}

/**
 * Reads the change topic from its start, as a consumer of it would, into `records` (per partition
 * in order). `presence()` / `seats()` fold them last-writer-wins by version: what a consumer
 * applying the stream ends up showing.
 */
export class ChangeTopicReader {
  readonly records: ChangeRecord[] = [];

  private constructor(private readonly consumer: Consumer) {}

  static async start(kafka: Kafka, topic: string): Promise<ChangeTopicReader> {
    const consumer = kafka.consumer({ groupId: `change-reader-${Math.random().toString(36).slice(2)}`, maxWaitTimeInMs: 100 });
    const reader = new ChangeTopicReader(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        const record = JSON.parse(message.value!.toString()) as ChangeRecord;
        reader.records.push({ ...record, key: message.key?.toString() ?? null, partition, offset: message.offset });
      },
    });
    return reader;
  }

  /** userId -> shown state, from the PRESENCE records, the highest version of each user winning. */
  presence(): Record<string, string> {
    const latest = new Map<string, ChangeRecord>();
    for (const r of this.records)
      if (r.type === 'PRESENCE' && (latest.get(r.userId!)?.version ?? -1) < r.version!) latest.set(r.userId!, r);
    return Object.fromEntries([...latest].map(([userId, r]) => [userId, r.state!]));
  }

  /** guildId -> channelId -> userIds sitting there (sorted), from the VOICE records, the highest version of each seat winning. */
  seats(): Record<string, Record<string, string[]>> {
    const latest = new Map<string, ChangeRecord>();
    for (const r of this.records) {
      if (r.type !== 'VOICE') continue;
      const seat = `${r.guildId}|${r.channelId}|${r.userId}`;
      if ((latest.get(seat)?.version ?? -1) < r.version!) latest.set(seat, r);
    }
    const view: Record<string, Record<string, string[]>> = {};
    for (const r of [...latest.values()].filter((r) => r.change === 'JOIN')) {
      const channels = (view[r.guildId!] ??= {});
      (channels[r.channelId!] ??= []).push(r.userId!);
    }
    for (const channels of Object.values(view)) for (const members of Object.values(channels)) members.sort();
    return view;
  }

  stop(): Promise<void> {
    return this.consumer.disconnect();
  }
}
