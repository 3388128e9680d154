import { Logger } from '@nestjs/common';
import { StateHarness } from '../../testkit/state-harness';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';

/**
 * The rules of docs/rules.md, one behaviour per test, through the service's own apply path
 * (decode -> services -> Lua scripts) on a real Redis. Orders are forced by applying records one
 * batch at a time, with the record timestamps their producers would give them.
 * With REDIS_CLUSTER=1 the same tests run on a local 3-master Redis Cluster (the bucketed layout
 * and the steps of docs/cluster.md): the results must be the same.
 */

let redis: TestRedis;
let state: StateHarness;

beforeAll(async () => {
  Logger.overrideLogger(['error']);
  redis = await startTestRedis();
  state = new StateHarness(redis.env, { VOICE_GRACE_SECONDS: '0' });
  await state.ready();
});
afterAll(async () => {
  state.close();
  await redis.stop();
});
beforeEach(() => redis.flush());

const connect = (sessionId: string, userId: string | number, extra: Record<string, unknown> = {}) => ({
  type: 'CONNECT',
  sessionId,
  userId,
  state: 'online',
  ...extra,
});
const disconnect = (sessionId: string, extra: Record<string, unknown> = {}) => ({
  type: 'DISCONNECT',
  sessionId,
  state: 'offline',
  ...extra,
});
const join = (userId: number, guildId: number, channelId: number, extra: Record<string, unknown> = {}) => ({
  type: 'JOIN',
  userId,
  guildId,
  channelId,
  ...extra,
});
const leave = (userId: number, guildId: number, channelId: number) => ({ type: 'LEAVE', userId, guildId, channelId });
const T = 1_700_000_000_000;

async function withHarness(env: Record<string, string>, body: (h: StateHarness) => Promise<void>): Promise<void> {
  const harness = new StateHarness(redis.env, { VOICE_GRACE_SECONDS: '0', ...env });
  await harness.ready();
  try {
    await body(harness);
  } finally {
    harness.close();
  }
}

describe('sessions', () => {
  it('marks a user online on CONNECT and offline on DISCONNECT found by session', async () => {
    expect(await state.session(connect('s1', 7))).toEqual(['applied']);
    expect(await state.userState('7')).toBe('online');
    expect(await state.session(disconnect('s1'))).toEqual(['applied']);
    expect(await state.userState('7')).toBe('offline');
  });

  it('keeps a user online while another of their sessions is live', async () => {
    await state.session(connect('phone', 7), connect('desktop', 7));
    await state.session(disconnect('phone'));
    expect(await state.userState('7')).toBe('online');
    await state.session(disconnect('desktop'));
    expect(await state.userState('7')).toBe('offline');
  });

  it('changes nothing when a CONNECT or DISCONNECT is delivered again', async () => {
    expect(await state.sessionAt(T, connect('s1', 7), connect('s1', 7))).toEqual(['applied', 'duplicate']);
    expect(await state.session(disconnect('s1'), disconnect('s1'))).toEqual(['applied', 'duplicate']);
    expect(await state.sessionAt(T, connect('s1', 7))).toEqual(['stale']);
    expect(await state.userState('7')).toBe('offline');
  });

  it('leaves no ghost when a DISCONNECT naming the user overtakes its CONNECT', async () => {
    await state.session(disconnect('s1', { userId: 7 }));
    expect(await state.session(connect('s1', 7))).toEqual(['stale']);
    expect(await state.userState('7')).toBe('offline');
  });

  it('leaves no ghost when a DISCONNECT naming no user overtakes its CONNECT (HTTP is faster than Kafka)', async () => {
    expect(await state.session(disconnect('s1'))).toEqual(['applied']);
    expect(await state.session(connect('s1', 7))).toEqual(['stale']);
    expect(await state.userState('7')).toBe('offline');
    // The pending marker was one-shot: the next session with that id (another user, later) is live.
    await state.session(connect('s1', 8));
    expect(await state.userState('8')).toBe('online');
  });

  it("lets another user reuse a session id: one user's ended session never blocks another's", async () => {
    await state.session(connect('abc', 1), disconnect('abc'));
    expect(await state.session(connect('abc', 2))).toEqual(['applied']);
    expect(await state.userState('2')).toBe('online');
    await state.session(disconnect('abc'));
    expect(await state.userState('2')).toBe('offline');
  });

  it('remembers an ended session for ENDED_SESSION_TTL_SECONDS', async () => {
    await state.session(connect('s1', 7), disconnect('s1'));
    const ttl = await state.redis.ttl(state.keys.session('7', 's1'));
    expect(ttl).toBeGreaterThan(86000);
    expect(ttl).toBeLessThanOrEqual(86400);
  });

  it("drops the user out of their guilds' online sets when the last session ends", async () => {
    await state.session(connect('s1', 7, { guildIds: [100] }), connect('s2', 7, { guildIds: [100, 200] }));
    await state.session(disconnect('s2'));
    expect(await state.redis.smembers(state.keys.guildOnline('100'))).toEqual(['7']);
    expect(await state.redis.smembers(state.keys.guildOnline('200'))).toEqual([]);
    await state.session(disconnect('s1'));
    expect(await state.redis.smembers(state.keys.guildOnline('100'))).toEqual([]);
  });

  it('keeps 64-bit ids exact', async () => {
    await state.session(`{"type":"CONNECT","sessionId":"big","userId":9007199254740993123,"guildIds":[1234567890123456789]}`);
    expect(await state.userState('9007199254740993123')).toBe('online');
    const answer = await state.queries.guildStates('1234567890123456789', undefined);
    expect(answer.connectionStates).toEqual({ '9007199254740993123': 'online' });
  });

  it('ends the oldest session of a user over MAX_SESSIONS_PER_USER and keeps them online', async () => {
    await withHarness({ MAX_SESSIONS_PER_USER: '3' }, async (h) => {
      for (let i = 0; i < 5; i++) await h.sessionAt(T + i, connect(`s${i}`, 7));
      expect((await h.redis.hkeys(h.keys.userSessions('7'))).sort()).toEqual(['s2', 's3', 's4']);
      expect(await h.redis.hget(h.keys.session('7', 's0'), 'state')).toBe('ended');
      expect(await h.userState('7')).toBe('online');
      expect((await h.counters()).online_users).toBe('1');
    });
  });
});

