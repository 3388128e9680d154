/** What API handlers get to work with. */
import { GroupCoordinator } from './group-coordinator';
import { Reader, Writer } from './protocol';
import { TopicStore } from './topic-store';

export interface EmbeddedKafkaLogger {
  debug?(message: string): void;
  info?(message: string): void;
  warn(message: string): void;
}

export interface BrokerContext {
  readonly nodeId: number;
  /** Host advertised in Metadata/FindCoordinator; clients connect back to it. */
  readonly advertisedHost: string;
  readonly port: number;
  readonly clusterId: string;
  readonly topics: TopicStore;
  readonly groups: GroupCoordinator;
  readonly logger: EmbeddedKafkaLogger;
  /** Kafka's auto.create.topics.enable: Metadata and Produce create unknown topics only when true. */
  readonly autoCreateTopics: boolean;
  /** OffsetFetch of an unknown group: Apache Kafka's offsets of -1, or GROUP_ID_NOT_FOUND (EmbeddedKafkaOptions). */
  readonly unknownGroupOffsetFetch: 'no-offsets' | 'GROUP_ID_NOT_FOUND';
  nextProducerId(): number;
  /** Parked long-poll fetches register here so stop() can release them. */
  readonly parked: Set<() => void>;
  readonly stopped: boolean;
}

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string;
  clientHost: string;
}

/** A handler returns the response body (after the correlation id), or null for "no response" (acks=0). */
export type ApiHandler = (body: Reader, header: RequestHeader, broker: BrokerContext) => Writer | null | Promise<Writer | null>;

export interface ApiDefinition {
  key: number;
  name: string;
  minVersion: number;
  maxVersion: number;
  handle: ApiHandler;
}
