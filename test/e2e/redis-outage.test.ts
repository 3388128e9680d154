import { eventually, getJson } from '../../testkit/app';
import { startStack, TestStack } from '../../testkit/stack';

/**
 * Redis goes away mid-stream and comes back (with its data, as a production Redis with AOF does).
 * The service must pause, answer HTTP with 503 quickly, skip nothing, and catch up afterwards.
 */
let stack: TestStack;
beforeAll(async () => {
  stack = await startStack('outage', { redis: { persistent: true }, env: { REDIS_COMMAND_TIMEOUT_MS: '500' } });
});
afterAll(() => stack?.stop());

it('applies every event produced while Redis was down once it is back', async () => {
  const { peers, redis, app } = stack;
  const users = Array.from({ length: 200 }, (_, i) => i + 1);
  // Before the outage: users 1-100 connect.
  for (const u of users.slice(0, 100)) await peers.connect(`before-${u}`, u, { guildIds: [7] });
  await eventually(async () => expect(await redis.client.hlen('USER:STATE')).toBe(100));

  await redis.kill();

  // During the outage: HTTP fails fast with 503, the stream keeps coming.
  const started = Date.now();
  const { status, body } = await getJson(`${app.url}/guilds/7/states?userIds=1`);
  expect(status).toBe(503);
  expect(body.message).toMatch(/Redis/);
  expect(Date.now() - started).toBeLessThan(5000);
  await eventually(async () => expect((await getJson(`${app.url}/health/ready`)).status).toBe(503));

  for (const u of users.slice(100)) await peers.connect(`during-${u}`, u, { guildIds: [7] });
  for (const u of users.slice(0, 50)) await peers.disconnect(`before-${u}`, u);
  for (const u of users.slice(100, 150)) await peers.join(u, 7, 70);

  await new Promise((r) => setTimeout(r, 1500)); // the consumer retries against a dead Redis meanwhile
  await redis.restart();

  await eventually(async () => {
    const { status: code, body: answer } = await getJson(`${app.url}/guilds/7/states`);
    expect(code).toBe(200);
    const online = Object.entries(answer.connectionStates)
      .filter(([, s]) => s === 'online')
      .map(([u]) => Number(u));
    expect(online.sort((a, b) => a - b)).toEqual(users.slice(50));
    expect(answer.channelStates['70']).toHaveLength(50);
  }, 30000);
  expect((await getJson(`${app.url}/health/ready`)).status).toBe(200);
  const offline = await redis.client.hmget('USER:STATE', ...users.slice(0, 50).map(String));
  expect(new Set(offline)).toEqual(new Set(['offline']));
});
