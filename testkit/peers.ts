import { Kafka, Partitioners, Producer } from 'kafkajs';

type Id = number | string | bigint;

/**
 * Publishes events as the chat and signaling servers do (../shared/PEERS.md): JSON values, unkeyed,
 * so one user's records spread over partitions and may be applied in any order. Ids given as bigint
 * are written as bare JSON numbers with every digit (as Jackson writes a Java long). For the peers'
 * exact wire habits (Spring's type header, the HTTP DISCONNECT, Number() ids) see platform-peers.ts.
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
    return this.session({ type: 'CONNECT', sessionId, userId, state: extra.state ?? 'online', ...extra });
  }

  disconnect(sessionId: string, userId?: Id, extra: { state?: string } = {}) {
    return this.session({
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

  session(event: Record<string, unknown>) {
    return this.sendRaw(this.topics.sessionEvents, null, toJson(event));
  }

  channel(event: Record<string, unknown>) {
    return this.sendRaw(this.topics.channelEvents, null, toJson(event));
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
