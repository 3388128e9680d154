/**
 * The embedded broker driven by kafkajs (and a raw wire client for what kafkajs
 * never sends): produce/consume, admin, retention, long-poll, error handling.
 */
import { Admin, CompressionTypes, Consumer, EachMessagePayload, Kafka, Producer } from 'kafkajs';
import { startEmbeddedKafka, EmbeddedKafka } from '../src';
import { RawClient, fastGroup, int32, kafkaClient, str, uniqueName, waitFor } from './helpers';

type Received = { partition: number; offset: number; key: string | null; value: string | null; headers: Record<string, string> };

describe('embedded kafka with kafkajs', () => {
  let broker: EmbeddedKafka;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  const warnings: string[] = [];
  const consumers: Consumer[] = [];

  beforeAll(async () => {
    // Test brokers usually lower group.min.session.timeout.ms, as here, for sub-second rebalances (fastGroup).
    broker = await startEmbeddedKafka({ port: 0, minSessionTimeoutMs: 1000, logger: { warn: (m) => warnings.push(m) } });
    kafka = kafkaClient(broker.brokers);
    admin = kafka.admin();
    producer = kafka.producer();
    await Promise.all([admin.connect(), producer.connect()]);
  });

  afterEach(async () => {
    await Promise.all(consumers.splice(0).map((c) => c.disconnect()));
  });

  afterAll(async () => {
    await Promise.all([admin?.disconnect(), producer?.disconnect()]);
    await broker?.stop();
  });

  /** Starts a consumer that records every message it sees. */
  async function consume(topic: string, opts: { fromBeginning?: boolean; groupId?: string } = {}) {
    const received: Received[] = [];
    const consumer = kafka.consumer({ groupId: opts.groupId ?? uniqueName('group'), ...fastGroup });
    consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: opts.fromBeginning ?? true });
    // After the first completed fetch the start offsets are resolved (kafkajs looks up
    // "latest" lazily), so anything produced from then on is seen.
    const fetched = new Promise<void>((resolve) => consumer.on(consumer.events.FETCH, () => resolve()));
    await consumer.run({
      eachMessage: async ({ partition, message }: EachMessagePayload) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        received.push({
          partition,
          offset: Number(message.offset),
          key: message.key?.toString() ?? null,
          value: message.value?.toString() ?? null,
          headers,
        });
      },
    });
    await fetched;
    return { consumer, received };
  }

  it('round-trips keyed messages with headers sent in batches, keeping per-partition order', async () => {
    const topic = uniqueName('basic');
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
    const messages = Array.from({ length: 300 }, (_, i) => ({ key: `key-${i % 7}`, value: `value-${i}`, headers: { seq: String(i) } }));
    await producer.sendBatch({ topicMessages: [{ topic, messages: messages.slice(0, 150) }], acks: -1 });
    await producer.send({ topic, messages: messages.slice(150), acks: -1 });

    const { received } = await consume(topic);
    await waitFor(() => received.length >= 300, 15000, '300 messages');
    expect(received).toHaveLength(300);
    expect(received.map((m) => m.value).sort()).toEqual(messages.map((m) => m.value).sort());
    for (const m of received) expect(m.headers.seq).toBe(m.value!.slice('value-'.length));
    // Same key -> same partition, in send order.
    const byKey = new Map<string, { partition: number; seqs: number[] }>();
    for (const m of received) {
      const entry = byKey.get(m.key!) ?? { partition: m.partition, seqs: [] };
      expect(entry.partition).toBe(m.partition);
      entry.seqs.push(Number(m.headers.seq));
      byKey.set(m.key!, entry);
    }
    for (const { seqs } of byKey.values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    // Offsets are dense per partition.
    for (const p of [0, 1, 2]) {
      const offsets = received.filter((m) => m.partition === p).map((m) => m.offset);
      expect(offsets).toEqual(offsets.map((_, i) => i));
    }
  });

  it('accepts acks 1 and acks 0 (fire and forget) produces', async () => {
    const topic = uniqueName('acks');
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    const [ack1] = await producer.send({ topic, acks: 1, messages: [{ value: 'a' }, { value: 'b' }] });
    expect(ack1.errorCode).toBe(0);
    expect(ack1.baseOffset).toBe('0');
    const ack0 = await producer.send({ topic, acks: 0, messages: [{ value: 'c' }] });
    expect(ack0).toEqual([]);
    // The connection still answers in order after a request that got no response.
    await producer.send({ topic, acks: -1, messages: [{ value: 'd' }] });
    const offsets = await admin.fetchTopicOffsets(topic);
    expect(offsets).toEqual([expect.objectContaining({ partition: 0, low: '0', high: '4' })]);
    const { received } = await consume(topic);
    await waitFor(() => received.length >= 4);
    expect(received.map((m) => m.value)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('passes gzip-compressed batches through to consumers', async () => {
    const topic = uniqueName('gzip');
    const messages = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: JSON.stringify({ i, pad: 'x'.repeat(100) }) }));
    await producer.send({ topic, compression: CompressionTypes.GZIP, messages });
    const { received } = await consume(topic);
    await waitFor(() => received.length >= 50);
    expect(received.map((m) => m.value).sort()).toEqual(messages.map((m) => m.value).sort());
  });

  it('supports the idempotent producer (InitProducerId)', async () => {
    const topic = uniqueName('idempotent');
    const idempotent = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await idempotent.connect();
    try {
      for (let i = 0; i < 3; i++) await idempotent.send({ topic, messages: [{ key: 'same', value: `v${i}` }] });
    } finally {
      await idempotent.disconnect();
    }
    const { received } = await consume(topic);
    await waitFor(() => received.length >= 3);
    expect(received.map((m) => m.value)).toEqual(['v0', 'v1', 'v2']);
  });

  it('refuses transactional producers with an error instead of hanging', async () => {
    const tx = kafka.producer({
      transactionalId: uniqueName('tx'),
      maxInFlightRequests: 1,
      idempotent: true,
      retry: { retries: 1, initialRetryTime: 50 },
    });
    await tx.connect();
    try {
      await expect(tx.transaction()).rejects.toThrow();
    } finally {
      await tx.disconnect();
    }
  });

  it('implements the admin topic APIs', async () => {
    const topic = uniqueName('admin');
    await expect(admin.createTopics({ topics: [{ topic, numPartitions: 5 }] })).resolves.toBe(true);
    await expect(admin.createTopics({ topics: [{ topic, numPartitions: 5 }] })).resolves.toBe(false);
    const rf = uniqueName('rf');
    await expect(admin.createTopics({ topics: [{ topic: rf, numPartitions: 1, replicationFactor: 3 }] })).rejects.toMatchObject({
      errors: [expect.objectContaining({ type: 'INVALID_REPLICATION_FACTOR' })],
    });
    expect(await admin.listTopics()).not.toContain(rf);
    expect(await admin.listTopics()).toContain(topic);
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(topics[0].name).toBe(topic);
    expect(topics[0].partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(topics[0].partitions.every((p) => p.leader === 0)).toBe(true);

    await admin.deleteTopics({ topics: [topic] });
    expect(await admin.listTopics()).not.toContain(topic);
    // Admin does not auto-create: an unknown topic is an error.
    await expect(admin.fetchTopicMetadata({ topics: [topic] })).rejects.toThrow(/does not host this topic-partition/);
  });

  it('auto-creates topics on produce and on consumer metadata with the default partition count', async () => {
    const produced = uniqueName('auto-produce');
    await producer.send({ topic: produced, messages: [{ value: 'x' }] });
    const { topics } = await admin.fetchTopicMetadata({ topics: [produced] });
    expect(topics[0].partitions).toHaveLength(3);

    const subscribed = uniqueName('auto-consume');
    await consume(subscribed);
    expect((await admin.fetchTopicMetadata({ topics: [subscribed] })).topics[0].partitions).toHaveLength(3);

    const other = await startEmbeddedKafka({ defaultPartitions: 5 });
    const otherKafka = kafkaClient(other.brokers);
    const otherProducer = otherKafka.producer();
    const otherAdmin = otherKafka.admin();
    try {
      await Promise.all([otherProducer.connect(), otherAdmin.connect()]);
      await otherProducer.send({ topic: 'five', messages: [{ value: 'x' }] });
      expect((await otherAdmin.fetchTopicMetadata({ topics: ['five'] })).topics[0].partitions).toHaveLength(5);
    } finally {
      await Promise.all([otherProducer.disconnect(), otherAdmin.disconnect()]);
      await other.stop();
    }
  });

  it('reports committed and topic offsets through the admin client', async () => {
    const topic = uniqueName('offsets');
    const groupId = uniqueName('offsets-group');
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    await producer.send({
      topic,
      messages: [
        { value: 'a', partition: 0 },
        { value: 'b', partition: 0 },
        { value: 'c', partition: 1 },
      ],
    });
    const { consumer, received } = await consume(topic, { groupId });
    await waitFor(() => received.length >= 3);
    await waitFor(
      async () => {
        const [{ partitions }] = await admin.fetchOffsets({ groupId, topics: [topic] });
        return (
          partitions
            .map((p) => p.offset)
            .sort()
            .join() === '1,2'
        );
      },
      10000,
      'commits',
    );
    await consumer.disconnect();
    const topicOffsets = await admin.fetchTopicOffsets(topic);
    expect(topicOffsets.sort((a, b) => a.partition - b.partition)).toEqual([
      expect.objectContaining({ partition: 0, low: '0', high: '2', offset: '2' }),
      expect.objectContaining({ partition: 1, low: '0', high: '1', offset: '1' }),
    ]);
  });

  it.each([
    ['uncompressed', CompressionTypes.None],
    ['gzip', CompressionTypes.GZIP],
  ])('answers ListOffsets by timestamp as Kafka does: the first record at or after it, -1 when none (%s)', async (_, compression) => {
    const topic = uniqueName('by-time');
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    const t0 = Date.now() - 60_000;
    const at = (ms: number, value: string) => ({ value, timestamp: String(t0 + ms) });
    await producer.send({ topic, compression, messages: [at(0, 'a'), at(10, 'b'), at(20, 'c')] }); // one batch: offsets 0-2
    await producer.send({ topic, compression, messages: [at(30, 'd')] }); // offset 3
    const raw = await RawClient.connect(broker.port);
    try {
      const ask = async (ms: number) => parseListOffsetsV1((await raw.request(2, 1, ms + 1, listOffsetsV1Body(topic, 0, t0 + ms))).body);
      // Within a batch, not its first offset; the found record's own timestamp comes back.
      expect(await ask(5)).toEqual({ errorCode: 0, timestamp: t0 + 10, offset: 1 });
      expect(await ask(15)).toEqual({ errorCode: 0, timestamp: t0 + 20, offset: 2 });
      expect(await ask(20)).toEqual({ errorCode: 0, timestamp: t0 + 20, offset: 2 });
      expect(await ask(25)).toEqual({ errorCode: 0, timestamp: t0 + 30, offset: 3 });
      // No record that late: -1 (the high watermark was answered before), which kafkajs turns into the end.
      expect(await ask(31)).toEqual({ errorCode: 0, timestamp: -1, offset: -1 });
    } finally {
      raw.close();
    }
    expect(await admin.fetchTopicOffsetsByTimestamp(topic, t0 + 31)).toEqual([{ partition: 0, offset: '4' }]);
  });

  it('fromBeginning false only delivers messages produced after joining', async () => {
    const topic = uniqueName('latest');
    await producer.send({ topic, messages: [{ value: 'old-1' }, { value: 'old-2' }] });
    const { received } = await consume(topic, { fromBeginning: false });
    await producer.send({ topic, messages: [{ value: 'new-1' }] });
    await waitFor(() => received.length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(received.map((m) => m.value)).toEqual(['new-1']);
  });

  it('seeks to an offset', async () => {
    const topic = uniqueName('seek');
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: `m${i}` })) });
    const { consumer, received } = await consume(topic);
    await waitFor(() => received.length >= 10);
    consumer.seek({ topic, partition: 0, offset: '6' });
    await waitFor(() => received.length >= 14);
    expect(received.slice(10).map((m) => m.offset)).toEqual([6, 7, 8, 9]);
  });

  it('long-polls Fetch: waits up to max_wait on an idle partition and wakes on produce', async () => {
    const topic = uniqueName('longpoll');
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    const raw = await RawClient.connect(broker.port);
    try {
      let start = Date.now();
      let res = await raw.request(1, 4, 1, fetchV4Body(topic, 0, 0, 600));
      const idleWait = Date.now() - start;
      expect(idleWait).toBeGreaterThanOrEqual(550);
      expect(parseFetchV4(res.body)).toMatchObject({ errorCode: 0, highWatermark: 0, recordBytes: 0 });

      start = Date.now();
      const pending = raw.request(1, 4, 2, fetchV4Body(topic, 0, 0, 10000));
      setTimeout(() => void producer.send({ topic, messages: [{ value: 'wake' }] }), 200);
      res = await pending;
      const woke = Date.now() - start;
      expect(woke).toBeLessThan(3000);
      expect(parseFetchV4(res.body).recordBytes).toBeGreaterThan(0);
    } finally {
      raw.close();
    }
  });

  it('rejects a corrupt batch with CORRUPT_MESSAGE and keeps the connection', async () => {
    const topic = uniqueName('corrupt');
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    await producer.send({ topic, messages: [{ key: 'k', value: 'a valid record' }] });
    const raw = await RawClient.connect(broker.port);
    try {
      const fetched = parseFetchV4((await raw.request(1, 4, 7, fetchV4Body(topic, 0, 0, 0))).body);
      const batch = Buffer.from(fetched.records);
      batch[batch.length - 3] ^= 0xff; // flip a byte inside the CRC-covered range

      const res = await raw.request(0, 3, 8, produceV3Body(topic, 0, batch));
      expect(res.correlationId).toBe(8);
      expect(parseProduceV3(res.body)).toEqual({ errorCode: 2, baseOffset: -1 });
      // The untouched batch is accepted on the same connection.
      const ok = await raw.request(0, 3, 9, produceV3Body(topic, 0, Buffer.from(fetched.records)));
      expect(parseProduceV3(ok.body)).toEqual({ errorCode: 0, baseOffset: 1 });
    } finally {
      raw.close();
    }
    expect((await admin.fetchTopicOffsets(topic))[0].high).toBe('2');
  });

  it('answers unsupported APIs and versions with UNSUPPORTED_VERSION instead of hanging', async () => {
    const raw = await RawClient.connect(broker.port);
    try {
      const warningsBefore = warnings.length;
      const fetchV11 = await raw.request(1, 11, 21, Buffer.alloc(0));
      expect(fetchV11).toEqual({ correlationId: 21, body: Buffer.from([0, 35]) });
      const unknownApi = await raw.request(57, 0, 22, Buffer.alloc(0));
      expect(unknownApi.body.readInt16BE(0)).toBe(35);
      expect(warnings.length - warningsBefore).toBe(2);

      // ApiVersions at a version we do not know: v0-layout error plus the supported list.
      const apiVersions = await raw.request(18, 3, 23, Buffer.alloc(0));
      expect(apiVersions.body.readInt16BE(0)).toBe(35);
      const count = apiVersions.body.readInt32BE(2);
      const keys = Array.from({ length: count }, (_, i) => apiVersions.body.readInt16BE(6 + i * 6));
      expect(keys).toEqual(expect.arrayContaining([0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 18, 19]));
    } finally {
      raw.close();
    }
  });

  it('answers pipelined requests in order, even behind a long-polling fetch', async () => {
    const topic = uniqueName('pipeline');
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    const raw = await RawClient.connect(broker.port);
    try {
      const order: number[] = [];
      const requests = [
        raw.request(1, 4, 100, fetchV4Body(topic, 0, 0, 300)),
        raw.request(18, 0, 101, Buffer.alloc(0)),
        raw.request(3, 1, 102, Buffer.from([0, 0, 0, 0])),
      ].map((p) => p.then((r) => order.push(r.correlationId)));
      await Promise.all(requests);
      expect(order).toEqual([100, 101, 102]);
    } finally {
      raw.close();
    }
  });

  it('closes only the connection that sent a malformed frame', async () => {
    const bad = await RawClient.connect(broker.port);
    bad.writeRaw(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    await bad.closed;

    const truncated = await RawClient.connect(broker.port);
    // Metadata v1 claiming 1,000,000 topics in a 4-byte body.
    void truncated.request(3, 1, 1, Buffer.from([0x00, 0x0f, 0x42, 0x40]));
    await truncated.closed;

    const topic = uniqueName('after-garbage');
    const [res] = await producer.send({ topic, messages: [{ value: 'still fine' }] });
    expect(res.errorCode).toBe(0);
  });

  describe('retention', () => {
    let small: EmbeddedKafka;
    let smallKafka: Kafka;
    let smallAdmin: Admin;

    beforeAll(async () => {
      small = await startEmbeddedKafka({ maxRecordsPerPartition: 10, minSessionTimeoutMs: 1000, logger: { warn: () => undefined } });
      smallKafka = kafkaClient(small.brokers);
      smallAdmin = smallKafka.admin();
      await smallAdmin.connect();
    });

    afterAll(async () => {
      await smallAdmin?.disconnect();
      await small?.stop();
    });

    it('drops the oldest batches, advances the log start offset and answers OFFSET_OUT_OF_RANGE below it', async () => {
      const topic = 'bounded';
      await smallAdmin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
      const p = smallKafka.producer();
      await p.connect();
      for (let i = 0; i < 50; i++) await p.send({ topic, messages: [{ value: `m${i}` }] });
      await p.disconnect();

      const [offsets] = await smallAdmin.fetchTopicOffsets(topic);
      expect(offsets).toMatchObject({ low: '40', high: '50' });

      const raw = await RawClient.connect(small.port);
      try {
        const res = parseFetchV4((await raw.request(1, 4, 1, fetchV4Body(topic, 0, 5, 0))).body);
        expect(res.errorCode).toBe(1);
      } finally {
        raw.close();
      }

      // A consumer starting from the beginning starts at the log start offset.
      const consumer = smallKafka.consumer({ groupId: 'bounded-group', ...fastGroup });
      const seen: number[] = [];
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void seen.push(Number(message.offset)) });
      try {
        await waitFor(() => seen.length >= 10);
        expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => 40 + i));
      } finally {
        await consumer.disconnect();
      }
    });
  });
});

