import { eventually } from '../../testkit/app';
import { ChatServer, CommunityServer, SignalingServer } from '../../testkit/platform-peers';
import { startStack, TestStack, waitUntilConsumed } from '../../testkit/stack';

/**
 * The grace period through the running service (its own sweeper, VOICE_GRACE_SECONDS=10: long enough for the
 * reconnect to travel through Kafka on a slow machine), as the
 * peers behave: a signaling server that crashed sends no LEAVE, so a seat ends when its user's last
 * chat session has ended (HTTP DISCONNECT) and none came back within the grace period; a chat
 * reconnect within it keeps the call, as no second JOIN comes (../shared/PEERS.md).
 */
let stack: TestStack;
let chat: ChatServer;
let signaling: SignalingServer;
let community: CommunityServer;

beforeAll(async () => {
  stack = await startStack('grace', { partitions: 3, env: { VOICE_GRACE_SECONDS: '10' } });
  chat = await ChatServer.start(stack.kafka.kafka, stack.topics.sessionEvents, stack.app.url);
  signaling = await SignalingServer.start(stack.kafka.kafka, stack.topics.channelEvents);
  community = new CommunityServer(stack.app.url);
});
afterAll(async () => {
  await Promise.all([chat?.stop(), signaling?.stop()].map((p) => p?.catch(() => undefined)));
  await stack?.stop();
});

const channels = async (guildId: number, memberIds: number[]) =>
  ((await community.guildInfo(guildId, memberIds)).body as { channelStates: Record<string, string[]> }).channelStates;

it('ends the seat of a user whose chat session ended and whose signaling server sent no LEAVE', async () => {
  await chat.connect('g1-s1', 7001);
  await signaling.join(7001, 70, 700);
  await waitUntilConsumed(stack);
  expect(await channels(70, [7001])).toEqual({ '700': ['7001'] });
  expect((await chat.disconnect('g1-s1')).body.result).toBe('7001');
  await eventually(async () => expect(await channels(70, [7001])).toEqual({}), 30000, 100);
});

it('keeps the seat of a user who reconnects to chat within the grace period', async () => {
  await chat.connect('g2-s1', 7002);
  await signaling.join(7002, 71, 710);
  await waitUntilConsumed(stack);
  expect((await chat.disconnect('g2-s1')).body.result).toBe('7002');
  await chat.connect('g2-s2', 7002);
  await waitUntilConsumed(stack);
  // Well past the grace period, and several sweeps later: still in the call.
  await new Promise((r) => setTimeout(r, 12000));
  expect(await channels(71, [7002])).toEqual({ '710': ['7002'] });
});
