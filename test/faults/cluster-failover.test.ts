import { Logger } from '@nestjs/common';
import { Producer } from 'kafkajs';
import { SessionEvent } from '../../src/sessions/session-event';
import { ChannelEvent } from '../../src/voice/channel-event';
import { decodeEvent } from '../../src/ingest/event-decoding';
import { KeyLayout, keySlot } from '../../src/state-store/redis-keys';
import { eventually } from '../../testkit/eventually';
import { createTopics, kafkaEnv, startTestKafka, TestKafka, uniqueTopics } from '../../testkit/kafka';
import { startTestRedisCluster, TestRedisCluster } from '../../testkit/redis-cluster';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';
import { ServiceProcess } from '../../testkit/service-process';
import { waitUntilConsumed } from '../../testkit/stack';
import { StateHarness } from '../../testkit/state-harness';
import { readStoredState } from '../../testkit/stored-state';
import { readMetric } from '../../testkit/metrics';

/**
 * A Redis Cluster master dies and its replica takes over, having missed the master's last writes
 * (replication is asynchronous; here the link is cut first, so the loss is certain rather than
 * lucky). The service notices the new master, rewinds its partitions by
 * REDIS_FAILOVER_REPLAY_SECONDS and replays: in the end the cluster holds exactly what the same
 * records give on a single Redis - nothing lost (the replay restores the lost writes), nothing
 * applied twice (the counters and the channels' members are exact).
 */

interface Produced {
  topic: 'session' | 'channel';
  key: string;
  event: Record<string, unknown>;
  atMs: number;
}

let kafka: TestKafka;
let cluster: TestRedisCluster;
let reference: TestRedis;
let harness: StateHarness;
let producer: Producer;
let topics: ReturnType<typeof uniqueTopics>;
let service: ServiceProcess | undefined;
const produced: Produced[] = [];

beforeAll(async () => {
  Logger.overrideLogger(false); // the reference store, flushed for each comparison, would report its state as lost
  [kafka, cluster, reference] = await Promise.all([
    startTestKafka(),
    startTestRedisCluster({ masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 2000 }),
    startTestRedis({ single: true }),
  ]);
  topics = uniqueTopics('cluster-failover');
  await createTopics(kafka.kafka, [topics.sessionEvents, topics.channelEvents], 4);
  producer = kafka.kafka.producer();
  await producer.connect();
  harness = new StateHarness(reference.env, { VOICE_GRACE_SECONDS: '0' });
  await harness.ready();
}, 90000);
afterAll(async () => {
  await service?.stop();
  await producer?.disconnect().catch(() => undefined);
  harness?.close();
  await reference?.stop();
  await cluster?.stop();
  await kafka?.stop();
});

const USERS = Array.from({ length: 400 }, (_, i) => 10_000 + i);
const guildOf = (u: number) => 500 + (u % 7);

/** Sends the records, each keyed by its user (one user's records keep their order) with its own timestamp. */
async function produce(records: Produced[]): Promise<void> {
  produced.push(...records);
  for (const topic of ['session', 'channel'] as const) {
    const messages = records
      .filter((r) => r.topic === topic)
      .map((r) => ({ key: r.key, value: JSON.stringify(r.event), timestamp: String(r.atMs) }));
    if (messages.length > 0)
      await producer.send({ topic: topic === 'session' ? topics.sessionEvents : topics.channelEvents, acks: -1, messages });
  }
}

/** Each user: a CONNECT listing two guilds, a JOIN. */
function firstRound(t: number): Produced[] {
  return USERS.flatMap((u) => [
    {
      topic: 'session' as const,
      key: String(u),
      event: { type: 'CONNECT', sessionId: `a${u}`, userId: u, state: 'online', guildIds: [guildOf(u), guildOf(u) + 100] },
      atMs: t,
    },
    {
      topic: 'channel' as const,
      key: String(u),
      event: { type: 'JOIN', userId: u, guildId: guildOf(u), channelId: 40 + (u % 3) },
      atMs: t + 1,
    },
  ]);
}

/** Moves, second devices, DISCONNECTs naming no user, LEAVEs. */
function secondRound(t: number): Produced[] {
  return USERS.flatMap((u) => {
    const records: Produced[] = [
      { topic: 'channel', key: String(u), event: { type: 'JOIN', userId: u, guildId: guildOf(u), channelId: 43 + (u % 2) }, atMs: t },
    ];
    if (u % 4 === 0)
      records.push({
        topic: 'session',
        key: String(u),
        event: { type: 'CONNECT', sessionId: `b${u}`, userId: u, state: 'idle', guildIds: [guildOf(u) + 200] },
        atMs: t + 1,
      });
    if (u % 3 === 0) records.push({ topic: 'session', key: String(u), event: { type: 'DISCONNECT', sessionId: `a${u}` }, atMs: t + 2 });
    if (u % 5 === 0)
      records.push({
        topic: 'channel',
        key: String(u),
        event: { type: 'LEAVE', userId: u, guildId: guildOf(u), channelId: 43 + (u % 2) },
        atMs: t + 3,
      });
    return records;
  });
}

