import { eventually, getJson } from '../../testkit/app';
import { startStack, TestStack, waitUntilConsumed } from '../../testkit/stack';

/** The chat and signaling servers publish through Kafka exactly as in production; the community server asks over HTTP. */
let stack: TestStack;
beforeAll(async () => (stack = await startStack('presence')));
afterAll(() => stack?.stop());

const states = async (guildId: number | string | bigint, userIds: (number | string | bigint)[]) =>
  (await getJson(`${stack.app.url}/guilds/${guildId}/states?userIds=${userIds.join(',')}`)).body;

/** Returns once the service has applied every event produced so far. */
const settled = () => waitUntilConsumed(stack);

it('keeps a user online while another of their sessions is live', async () => {
  const { peers } = stack;
  await peers.connect('u1-phone', 1001, { guildIds: [1] });
  await peers.connect('u1-desktop', 1001, { guildIds: [1] });
  await peers.join(1001, 1, 99);
  await peers.disconnect('u1-phone'); // no userId: found from the session
  await settled();
  expect((await states(1, [1001])).connectionStates).toEqual({ '1001': 'online' });

  await peers.disconnect('u1-desktop');
  await settled();
  expect((await states(1, [1001])).connectionStates).toEqual({ '1001': 'offline' });
  // Voice lives on the signaling server's own socket: the seat stays until its LEAVE (or the grace period).
  expect((await states(1, [1001])).channelStates['99']).toEqual(['1001']);
});

it('changes nothing when the same events are delivered again', async () => {
  const { peers } = stack;
  await peers.connect('u2-a', 1002);
  await peers.disconnect('u2-a', 1002);
  await peers.connect('u2-a', 1002); // redelivered CONNECT after its DISCONNECT
  await peers.disconnect('u2-a', 1002);
  await settled();
  expect((await states(2, [1002])).connectionStates).toEqual({ '1002': 'offline' });
});

it('leaves no ghost online when a DISCONNECT overtakes its CONNECT', async () => {
  const { peers } = stack;
  await peers.disconnect('u3-a', 1003);
  await peers.connect('u3-a', 1003);
  await settled();
  expect((await states(3, [1003])).connectionStates).toEqual({ '1003': 'offline' });
});

it('moves a user from one voice channel to another and removes the emptied channel', async () => {
  const { peers } = stack;
  await peers.connect('u4-a', 1004);
  await peers.join(1004, 4, 40);
  await peers.join(1005, 4, 40);
  await peers.join(1004, 4, 41); // a move: JOIN of another channel without LEAVE
  await peers.leave(1005, 4, 40);
  await peers.leave(1005, 4, 41); // LEAVE of a channel 1005 is not in: nothing happens
  await eventually(async () => expect((await states(4, [1004, 1005])).channelStates).toEqual({ '41': ['1004'] }));
});

it('keeps 64-bit snowflake ids exact from the event to the answer', async () => {
  const user = 1234567890123456789n;
  const guild = 987654321098765432n;
  const channel = 9007199254740993n; // 2^53 + 1: the first integer a double cannot hold
  await stack.peers.connect('snowflake', user, { guildIds: [guild] });
  await stack.peers.join(user, guild, channel);
  await eventually(async () => {
    const body = await states(guild, [user]);
    expect(body).toEqual({
      guildId: '987654321098765432',
      connectionStates: { '1234567890123456789': 'online' },
      channelStates: { '9007199254740993': ['1234567890123456789'] },
    });
  });
  // GUILD:<guildId> (bucket-tagged on a cluster, see docs/cluster.md)
  expect(await stack.redis.client.hget(stack.redis.keys.guildChannels('987654321098765432'), '9007199254740993')).toBe(
    '["1234567890123456789"]',
  );
});

it('answers without userIds with the guild online members and everyone in its voice channels', async () => {
  const { peers } = stack;
  await peers.connect('u6-a', 1006, { guildIds: [6] });
  await peers.connect('u7-a', 1007, { guildIds: [66] });
  await peers.join(1008, 6, 60); // in voice, never connected: shown, as offline
  await eventually(async () => {
    const { body } = await getJson(`${stack.app.url}/guilds/6/states`);
    expect(body).toEqual({ guildId: '6', connectionStates: { '1006': 'online', '1008': 'offline' }, channelStates: { '60': ['1008'] } });
  });
});

it('answers long lists through POST /guilds/:id/states/query', async () => {
  const userIds = Array.from({ length: 1000 }, (_, i) => String(5_000_000 + i));
  await stack.peers.connect('u-long', userIds[999]);
  await eventually(async () => {
    const { status, body } = await getJson(`${stack.app.url}/guilds/8/states/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userIds }),
    });
    expect(status).toBe(200);
    expect(Object.keys(body.connectionStates)).toHaveLength(1000);
    expect(body.connectionStates[userIds[999]]).toBe('online');
  });
});

it('serves the original routes with their shapes, every asked user with a state (offline when never seen)', async () => {
  const { peers, app } = stack;
  await peers.connect('u9-a', 1009);
  await peers.join(1009, 9, 90);
  await eventually(async () => {
    const community = await getJson(`${app.url}/api/state/community/user/info`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"guildId":9,"userIds":[1009,424242]}',
    });
    expect(community).toEqual({
      status: 200,
      body: { connectionStates: { '1009': 'online', '424242': 'offline' }, channelStates: { '90': ['1009'] } },
    });
  });
  const direct = await getJson(`${app.url}/api/state/direct/user/info`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"userIds":[1009,424242]}',
  });
  expect(direct).toEqual({ status: 200, body: { connectionStates: { '1009': 'online', '424242': 'offline' } } });
});