describe('shown state', () => {
  it('shows the highest-ranked state of the live sessions, whatever order they came in', async () => {
    await state.session(connect('phone', 1, { state: 'idle' }), connect('desktop', 1, { state: 'online' }));
    await state.session(connect('desktop', 2, { state: 'online' }), connect('phone', 2, { state: 'idle' }));
    expect(await state.userState('1')).toBe('online');
    expect(await state.userState('2')).toBe('online');
  });

  it("goes back to the remaining session's state when a device leaves", async () => {
    await state.session(connect('phone', 1, { state: 'idle' }), connect('desktop', 1, { state: 'dnd' }));
    expect(await state.userState('1')).toBe('dnd');
    await state.session(disconnect('desktop'));
    expect(await state.userState('1')).toBe('idle');
  });

  it('applies a status change on a live session, newest record timestamp wins', async () => {
    await state.sessionAt(T, connect('s1', 1, { state: 'online' }));
    expect(await state.sessionAt(T + 10, connect('s1', 1, { state: 'dnd' }))).toEqual(['applied']);
    expect(await state.userState('1')).toBe('dnd');
    expect(await state.sessionAt(T + 5, connect('s1', 1, { state: 'idle' }))).toEqual(['stale']);
    expect(await state.userState('1')).toBe('dnd');
  });

  it('stores any printable state verbatim and shows invisible as offline', async () => {
    await state.session(
      connect('s1', 1, { state: 'In a meeting 🎧' }),
      connect('s2', 2, { state: 'invisible' }),
      connect('s3', 2, { state: 'online' }),
    );
    expect(await state.userState('1')).toBe('In a meeting 🎧');
    expect(await state.userState('2')).toBe('offline');
    expect((await state.counters()).online_users).toBe('2');
  });
});

