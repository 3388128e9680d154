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
