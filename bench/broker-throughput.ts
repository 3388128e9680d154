/**
 * Embedded broker throughput: produce N keyed ~100-byte JSON messages with
 * kafkajs (batched sends), then consume them with a bare eachBatch consumer.
 *
 *   npx ts-node --transpile-only bench/broker-throughput.ts [--messages 200000] [--batch 1000] [--partitions 3]
 *
 * Writes the figures to bench/results/broker-throughput.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { Kafka, logLevel } from 'kafkajs';
import { startEmbeddedKafka } from '@state-server/embedded-kafka';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const messages = arg('messages', 200_000);
  const batchSize = arg('batch', 1000);
  const partitions = arg('partitions', 3);
  const inFlight = arg('in-flight', 4);
  const topic = 'bench';

  const broker = await startEmbeddedKafka({ defaultPartitions: partitions });
  const kafka = new Kafka({ clientId: 'bench', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] });
  await admin.disconnect();

  // ~100-byte JSON values.
  const value = (i: number) =>
    JSON.stringify({ userId: `user-${i % 5000}`, event: 'presence.updated', status: 'online', seq: i, ts: 1700000000000 + i });
  console.log(
    `value size ~${Buffer.byteLength(value(123456))} bytes; ${messages} messages, batches of ${batchSize}, ${inFlight} sends in flight, ${partitions} partitions`,
  );

  const producer = kafka.producer();
  await producer.connect();
  let produced = 0;
  let next = 0;
  const produceStart = process.hrtime.bigint();
  let lastReport = Date.now();
  const sender = async () => {
    while (next < messages) {
      const from = next;
      const to = Math.min(messages, from + batchSize);
      next = to;
      const batch = [];
      for (let i = from; i < to; i++) batch.push({ key: `user-${i % 5000}`, value: value(i) });
      await producer.send({ topic, acks: -1, messages: batch });
      produced += to - from;
      if (Date.now() - lastReport >= 1000) {
        lastReport = Date.now();
        console.log(`  produced ${produced}/${messages}`);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, sender));
  const produceSeconds = Number(process.hrtime.bigint() - produceStart) / 1e9;
  await producer.disconnect();
  const produceRate = Math.round(messages / produceSeconds);
  console.log(`produce: ${messages} msgs in ${produceSeconds.toFixed(2)} s = ${produceRate} msgs/s`);

  const consumer = kafka.consumer({ groupId: 'bench-consumer', maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 16 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let consumed = 0;
  const consumeStart = process.hrtime.bigint();
  lastReport = Date.now();
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachBatch: async ({ batch }) => {
        consumed += batch.messages.length;
        if (Date.now() - lastReport >= 1000) {
          lastReport = Date.now();
          console.log(`  consumed ${consumed}/${messages}`);
        }
        if (consumed >= messages) resolve();
      },
    });
  });
  // Includes the group join and first offset lookups, as a real consumer start would.
  const consumeSeconds = Number(process.hrtime.bigint() - consumeStart) / 1e9;
  const consumeRate = Math.round(messages / consumeSeconds);
  console.log(`consume: ${messages} msgs in ${consumeSeconds.toFixed(2)} s = ${consumeRate} msgs/s (including group join)`);
  await consumer.disconnect();
  await broker.stop();

  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    messages,
    batchSize,
    sendsInFlight: inFlight,
    partitions,
    valueBytes: Buffer.byteLength(value(123456)),
    produce: { seconds: Number(produceSeconds.toFixed(3)), msgsPerSecond: produceRate },
    consume: { seconds: Number(consumeSeconds.toFixed(3)), msgsPerSecond: consumeRate },
  };
  const out = path.join(__dirname, 'results', 'broker-throughput.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${out}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