describe('RESET of a chat server', () => {
  it('ends every session the server owned before the reset, and only those', async () => {
    await state.session(
      connect('a1', 1, { serverId: 'chat-a', timestamp: T }),
      connect('a2', 2, { serverId: 'chat-a', timestamp: T }),
      connect('b1', 2, { serverId: 'chat-b', timestamp: T }),
      connect('a3', 3, { serverId: 'chat-a', timestamp: T + 5000 }),
    );
    await state.session({ type: 'RESET', serverId: 'chat-a', timestamp: T + 1000 });
    expect(await state.userState('1')).toBe('offline');
    expect(await state.userState('2')).toBe('online'); // still on chat-b
    expect(await state.userState('3')).toBe('online'); // connected after the reset
  });

  it('ends at once a CONNECT from before the reset that is applied after it', async () => {
    await state.session({ type: 'RESET', serverId: 'chat-a', timestamp: T + 1000 });
    expect(await state.session(connect('a1', 1, { serverId: 'chat-a', timestamp: T }))).toEqual(['stale']);
    expect(await state.userState('1')).toBe('offline');
  });

  it('ends thousands of sessions in bounded steps', async () => {
    const events = Array.from({ length: 3000 }, (_, i) => connect(`s${i}`, i + 1, { serverId: 'chat-a', timestamp: 1000 }));
    await state.session(...events);
    expect(await state.session({ type: 'RESET', serverId: 'chat-a', timestamp: 2000 })).toEqual(['applied']);
    const states = Object.values(await state.allUserStates());
    expect(states.filter((s) => s === 'online')).toHaveLength(0);
    for (const bucket of state.keys.buckets) expect(await state.redis.scard(state.keys.serverSessions(bucket, 'chat-a'))).toBe(0);
  });
});

describe('voice channels', () => {
  it('moves a user from channel A to channel B of the same guild on a newer JOIN', async () => {
    await state.channelAt(T, join(1, 100, 10), join(2, 100, 10));
    await state.channelAt(T + 1, join(1, 100, 11));
    expect(await state.guildHash('100')).toEqual({ '10': ['2'], '11': ['1'] });
  });

  it('keeps an older JOIN applied after a newer one from moving the user back', async () => {
    await state.channelAt(T + 10, join(1, 100, 11));
    expect(await state.channelAt(T, join(1, 100, 10))).toEqual(['stale']);
    expect(await state.guildHash('100')).toEqual({ '11': ['1'] });
  });

  it('leaves no ghost when a LEAVE is applied before its JOIN', async () => {
    await state.channelAt(T + 5, leave(1, 100, 10));
    expect(await state.channelAt(T, join(1, 100, 10))).toEqual(['applied']);
    expect(await state.guildHash('100')).toEqual({});
  });

  it('lets a LEAVE win a tie with a JOIN of the same channel and millisecond, in either order', async () => {
    await state.channelAt(T, leave(1, 100, 10));
    await state.channelAt(T, join(1, 100, 10));
    await state.channelAt(T, join(2, 100, 10));
    await state.channelAt(T, leave(2, 100, 10));
    expect(await state.guildHash('100')).toEqual({});
  });

  it("keeps a device switch across two signaling instances: JOIN c5, JOIN c6, then the old socket's LEAVE c5", async () => {
    const records: [number, ReturnType<typeof join>][] = [
      [T, join(1, 100, 5)],
      [T + 100, join(1, 100, 6)],
      [T + 200, leave(1, 100, 5)],
    ];
    for (const order of [
      [0, 1, 2],
      [2, 1, 0],
      [1, 2, 0],
      [2, 0, 1],
    ]) {
      await redis.flush();
      for (const i of order) await state.channelAt(records[i][0], records[i][1]);
      expect(await state.guildHash('100')).toEqual({ '6': ['1'] });
    }
  });

  it('lets a user sit in voice in two guilds at once', async () => {
    await state.channelAt(T, join(1, 100, 10));
    await state.channelAt(T + 1, join(1, 200, 20));
    expect(await state.guildHash('100')).toEqual({ '10': ['1'] });
    expect(await state.guildHash('200')).toEqual({ '20': ['1'] });
    expect((await state.counters()).voice_seats).toBe('2');
  });

  it("with VOICE_SCOPE=user, moves the user across guilds (Discord's rule)", async () => {
    await withHarness({ VOICE_SCOPE: 'user' }, async (h) => {
      await h.channelAt(T, join(1, 100, 10));
      await h.channelAt(T + 1, join(1, 200, 20));
      expect(await h.guildHash('100')).toEqual({});
      expect(await h.guildHash('200')).toEqual({ '20': ['1'] });
    });
  });

  it('with VOICE_SCOPE=none, lets a user sit in several channels of a guild', async () => {
    await withHarness({ VOICE_SCOPE: 'none' }, async (h) => {
      await h.channelAt(T, join(1, 100, 10), join(1, 100, 11));
      expect(await h.guildHash('100')).toEqual({ '10': ['1'], '11': ['1'] });
    });
  });

  it("ignores the signaling server's LEAVE with null ids, without dead-lettering it", async () => {
    await state.channelAt(T, join(1, 100, 10));
    expect(await state.channel('{"guildId":null,"channelId":null,"userId":null,"type":"LEAVE"}')).toEqual([
      { ignored: 'leave_without_ids' },
    ]);
    expect(await state.guildHash('100')).toEqual({ '10': ['1'] });
  });

  it('keeps the call through a chat reconnect: CONNECT s1, JOIN, DISCONNECT s1, CONNECT s2', async () => {
    await state.session(connect('s1', 1));
    await state.channel(join(1, 100, 10));
    await state.session(disconnect('s1'));
    await state.session(connect('s2', 1));
    expect(await state.guildHash('100')).toEqual({ '10': ['1'] });
  });

  it('loses no JOIN when hundreds arrive at once from several clients', async () => {
    const clients = [state, new StateHarness(redis.env), new StateHarness(redis.env), new StateHarness(redis.env)];
    await Promise.all(clients.map((c) => c.ready()));
    try {
      await Promise.all(Array.from({ length: 400 }, (_, i) => clients[i % clients.length].channel(join(i + 1, 100, 10))));
      const members = (await state.guildHash('100'))['10'];
      expect(new Set(members).size).toBe(400);
    } finally {
      clients.slice(1).forEach((c) => c.close());
    }
  });
});

