/**
 * Bench child: consumes the bench's topics either as the service (startApp from src/app.ts: HTTP +
 * Kafka ingest + Redis) or as a bare kafkajs consumer that does no work, with the same client
 * settings. Tells the parent when its consumer joined the group, so the clock starts at the first
 * fetch and both are timed alike.
 */
import 'reflect-metadata';
import { Consumer, Kafka, logLevel } from 'kafkajs';
import { startApp } from '../../src/app';
import { loadConfig } from '../../src/config/app-config';
import { childMain } from '../lib/child';

interface Init {
  mode: 'service' | 'bare';
  env: Record<string, string>;
}

const announceJoin = (consumer: Consumer, send: (m: Record<string, unknown>) => void) =>
  consumer.on(consumer.events.GROUP_JOIN, () => send({ type: 'joined', at: Date.now() }));

childMain<Init>(async ({ mode, env }, send) => {
  const config = loadConfig(env);
  if (mode === 'bare') {
    const kafka = new Kafka({ clientId: config.KAFKA_CLIENT_ID, brokers: config.KAFKA_BROKERS, logLevel: logLevel.WARN });
    const consumer = kafka.consumer({
      groupId: config.KAFKA_GROUP_ID,
      sessionTimeout: config.KAFKA_SESSION_TIMEOUT_MS,
      heartbeatInterval: config.KAFKA_HEARTBEAT_INTERVAL_MS,
    });
    announceJoin(consumer, send);
    await consumer.connect();
    await consumer.subscribe({ topics: [config.SESSION_EVENTS_TOPIC, config.CHANNEL_EVENTS_TOPIC], fromBeginning: true });
    await consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: true,
      partitionsConsumedConcurrently: config.KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY,
      eachBatch: async () => undefined,
    });
    return () => consumer.disconnect();
  }
  // The service's Kafka client is private to its transport; bench-only: wrap its consumer factory
  // to hear GROUP_JOIN (the app itself only keeps a readiness flag).
  const originalConsumer = Kafka.prototype.consumer;
  Kafka.prototype.consumer = function (this: Kafka, ...args: Parameters<Kafka['consumer']>) {
    const consumer = originalConsumer.apply(this, args);
    announceJoin(consumer, send);
    return consumer;
  };
  const app = await startApp(config);
  send({ type: 'listening', url: `http://127.0.0.1:${config.PORT}` });
  return () => app.close();
});
