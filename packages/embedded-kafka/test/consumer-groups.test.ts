/**
 * Consumer groups on the embedded broker: partition split, rebalances on
 * join/leave/session expiry, exactly-once delivery across a group with a
 * restart from committed offsets, eachBatch concurrency, and Nest's ServerKafka.
 */
import { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import { ServerKafka } from '@nestjs/microservices';
import { startEmbeddedKafka, EmbeddedKafka } from '../src';
import { RawClient, fastGroup, int32, kafkaClient, sleep, str, uniqueName, waitFor } from './helpers';

type Assignment = Record<string, number[]>;

describe('embedded kafka consumer groups', () => {
  let broker: EmbeddedKafka;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  const running: Consumer[] = [];

  beforeAll(async () => {
    // Test brokers usually lower group.min.session.timeout.ms, as here, for sub-second rebalances (fastGroup).
    broker = await startEmbeddedKafka({ port: 0, minSessionTimeoutMs: 1000, logger: { warn: () => undefined } });
    kafka = kafkaClient(broker.brokers);
    admin = kafka.admin();
    producer = kafka.producer();
    await Promise.all([admin.connect(), producer.connect()]);
  });

  afterAll(async () => {
    await Promise.all(running.map((c) => c.disconnect().catch(() => undefined)));
    await Promise.all([admin?.disconnect(), producer?.disconnect()]);
    await broker?.stop();
  });

  /** A group member that tracks its latest assignment and every message it sees. */
  async function member(
    groupId: string,
    topic: string,
    onMessage: (m: { partition: number; offset: number; key: string; value: string }) => void,
  ) {
    const consumer = kafka.consumer({ groupId, ...fastGroup });
    running.push(consumer);
    const state = { assignment: {} as Assignment };
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      state.assignment = payload.memberAssignment;
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) =>
        onMessage({ partition, offset: Number(message.offset), key: String(message.key), value: String(message.value) }),
    });
    return {
      consumer,
      state,
      partitions: () => (state.assignment[topic] ?? []).slice().sort(),
      stop: async () => {
        running.splice(running.indexOf(consumer), 1);
        await consumer.disconnect();
      },
    };
  }

  async function committedTotal(groupId: string, topic: string): Promise<number> {
    const [{ partitions }] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
  }

  async function produceKeyed(topic: string, from: number, to: number, keys = 100): Promise<void> {
    const all = [];
    for (let i = from; i < to; i++) all.push({ key: `key-${i % keys}`, value: `key-${i % keys}:${i}` });
    for (let i = 0; i < all.length; i += 500) await producer.send({ topic, messages: all.slice(i, i + 500) });
  }

  it('splits 10,000 keyed messages exactly once across 2 members, in key order, and resumes from commits after a restart', async () => {
    const topic = uniqueName('exactly-once');
    const groupId = uniqueName('eo-group');
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });

    const seen = new Map<string, number>(); // "partition/offset" -> deliveries
    const seqByKey = new Map<string, number[]>();
    const record = (who: string[]) => (m: { partition: number; offset: number; key: string; value: string }) => {
      const id = `${m.partition}/${m.offset}`;
      seen.set(id, (seen.get(id) ?? 0) + 1);
      who.push(id);
      const seqs = seqByKey.get(m.key) ?? [];
      seqs.push(Number(m.value.split(':')[1]));
      seqByKey.set(m.key, seqs);
    };
    const gotA: string[] = [];
    const gotB: string[] = [];
    const a = await member(groupId, topic, record(gotA));
    const b = await member(groupId, topic, record(gotB));
    await waitFor(
      () => a.partitions().length + b.partitions().length === 3 && a.partitions().length > 0 && b.partitions().length > 0,
      20000,
      'split',
    );
    expect([...a.partitions(), ...b.partitions()].sort()).toEqual([0, 1, 2]);

    await produceKeyed(topic, 0, 10_000);
    await waitFor(() => seen.size >= 10_000, 30000, '10,000 messages');
    await waitFor(async () => (await committedTotal(groupId, topic)) === 10_000, 10000, 'commits');
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(gotA.length).toBeGreaterThan(0);
    expect(gotB.length).toBeGreaterThan(0);
    for (const seqs of seqByKey.values()) expect(seqs).toEqual([...seqs].sort((x, y) => x - y));

    // One member restarts: the other takes over, then the newcomer gets its share back
    // and continues from the committed offsets.
    await a.stop();
    await waitFor(() => b.partitions().length === 3, 20000, 'b owns all partitions');
    await produceKeyed(topic, 10_000, 10_500);
    await waitFor(() => seen.size >= 10_500, 20000, '10,500 messages');
    await waitFor(async () => (await committedTotal(groupId, topic)) === 10_500, 10000, 'commits');

    const [{ partitions: committedBeforeRestart }] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const gotA2: string[] = [];
    const a2 = await member(groupId, topic, record(gotA2));
    await waitFor(
      () => a2.partitions().length > 0 && b.partitions().length + a2.partitions().length === 3,
      20000,
      'rebalance after restart',
    );
    await produceKeyed(topic, 10_500, 11_000);
    await waitFor(() => seen.size >= 11_000, 20000, '11,000 messages');
    await sleep(300);
    expect(seen.size).toBe(11_000);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(gotA2.length).toBeGreaterThan(0);
    // The restarted member saw only new messages: nothing below the offsets committed before it joined.
    for (const id of gotA2) {
      const [partition, offset] = id.split('/').map(Number);
      const committed = Number(committedBeforeRestart.find((p) => p.partition === partition)!.offset);
      expect(offset).toBeGreaterThanOrEqual(committed);
    }
    for (const seqs of seqByKey.values()) expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    await Promise.all([a2.stop(), b.stop()]);
  });

  it('rebalances when a member joins and when one leaves', async () => {
    const topic = uniqueName('rebalance');
    const groupId = uniqueName('rb-group');
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
    const a = await member(groupId, topic, () => undefined);
    await waitFor(() => a.partitions().length === 3, 10000, 'a owns all');
    const b = await member(groupId, topic, () => undefined);
    await waitFor(() => b.partitions().length > 0 && a.partitions().length + b.partitions().length === 3, 15000, 'split after join');
    await b.stop();
    await waitFor(() => a.partitions().length === 3, 15000, 'a owns all after leave');
    const described = await admin.describeGroups([groupId]);
    expect(described.groups[0]).toMatchObject({ groupId, state: 'Stable', protocolType: 'consumer' });
    expect(described.groups[0].members).toHaveLength(1);
    await a.stop();
  });

  it('expires a member that stops heartbeating and rebalances the others', async () => {
    const topic = uniqueName('expiry');
    const groupId = uniqueName('expiry-group');
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
    const a = await member(groupId, topic, () => undefined);
    await waitFor(() => a.partitions().length === 3, 10000, 'a owns all');

    // A hand-rolled member joins with a 1 s session, syncs, then goes silent (as if it died).
    const raw = await RawClient.connect(broker.port);
    try {
      const join = await raw.request(11, 2, 1, joinGroupV2Body(groupId, 1000, 3000, topic));
      const joined = parseJoinGroupV2(join.body);
      expect(joined.errorCode).toBe(0);
      const sync = await raw.request(14, 0, 2, syncGroupV0Body(groupId, joined.generationId, joined.memberId));
      expect(sync.body.readInt16BE(0)).toBe(0);
      await waitFor(() => a.partitions().length < 3, 10000, 'a gives up partitions to the raw member');
      // No heartbeats from here on: after the session timeout the group rebalances back.
      await waitFor(() => a.partitions().length === 3, 10000, 'a owns all after expiry');
      const heartbeat = await raw.request(12, 0, 3, heartbeatV0Body(groupId, joined.generationId, joined.memberId));
      expect(heartbeat.body.readInt16BE(0)).toBe(25); // UNKNOWN_MEMBER_ID
    } finally {
      raw.close();
    }
    await a.stop();
  });

  it('refuses a session timeout outside group.min/max.session.timeout.ms (6 s and 30 min by default), as Kafka does', async () => {
    const strict = await startEmbeddedKafka({ logger: { warn: () => undefined } });
    const raw = await RawClient.connect(strict.port);
    try {
      const groupId = uniqueName('bounds-group');
      const join = async (sessionTimeout: number, correlationId: number) =>
        parseJoinGroupV2((await raw.request(11, 2, correlationId, joinGroupV2Body(groupId, sessionTimeout, 3000, 'any'))).body).errorCode;
      expect(await join(5999, 1)).toBe(26); // INVALID_SESSION_TIMEOUT
      expect(await join(1_800_001, 2)).toBe(26);
      expect(await join(6000, 3)).toBe(0);
    } finally {
      raw.close();
      await strict.stop();
    }
  });

  it.each([
    ['no-offsets', undefined, ['-1']],
    ['GROUP_ID_NOT_FOUND', 'GROUP_ID_NOT_FOUND', 'The group id was not found'],
  ] as const)('answers OffsetFetch of a group it never saw with %s when so configured', async (_, setting, expected) => {
    const other = await startEmbeddedKafka({ unknownGroupOffsetFetch: setting, logger: { warn: () => undefined } });
    const client = kafkaClient(other.brokers, { retry: { retries: 0 } });
    const otherAdmin = client.admin();
    await otherAdmin.connect();
    try {
      const topic = uniqueName('unknown-group');
      await otherAdmin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
      const fetched = otherAdmin.fetchOffsets({ groupId: uniqueName('never-seen'), topics: [topic] });
      if (typeof expected === 'string') await expect(fetched).rejects.toThrow(expected);
      else expect((await fetched)[0].partitions.map((p) => p.offset)).toEqual(expected);
      // A group that committed is known either way: its offsets are answered.
      const groupId = uniqueName('committed');
      await otherAdmin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '0' }] });
      expect((await otherAdmin.fetchOffsets({ groupId, topics: [topic] }))[0].partitions).toEqual([
        expect.objectContaining({ partition: 0, offset: '0' }),
      ]);
    } finally {
      await otherAdmin.disconnect();
      await other.stop();
    }
  });

  it('serves eachBatch consumers with partitionsConsumedConcurrently, resolveOffset and heartbeat', async () => {
    const topic = uniqueName('each-batch');
    const groupId = uniqueName('batch-group');
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
    const seen = new Map<string, number>();
    const makeConsumer = async () => {
      const consumer = kafka.consumer({ groupId, ...fastGroup });
      running.push(consumer);
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        partitionsConsumedConcurrently: 3,
        eachBatchAutoResolve: false,
        autoCommit: true,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          for (const message of batch.messages) {
            if (!isRunning() || isStale()) break;
            const id = `${batch.partition}/${message.offset}`;
            seen.set(id, (seen.get(id) ?? 0) + 1);
            resolveOffset(message.offset);
          }
          await heartbeat();
        },
      });
      return consumer;
    };
    const c1 = await makeConsumer();
    const c2 = await makeConsumer();
    await sleep(500);
    await produceKeyed(topic, 0, 3000, 30);
    await waitFor(() => seen.size >= 3000, 20000, '3000 messages');
    await waitFor(async () => (await committedTotal(groupId, topic)) === 3000, 10000, 'commits');
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    for (const c of [c1, c2]) {
      running.splice(running.indexOf(c), 1);
      await c.disconnect();
    }
  });

  it('works as the transport of a Nest ServerKafka microservice', async () => {
    const topic = uniqueName('nest-events');
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
    const server = new ServerKafka({
      client: {
        brokers: broker.brokers,
        clientId: 'nest-test',
        logCreator: () => () => undefined,
        retry: { retries: 5, initialRetryTime: 50 },
      },
      consumer: { groupId: uniqueName('nest-group'), ...fastGroup },
      subscribe: { fromBeginning: true },
    });
    const events: unknown[] = [];
    server.addHandler(topic, async (data: unknown) => void events.push(data), true);
    await new Promise<void>((resolve, reject) => {
      void server.listen((err?: unknown) => (err ? reject(err instanceof Error ? err : new Error(JSON.stringify(err))) : resolve()));
    });
    try {
      await producer.send({
        topic,
        messages: Array.from({ length: 20 }, (_, i) => ({ key: `u${i % 4}`, value: JSON.stringify({ n: i }) })),
      });
      await waitFor(() => events.length >= 20, 20000, 'nest events');
      expect(events.map((e) => (e as { n: number }).n).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    } finally {
      await server.close();
    }
  });
});