describe('voice grace period', () => {
  it('ends the seats of a user with no live session once the grace period ran out, and not before', async () => {
    await withHarness({ VOICE_GRACE_SECONDS: '1' }, async (h) => {
      await h.session(connect('s1', 1), connect('s2', 2));
      await h.channel(join(1, 100, 10), join(2, 100, 10));
      await h.session(disconnect('s1'), disconnect('s2'));
      await h.session(connect('s3', 2)); // user 2 reconnects within the grace period
      expect(await h.voice.expireGrace()).toBe(0);
      expect(await h.guildHash('100')).toEqual({ '10': ['1', '2'] });
      await new Promise((r) => setTimeout(r, 1100));
      expect(await h.voice.expireGrace()).toBe(1);
      expect(await h.guildHash('100')).toEqual({ '10': ['2'] });
      expect((await h.counters()).voice_seats).toBe('1');
    });
  });

  it('does not bring the seat back on a redelivered JOIN, but a newer JOIN seats the user', async () => {
    await withHarness({ VOICE_GRACE_SECONDS: '1' }, async (h) => {
      await h.channelAt(T, join(1, 100, 10)); // a JOIN with no chat session: grace starts now
      await new Promise((r) => setTimeout(r, 1100));
      await h.voice.expireGrace();
      expect(await h.guildHash('100')).toEqual({});
      expect(await h.channelAt(T, join(1, 100, 10))).toEqual(['duplicate']);
      expect(await h.guildHash('100')).toEqual({});
      await h.channelAt(T + 1, join(1, 100, 10));
      expect(await h.guildHash('100')).toEqual({ '10': ['1'] });
    });
  });
});

describe('HEARTBEAT', () => {
  it("finds the user of a HEARTBEAT that names only its session, and counts an unknown session's as a duplicate", async () => {
    await withHarness({ SESSION_TTL_SECONDS: '60' }, async (h) => {
      await h.session(connect('hb1', 41));
      expect(await h.session({ type: 'HEARTBEAT', sessionId: 'hb1' })).toEqual(['applied']);
      expect(await h.session({ type: 'HEARTBEAT', sessionId: 'hb-unknown' })).toEqual(['duplicate']);
      expect(await h.userState('41')).toBe('online');
    });
  });
});

