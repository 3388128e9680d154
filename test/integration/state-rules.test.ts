import { StateHarness } from '../support/state-harness';
import { startTestRedis, TestRedis } from '../support/redis-server';

let redis: TestRedis;
let state: StateHarness;

beforeAll(async () => {
  redis = await startTestRedis();
  state = new StateHarness(redis.url);
  await state.ready();
});
afterAll(async () => {
  state.close();
  await redis.stop();
});
beforeEach(() => redis.flush());

const connect = (sessionId: string, userId: string | number, extra: Record<string, unknown> = {}) => ({ type: 'CONNECT', sessionId, userId, state: 'online', ...extra });
const disconnect = (sessionId: string, extra: Record<string, unknown> = {}) => ({ type: 'DISCONNECT', sessionId, state: 'offline', ...extra });
const join = (userId: number, guildId: number, channelId: number) => ({ type: 'JOIN', userId, guildId, channelId });
const leave = (userId: number, guildId: number, channelId: number) => ({ type: 'LEAVE', userId, guildId, channelId });

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
    expect(await state.session(connect('s1', 7), connect('s1', 7))).toEqual(['applied', 'unchanged']);
    expect(await state.session(disconnect('s1'), disconnect('s1'))).toEqual(['applied', 'unchanged']);
    expect(await state.session(connect('s1', 7))).toEqual(['unchanged']);
    expect(await state.userState('7')).toBe('offline');
  });

  it('leaves no ghost when a DISCONNECT overtakes its CONNECT', async () => {
    await state.session(disconnect('s1', { userId: 7 }));
    expect(await state.session(connect('s1', 7))).toEqual(['unchanged']);
    expect(await state.userState('7')).toBe('offline');
  });

  it('remembers an ended session only for ENDED_SESSION_TTL_SECONDS', async () => {
    await state.session(connect('s1', 7), disconnect('s1'));
    const ttl = await state.redis.ttl('SESSION:s1');
    expect(ttl).toBeGreaterThan(86000);
    expect(ttl).toBeLessThanOrEqual(86400);
  });

  it('takes the user out of voice and out of their guilds when the last session ends', async () => {
    await state.session(connect('s1', 7, { guildIds: [100] }), connect('s2', 7, { guildIds: [100] }));
    await state.channel(join(7, 100, 5));
    await state.session(disconnect('s1'));
    expect(await state.guildHash('100')).toEqual({ '5': ['7'] });
    await state.session(disconnect('s2'));
    expect(await state.guildHash('100')).toEqual({});
    expect(await state.redis.smembers('GUILD_ONLINE:100')).toEqual([]);
  });

  it('keeps 64-bit ids exact', async () => {
    await state.session(`{"type":"CONNECT","sessionId":"big","userId":9007199254740993123,"guildIds":[1234567890123456789]}`);
    expect(await state.userState('9007199254740993123')).toBe('online');
    const answer = await state.queries.guildStates('1234567890123456789', undefined);
    expect(answer.connectionStates).toEqual({ '9007199254740993123': 'online' });
  });
});

describe('RESET of a chat server', () => {
  it('ends every session the server owned before the reset, and only those', async () => {
    const before = Date.now() - 1000;
    await state.session(
      connect('a1', 1, { serverId: 'chat-a', timestamp: before }),
      connect('a2', 2, { serverId: 'chat-a', timestamp: before }),
      connect('b1', 2, { serverId: 'chat-b', timestamp: before }),
      connect('a3', 3, { serverId: 'chat-a', timestamp: before + 5000 }),
    );
    await state.session({ type: 'RESET', serverId: 'chat-a', timestamp: before + 1000 });
    expect(await state.userState('1')).toBe('offline');
    expect(await state.userState('2')).toBe('online'); // still on chat-b
    expect(await state.userState('3')).toBe('online'); // connected after the reset
  });

  it('ends thousands of sessions in bounded steps', async () => {
    const events = Array.from({ length: 3000 }, (_, i) => connect(`s${i}`, i + 1, { serverId: 'chat-a', timestamp: 1000 }));
    await state.session(...events);
    expect(await state.session({ type: 'RESET', serverId: 'chat-a', timestamp: 2000 })).toEqual(['applied']);
    const states = await state.redis.hvals('USER:STATE');
    expect(states.filter((s) => s === 'online')).toHaveLength(0);
    expect(await state.redis.scard('SERVER_SESSIONS:chat-a')).toBe(0);
  });
});

