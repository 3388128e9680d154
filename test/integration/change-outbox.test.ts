import { Logger } from '@nestjs/common';
import { ChangeOutbox } from '../../src/change-stream/change-outbox';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';
import { StateHarness } from '../../testkit/state-harness';

/**
 * The change stream's outbox (scripts/change-outbox.lua), written in the same script call as the
 * change: one record per change of a SHOWN state or of a seat in the view, nothing for changes
 * nobody sees, and no field telling an invisible user from a disconnected one. Through the
 * service's apply path on a real Redis (and with REDIS_CLUSTER=1 on a cluster, where voice records
 * are written by the follow-up step in the guild's bucket).
 */

let redis: TestRedis;
let state: StateHarness;
let outbox: ChangeOutbox;

beforeAll(async () => {
  Logger.overrideLogger(['error']);
  redis = await startTestRedis();
  state = new StateHarness(redis.env, { VOICE_GRACE_SECONDS: '0' });
  await state.ready();
  outbox = new ChangeOutbox(state.store, state.redis);
});
afterAll(async () => {
  state.close();
  await redis.stop();
});
beforeEach(() => redis.flush());

type Change = Record<string, string | number>;

/** Every record waiting, oldest first per bucket, parsed; taken out so the next call sees only newer ones. */
async function takeChanges(): Promise<Change[]> {
  const records = await outbox.readOutbox(outbox.buckets, 10_000);
  await outbox.deleteFromOutbox(records);
  return records.map((r) => JSON.parse(r.json) as Change);
}

/** The records without what differs between any two (time, version). */
const shapes = (changes: Change[]) => changes.map(({ at: _a, version: _v, ...rest }) => rest);

const connect = (sessionId: string, userId: string, state = 'online') => ({ type: 'CONNECT', sessionId, userId, state });
const disconnect = (sessionId: string, userId?: string) => ({ type: 'DISCONNECT', sessionId, ...(userId ? { userId } : {}) });

describe('presence records', () => {
  it('records a change of the shown state only: a second device changes nothing shown, the last DISCONNECT does', async () => {
    await state.session(connect('a', '1'));
    await state.session(connect('b', '1', 'idle'));
    await state.session(disconnect('a'));
    expect(shapes(await takeChanges())).toEqual([
      { type: 'PRESENCE', userId: '1', state: 'online', previous: 'offline', cause: 'connect' },
      { type: 'PRESENCE', userId: '1', state: 'idle', previous: 'online', cause: 'status' },
    ]);
    await state.session(disconnect('b'));
    expect(shapes(await takeChanges())).toEqual([
      { type: 'PRESENCE', userId: '1', state: 'offline', previous: 'idle', cause: 'disconnect' },
    ]);
  });

  it('records nothing for a DISCONNECT of a user shown offline already, or for a redelivery', async () => {
    await state.session(disconnect('x', '2'));
    await state.session(connect('a', '3'));
    await state.session(connect('a', '3'));
    expect(shapes(await takeChanges())).toEqual([
      { type: 'PRESENCE', userId: '3', state: 'online', previous: 'offline', cause: 'connect' },
    ]);
  });

  it('going invisible reads exactly like a disconnect, coming back exactly like a connect', async () => {
    const T = Date.now();
    await state.sessionAt(T, connect('a', '4'));
    await state.sessionAt(T + 1, connect('a', '4', 'invisible'));
    await state.sessionAt(T + 2, connect('a', '4', 'online'));
    const invisible = shapes(await takeChanges());

    await state.sessionAt(T, connect('a', '5'));
    await state.sessionAt(T + 1, disconnect('a', '5'));
    await state.sessionAt(T + 2, connect('b', '5'));
    const disconnected = shapes(await takeChanges());

    const anonymous = (changes: Change[]) => changes.map(({ userId: _u, ...rest }) => rest);
    expect(anonymous(invisible)).toEqual(anonymous(disconnected));
    expect(JSON.stringify(invisible)).not.toContain('invisible');
  });

  it('ids are strings and versions only grow per user', async () => {
    const T = Date.now();
    for (let i = 0; i < 5; i++) await state.sessionAt(T + i, connect('a', '9223372036854775807', i % 2 ? 'idle' : 'online'));
    const changes = await takeChanges();
    expect(changes.map((c) => c.userId)).toEqual(Array(5).fill('9223372036854775807'));
    const versions = changes.map((c) => Number(c.version));
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(5);
  });

  it('records nothing while recording is off (a rebuild replaying)', async () => {
    state.store.setChangeRecording({ on: false, epoch: null });
    try {
      await state.session(connect('a', '6'));
      await state.channel({ type: 'JOIN', userId: '6', guildId: '1', channelId: '5' });
      expect(await takeChanges()).toEqual([]);
    } finally {
      state.store.setChangeRecording({ on: true, epoch: null });
    }
  });

  it('versions are never below a rebuild epoch (ms) taken as µs', async () => {
    const epoch = String(Date.now() + 3_600_000);
    state.store.setChangeRecording({ on: true, epoch });
    try {
      await state.session(connect('a', '7'));
      const [change] = await takeChanges();
      expect(Number(change.version)).toBeGreaterThanOrEqual(Number(epoch) * 1000);
    } finally {
      state.store.setChangeRecording({ on: true, epoch: null });
    }
  });
});