/** After the failover: more moves and ends. */
function thirdRound(t: number): Produced[] {
  return USERS.flatMap((u) => {
    const records: Produced[] = [];
    if (u % 2 === 0)
      records.push({
        topic: 'channel',
        key: String(u),
        event: { type: 'JOIN', userId: u, guildId: guildOf(u) + 100, channelId: 60 },
        atMs: t,
      });
    if (u % 4 === 0)
      records.push({ topic: 'session', key: String(u), event: { type: 'DISCONNECT', sessionId: `b${u}`, userId: u }, atMs: t + 1 });
    return records;
  });
}

/** The same records applied on one Redis through the service's own rules, in the order produced. */
async function referenceState() {
  await reference.flush();
  for (const r of produced) {
    if (r.topic === 'session')
      await harness.sessions.applyAll([
        { event: decodeEvent(Buffer.from(JSON.stringify(r.event)), SessionEvent, 65536), timestampMs: r.atMs },
      ]);
    else
      await harness.voice.applyAll([
        { event: decodeEvent(Buffer.from(JSON.stringify(r.event)), ChannelEvent, 65536), timestampMs: r.atMs },
      ]);
  }
  return readStoredState(reference.client);
}

/** Sum of a metric's samples (those with the given labels). */
const metric = (name: string, labels: Record<string, string> = {}) => readMetric(service!.url, name, labels);

it('loses nothing and applies nothing twice when a master fails over having missed its last writes', async () => {
  service = await ServiceProcess.start({
    ...kafkaEnv(kafka.brokers, topics),
    REDIS_CLUSTER_NODES: cluster.seeds.join(','),
    VOICE_GRACE_SECONDS: '0',
    REDIS_FAILOVER_REPLAY_SECONDS: '30',
  });
  const settled = () => waitUntilConsumed({ kafka, topics }, 60000);
  const t = Date.now();
  await produce(firstRound(t));
  await settled();

  // The master of user 10000's bucket: from now on, what it accepts exists on it alone.
  const keys = new KeyLayout(true);
  const doomed = cluster.client.slots[keySlot(keys.userStatesOf('10000'))][0];
  expect(await cluster.replicasOf(doomed)).toHaveLength(1);
  await cluster.severReplication(doomed);
  await produce(secondRound(t + 10));
  await settled();
  const offsets = await cluster.replicationOffsets(doomed);
  expect(offsets.replicas.every((o) => o < offsets.master)).toBe(true);

  await cluster.kill(doomed);
  // Until its replica takes over (2-3 s), the service is not ready and says which node is down:
  // watched from the moment of the kill, as the window closes with the failover.
  const reportedDown = eventually(
    async () => {
      const res = await fetch(`${service!.url}/health/ready`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { details: { redis: { nodes: Record<string, string> } } };
      expect(body.details.redis.nodes[doomed]).toMatch(/^down/);
    },
    5000,
    50,
  );
  // Records keep coming while the master is gone: the service waits, retrying, until its replica serves.
  await Promise.all([produce(thirdRound(t + 20)), reportedDown]);
  await cluster.waitUntilHealthy();
  expect(await cluster.masters()).not.toContain(doomed);
  await settled();

  const expected = await referenceState();
  expect(Object.keys(expected.userStates)).toHaveLength(USERS.length);
  await eventually(async () => expect(await readStoredState(cluster.client)).toEqual(expected), 60000, 500);
  expect(await metric('state_server_redis_replays_total')).toBeGreaterThanOrEqual(1);
  // It paused (failed round trips, retried) while the master was gone, and dead-lettered nothing.
  expect(await metric('state_server_events_total', { outcome: 'dead_lettered' })).toBe(0);
  expect(await metric('state_server_events_total', { outcome: 'applied' })).toBeGreaterThan(1000);
  expect(await metric('state_server_redis_errors_total')).toBeGreaterThan(0);
  await eventually(
    async () => {
      const res = await fetch(`${service!.url}/health/ready`);
      const body = JSON.stringify(await res.json());
      expect(`${res.status} ${body}`).toMatch(/^200 /);
    },
    20000,
    200,
  );

  // The old master comes back (empty) and rejoins as a replica: nothing changes.
  await cluster.restart(doomed);
  await cluster.waitUntilHealthy();
  await produce(thirdRound(t + 30));
  await settled();
  await eventually(async () => expect(await readStoredState(cluster.client)).toEqual(await referenceState()), 30000, 500);
}, 240000);
