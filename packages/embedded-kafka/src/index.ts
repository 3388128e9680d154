/**
 * Embedded single-node Kafka broker for tests and local development:
 * in memory, no replication, no transactions, no SASL/TLS. See README.md.
 */
import net from 'node:net';
import { BrokerContext, EmbeddedKafkaLogger } from './broker-context';
import { GroupCoordinator } from './group-coordinator';
import { Connection } from './server';
import { TopicStore } from './topic-store';

export type { EmbeddedKafkaLogger } from './broker-context';

export interface EmbeddedKafkaOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Partitions for auto-created topics and CreateTopics with -1; default 3. */
  defaultPartitions?: number;
  /** Per-partition retention bound in records; default 1,000,000. */
  maxRecordsPerPartition?: number;
  /** Per-partition retention bound in bytes; default 128 MiB. */
  maxBytesPerPartition?: number;
  /** Create unknown topics on Metadata (when the client allows it) and Produce, as Kafka's auto.create.topics.enable; default true. */
  autoCreateTopics?: boolean;
  /** Kafka's group.min.session.timeout.ms: JoinGroup with a shorter session timeout gets INVALID_SESSION_TIMEOUT; default 6000. */
  minSessionTimeoutMs?: number;
  /** Kafka's group.max.session.timeout.ms; default 1,800,000. */
  maxSessionTimeoutMs?: number;
  /**
   * OffsetFetch of a group the broker does not know (never joined, never committed): 'no-offsets' answers
   * offset -1 per partition as Apache Kafka does (default); 'GROUP_ID_NOT_FOUND' answers error 69 as
   * franz-go's kfake and some Kafka-compatible brokers do, for testing clients against them.
   */
  unknownGroupOffsetFetch?: 'no-offsets' | 'GROUP_ID_NOT_FOUND';
  /** Receives warnings (default: console.warn) and, if it has them, debug/info lines. */
  logger?: EmbeddedKafkaLogger;
}

export interface EmbeddedKafka {
  brokers: string[];
  port: number;
  stop(): Promise<void>;
}

export const DEFAULT_PARTITIONS = 3;
export const DEFAULT_MAX_RECORDS_PER_PARTITION = 1_000_000;
export const DEFAULT_MAX_BYTES_PER_PARTITION = 128 * 1024 * 1024;
export const DEFAULT_MIN_SESSION_TIMEOUT_MS = 6000;
export const DEFAULT_MAX_SESSION_TIMEOUT_MS = 1_800_000;

const defaultLogger: EmbeddedKafkaLogger = { warn: (message) => console.warn(message) };

export async function startEmbeddedKafka(options: EmbeddedKafkaOptions = {}): Promise<EmbeddedKafka> {
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? defaultLogger;
  const topics = new TopicStore(options.defaultPartitions ?? DEFAULT_PARTITIONS, {
    maxRecords: options.maxRecordsPerPartition ?? DEFAULT_MAX_RECORDS_PER_PARTITION,
    maxBytes: options.maxBytesPerPartition ?? DEFAULT_MAX_BYTES_PER_PARTITION,
  });
  const groups = new GroupCoordinator(
    { debug: logger.debug?.bind(logger) },
    {
      min: options.minSessionTimeoutMs ?? DEFAULT_MIN_SESSION_TIMEOUT_MS,
      max: options.maxSessionTimeoutMs ?? DEFAULT_MAX_SESSION_TIMEOUT_MS,
    },
  );
  const connections = new Set<Connection>();
  const sockets = new Set<net.Socket>();
  let producerIds = 1000;
  let stopped = false;

  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  // Clients connect back to what Metadata advertises, so never advertise a wildcard.
  const advertisedHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;

  const broker: BrokerContext = {
    nodeId: 0,
    advertisedHost,
    port,
    clusterId: 'embedded-kafka',
    topics,
    groups,
    logger,
    autoCreateTopics: options.autoCreateTopics ?? true,
    unknownGroupOffsetFetch: options.unknownGroupOffsetFetch ?? 'no-offsets',
    nextProducerId: () => producerIds++,
    parked: new Set(),
    get stopped() {
      return stopped;
    },
  };

  server.on('connection', (socket) => {
    sockets.add(socket);
    const connection = new Connection(socket, broker);
    connections.add(connection);
    socket.on('close', () => {
      sockets.delete(socket);
      connections.delete(connection);
    });
  });

  return {
    brokers: [`${advertisedHost}:${port}`],
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const release of [...broker.parked]) release();
      groups.stop();
      for (const connection of connections) connection.close();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
