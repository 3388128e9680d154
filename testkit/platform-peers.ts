import { Kafka, Partitioners, Producer } from 'kafkajs';
import { postJson } from './app';
import { toJson } from './peers';

/**
 * The three peers of the platform as their code behaves (../shared/PEERS.md), for contract tests:
 * the way they send is the way these send. Records are unkeyed; `partition` and `at` (the
 * producer host's clock, ms) can be forced to place one user's records on different partitions
 * and to model clocks that differ between hosts.
 */
export interface Placement {
  partition?: number;
  /** The record timestamp: the producing host's clock (ms). Default: now. */
  at?: number;
}

type Id = number | bigint | string;

/** What the chat server reads of its HTTP DISCONNECT's answer. */
export interface DisconnectAnswer {
  status: number;
  body: { code: number; message: string; isSuccess: boolean; result: string | null };
}

/** The answer and how the route's wait ended. */
export interface WaitedDisconnectAnswer extends DisconnectAnswer {
  /** X-Session-Wait: `complete`, or why the route stopped waiting early; null when the service sends none. */
  sessionWait: string | null;
}

async function producerFor(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({ allowAutoTopicCreation: true, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  return producer;
}

function record(value: string, placement: Placement, headers?: Record<string, string>) {
  return {
    key: null,
    value,
    ...(headers ? { headers } : {}),
    ...(placement.partition !== undefined ? { partition: placement.partition } : {}),
    ...(placement.at !== undefined ? { timestamp: String(placement.at) } : {}),
  };
}

/**
 * The chat server (Spring Boot): CONNECT through KafkaTemplate.send(topic, dto) - no key, Jackson
 * JSON with the userId a number, Spring's __TypeId__ header - and DISCONNECT as a blocking HTTP
 * POST to /api/state/update/session without a userId, whose `result` it reads.
 */
export class ChatServer {
  private constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly serviceUrl: string,
  ) {}

  static async start(kafka: Kafka, topic: string, serviceUrl: string): Promise<ChatServer> {
    return new ChatServer(await producerFor(kafka), topic, serviceUrl);
  }

  async connect(sessionId: string, userId: Id, state = 'online', placement: Placement = {}): Promise<void> {
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: [
        record(toJson({ userId: typeof userId === 'string' ? BigInt(userId) : userId, sessionId, type: 'CONNECT', state }), placement, {
          __TypeId__: 'harmony.chatservice.dto.response.SessionDto',
        }),
      ],
    });
  }

  /** The HTTP DISCONNECT (to `serviceUrl`, or the instance given: behind a load balancer); returns the answer the chat server reads. */
  async disconnect(sessionId: string, serviceUrl = this.serviceUrl): Promise<DisconnectAnswer> {
    const { status, body } = await this.disconnectWaited(sessionId, serviceUrl);
    return { status, body };
  }

  /** The same DISCONNECT, also returning how the route's wait ended (its X-Session-Wait header). */
  async disconnectWaited(sessionId: string, serviceUrl = this.serviceUrl): Promise<WaitedDisconnectAnswer> {
    const res = await fetch(`${serviceUrl}/api/state/update/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sessionId, type: 'DISCONNECT', state: 'offline' }),
      signal: AbortSignal.timeout(30000),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON: the caller sees the text */
    }
    return { status: res.status, body: body as DisconnectAnswer['body'], sessionWait: res.headers.get('x-session-wait') };
  }

  stop(): Promise<void> {
    return this.producer.disconnect();
  }
}

/**
 * A signaling server (NestJS ClientKafka.emit('channelEvent', JSON.stringify(event))): no key, the
 * value JSON text with ids made by Number(); a socket that never joined sends a LEAVE of nulls.
 */
export class SignalingServer {
  private constructor(
    private readonly producer: Producer,
    private readonly topic: string,
  ) {}

  static async start(kafka: Kafka, topic: string): Promise<SignalingServer> {
    return new SignalingServer(await producerFor(kafka), topic);
  }

  join(userId: Id, guildId: Id, channelId: Id, placement: Placement = {}): Promise<void> {
    return this.emit({ guildId: Number(guildId), channelId: Number(channelId), userId: Number(userId), type: 'JOIN' }, placement);
  }

  leave(userId: Id, guildId: Id, channelId: Id, placement: Placement = {}): Promise<void> {
    return this.emit({ guildId: Number(guildId), channelId: Number(channelId), userId: Number(userId), type: 'LEAVE' }, placement);
  }

  /** A socket that disconnects without having joined: Number(undefined) ids, written as null. */
  leaveWithoutJoining(placement: Placement = {}): Promise<void> {
    return this.emit({ guildId: Number(undefined), channelId: Number(undefined), userId: Number(undefined), type: 'LEAVE' }, placement);
  }

  private async emit(event: Record<string, unknown>, placement: Placement): Promise<void> {
    await this.producer.send({ topic: this.topic, acks: -1, messages: [record(JSON.stringify(event), placement)] });
  }

  stop(): Promise<void> {
    return this.producer.disconnect();
  }
}

/** The community server (OpenFeign): asks with every member of the guild, no paging, no cap. */
export class CommunityServer {
  constructor(private readonly serviceUrl: string) {}

  guildInfo(guildId: Id, memberIds: Id[]) {
    return postJson(
      `${this.serviceUrl}/api/state/community/user/info`,
      toJson({ guildId: BigInt(guildId), userIds: memberIds.map((id) => BigInt(id)) }),
    );
  }

  directInfo(userIds: Id[]) {
    return postJson(`${this.serviceUrl}/api/state/direct/user/info`, toJson({ userIds: userIds.map((id) => BigInt(id)) }));
  }
}