// --- raw group requests for the "dead member" test ---------------------------

function bytes(b: Buffer): Buffer {
  return Buffer.concat([int32(b.length), b]);
}

/** ConsumerProtocol subscription v0: version, topics, user data. */
function subscription(topic: string): Buffer {
  return Buffer.concat([Buffer.from([0, 0]), int32(1), str(topic), int32(-1)]);
}

function joinGroupV2Body(groupId: string, sessionTimeout: number, rebalanceTimeout: number, topic: string): Buffer {
  // kafkajs's default assignor is RoundRobinAssigner; the raw member must speak it too.
  return Buffer.concat([
    str(groupId),
    int32(sessionTimeout),
    int32(rebalanceTimeout),
    str(''),
    str('consumer'),
    int32(1),
    str('RoundRobinAssigner'),
    bytes(subscription(topic)),
  ]);
}

function parseJoinGroupV2(body: Buffer) {
  let pos = 4;
  const errorCode = body.readInt16BE(pos);
  const generationId = body.readInt32BE(pos + 2);
  pos += 6;
  pos += 2 + body.readInt16BE(pos); // protocol
  pos += 2 + body.readInt16BE(pos); // leader
  const len = body.readInt16BE(pos);
  const memberId = body.toString('utf8', pos + 2, pos + 2 + len);
  return { errorCode, generationId, memberId };
}

function syncGroupV0Body(groupId: string, generationId: number, memberId: string): Buffer {
  return Buffer.concat([str(groupId), int32(generationId), str(memberId), int32(0)]);
}

function heartbeatV0Body(groupId: string, generationId: number, memberId: string): Buffer {
  return Buffer.concat([str(groupId), int32(generationId), str(memberId)]);
}
