import { PresenceEvent, PresenceModel } from './presence-model';

const connect = (sessionId: string, userId: string, extra: Partial<Extract<PresenceEvent, { type: 'CONNECT' }>> = {}): PresenceEvent => ({
  type: 'CONNECT', sessionId, userId, state: 'online', timestamp: 1000, ...extra,
});
const disconnect = (sessionId: string, userId?: string): PresenceEvent => ({ type: 'DISCONNECT', sessionId, userId, state: 'offline' });
const join = (userId: string, guildId: string, channelId: string): PresenceEvent => ({ type: 'JOIN', userId, guildId, channelId });
const leave = (userId: string, guildId: string, channelId: string): PresenceEvent => ({ type: 'LEAVE', userId, guildId, channelId });
const run = (...events: PresenceEvent[]) => new PresenceModel({ leases: true }).applyAll(events);

describe('the reference model', () => {
  it('keeps a user online while another of their sessions is live, with the state of the event', () => {
    const model = run(connect('phone', '7'), connect('desktop', '7', { state: 'idle' }), disconnect('phone'));
    expect(model.observable().userStates).toEqual({ '7': 'idle' });
    model.apply({ type: 'DISCONNECT', sessionId: 'desktop', state: 'invisible' });
    expect(model.observable().userStates).toEqual({ '7': 'invisible' });
  });

  it('leaves a tombstone so a CONNECT overtaken by its DISCONNECT changes nothing', () => {
    const model = run(disconnect('s1', '7'));
    expect(model.apply(connect('s1', '7'))).toBe('unchanged');
    expect(model.observable().userStates).toEqual({ '7': 'offline' });
    const anonymous = run(disconnect('s1'));
    expect(anonymous.apply(connect('s1', '7'))).toBe('unchanged');
    expect(anonymous.observable().userStates).toEqual({});
  });

  it('takes the user out of voice and their guilds only when the last session ends', () => {
    const model = run(connect('s1', '7', { guildIds: ['100'] }), connect('s2', '7', { guildIds: ['200'] }), join('7', '100', '5'));
    model.apply(disconnect('s1'));
    expect(model.observable()).toEqual({ userStates: { '7': 'online' }, guildChannels: { '100': { '5': ['7'] } }, guildOnline: { '100': ['7'], '200': ['7'] } });
    model.apply(disconnect('s2'));
    expect(model.observable()).toEqual({ userStates: { '7': 'offline' }, guildChannels: {}, guildOnline: {} });
  });

  it('moves a user on JOIN elsewhere, keeps join order, and drops emptied channels', () => {
    const model = run(join('1', '100', '10'), join('2', '100', '10'), join('3', '100', '10'), join('1', '200', '20'), leave('3', '100', '11'));
    expect(model.observable().guildChannels).toEqual({ '100': { '10': ['2', '3'] }, '200': { '20': ['1'] } });
    model.applyAll([leave('1', '200', '20'), join('1', '100', '10')]);
    expect(model.observable().guildChannels).toEqual({ '100': { '10': ['2', '3', '1'] } });
  });

  it('lets a user sit in several channels when one-channel is off', () => {
    const model = new PresenceModel({ oneChannel: false }).applyAll([join('1', '100', '10'), join('1', '100', '11')]);
    expect(model.observable().guildChannels).toEqual({ '100': { '10': ['1'], '11': ['1'] } });
  });

  it('ends on RESET only the sessions of that server started before the reset', () => {
    const model = run(
      connect('a1', '1', { serverId: 'chat-a', timestamp: 100 }),
      connect('b1', '2', { serverId: 'chat-b', timestamp: 100 }),
      connect('a2', '3', { serverId: 'chat-a', timestamp: 300 }),
      { type: 'RESET', serverId: 'chat-a', timestamp: 200 },
    );
    expect(model.observable().userStates).toEqual({ '1': 'offline', '2': 'online', '3': 'online' });
  });

  it('ends a session whose lease ran out, unless it already ended', () => {
    const model = run(connect('s1', '1'), { type: 'LEASE_EXPIRED', sessionId: 's1' });
    expect(model.observable().userStates).toEqual({ '1': 'offline' });
    expect(new PresenceModel({ leases: false }).applyAll([connect('s1', '1')]).apply({ type: 'LEASE_EXPIRED', sessionId: 's1' })).toBe('unchanged');
  });

  it('ignores a JOIN older than the user\'s last offline time, and a CONNECT older than its server\'s RESET', () => {
    const model = new PresenceModel();
    model.apply(connect('s1', '1', { timestamp: 100 }));
    model.apply(join('1', '100', '10'), 200);
    model.apply(disconnect('s1'), 300);
    expect(model.apply(join('1', '100', '10'), 200)).toBe('unchanged'); // redelivered
    expect(model.apply(join('1', '100', '11'), 400)).toBe('applied'); // a new one
    model.apply({ type: 'RESET', serverId: 'chat-a', timestamp: 500 });
    expect(model.apply(connect('s2', '2', { serverId: 'chat-a', timestamp: 450 }))).toBe('unchanged');
    expect(model.apply(connect('s3', '3', { serverId: 'chat-a', timestamp: 550 }))).toBe('applied');
    expect(model.observable().userStates).toEqual({ '1': 'offline', '2': 'offline', '3': 'online' }); // 2: ended by the RESET
    expect(model.observable().guildChannels).toEqual({ '100': { '11': ['1'] } });
  });

  it('keeps a seat taken after the time of an end of presence applied later, and ignores a LEAVE older than the seat', () => {
    const model = new PresenceModel();
    model.apply(connect('s1', '1', { timestamp: 100 }));
    model.apply(join('1', '100', '10'), 500);
    model.apply(disconnect('s1'), 300);
    expect(model.observable().guildChannels).toEqual({ '100': { '10': ['1'] } });
    expect(model.apply(leave('1', '100', '10'), 400)).toBe('unchanged');
    expect(model.apply(leave('1', '100', '10'), 600)).toBe('applied');
  });

  it('answers queries in GuildStatesService shapes', () => {
    const model = run(connect('s1', '1', { guildIds: ['100'] }), connect('s2', '2'), disconnect('s2'), join('3', '100', '10'));
    expect(model.guildStates('100', ['1', '2', '4'])).toEqual({
      guildId: '100', connectionStates: { '1': 'online', '2': 'offline', '4': 'offline' }, channelStates: { '10': ['3'] },
    });
    expect(model.guildStates('100')).toEqual({ guildId: '100', connectionStates: { '1': 'online', '3': 'offline' }, channelStates: { '10': ['3'] } });
    expect(model.communityUserInfo('100', ['1', '4'])).toEqual({ connectionStates: { '1': 'online' }, channelStates: { '10': ['3'] } });
    expect(model.directUserInfo(['2', '4'])).toEqual({ connectionStates: { '2': 'offline' } });
  });
});
