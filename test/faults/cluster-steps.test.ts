import { Logger } from '@nestjs/common';
import { KeyLayout } from '../../src/state-store/redis-keys';
import { postJson } from '../../testkit/app';
import { eventually } from '../../testkit/eventually';
import { eventsSeen } from '../../testkit/fault-env';
import { createTopics, kafkaEnv, startTestKafka, TestKafka, uniqueTopics } from '../../testkit/kafka';
import { Peers } from '../../testkit/peers';
import { startTestRedisCluster, TestRedisCluster } from '../../testkit/redis-cluster';
import { ServiceProcess } from '../../testkit/service-process';
import { waitUntilConsumed } from '../../testkit/stack';

/**
 * On Redis Cluster an event that changes two buckets is applied in steps (docs/cluster.md): the
 * user's bucket first, then its follow-ups in the guild's (or session id's) bucket. Here the
 * built service (dist/main.js) dies right after the first step (testkit/faults/exit-between-steps.ts,
 * preloaded), so the second never ran and the record's offset was never committed; a new instance
 * then converges:
 * - by redelivery alone (the outboxes wiped): the first step, applied again, finds nothing new but
 *   sends the current state of everything the event touched, including the seat a move left;
 * - by the outbox alone, for an HTTP DISCONNECT, which no Kafka record redelivers when the process
 *   dies before answering: any instance applies follow-ups left in an outbox a few seconds later.
 */

const keys = new KeyLayout(true);
let kafka: TestKafka;
let cluster: TestRedisCluster;
let peers: Peers;
let topics: ReturnType<typeof uniqueTopics>;
let env: Record<string, string>;
let service: ServiceProcess | undefined;

beforeAll(async () => {
  Logger.overrideLogger(['error']);
  [kafka, cluster] = await Promise.all([startTestKafka(), startTestRedisCluster()]);
  topics = uniqueTopics('cluster-steps');
  await createTopics(kafka.kafka, [topics.sessionEvents, topics.channelEvents], 2);
  peers = await Peers.connect(kafka.kafka, topics);
  env = {
    ...kafkaEnv(kafka.brokers, topics),
    REDIS_CLUSTER_NODES: cluster.seeds.join(','),
    VOICE_GRACE_SECONDS: '0',
  };
}, 60000);
afterAll(async () => {
  await service?.stop();
  await peers?.close().catch(() => undefined);
  await cluster?.stop();
  await kafka?.stop();
});

const view = async (guildId: string) => {
  const raw = await cluster.client.hgetall(keys.guildChannels(guildId));
  return Object.fromEntries(Object.entries(raw).map(([c, v]) => [c, JSON.parse(v) as string[]]));
};
const onlineIn = (guildId: string) => cluster.client.smembers(keys.guildOnline(guildId));
const settled = () => waitUntilConsumed({ kafka, topics }, 30000);

/** Starts the service with the fault preloaded, waits until it has died between the steps (exit code 70). */
async function dieBetweenSteps(trigger: (dying: ServiceProcess) => Promise<unknown>): Promise<void> {
  await service?.stop();
  const dying = await ServiceProcess.start(env, 'dying service', { fault: 'exit-between-steps' });
  await trigger(dying).catch(() => undefined); // an HTTP request gets no answer: the process is gone
  await eventually(async () => expect(dying.running).toBe(false), 20000, 50);
  expect(await dying.kill()).toBe(70);
  service = undefined;
}

async function wipeOutboxes(): Promise<void> {
  await Promise.all(keys.buckets.map((b) => cluster.client.del(keys.outbox(b))));
}

it('completes a move after dying between its steps, by redelivery alone: the seat it left is sent again', async () => {
  service = await ServiceProcess.start(env);
  await peers.connect('s1', 7, { guildIds: [100] });
  await peers.join(7, 100, 5);
  await settled();
  expect(await view('100')).toEqual({ '5': ['7'] });

  await dieBetweenSteps(() => peers.join(7, 100, 6));
  // Step 1 ran (the user's registers moved to channel 6), step 2 did not (the view still says 5).
  expect(await cluster.client.hget(keys.userVoice('7'), 'J|100')).toMatch(/^\d+\|100\|6\|$/);
  expect(await view('100')).toEqual({ '5': ['7'] });
  await wipeOutboxes(); // leave redelivery as the only way out

  service = await ServiceProcess.start(env);
  await eventually(async () => expect(await view('100')).toEqual({ '6': ['7'] }), 20000, 100);
  expect(await eventsSeen(service, 'duplicate')).toBeGreaterThanOrEqual(1); // the JOIN, redelivered
  expect(await onlineIn('100')).toEqual(['7']);
});

it('completes a DISCONNECT naming no user after dying between its steps, by redelivery', async () => {
  await dieBetweenSteps(() => peers.disconnect('s1'));
  // Its user's bucket says offline; the guild's online set was not told yet.
  expect(await cluster.client.hget(keys.userStatesOf('7'), '7')).toBe('offline');
  expect(await onlineIn('100')).toEqual(['7']);
  await wipeOutboxes();

  service = await ServiceProcess.start(env);
  await eventually(async () => expect(await onlineIn('100')).toEqual([]), 20000, 100);
  // The session id's claims know the session ended: a replayed CONNECT cannot take the id back.
  await eventually(
    async () => expect(await cluster.client.hget(`${keys.prefix(keys.bucketOf('s1'))}SESSION_OWNERS:s1`, '7')).toMatch(/\|e$/),
    10000,
    100,
  );
});

it('completes an HTTP DISCONNECT whose instance died between the steps before answering, from the outbox', async () => {
  await peers.connect('s2', 8, { guildIds: [200] });
  await peers.join(8, 200, 20);
  await settled();
  expect(await onlineIn('200')).toEqual(['8']);

  await dieBetweenSteps((dying) => postJson(`${dying.url}/api/state/update/session`, { type: 'DISCONNECT', sessionId: 's2' }));
  expect(await cluster.client.hget(keys.userStatesOf('8'), '8')).toBe('offline');
  expect(await onlineIn('200')).toEqual(['8']);

  // No Kafka record to redeliver (the route appends it after applying): the outbox completes it.
  service = await ServiceProcess.start(env);
  await eventually(async () => expect(await onlineIn('200')).toEqual([]), 20000, 100);
  expect(await view('200')).toEqual({ '20': ['8'] }); // voice is the signaling server's: the seat stays
}, 60000);