describe('voice records', () => {
  const join = (userId: string, guildId: string, channelId: string) => ({ type: 'JOIN', userId, guildId, channelId });
  const leave = (userId: string, guildId: string, channelId: string) => ({ type: 'LEAVE', userId, guildId, channelId });

  it('one record per seat taken or ended; a move is a LEAVE and a JOIN', async () => {
    const T = Date.now();
    await state.channelAt(T, join('1', '10', '5'));
    await state.channelAt(T + 1, join('1', '10', '6'));
    await state.channelAt(T + 2, leave('1', '10', '5')); // the old socket closing: nothing in the view changes
    await state.channelAt(T + 3, leave('1', '10', '6'));
    expect(shapes(await takeChanges())).toEqual([
      { type: 'VOICE', guildId: '10', channelId: '5', userId: '1', change: 'JOIN', cause: 'join' },
      // On a cluster too, where the view changes in the guild's bucket: the follow-up carries the cause.
      { type: 'VOICE', guildId: '10', channelId: '5', userId: '1', change: 'LEAVE', cause: 'move' },
      { type: 'VOICE', guildId: '10', channelId: '6', userId: '1', change: 'JOIN', cause: 'join' },
      { type: 'VOICE', guildId: '10', channelId: '6', userId: '1', change: 'LEAVE', cause: 'leave' },
    ]);
  });

  it('a JOIN applied after its LEAVE, or again, records nothing', async () => {
    const T = Date.now();
    await state.channelAt(T + 1, leave('2', '10', '5'));
    await state.channelAt(T, join('2', '10', '5'));
    await state.channelAt(T, join('2', '10', '5'));
    expect(await takeChanges()).toEqual([]);
  });

  it("a signaling server's RESET records each seat it ends (cause reset)", async () => {
    const T = Date.now();
    await state.channelAt(T, { ...join('3', '11', '7'), serverId: 'sig-1' });
    await takeChanges();
    await state.channelAt(T + 10, { type: 'RESET', serverId: 'sig-1', timestamp: T + 10 });
    expect(shapes(await takeChanges())).toEqual([
      { type: 'VOICE', guildId: '11', channelId: '7', userId: '3', change: 'LEAVE', cause: 'reset' },
    ]);
  });
});

describe('a bounded outbox', () => {
  it('past CHANGE_OUTBOX_LIMIT keeps only the latest record per key, and owes a RESYNC', async () => {
    const small = new StateHarness(redis.env, { VOICE_GRACE_SECONDS: '0', CHANGE_OUTBOX_LIMIT: '1000' });
    await small.ready();
    try {
      const limit = Math.ceil(1000 / small.keys.buckets.length);
      const T = Date.now();
      const users = Array.from({ length: 1200 }, (_, i) => String(1000 + i));
      await small.sessionAt(T, ...users.map((u) => connect('a', u)));
      // Over the limit: each of these users flips three times; only their latest state is kept.
      for (let i = 1; i <= 3; i++) await small.sessionAt(T + i, ...users.map((u) => connect('a', u, i % 2 ? 'idle' : 'online')));
      const smallOutbox = new ChangeOutbox(small.store, small.redis);
      const overflows = await smallOutbox.overflows(smallOutbox.buckets);
      expect(overflows.length).toBeGreaterThan(0);
      expect(overflows.every((o) => o.resyncOwed)).toBe(true);
      const kept = await smallOutbox.readOverflow(smallOutbox.buckets, 100_000);
      const waiting = await smallOutbox.waiting(smallOutbox.buckets);
      expect(waiting.records).toBeLessThanOrEqual(limit * smallOutbox.buckets.length + users.length + smallOutbox.buckets.length);
      // Each key once, with its latest state.
      const keys = kept.map((r) => r.field);
      expect(new Set(keys).size).toBe(keys.length);
      for (const record of kept) expect(JSON.parse(record.json)).toMatchObject({ state: 'idle' });
    } finally {
      small.close();
    }
  });
});