describe('RESET of a signaling server (optional serverId)', () => {
  it('ends the seats its JOINs took before the reset, and only those', async () => {
    await state.channelAt(T, join(1, 100, 10, { serverId: 'sig-1' }), join(2, 100, 10, { serverId: 'sig-2' }));
    await state.channelAt(T + 2000, join(3, 100, 10, { serverId: 'sig-1' }));
    expect(await state.channel({ type: 'RESET', serverId: 'sig-1', timestamp: T + 1000 })).toEqual(['applied']);
    expect(await state.guildHash('100')).toEqual({ '10': ['2', '3'] });
    // A JOIN of sig-1 from before its reset, applied after it, seats nobody.
    await state.channelAt(T + 500, join(4, 100, 10, { serverId: 'sig-1' }));
    expect(await state.guildHash('100')).toEqual({ '10': ['2', '3'] });
  });

  const users = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  it('ends thousands of seats in bounded steps', async () => {
    await state.channelAt(T, ...users(1, 3000).map((u) => join(u, 100, 10 + (u % 10), { serverId: 'sig-1' })));
    expect(await state.channel({ type: 'RESET', serverId: 'sig-1', timestamp: T + 1000 })).toEqual(['applied']);
    expect(await state.guildHash('100')).toEqual({});
    expect((await state.counters()).voice_seats).toBe('0');
  });

  it('leaves no ghost when LEAVEs and moves are applied between the steps of a reset', async () => {
    await state.channelAt(T, ...users(1, 600).map((u) => join(u, 100, 10, { serverId: 'sig-1' })));
    // One small step of the reset, then the users' own records, then the rest of the steps.
    let { cursor } = await state.store.endServerSeatsStep('sig-1', T + 1000, '0', 10);
    await state.channelAt(T + 1500, ...users(1, 100).map((u) => leave(u, 100, 10)));
    await state.channelAt(T + 2000, ...users(101, 200).map((u) => join(u, 100, 11, { serverId: 'sig-2' })));
    while (cursor !== '0') ({ cursor } = await state.store.endServerSeatsStep('sig-1', T + 1000, cursor, 10));
    const channels = await state.guildHash('100');
    expect(Object.keys(channels)).toEqual(['11']); // in the order the seats were taken on a cluster
    expect(channels['11'].map(Number).sort((a, b) => a - b)).toEqual(users(101, 200));
    expect((await state.counters()).voice_seats).toBe('100');
  });

  it('keeps the seats retaken in the same channel through another signaling server between the steps of a reset', async () => {
    await state.channelAt(T, ...users(1, 600).map((u) => join(u, 100, 10, { serverId: 'sig-1' })));
    let { cursor } = await state.store.endServerSeatsStep('sig-1', T + 1000, '0', 10);
    await state.channelAt(T + 2000, ...users(201, 300).map((u) => join(u, 100, 10, { serverId: 'sig-2' })));
    while (cursor !== '0') ({ cursor } = await state.store.endServerSeatsStep('sig-1', T + 1000, cursor, 10));
    const channels = await state.guildHash('100');
    expect(Object.keys(channels)).toEqual(['10']);
    expect(channels['10'].map(Number).sort((a, b) => a - b)).toEqual(users(201, 300));
    expect((await state.counters()).voice_seats).toBe('100');
  });
});

describe('queries', () => {
  it('answers named users, offline when never seen, with the guild channels', async () => {
    await state.session(connect('s1', 1), connect('s2', 2), disconnect('s2'));
    await state.channel(join(1, 100, 10));
    expect(await state.queries.guildStates('100', ['1', '2', '3'])).toEqual({
      guildId: '100',
      connectionStates: { '1': 'online', '2': 'offline', '3': 'offline' },
      channelStates: { '10': ['1'] },
    });
  });

  it('without userIds, answers the guild online members plus everyone in its voice channels', async () => {
    await state.session(connect('s1', 1, { guildIds: [100] }), connect('s2', 2, { guildIds: [200] }));
    await state.channel(join(3, 100, 10));
    const answer = await state.queries.guildStates('100', undefined);
    expect(answer.connectionStates).toEqual({ '1': 'online', '3': 'offline' });
    expect(answer.channelStates).toEqual({ '10': ['3'] });
  });

  it("pages a big guild's online members: every member exactly once across the pages, channels on each page", async () => {
    const members = Array.from({ length: 5000 }, (_, i) => i + 1);
    for (let i = 0; i < members.length; i += 1000)
      await state.session(...members.slice(i, i + 1000).map((id) => connect(`p${id}`, id, { guildIds: [100] })));
    await state.channel(join(9999, 100, 10));
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await state.queries.guildPresence('100', { cursor, limit: 1000 });
      expect(page.channelStates).toEqual({ '10': ['9999'] });
      seen.push(...Object.keys(page.connectionStates));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThanOrEqual(4);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.sort()).toEqual([...members.map(String), '9999'].sort());
  });

  it('answers users never seen offline on the original routes too, and an empty list with empty states', async () => {
    await state.session(connect('s1', 1));
    expect(await state.queries.directUserInfo(['1', '2'])).toEqual({ connectionStates: { '1': 'online', '2': 'offline' } });
    expect(await state.queries.communityUserInfo('100', [])).toEqual({ connectionStates: {}, channelStates: {} });
  });

  it('answers 50,000 named users, reading Redis in commands of at most 1,000 fields', async () => {
    const ids = Array.from({ length: 50_000 }, (_, i) => String(i + 1));
    await state.session(connect('s1', 49_999));
    const answer = await state.queries.communityUserInfo('100', ids);
    expect(Object.keys(answer.connectionStates)).toHaveLength(50_000);
    expect(Object.entries(answer.connectionStates).filter(([, s]) => s !== 'offline')).toEqual([['49999', 'online']]);
  });
});