describe('voice channels', () => {
  it('moves a user from channel A to channel B on JOIN of B', async () => {
    await state.channel(join(1, 100, 10), join(2, 100, 10), join(1, 100, 11));
    expect(await state.guildHash('100')).toEqual({ '10': ['2'], '11': ['1'] });
  });

  it('removes a channel that becomes empty', async () => {
    await state.channel(join(1, 100, 10), leave(1, 100, 10));
    expect(await state.guildHash('100')).toEqual({});
  });

  it('changes nothing on a LEAVE of a channel the user is not in, or a repeated JOIN', async () => {
    await state.channel(join(1, 100, 10));
    expect(await state.channel(leave(1, 100, 11), join(1, 100, 10))).toEqual(['unchanged', 'unchanged']);
    expect(await state.guildHash('100')).toEqual({ '10': ['1'] });
  });

  it('moves across guilds too', async () => {
    await state.channel(join(1, 100, 10), join(1, 200, 20));
    expect(await state.guildHash('100')).toEqual({});
    expect(await state.guildHash('200')).toEqual({ '20': ['1'] });
  });

  it('lets a user sit in several channels when VOICE_ONE_CHANNEL_PER_USER=false', async () => {
    const multi = new StateHarness(redis.url, { VOICE_ONE_CHANNEL_PER_USER: 'false' });
    await multi.ready();
    try {
      await multi.channel(join(1, 100, 10), join(1, 100, 11));
      expect(await state.guildHash('100')).toEqual({ '10': ['1'], '11': ['1'] });
    } finally {
      multi.close();
    }
  });

  it('loses no JOIN when hundreds arrive at once from several clients', async () => {
    const clients = [state, new StateHarness(redis.url), new StateHarness(redis.url), new StateHarness(redis.url)];
    await Promise.all(clients.map((c) => c.ready()));
    try {
      await Promise.all(
        Array.from({ length: 400 }, (_, i) => clients[i % clients.length].channel(join(i + 1, 100, 10))),
      );
      const members = (await state.guildHash('100'))['10'];
      expect(new Set(members).size).toBe(400);
    } finally {
      clients.slice(1).forEach((c) => c.close());
    }
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

  it('leaves users never seen out of the original routes', async () => {
    await state.session(connect('s1', 1));
    expect(await state.queries.directUserInfo(['1', '2'])).toEqual({ connectionStates: { '1': 'online' } });
  });
});

describe('session leases (SESSION_TTL_SECONDS)', () => {
  it('ends a session whose lease ran out, and renews on HEARTBEAT', async () => {
    const leased = new StateHarness(redis.url, { SESSION_TTL_SECONDS: '1' });
    await leased.ready();
    try {
      await leased.session(connect('s1', 1), connect('s2', 2));
      await new Promise((r) => setTimeout(r, 600));
      await leased.session({ type: 'HEARTBEAT', sessionId: 's2' });
      await new Promise((r) => setTimeout(r, 600));
      expect(await leased.sessions.expireLeases()).toBe(1);
      expect(await state.userState('1')).toBe('offline');
      expect(await state.userState('2')).toBe('online');
    } finally {
      leased.close();
    }
  });
});

describe('robustness', () => {
  it('rejects only the event Redis cannot apply and applies the others of the run', async () => {
    await state.redis.hset('GUILD:100', '10', 'not json'); // written by some other tool
    const outcomes = await state.channel(join(1, 100, 11), join(2, 100, 10), join(3, 100, 11));
    expect(outcomes[0]).toBe('applied');
    expect(outcomes[1]).toEqual({ rejected: expect.stringMatching(/Redis refused the change/) });
    expect(outcomes[2]).toBe('applied');
    expect(JSON.parse((await state.redis.hget('GUILD:100', '11'))!)).toEqual(['1', '3']);
  });

  it('keeps the online and voice counters exact through moves, multi-session and redelivery', async () => {
    await state.session(connect('a', 1), connect('b', 1), connect('c', 2), connect('c', 2), disconnect('zz', { userId: 3 }));
    await state.channel(join(1, 100, 10), join(1, 100, 11), join(2, 100, 10), join(2, 100, 10), join(3, 100, 10));
    await state.session(disconnect('a'), disconnect('c'), disconnect('c'));
    // user 1 online (b), user 2 offline (left voice with last session), user 3 never online but in voice
    expect(await state.redis.hgetall('STATE_COUNTERS')).toEqual({ online_users: '1', voice_seats: '2' });
  });
});
