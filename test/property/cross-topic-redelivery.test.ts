import { Logger } from '@nestjs/common';
import { decodeEvent } from '../../src/ingest/event-decoding';
import { SessionEvent } from '../../src/sessions/session-event';
import { ChannelEvent } from '../../src/voice/channel-event';
import { startTestRedis, TestRedis } from '../support/redis-server';
import { StateHarness } from '../support/state-harness';

/**
 * Ghosts that at-least-once delivery across partitions could leave, found while checking the
 * property "applying a record again changes nothing" on logs that mix both topics; each failed
 * until src/ compared record times (USER_OFFLINE_AT, SERVER_RESETS, seats with the time they were
 * taken). Each test feeds records with the timestamps Kafka gives them (the producer's clock), as
 * the consumer does.
 */

let redis: TestRedis;
let state: StateHarness;

beforeAll(async () => {
  Logger.overrideLogger(['error']);
  redis = await startTestRedis();
  state = new StateHarness(redis.url);
  await state.ready();
});
afterAll(async () => {
  state?.close();
  await redis?.stop();
});
beforeEach(() => redis.flush());

const session = (timestampMs: number, event: Record<string, unknown>) =>
  state.sessions.applyAll([{ event: decodeEvent(Buffer.from(JSON.stringify(event)), SessionEvent, 65536), timestampMs }]);
const channel = (timestampMs: number, event: Record<string, unknown>) =>
  state.voice.applyAll([{ event: decodeEvent(Buffer.from(JSON.stringify(event)), ChannelEvent, 65536), timestampMs }]);

it('does not put a user back in voice when a JOIN is redelivered after their last DISCONNECT', async () => {
  await session(1000, { type: 'CONNECT', sessionId: 's1', userId: 1, guildIds: [100] });
  await channel(2000, { type: 'JOIN', userId: 1, guildId: 100, channelId: 10 });
  await session(3000, { type: 'DISCONNECT', sessionId: 's1' }); // takes user 1 out of voice
  // The service is killed before channelEvent's offset is committed (sessionEvent's was): on
  // restart the same JOIN record (same timestamp) is applied again. The DISCONNECT is not, as its
  // partition committed past it; and it would be a no-op anyway (tombstone).
  await channel(2000, { type: 'JOIN', userId: 1, guildId: 100, channelId: 10 });
  expect(await state.userState('1')).toBe('offline');
  expect(await state.guildHash('100')).toEqual({});
});

it('does not bring a user online when a CONNECT from before a RESET is consumed after it', async () => {
  // chat-a connected user 1 at t=1000, crashed, restarted and sent RESET at t=5000. The RESET is
  // keyed by serverId, the CONNECT by userId: other partitions, so the RESET may be applied first.
  await session(5000, { type: 'RESET', serverId: 'chat-a', timestamp: 5000 });
  await session(1000, { type: 'CONNECT', sessionId: 's1', userId: 1, serverId: 'chat-a', timestamp: 1000 });
  expect(await state.userState('1')).not.toBe('online');
  // A session chat-a started after its restart is of course kept.
  await session(6000, { type: 'CONNECT', sessionId: 's2', userId: 2, serverId: 'chat-a', timestamp: 6000 });
  expect(await state.userState('2')).toBe('online');
});

it('keeps a user in the channel they joined after an older DISCONNECT that is applied later', async () => {
  // User 1 disconnected at t=3000, reconnected at t=4000 and joined voice at t=5000. The channel
  // topic runs ahead of the session topic (or both are replayed from the start to rebuild Redis),
  // so the JOIN is applied before the older DISCONNECT.
  await session(1000, { type: 'CONNECT', sessionId: 's1', userId: 1, guildIds: [100] });
  await channel(5000, { type: 'JOIN', userId: 1, guildId: 100, channelId: 10 });
  await session(3000, { type: 'DISCONNECT', sessionId: 's1' }); // must not take away the seat taken at t=5000
  await session(4000, { type: 'CONNECT', sessionId: 's2', userId: 1, guildIds: [100] });
  expect(await state.userState('1')).toBe('online');
  expect(await state.guildHash('100')).toEqual({ '10': ['1'] });
});

it('does not leave a user in voice whose only session was refused as older than its server\'s RESET', async () => {
  // chat-a connected user 1 at t=1000; they joined voice at t=2000; chat-a crashed and sent RESET at
  // t=5000. Applied in the order RESET, JOIN, CONNECT (three partitions), the CONNECT is refused
  // as stale, but nothing records that user 1 went offline at t=5000, so the JOIN seats a ghost.
  await session(5000, { type: 'RESET', serverId: 'chat-a', timestamp: 5000 });
  await channel(2000, { type: 'JOIN', userId: 1, guildId: 100, channelId: 10 });
  await session(1000, { type: 'CONNECT', sessionId: 's1', userId: 1, serverId: 'chat-a', timestamp: 1000 });
  expect(await state.userState('1')).not.toBe('online');
  expect(await state.guildHash('100')).toEqual({});
});

// Case 5 of docs/reliability.md (a RESET applied before the CONNECTs of a user with devices on two
// chat servers) is a known limitation, left open there: the fix that passed it broke the redelivery
// property, so it has no test asserting the ideal outcome here.