describe("taking over the original service's Redis", () => {
  // The inherited whole-key expiries: test/integration/original-redis-expiry.test.ts (one Redis only).
  it('reads spaced JSON arrays and skips foreign bytes instead of failing the query', async () => {
    const guild = state.keys.guildChannels('100');
    await state.redis.hset(guild, '10', '["1", "2"]');
    await state.redis.hset(guild, '11', Buffer.from([0xac, 0xed, 0x00, 0x05, 0x74, 0x00, 0x03, 0x5b, 0x31, 0x5d]));
    await state.redis.hset(guild, Buffer.from([0xac, 0xed, 0x00, 0x05, 0x74, 0x00, 0x01, 0x35]), Buffer.from([0xac, 0xed, 0x00, 0x05]));
    await state.redis.hset(guild, '12', '[300000000000000001,300000000000000002]'); // numbers, beyond 2^53
    await state.redis.hset(guild, '13', '["5","06"]'); // not an id as we write them
    await state.redis.hset(guild, '14', '["300000000000000003","300000000000000004"]'); // our own spelling
    const answer = await state.queries.guildStates('100', ['1']);
    expect(answer.channelStates).toEqual({
      '10': ['1', '2'],
      '12': ['300000000000000001', '300000000000000002'],
      '14': ['300000000000000003', '300000000000000004'],
    });
    // The next LEAVE rewrites the spaced array in canonical form instead of corrupting it.
    await state.channelAt(T, join(1, 100, 10));
    await state.channelAt(T + 1, leave(1, 100, 10));
    expect(await state.redis.hget(guild, '10')).toBe('["2"]');
    // A JOIN into the unreadable channel replaces its value.
    await state.channelAt(T + 2, join(3, 100, 11));
    expect(await state.redis.hget(guild, '11')).toBe('["3"]');
  });
});

describe('rebuild epochs', () => {
  it('gives a new epoch to every loss, also when the epoch key survived it, and one winner per loss', async () => {
    expect(await state.store.claimEpoch(null, '100')).toBe('100'); // the first loss
    // A later loss (on a cluster, a master that did not hold the epoch key came back empty):
    // the instances consuming epoch 100 race; the first moves it, the others follow the winner.
    expect(await state.store.claimEpoch('100', '200')).toBe('200');
    expect(await state.store.claimEpoch('100', '201')).toBe('200');
    // An instance still on an older epoch follows the current one instead of claiming.
    expect(await state.store.claimEpoch(null, '300')).toBe('200');
    expect((await state.store.readMarker()).epoch).toBe('200');
  });
});

describe('counters', () => {
  it('keeps the online and voice counters exact through moves, multi-session and redelivery', async () => {
    await state.sessionAt(T, connect('a', 1), connect('b', 1), connect('c', 2), connect('c', 2), disconnect('zz', { userId: 3 }));
    await state.channelAt(T, join(1, 100, 10), join(2, 100, 10), join(2, 100, 10), join(3, 100, 10));
    await state.channelAt(T + 1, join(1, 100, 11));
    await state.session(disconnect('a'), disconnect('c'), disconnect('c'));
    // user 1 online (b); voice is the signaling server's: 1 in 11, 2 and 3 in 10 (grace off here)
    expect(await state.counters()).toEqual({ online_users: '1', voice_seats: '3' });
  });
});
