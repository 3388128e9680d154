import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Partitioners, Producer } from 'kafkajs';
import { AppConfig } from '../config/app-config';
import { createKafka } from '../kafka/kafka-client';

/** A session event as appended to the session topic by the HTTP route: what the chat server sent plus the user it resolved to. */
export interface LoggedSessionEvent {
  type: 'CONNECT' | 'DISCONNECT';
  sessionId: string;
  userId?: string;
  state?: string;
  /** Where it came from: "http" for the chat server's HTTP DISCONNECT. */
  origin: 'http';
}

/**
 * Appends session events that arrive over HTTP to the session topic (SESSION_EVENTS_TOPIC), acks
 * from all in-sync replicas, before the route answers. So the log holds every session end: the
 * consumer applies it (a no-op when the route already did, the scripts being idempotent), a replay
 * or a rebuild of Redis sees it, and while Redis is down nothing is lost.
 * Keyed by userId when known (else sessionId): one user's HTTP events stay in one partition.
 */
@Injectable()
export class SessionEventLog implements OnApplicationShutdown {
  private readonly log = new Logger('SessionEventLog');
  private readonly producer: Producer;
  private connecting?: Promise<void>;

  constructor(private readonly config: AppConfig) {
    this.producer = createKafka(config).producer({
      allowAutoTopicCreation: true,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 2, initialRetryTime: 50, maxRetryTime: 500 },
    });
  }

  /**
   * Appends the events in one produce request; resolves once all in-sync replicas have them, with
   * the first offset they took in each partition they went to (every record from there on was
   * appended after these events' requests arrived: the session route need not wait for them).
   */
  async appendAll(events: readonly LoggedSessionEvent[]): Promise<ReadonlyMap<number, number>> {
    await this.connected();
    const appended = await this.producer.send({
      topic: this.config.SESSION_EVENTS_TOPIC,
      acks: -1,
      messages: events.map((event) => ({ key: event.userId ?? event.sessionId, value: JSON.stringify(event) })),
    });
    return new Map(appended.filter((m) => m.baseOffset !== undefined).map((m) => [m.partition, Number(m.baseOffset)]));
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.connecting) await this.producer.disconnect().catch(() => undefined);
  }

  /** Connects on first use; a failed connection is retried by the next append. */
  private connected(): Promise<void> {
    this.connecting ??= this.producer.connect().catch((error: Error) => {
      this.connecting = undefined;
      this.log.warn(`Cannot connect to Kafka to append HTTP session events: ${error.message}`);
      throw error;
    });
    return this.connecting;
  }
}
