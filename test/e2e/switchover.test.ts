import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, startTestApp, waitUntilReady, RunningApp } from '../../testkit/app';
import { readMetric } from '../../testkit/metrics';
import { ChatServer, CommunityServer } from '../../testkit/platform-peers';
import { startStack, TestStack, waitUntilConsumed } from '../../testkit/stack';

/**
 * The switch-over from the original state service on its own Redis, through Kafka and HTTP as the
 * peers do it (docs/operations.md): the original's sessions are adopted from its Redis, and the
 * CONNECTs it consumed before the switch - whose DISCONNECTs it never logged - are never applied as
 * live: not by the first start reading from the earliest offset, not by a later rebuild. The point
 * is kept on a topic of ours, outside Redis. The original ran on one Redis: so does this, in every pass.
 */
const jdk = (name: string) => readFileSync(join(__dirname, '..', 'fixtures', 'original-redis', `${name}.bin`));

let stack: TestStack<'none'>;
let app: RunningApp | undefined;

beforeAll(async () => {
  stack = await startStack('switchover', { service: 'none', redis: { single: true } });
});
afterAll(async () => {
  await app?.close();
  await stack?.stop();
});

const states = async (url: string, ids: number[]) => (await new CommunityServer(url).directInfo(ids)).body.connectionStates;

it("adopts the original's sessions and never replays the CONNECTs from before the switch as live, also after a rebuild", async () => {
  // The original's era: users 1 and 3 connected (its CONNECTs are in the log); 3 then disconnected
  // over HTTP (not logged: the original deleted its session key). Its Redis says 1 is online.
  const before = await ChatServer.start(stack.kafka.kafka, stack.topics.sessionEvents, 'http://unused');
  await before.connect('sockA', 1);
  await before.connect('sock3', 3);
  await before.stop();
  await stack.redis.client.set('sockA', '1', 'EX', 60000);
  await stack.redis.client.hset('USER:STATE', jdk('string-1'), jdk('string-online'));
  await stack.redis.client.hset('USER:STATE', jdk('string-3'), jdk('string-offline'));

  // The switch: our first start (from the earliest offset, the default) on that Redis.
  app = await startTestApp(stack.serviceEnv);
  await waitUntilReady(app.url);
  const chat = await ChatServer.start(stack.kafka.kafka, stack.topics.sessionEvents, app.url);
  try {
    await chat.connect('sock2', 2); // after the switch
    await waitUntilConsumed(stack);
    await eventually(async () => expect(await states(app!.url, [1, 2, 3])).toEqual({ '1': 'online', '2': 'online', '3': 'offline' }));
    expect(await readMetric(app.url, 'state_server_events_total', { outcome: 'ignored', reason: 'before_switchover' })).toBe(2);
    // The socket opened before the switch closes: its DISCONNECT answers its user (from the original's session key).
    expect((await chat.disconnect('sockA')).body).toMatchObject({ isSuccess: true, result: '1' });

    // Redis is lost; a new consumer group replays both topics from the start into the empty Redis.
    await app.close();
    app = undefined;
    await stack.redis.flush();
    const groupId = `${stack.topics.groupId}-replay`;
    app = await startTestApp({ ...stack.serviceEnv, KAFKA_GROUP_ID: groupId });
    await waitUntilReady(app.url);
    await waitUntilConsumed({ kafka: stack.kafka, topics: { ...stack.topics, groupId } });
    await eventually(async () => expect(await states(app!.url, [1, 2, 3])).toEqual({ '1': 'offline', '2': 'online', '3': 'offline' }));
    expect(await readMetric(app.url, 'state_server_events_total', { outcome: 'ignored', reason: 'before_switchover' })).toBe(2);
  } finally {
    await chat.stop();
  }
});
