import { Kafka, Partitioners, Producer } from 'kafkajs';

type Id = number | string | bigint;
const idText = (id: Id) => (typeof id === 'bigint' ? id.toString() : id);

/**
 * Publishes events as the chat and signaling servers do: JSON values, keyed by userId.
 * Ids given as bigint are written as bare JSON numbers with every digit (as Jackson writes a Java long).
 */
export class Peers {
  private constructor(
    private readonly producer: Producer,
    private readonly topics: { sessionEvents: string; channelEvents: string },
  ) {}

  static async connect(kafka: Kafka, topics: { sessionEvents: string; channelEvents: string }): Promise<Peers> {
    const producer = kafka.producer({ allowAutoTopicCreation: true, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    return new Peers(producer, topics);
  }

  connect(sessionId: string, userId: Id, extra: { guildIds?: Id[]; serverId?: string; state?: string } = {}) {
    return this.session(userId, { type: 'CONNECT', sessionId, userId, state: extra.state ?? 'online', ...extra });
  }

  disconnect(sessionId: string, userId?: Id, extra: { state?: string } = {}) {
    return this.session(userId ?? sessionId, {
      type: 'DISCONNECT',
      sessionId,
      ...(userId !== undefined ? { userId } : {}),
      state: extra.state ?? 'offline',
    });
  }

  join(userId: Id, guildId: Id, channelId: Id) {
    return this.channel({ type: 'JOIN', userId, guildId, channelId });
  }

  leave(userId: Id, guildId: Id, channelId: Id) {
    return this.channel({ type: 'LEAVE', userId, guildId, channelId });
  }

  session(key: Id, event: Record<string, unknown>) {
    return this.sendRaw(this.topics.sessionEvents, String(idText(key)), toJson(event));
  }

  channel(event: Record<string, unknown> & { userId: Id }) {
    return this.sendRaw(this.topics.channelEvents, String(idText(event.userId)), toJson(event));
  }

  async sendRaw(topic: string, key: string | null, value: string | Buffer | null): Promise<void> {
    await this.producer.send({ topic, acks: -1, messages: [{ key, value }] });
  }

  async sendMany(topic: string, messages: { key: string | null; value: string | Buffer | null }[]): Promise<void> {
    await this.producer.send({ topic, acks: -1, messages });
  }

  close(): Promise<void> {
    return this.producer.disconnect();
  }
}

/** JSON with bigint ids written as bare numbers. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `__BIG__${v}__` : v)).replace(/"__BIG__(\d+)__"/g, '$1');
}
