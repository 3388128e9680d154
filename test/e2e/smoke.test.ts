import { eventually, getJson } from '../../testkit/app';
import { startStack, TestStack } from '../../testkit/stack';

let stack: TestStack;
beforeAll(async () => (stack = await startStack('smoke')));
afterAll(() => stack?.stop());

it('shows a connected user in voice', async () => {
  await stack.peers.connect('s1', 1, { guildIds: [100] });
  await stack.peers.join(1, 100, 10);
  await eventually(async () => {
    const { body } = await getJson(`${stack.app.url}/guilds/100/states?userIds=1,2`);
    expect(body).toEqual({ guildId: '100', connectionStates: { '1': 'online', '2': 'offline' }, channelStates: { '10': ['1'] } });
  });
});

it('answers a GET naming as many 18-digit userIds as MAX_QUERY_USER_IDS allows (1,000)', async () => {
  const ids = Array.from({ length: 1000 }, (_, i) => String(100_000_000_000_000_000n + BigInt(i)));
  const { status, body } = await getJson(`${stack.app.url}/guilds/100/states?userIds=${ids.join(',')}`);
  expect(status).toBe(200);
  expect(Object.keys(body.connectionStates)).toHaveLength(1000);
  expect(body.connectionStates[ids[999]]).toBe('offline');
});

it('does not rate limit by default', async () => {
  const statuses = await Promise.all(
    Array.from({ length: 200 }, () => getJson(`${stack.app.url}/guilds/100/states?userIds=1`).then((r) => r.status)),
  );
  expect(new Set(statuses)).toEqual(new Set([200]));
});
