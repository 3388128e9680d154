import { getJson, RunningApp, startTestApp, waitUntilReady } from '../../testkit/app';
import { startStack, TestStack, waitUntilConsumed } from '../../testkit/stack';
import { readMetric } from '../../testkit/metrics';

/**
 * The original lost updates: it read the channel's set, changed it in the JVM and wrote it back.
 * Here two instances of the service share the consumer group and hundreds of users join one channel at once.
 */
let stack: TestStack;
let second: RunningApp;
beforeAll(async () => {
  stack = await startStack('two-instances', { partitions: 6 });
  second = await startTestApp(stack.serviceEnv);
  await waitUntilReady(second.url);
});
afterAll(async () => {
  await second?.close();
  await stack?.stop();
});

it('loses no JOIN when 500 users join one channel at once through two instances', async () => {
  const users = Array.from({ length: 500 }, (_, i) => 10_000 + i);
  await stack.peers.sendMany(
    stack.topics.channelEvents,
    users.map((u) => ({ key: String(u), value: JSON.stringify({ type: 'JOIN', userId: u, guildId: 1, channelId: 2 }) })),
  );
  await waitUntilConsumed(stack);
  for (const url of [stack.app.url, second.url]) {
    const { body } = await getJson(`${url}/guilds/1/states?userIds=1`);
    expect(new Set(body.channelStates['2'])).toEqual(new Set(users.map(String)));
  }
});

it('spreads the partitions over both instances', async () => {
  const applied = (url: string) => readMetric(url, 'state_server_events_total', { outcome: 'applied' });
  // Both instances run in this one process and share prom-client's registry type but not the instance:
  // each app has its own MetricsService, so each count is that instance's own work.
  const [a, b] = await Promise.all([applied(stack.app.url), applied(second.url)]);
  expect(a).toBeGreaterThan(0);
  expect(b).toBeGreaterThan(0);
  expect(a + b).toBe(500);
});
