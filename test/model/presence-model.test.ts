import { ModelOptions, PresenceEvent, PresenceModel } from '../../testkit/presence-model';

/**
 * The reference model, rule by rule (docs/rules.md). Where a rule must hold "in any order", the
 * example is applied in every order of its records (`inEveryOrder`), each record with its own
 * record timestamp, and must end in the same state.
 */

type Timed = [PresenceEvent, number];

const connect = (
  sessionId: string,
  userId: string,
  at: number,
  extra: Partial<Extract<PresenceEvent, { type: 'CONNECT' }>> = {},
): Timed => [{ type: 'CONNECT', sessionId, userId, state: 'online', ...extra }, at];
const disconnect = (sessionId: string, userId?: string, at = 0): Timed => [{ type: 'DISCONNECT', sessionId, userId, state: 'offline' }, at];
const join = (userId: string, guildId: string, channelId: string, at: number, serverId?: string): Timed => [
  { type: 'JOIN', userId, guildId, channelId, serverId },
  at,
];
const leave = (userId: string, guildId: string, channelId: string, at: number): Timed => [
  { type: 'LEAVE', userId, guildId, channelId },
  at,
];
const chatReset = (serverId: string, at: number): Timed => [{ type: 'RESET', serverId, timestamp: at }, at];
const voiceReset = (serverId: string, at: number): Timed => [{ type: 'VOICE_RESET', serverId, timestamp: at }, at];