// --- raw request encoders/decoders for the wire-level tests --------------------

function fetchV4Body(topic: string, partition: number, offset: number, maxWaitMs: number): Buffer {
  const off = Buffer.alloc(8);
  off.writeBigInt64BE(BigInt(offset));
  return Buffer.concat([
    int32(-1),
    int32(maxWaitMs),
    int32(1),
    int32(1 << 20),
    Buffer.from([0]),
    int32(1),
    str(topic),
    int32(1),
    int32(partition),
    off,
    int32(1 << 20),
  ]);
}

function parseFetchV4(body: Buffer) {
  let pos = 4; // throttle
  pos += 4; // topic count (1)
  pos += 2 + body.readInt16BE(pos); // topic name
  pos += 4; // partition count (1)
  pos += 4; // partition
  const errorCode = body.readInt16BE(pos);
  const highWatermark = Number(body.readBigInt64BE(pos + 2));
  pos += 2 + 8 + 8;
  const aborted = body.readInt32BE(pos);
  pos += 4 + Math.max(0, aborted) * 16;
  const recordBytes = body.readInt32BE(pos);
  return { errorCode, highWatermark, recordBytes, records: body.subarray(pos + 4, pos + 4 + Math.max(0, recordBytes)) };
}

function produceV3Body(topic: string, partition: number, records: Buffer): Buffer {
  const acks = Buffer.alloc(2);
  acks.writeInt16BE(-1);
  return Buffer.concat([
    Buffer.from([0xff, 0xff]),
    acks,
    int32(5000),
    int32(1),
    str(topic),
    int32(1),
    int32(partition),
    int32(records.length),
    records,
  ]);
}

function listOffsetsV1Body(topic: string, partition: number, timestamp: number): Buffer {
  const ts = Buffer.alloc(8);
  ts.writeBigInt64BE(BigInt(timestamp));
  return Buffer.concat([int32(-1), int32(1), str(topic), int32(1), int32(partition), ts]);
}

function parseListOffsetsV1(body: Buffer) {
  let pos = 4; // topic count (1)
  pos += 2 + body.readInt16BE(pos); // topic name
  pos += 4 + 4; // partition count (1), partition
  return {
    errorCode: body.readInt16BE(pos),
    timestamp: Number(body.readBigInt64BE(pos + 2)),
    offset: Number(body.readBigInt64BE(pos + 10)),
  };
}

function parseProduceV3(body: Buffer) {
  let pos = 4; // topic count
  pos += 2 + body.readInt16BE(pos);
  pos += 4 + 4; // partition count, partition
  return { errorCode: body.readInt16BE(pos), baseOffset: Number(body.readBigInt64BE(pos + 2)) };
}
