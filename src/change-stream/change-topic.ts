import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Admin } from 'kafkajs';
import { AppConfig } from '../config/app-config';
import { createKafka } from '../kafka/kafka-client';

/** Errors that say this client may not create topics: the topic has to be created by hand. */
const NOT_AUTHORIZED = /AUTHORIZATION_FAILED|not authorized/i;

/**
 * CHANGE_TOPIC on the broker: found, or created when missing (a broker that does not auto-create
 * topics, and the relay's producer never asks it to), with as many partitions as the session
 * topic (a user's records spread as its sessions do), else the broker's default. Another instance
 * creating it meanwhile is fine. A broker that refuses (no CREATE right) degrades the stream only:
 * said once at warn, and the callers keep retrying, so a topic created by hand is picked up.
 */
@Injectable()
export class ChangeTopic implements OnApplicationShutdown {
  private readonly log = new Logger('ChangeTopic');
  private admin?: Admin;
  private partitions?: number;
  /** The check in progress: the relay and the window ask at start-up together. */
  private checking?: Promise<number>;
  private refusalLogged = false;

  constructor(private readonly config: AppConfig) {}

  get name(): string {
    return this.config.CHANGE_TOPIC;
  }

  /** The topic's partition count, once it exists (created here if need be); throws when Kafka cannot say or refuses. */
  partitionCount(): Promise<number> {
    if (this.partitions) return Promise.resolve(this.partitions);
    this.checking ??= this.ensure().finally(() => (this.checking = undefined));
    return this.checking;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.admin?.disconnect().catch(() => undefined);
  }

  private async ensure(): Promise<number> {
    const admin = await this.connectedAdmin();
    if (!(await admin.listTopics()).includes(this.name)) await this.create(admin);
    const { topics } = await admin.fetchTopicMetadata({ topics: [this.name] });
    const partitions = topics[0]?.partitions.length;
    if (!partitions) throw new Error(`topic ${this.name} has no partitions`);
    this.partitions = partitions;
    return partitions;
  }

  private async create(admin: Admin): Promise<void> {
    const numPartitions = await this.sessionTopicPartitions(admin);
    try {
      const created = await admin.createTopics({ topics: [{ topic: this.name, numPartitions }], waitForLeaders: true });
      if (created)
        this.log.log(
          `Created the change topic ${this.name} (${numPartitions > 0 ? `${numPartitions} partitions, as ${this.config.SESSION_EVENTS_TOPIC}` : "the broker's default partitions"})`,
        );
    } catch (error) {
      const message = (error as Error).message;
      if (/already exists/i.test(message)) return; // another instance created it meanwhile
      if (NOT_AUTHORIZED.test(`${(error as { type?: string }).type ?? ''} ${message}`) && !this.refusalLogged) {
        this.refusalLogged = true;
        this.log.warn(
          `The change topic ${this.name} does not exist and this client may not create it (${message}): create it by hand; until then the change stream waits (GET /events answers 503)`,
        );
      }
      throw error;
    }
  }

  /** The session topic's partition count, or -1 (the broker's default) when it cannot be read. */
  private async sessionTopicPartitions(admin: Admin): Promise<number> {
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [this.config.SESSION_EVENTS_TOPIC] });
      return topics[0]?.partitions.length || -1;
    } catch {
      return -1;
    }
  }

  private async connectedAdmin(): Promise<Admin> {
    if (!this.admin) {
      const admin = createKafka(this.config, { retries: 2 }).admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }
}