function run(records: readonly Timed[], options: ModelOptions = {}): PresenceModel {
  const model = new PresenceModel(options);
  for (const [event, at] of records) model.apply(event, at);
  return model;
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

/** The observable state (channel members sorted) reached by every order of the records; fails if two orders differ. */
function inEveryOrder(records: readonly Timed[], options: ModelOptions = {}) {
  const states = permutations(records).map((order) => {
    const { userStates, guildChannels, guildOnline } = run(order, options).observable();
    const sorted = Object.fromEntries(
      Object.entries(guildChannels).map(([g, chans]) => [g, Object.fromEntries(Object.entries(chans).map(([c, m]) => [c, [...m].sort()]))]),
    );
    return { userStates, guildChannels: sorted, guildOnline };
  });
  for (const state of states) expect(state).toEqual(states[0]);
  return states[0];
}

describe('sessions', () => {
  it('keeps a user online while another of their sessions is live', () => {
    expect(inEveryOrder([connect('phone', '7', 1), connect('desktop', '7', 2), disconnect('phone', '7')]).userStates).toEqual({
      '7': 'online',
    });
  });

  it('shows the highest-ranked state of the live sessions, whichever device connected last', () => {
    expect(inEveryOrder([connect('phone', '7', 1, { state: 'idle' }), connect('desktop', '7', 2)]).userStates).toEqual({ '7': 'online' });
    expect(
      inEveryOrder([connect('phone', '7', 1, { state: 'idle' }), connect('desktop', '7', 2), disconnect('phone', '7')]).userStates,
    ).toEqual({ '7': 'online' });
    expect(
      inEveryOrder([connect('phone', '7', 1, { state: 'idle' }), connect('desktop', '7', 2), disconnect('desktop', '7')]).userStates,
    ).toEqual({ '7': 'idle' });
    expect(inEveryOrder([connect('a', '7', 1, { state: 'dnd' }), connect('b', '7', 2)]).userStates).toEqual({ '7': 'dnd' });
  });

  it('ranks states it does not know below idle, the smaller string first, and stores them verbatim', () => {
    expect(inEveryOrder([connect('a', '7', 1, { state: 'On a call' }), connect('b', '7', 2, { state: 'away' })]).userStates).toEqual({
      '7': 'On a call',
    });
    expect(inEveryOrder([connect('a', '7', 1, { state: 'On a call' }), connect('b', '7', 2, { state: 'idle' })]).userStates).toEqual({
      '7': 'idle',
    });
  });

  it('shows an invisible user as offline (or as configured), even beside another device', () => {
    expect(inEveryOrder([connect('a', '7', 1, { state: 'invisible' }), connect('b', '7', 2)]).userStates).toEqual({ '7': 'offline' });
    expect(run([connect('a', '7', 1, { state: 'invisible' })], { invisibleShownAs: 'hidden' }).observable().userStates).toEqual({
      '7': 'hidden',
    });
    expect(
      run([connect('a', '7', 1, { state: 'invisible' }), connect('b', '7', 2, { state: 'idle' })], {
        statePriority: ['online', 'idle', 'invisible'],
      }).observable().userStates,
    ).toEqual({ '7': 'idle' });
  });

  it('takes a status change (CONNECT on a live session) by the newest CONNECT, in any order', () => {
    expect(
      inEveryOrder([connect('s1', '7', 1), connect('s1', '7', 5, { state: 'dnd' }), connect('s1', '7', 9, { state: 'idle' })]).userStates,
    ).toEqual({ '7': 'idle' });
    // a tie goes to the higher-ranked state
    expect(inEveryOrder([connect('s1', '7', 5, { state: 'idle' }), connect('s1', '7', 5, { state: 'dnd' })]).userStates).toEqual({
      '7': 'dnd',
    });
  });

  it('is offline when no session is live, whatever state the DISCONNECT carries', () => {
    const model = run([connect('s1', '7', 1), [{ type: 'DISCONNECT', sessionId: 's1', state: 'invisible' }, 2]]);
    expect(model.observable().userStates).toEqual({ '7': 'offline' });
  });

  it('never revives an ended session: a DISCONNECT (with the user) before its CONNECT leaves it ended', () => {
    expect(inEveryOrder([connect('s1', '7', 1), disconnect('s1', '7')])).toEqual({
      userStates: { '7': 'offline' },
      guildChannels: {},
      guildOnline: {},
    });
    const model = run([disconnect('s1', '7')]);
    expect(model.apply(...connect('s1', '7', 1))).toBe('stale');
    expect(model.observable().userStates).toEqual({ '7': 'offline' });
  });

  it('ends at once the CONNECT that an HTTP DISCONNECT (no user) overtook: a one-shot pending marker', () => {
    expect(inEveryOrder([connect('s1', '7', 1, { guildIds: ['100'] }), disconnect('s1')])).toEqual({
      userStates: { '7': 'offline' },
      guildChannels: {},
      guildOnline: {},
    });
    const model = run([disconnect('s1'), connect('s1', '7', 1)]);
    expect(model.observable().userStates).toEqual({ '7': 'offline' });
    // one-shot: the id's next use (another user, later) is a session like any other
    model.apply(...connect('s1', '8', 100));
    expect(model.observable().userStates).toEqual({ '7': 'offline', '8': 'online' });
  });

  it('keys sessions by (user, session): another user reusing an ended session id a day later goes online', () => {
    const day = 86_400_000;
    expect(inEveryOrder([connect('s1', '7', 1), disconnect('s1', '7'), connect('s1', '8', day), disconnect('s1', '8')]).userStates).toEqual(
      { '7': 'offline', '8': 'offline' },
    );
    expect(inEveryOrder([connect('s1', '7', 1), disconnect('s1', '7'), connect('s1', '8', day)]).userStates).toEqual({
      '7': 'offline',
      '8': 'online',
    });
  });

  it('finds the session of a DISCONNECT without user from the latest CONNECT with that id', () => {
    const model = run([connect('s1', '7', 1), disconnect('s1', '7'), connect('s1', '8', 100), disconnect('s1')]);
    expect(model.observable().userStates).toEqual({ '7': 'offline', '8': 'offline' });
  });

  it('ends on RESET the sessions its chat server started before it, in any order with the CONNECTs', () => {
    const state = inEveryOrder([
      connect('a1', '1', 100, { serverId: 'chat-a' }),
      connect('b1', '2', 100, { serverId: 'chat-b' }),
      connect('a2', '3', 300, { serverId: 'chat-a' }),
      chatReset('chat-a', 200),
    ]);
    expect(state.userStates).toEqual({ '1': 'offline', '2': 'online', '3': 'online' });
  });

  it("ends a session whose first CONNECT predates its server's RESET, even after a later status change", () => {
    expect(
      inEveryOrder([
        connect('s1', '1', 100, { serverId: 'chat-a' }),
        connect('s1', '1', 300, { serverId: 'chat-a', state: 'dnd' }),
        chatReset('chat-a', 200),
      ]).userStates,
    ).toEqual({ '1': 'offline' });
  });

  it('adds the guildIds of every CONNECT of a live session; GUILD_ONLINE is the union over live sessions', () => {
    const state = inEveryOrder([
      connect('s1', '1', 1, { guildIds: ['100'] }),
      connect('s1', '1', 2, { guildIds: ['200'] }),
      connect('s2', '1', 3, { guildIds: ['300'] }),
      disconnect('s2', '1'),
    ]);
    expect(state.guildOnline).toEqual({ '100': ['1'], '200': ['1'] });
  });

  it('ends a session whose lease ran out (only with leases), as a DISCONNECT would', () => {
    const lapse: PresenceEvent = { type: 'LEASE_EXPIRED', userId: '1', sessionId: 's1' };
    const leased = run([connect('s1', '1', 1)], { leases: true });
    expect(leased.apply(lapse, 2)).toBe('applied');
    expect(leased.observable().userStates).toEqual({ '1': 'offline' });
    expect(run([connect('s1', '1', 1)]).apply(lapse, 2)).toBe('ignored');
  });

  it('ends the oldest live session over MAX_SESSIONS_PER_USER (applied in CONNECT order)', () => {
    const model = run([connect('a', '1', 1, { state: 'dnd' }), connect('b', '1', 2), connect('c', '1', 3, { state: 'idle' })], {
      maxSessionsPerUser: 2,
    });
    expect(model.liveSessions('1').sort()).toEqual(['b', 'c']);
    expect(model.observable().userStates).toEqual({ '1': 'online' });
  });

  it('is order-dependent with MAX_SESSIONS_PER_USER: a DISCONNECT applied before or after the CONNECT over the bound', () => {
    // Recorded as a limit of the rule, not a wish: eviction depends on how many sessions are live when the CONNECT is applied.
    const records = [connect('a', '1', 1), connect('b', '1', 2), connect('c', '1', 3), disconnect('b', '1')];
    const inOrder = run(records, { maxSessionsPerUser: 2 }).liveSessions('1').sort();
    const disconnectFirst = run([records[0], records[1], records[3], records[2]], { maxSessionsPerUser: 2 }).liveSessions('1').sort();
    expect(inOrder).toEqual(['c']);
    expect(disconnectFirst).toEqual(['a', 'c']);
  });

  it('is order-dependent for a DISCONNECT without user when two users had that session id', () => {
    // Recorded as a limit of the rule: which session "the latest CONNECT with that id" names, and
    // which CONNECT consumes a pending marker, depend on what was applied before. Records that the
    // HTTP route appends name the user they resolved, so a replay is not affected.
    const day = 86_400_000;
    const records = [connect('s1', '7', 1), disconnect('s1'), connect('s1', '8', day)];
    expect(run(records).observable().userStates).toEqual({ '7': 'offline', '8': 'online' });
    expect(run([records[0], records[2], records[1]]).observable().userStates).toEqual({ '7': 'online', '8': 'offline' });
    expect(run([records[1], records[2], records[0]]).observable().userStates).toEqual({ '7': 'online', '8': 'offline' });
  });

  it('records in USER:STATE only users named in session events', () => {
    const model = run([join('5', '100', '10', 1), disconnect('x'), connect('s1', '6', 1), disconnect('s2', '7')]);
    expect(model.observable().userStates).toEqual({ '6': 'online', '7': 'offline' });
  });
});

describe('voice', () => {
  it('keeps a user in c6 after JOIN c5 (S1), JOIN c6 (S2), LEAVE c5 in any order: a device switch across signaling instances', () => {
    const state = inEveryOrder([join('1', '100', '5', 10, 'sig-1'), join('1', '100', '6', 20, 'sig-2'), leave('1', '100', '5', 30)]);
    expect(state.guildChannels).toEqual({ '100': { '6': ['1'] } });
  });

  it('remembers a LEAVE applied before its JOIN: the JOIN then seats nobody', () => {
    expect(inEveryOrder([join('1', '100', '5', 10), leave('1', '100', '5', 20)]).guildChannels).toEqual({});
  });

  it('lets a LEAVE win a tie with the JOIN of the same channel and millisecond', () => {
    expect(inEveryOrder([join('1', '100', '5', 10), leave('1', '100', '5', 10)]).guildChannels).toEqual({});
  });

  it('ignores an older JOIN applied after a newer one', () => {
    expect(inEveryOrder([join('1', '100', '5', 10), join('1', '100', '6', 20)]).guildChannels).toEqual({ '100': { '6': ['1'] } });
    const model = run([join('1', '100', '6', 20)]);
    expect(model.apply(...join('1', '100', '5', 10))).toBe('stale');
  });

  it('seats a user again by a JOIN newer than their LEAVE', () => {
    expect(inEveryOrder([join('1', '100', '5', 10), leave('1', '100', '5', 20), join('1', '100', '5', 30)]).guildChannels).toEqual({
      '100': { '5': ['1'] },
    });
  });

  it('ends with a LEAVE only the channel it names', () => {
    expect(inEveryOrder([join('1', '100', '5', 10), leave('1', '100', '6', 20)]).guildChannels).toEqual({ '100': { '5': ['1'] } });
  });

  it('keeps one channel per user per guild by default, and voice in two guilds at once', () => {
    const state = inEveryOrder([join('1', '100', '5', 10), join('1', '200', '7', 20), join('1', '100', '6', 30)]);
    expect(state.guildChannels).toEqual({ '100': { '6': ['1'] }, '200': { '7': ['1'] } });
  });

  it('keeps one channel per user with VOICE_SCOPE=user, a tie going to the larger guild id', () => {
    expect(inEveryOrder([join('1', '100', '5', 10), join('1', '200', '7', 20)], { voiceScope: 'user' }).guildChannels).toEqual({
      '200': { '7': ['1'] },
    });
    expect(inEveryOrder([join('1', '900', '5', 10), join('1', '1000', '7', 10)], { voiceScope: 'user' }).guildChannels).toEqual({
      '1000': { '7': ['1'] },
    });
    expect(inEveryOrder([join('1', '100', '5', 10), join('1', '100', '7', 10)]).guildChannels).toEqual({ '100': { '7': ['1'] } });
  });

  it('lets a user sit in any number of channels with VOICE_SCOPE=none', () => {
    expect(
      inEveryOrder([join('1', '100', '5', 10), join('1', '100', '6', 20), leave('1', '100', '5', 30)], { voiceScope: 'none' })
        .guildChannels,
    ).toEqual({ '100': { '6': ['1'] } });
    expect(run([join('1', '100', '5', 10), join('1', '100', '6', 20)], { voiceScope: 'none' }).observable().guildChannels).toEqual({
      '100': { '5': ['1'], '6': ['1'] },
    });
  });

  it('does not end a call when the chat session ends or reconnects', () => {
    const state = inEveryOrder([
      connect('s1', '1', 1, { guildIds: ['100'] }),
      join('1', '100', '5', 50),
      disconnect('s1', '1'),
      connect('s2', '1', 3, { guildIds: ['100'] }),
    ]);
    expect(state).toEqual({ userStates: { '1': 'online' }, guildChannels: { '100': { '5': ['1'] } }, guildOnline: { '100': ['1'] } });
    expect(
      inEveryOrder([connect('s1', '1', 1, { serverId: 'chat-a' }), join('1', '100', '5', 50), chatReset('chat-a', 2)]).guildChannels,
    ).toEqual({ '100': { '5': ['1'] } });
  });

  it('ignores a LEAVE whose ids are all null', () => {
    const model = run([join('1', '100', '5', 10)]);
    expect(model.apply({ type: 'LEAVE', userId: null, guildId: null, channelId: null }, 20)).toBe('ignored');
    expect(model.observable().guildChannels).toEqual({ '100': { '5': ['1'] } });
  });

  it("ends the seats of a user with no live session when the grace period runs out, as LEAVEs at their JOINs' times", () => {
    const grace: PresenceEvent = { type: 'GRACE_EXPIRED', userId: '1' };
    const model = run([join('1', '100', '5', 10), join('1', '200', '7', 20)]);
    expect(model.apply(grace, 0)).toBe('applied');
    expect(model.observable().guildChannels).toEqual({});
    // a redelivered JOIN cannot bring a seat back; a newer JOIN can
    expect(model.apply(...join('1', '100', '5', 10))).not.toBe('applied');
    expect(model.observable().guildChannels).toEqual({});
    model.apply(...join('1', '100', '5', 11));
    expect(model.observable().guildChannels).toEqual({ '100': { '5': ['1'] } });
  });

  it('keeps the seats when the grace period runs out while the user has a live session', () => {
    const model = run([connect('s1', '1', 1), join('1', '100', '5', 10)]);
    expect(model.apply({ type: 'GRACE_EXPIRED', userId: '1' }, 0)).toBe('ignored');
    expect(model.observable().guildChannels).toEqual({ '100': { '5': ['1'] } });
  });

  it('counts every CONNECT as a sign of chat life at min(its time, now): one that used up a pending DISCONNECT postpones the grace period', () => {
    const G = 10_000;
    const model = new PresenceModel({ voiceGraceMs: G });
    // Applied at state-server times 1000.. (third argument); record times on the chat server's clock.
    model.apply(...connect('s1', '1', 1000), 1000);
    model.apply(...connect('s1', '2', 1000), 1000);
    model.apply(...join('1', '100', '5', 1001), 1001);
    model.apply(...join('2', '100', '5', 1001), 1001);
    model.apply(...disconnect('s1', '1'), 2000); // grace of 1 counts from 2000
    model.apply(...disconnect('s1', '2'), 2000); // and of 2
    model.apply(...disconnect('s2'), 5000); // quick sockets: their DISCONNECTs came first
    model.apply(...disconnect('s3'), 5000);
    model.apply(...connect('s2', '1', 4990), 5010); // used up the marker: chat up at 4990
    model.apply(...connect('s3', '2', 1500), 5010); // a late record: chat up at 1500, before the grace began
    expect(model.liveSessions('1')).toEqual([]);
    expect(model.apply({ type: 'GRACE_EXPIRED', userId: '1', at: 12_000 }, 0)).toBe('ignored');
    expect(model.apply({ type: 'GRACE_EXPIRED', userId: '2', at: 12_000 }, 0)).toBe('applied');
    expect(model.observable().guildChannels).toEqual({ '100': { '5': ['1'] } });
    expect(model.apply({ type: 'GRACE_EXPIRED', userId: '1', at: 14_990 }, 0)).toBe('applied');
    expect(model.observable().guildChannels).toEqual({});
  });

  it("ends on a signaling RESET the seats taken by that server's JOINs before it, in any order", () => {
    const state = inEveryOrder([
      join('1', '100', '5', 10, 'sig-1'),
      join('2', '100', '5', 10, 'sig-2'),
      join('3', '100', '5', 30, 'sig-1'),
      voiceReset('sig-1', 20),
    ]);
    expect(state.guildChannels).toEqual({ '100': { '5': ['2', '3'] } });
    // the ended seat stays the newest JOIN of its scope: an older JOIN elsewhere does not come back
    expect(
      inEveryOrder([join('1', '100', '4', 5, 'sig-2'), join('1', '100', '5', 10, 'sig-1'), voiceReset('sig-1', 20)]).guildChannels,
    ).toEqual({});
  });

  it('decides a JOIN tie of one channel and millisecond on two signaling servers by serverId, so a RESET of one ends the same seat in any order', () => {
    // The larger serverId wins a full tie (absent smallest): sig-2's JOIN stands whatever the order; a LEAVE written
    // at sig-1's JOIN time instead would also end sig-2's JOIN when that is applied after the RESET.
    expect(
      inEveryOrder([join('1', '100', '5', 10, 'sig-2'), join('1', '100', '5', 10, 'sig-1'), voiceReset('sig-1', 20)]).guildChannels,
    ).toEqual({ '100': { '5': ['1'] } });
    expect(
      inEveryOrder([join('1', '100', '5', 10, 'sig-2'), join('1', '100', '5', 10, 'sig-1'), voiceReset('sig-2', 20)]).guildChannels,
    ).toEqual({});
  });

  it('keeps channel members in the order they sat down and drops emptied channels', () => {
    const model = run([join('1', '100', '10', 1), join('2', '100', '10', 2), join('3', '100', '10', 3), join('1', '100', '11', 4)]);
    expect(model.observable().guildChannels).toEqual({ '100': { '10': ['2', '3'], '11': ['1'] } });
    model.apply(...leave('1', '100', '11', 5));
    model.apply(...join('1', '100', '10', 6));
    expect(model.observable().guildChannels).toEqual({ '100': { '10': ['2', '3', '1'] } });
  });
});

describe("the original service's state, adopted at the switch-over", () => {
  const seat = (userId: string, guildId: string, channelId: string): Timed => [{ type: 'ADOPT_SEAT', userId, guildId, channelId }, 0];
  const session = (sessionId: string, userId: string, state = 'online'): Timed => [{ type: 'ADOPT_SESSION', userId, sessionId, state }, 0];

  it('ends an adopted seat as one we saw taken: its LEAVE, a newer JOIN of its scope, the grace period; a JOIN we know wins', () => {
    expect(inEveryOrder([seat('1', '100', '5'), seat('2', '100', '5'), leave('2', '100', '5', 10)]).guildChannels).toEqual({
      '100': { '5': ['1'] },
    });
    expect(inEveryOrder([seat('1', '100', '5'), join('1', '100', '6', 10)]).guildChannels).toEqual({ '100': { '6': ['1'] } });
    expect(inEveryOrder([seat('1', '100', '5'), leave('1', '100', '5', 1)]).guildChannels).toEqual({});
    const model = run([seat('1', '100', '5')]);
    expect(model.apply({ type: 'GRACE_EXPIRED', userId: '1' }, 0)).toBe('applied');
    expect(model.observable().guildChannels).toEqual({});
  });

  it("keeps an adopted session live until its DISCONNECT, which finds its user by the session id; a newer CONNECT's state wins", () => {
    const model = run([session('sockA', '1', 'idle'), session('sockB', '1')]);
    expect(model.shownState('1')).toBe('online');
    model.apply(...connect('sockB', '1', 10, { state: 'dnd' }));
    expect(model.shownState('1')).toBe('dnd');
    model.apply(...disconnect('sockB'));
    expect(model.shownState('1')).toBe('idle');
    expect(model.apply(...disconnect('sockA'))).toBe('applied');
    expect(model.shownState('1')).toBe('offline');
  });

  it("ends an adopted session when the original's key would have expired, even without leases", () => {
    const model = run([session('sockA', '1'), connect('s2', '2', 5)]);
    expect(model.apply({ type: 'LEASE_EXPIRED', userId: '1', sessionId: 'sockA' }, 0)).toBe('applied');
    expect(model.apply({ type: 'LEASE_EXPIRED', userId: '2', sessionId: 's2' }, 0)).toBe('ignored');
    expect(model.observable().userStates).toEqual({ '1': 'offline', '2': 'online' });
  });
});

describe('answers', () => {
  it('answers queries in GuildStatesService shapes', () => {
    const model = run([
      connect('s1', '1', 1, { guildIds: ['100'] }),
      connect('s2', '2', 2),
      disconnect('s2', '2'),
      join('3', '100', '10', 3),
    ]);
    expect(model.guildStates('100', ['1', '2', '4'])).toEqual({
      guildId: '100',
      connectionStates: { '1': 'online', '2': 'offline', '4': 'offline' },
      channelStates: { '10': ['3'] },
    });
    expect(model.guildStates('100')).toEqual({
      guildId: '100',
      connectionStates: { '1': 'online', '3': 'offline' },
      channelStates: { '10': ['3'] },
    });
    expect(model.communityUserInfo('100', ['1', '4'])).toEqual({
      connectionStates: { '1': 'online', '4': 'offline' },
      channelStates: { '10': ['3'] },
    });
    expect(model.communityUserInfo('100', [])).toEqual({ connectionStates: {}, channelStates: { '10': ['3'] } });
    expect(model.directUserInfo(['2', '4'])).toEqual({ connectionStates: { '2': 'offline', '4': 'offline' } });
  });
});
