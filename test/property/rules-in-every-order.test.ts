import { Logger } from '@nestjs/common';
import { decodeEvent } from '../../src/ingest/event-decoding';
import { ChannelEvent } from '../../src/voice/channel-event';
import { applyThroughService } from '../../testkit/apply-through-service';
import { BASE_MS, DeliveredLog, describeDelivery } from '../../testkit/event-log';
import { normalized, readObservableState } from '../../testkit/observed-state';
import { ModelOptions, ObservableState, PresenceEvent, PresenceModel } from '../../testkit/presence-model';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';
import { StateHarness } from '../../testkit/state-harness';

/**
 * The cases docs/rules.md and issue #9 name, each a handful of records applied through the
 * service in every order, then all again (a redelivery): each order must end in the model's state
 * (channel members as sets), and the model's state is spelled out, so a failure reads as the rule.
 * Then the rules that run on the state server's own clock (grace period, leases), with short times.
 */

let redis: TestRedis;
const harnesses = new Map<string, StateHarness>();

beforeAll(async () => {
  Logger.overrideLogger(['error']);
  redis = await startTestRedis();
});
afterAll(async () => {
  for (const h of harnesses.values()) h.close();
  await redis?.stop();
});

async function harness(env: Record<string, string>): Promise<StateHarness> {
  const key = JSON.stringify(env);
  let h = harnesses.get(key);
  if (!h) {
    h = new StateHarness(redis.url, { VOICE_GRACE_SECONDS: '0', ...env });
    harnesses.set(key, h);
    await h.ready();
  }
  return h;
}

type Timed = [PresenceEvent, number];
const t = (ms: number) => BASE_MS + ms;
const connect = (
  sessionId: string,
  userId: string,
  at: number,
  extra: Partial<Extract<PresenceEvent, { type: 'CONNECT' }>> = {},
): Timed => [{ type: 'CONNECT', sessionId, userId, state: 'online', ...extra }, t(at)];
const disconnect = (sessionId: string, userId: string | undefined, at: number): Timed => [
  { type: 'DISCONNECT', sessionId, userId, state: 'offline' },
  t(at),
];
const join = (userId: string, guildId: string, channelId: string, at: number, serverId?: string): Timed => [
  { type: 'JOIN', userId, guildId, channelId, serverId },
  t(at),
];
const leave = (userId: string, guildId: string, channelId: string, at: number): Timed => [
  { type: 'LEAVE', userId, guildId, channelId },
  t(at),
];
const chatReset = (serverId: string, at: number): Timed => [{ type: 'RESET', serverId, timestamp: t(at) }, t(at)];
const voiceReset = (serverId: string, at: number): Timed => [{ type: 'VOICE_RESET', serverId, timestamp: t(at) }, t(at)];

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

const logOf = (records: readonly Timed[]) => new DeliveredLog(records.map(([event, atMs]) => ({ event, atMs, again: false })));

/**
 * Applies the records through the service in every order, then again; each time the state must
 * be the model's, which must be `expected` (partial: the sections given).
 */
async function inEveryOrder(
  records: readonly Timed[],
  expected: Partial<ObservableState>,
  config: { env?: Record<string, string>; model?: ModelOptions } = {},
): Promise<void> {
  const model = new PresenceModel(config.model);
  for (const [event, at] of records) model.apply(event, at);
  const modelState = normalized(model.observable());
  expect(modelState).toMatchObject(expected);
  const h = await harness(config.env ?? {});
  for (const order of permutations(records)) {
    await redis.flush();
    const log = logOf(order);
    const story = log.deliveries.map(describeDelivery).join('\n');
    await applyThroughService(h, log);
    expect({ order: story, state: normalized(await readObservableState(h.redis)) }).toEqual({ order: story, state: modelState });
    await applyThroughService(h, log);
    expect({ order: `${story}\n(all again)`, state: normalized(await readObservableState(h.redis)) }).toEqual({
      order: `${story}\n(all again)`,
      state: modelState,
    });
  }
}

describe('voice, in every order of its records', () => {
  it("keeps a user in c6 after JOIN c5 (S1), JOIN c6 (S2), LEAVE c5 (S1's old socket closes later)", async () => {
    await inEveryOrder([join('1', '100', '5', 10), join('1', '100', '6', 20), leave('1', '100', '5', 30)], {
      guildChannels: { '100': { '6': ['1'] } },
    });
  });

  it('seats nobody after a JOIN and a LEAVE of one channel in the same millisecond (LEAVE wins the tie)', async () => {
    await inEveryOrder([join('1', '100', '5', 10), leave('1', '100', '5', 10)], { guildChannels: {} });
  });

  it('leaves no ghost when a LEAVE is applied before its JOIN', async () => {
    await inEveryOrder([join('1', '100', '5', 10), leave('1', '100', '5', 20), join('2', '100', '5', 15)], {
      guildChannels: { '100': { '5': ['2'] } },
    });
  });

  it('does not move a user back by an older JOIN applied after a newer one', async () => {
    await inEveryOrder([join('1', '100', '5', 10), join('1', '100', '6', 20), join('1', '100', '7', 30)], {
      guildChannels: { '100': { '7': ['1'] } },
    });
  });

  it('keeps voice in two guilds at once (VOICE_SCOPE=guild)', async () => {
    await inEveryOrder([join('1', '100', '5', 10), join('1', '200', '8', 20), join('1', '100', '6', 30)], {
      guildChannels: { '100': { '6': ['1'] }, '200': { '8': ['1'] } },
    });
  });

  it('keeps one channel per user with VOICE_SCOPE=user, a tie going to the larger guild id', async () => {
    const user = { env: { VOICE_SCOPE: 'user' }, model: { voiceScope: 'user' as const } };
    await inEveryOrder(
      [join('1', '100', '5', 10), join('1', '200', '8', 20), leave('1', '100', '5', 30)],
      { guildChannels: { '200': { '8': ['1'] } } },
      user,
    );
    await inEveryOrder([join('1', '900', '5', 10), join('1', '1000', '8', 10)], { guildChannels: { '1000': { '8': ['1'] } } }, user);
  });

  it('lets a user sit in any number of channels with VOICE_SCOPE=none', async () => {
    await inEveryOrder(
      [join('1', '100', '5', 10), join('1', '100', '6', 20), leave('1', '100', '5', 5)],
      { guildChannels: { '100': { '5': ['1'], '6': ['1'] } } },
      { env: { VOICE_SCOPE: 'none' }, model: { voiceScope: 'none' } },
    );
  });

  it('keeps the call through a chat reconnect (CONNECT s1, JOIN, DISCONNECT s1, CONNECT s2)', async () => {
    await inEveryOrder(
      [
        connect('s1', '1', 1, { guildIds: ['100'] }),
        join('1', '100', '5', 500),
        disconnect('s1', undefined, 2),
        connect('s2', '1', 3, { guildIds: ['100'] }),
      ],
      {
        userStates: { '1': 'online' },
        guildChannels: { '100': { '5': ['1'] } },
        guildOnline: { '100': ['1'] },
      },
    );
  });

  it("ends on a signaling RESET the seats of that server's JOINs before it, and only those", async () => {
    await inEveryOrder(
      [join('1', '100', '5', 10, 'sig-1'), join('2', '100', '5', 10, 'sig-2'), join('3', '100', '5', 30, 'sig-1'), voiceReset('sig-1', 20)],
      {
        guildChannels: { '100': { '5': ['2', '3'] } },
      },
    );
  });

  it('keeps the seat of a user who joined the same channel again on another signaling server when the first one RESETs', async () => {
    // sig-1 crashed; the client reconnected to sig-2 and joined the same channel: the seat is now sig-2's JOIN's.
    await inEveryOrder([join('1', '100', '5', 10, 'sig-1'), join('1', '100', '5', 20, 'sig-2'), voiceReset('sig-1', 30)], {
      guildChannels: { '100': { '5': ['1'] } },
    });
    await inEveryOrder([join('1', '100', '5', 10), join('1', '100', '5', 20, 'sig-1'), voiceReset('sig-1', 30)], { guildChannels: {} });
  });

  it('decides a JOIN tie (one channel, one millisecond, two signaling servers) by serverId, not by the order applied', async () => {
    await inEveryOrder([join('1', '100', '5', 10, 'sig-2'), join('1', '100', '5', 10, 'sig-1'), voiceReset('sig-1', 20)], {
      guildChannels: { '100': { '5': ['1'] } },
    });
    await inEveryOrder([join('1', '100', '5', 10), join('1', '100', '5', 10, 'sig-1'), voiceReset('sig-1', 20)], { guildChannels: {} });
  });

  it('ignores a LEAVE whose ids are all null: counted as ignored, never dead-lettered', async () => {
    const h = await harness({});
    await redis.flush();
    await h.channelAt(t(1), { type: 'JOIN', userId: 1, guildId: 100, channelId: 5 });
    const nullLeave = decodeEvent(Buffer.from('{"guildId":null,"channelId":null,"userId":null,"type":"LEAVE"}'), ChannelEvent, 65536);
    const [outcome] = await h.voice.applyAll([{ event: nullLeave, timestampMs: t(2) }]);
    expect(outcome).toEqual({ ignored: expect.any(String) });
    expect(await h.guildHash('100')).toEqual({ '5': ['1'] });
  });
});

describe('sessions, in every order of their records', () => {
  it('leaves no ghost when the HTTP DISCONNECT (no user) overtakes its CONNECT', async () => {
    await inEveryOrder([connect('s1', '1', 1, { guildIds: ['100'] }), disconnect('s1', undefined, 2)], {
      userStates: { '1': 'offline' },
      guildOnline: {},
    });
  });

  it('keeps a user online on two devices until both end, showing the higher-ranked state', async () => {
    await inEveryOrder([connect('phone', '1', 1, { state: 'idle' }), connect('desktop', '1', 2), disconnect('phone', '1', 3)], {
      userStates: { '1': 'online' },
    });
    await inEveryOrder([connect('phone', '1', 1, { state: 'idle' }), connect('desktop', '1', 2), disconnect('desktop', '1', 3)], {
      userStates: { '1': 'idle' },
    });
    await inEveryOrder(
      [
        connect('phone', '1', 1, { state: 'idle' }),
        connect('desktop', '1', 2),
        disconnect('desktop', '1', 3),
        disconnect('phone', undefined, 4),
      ],
      { userStates: { '1': 'offline' } },
    );
  });

  it('takes a status change on a live session by the newest CONNECT', async () => {
    await inEveryOrder([connect('s1', '1', 1), connect('s1', '1', 5, { state: 'dnd' }), connect('s1', '1', 9, { state: 'idle' })], {
      userStates: { '1': 'idle' },
    });
  });

  it('stores any printable state verbatim, ranked below idle, and shows invisible as offline', async () => {
    await inEveryOrder(
      [
        connect('a', '1', 1, { state: 'In a call (back at 3) ☎' }),
        connect('b', '1', 2, { state: 'away' }),
        connect('c', '2', 3, { state: 'invisible', guildIds: ['100'] }),
      ],
      {
        userStates: { '1': 'In a call (back at 3) ☎', '2': 'offline' },
        guildOnline: { '100': ['2'] },
      },
    );
  });

  it('breaks a tie between other states by their UTF-8 bytes, not UTF-16 or a locale', async () => {
    // U+FF4D sorts before U+1F600 by UTF-8 bytes (EF.. < F0..), after it in UTF-16 (FF4D > D83D).
    await inEveryOrder([connect('a', '1', 1, { state: 'ｍeeting' }), connect('b', '1', 2, { state: '😀 lunch' })], {
      userStates: { '1': 'ｍeeting' },
    });
  });

  it('lets another user reuse an ended session id a day later', async () => {
    const day = 86_400_000;
    await inEveryOrder([connect('s1', '1', 1), disconnect('s1', '1', 2), connect('s1', '2', day)], {
      userStates: { '1': 'offline', '2': 'online' },
    });
  });

  it("keeps a user online on chat-b when chat-a's RESET comes, in any order with their CONNECTs", async () => {
    await inEveryOrder(
      [
        connect('a1', '1', 100, { serverId: 'chat-a', guildIds: ['100'] }),
        connect('b1', '1', 100, { serverId: 'chat-b', guildIds: ['200'] }),
        chatReset('chat-a', 200),
      ],
      {
        userStates: { '1': 'online' },
        guildOnline: { '200': ['1'] },
      },
    );
  });

  it("ends a session on its chat server's RESET when its first CONNECT predates the RESET, even after a later status change", async () => {
    await inEveryOrder(
      [
        connect('s1', '1', 100, { serverId: 'chat-a' }),
        connect('s1', '1', 300, { serverId: 'chat-a', state: 'dnd' }),
        chatReset('chat-a', 200),
      ],
      { userStates: { '1': 'offline' } },
    );
  });

  it('keeps the sessions a chat server started after its RESET', async () => {
    await inEveryOrder(
      [connect('s1', '1', 100, { serverId: 'chat-a' }), chatReset('chat-a', 200), connect('s2', '1', 300, { serverId: 'chat-a' })],
      { userStates: { '1': 'online' } },
    );
  });
});

describe("the state server's clock", () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('ends the seats of a user with no live session once the grace period ran out; a redelivered JOIN does not bring them back, a newer one does', async () => {
    const h = await harness({ VOICE_GRACE_SECONDS: '1' });
    await redis.flush();
    const model = new PresenceModel();
    const records: Timed[] = [
      connect('s1', '1', 1),
      join('1', '100', '5', 10),
      join('2', '100', '5', 11),
      connect('s2', '2', 2),
      disconnect('s1', undefined, 3),
    ];
    await applyThroughService(h, logOf(records));
    for (const [event, at] of records) model.apply(event, at);
    await sleep(1300);
    await h.voice.expireGrace();
    model.apply({ type: 'GRACE_EXPIRED', userId: '1' }, 0);
    model.apply({ type: 'GRACE_EXPIRED', userId: '2' }, 0); // still online: keeps the seat
    expect(model.observable().guildChannels).toEqual({ '100': { '5': ['2'] } });
    expect(normalized(await readObservableState(h.redis))).toEqual(normalized(model.observable()));

    const redelivered = [join('1', '100', '5', 10)];
    await applyThroughService(h, logOf(redelivered));
    model.apply(...redelivered[0]);
    expect(normalized(await readObservableState(h.redis))).toEqual(normalized(model.observable()));
    const newer = join('1', '100', '5', 20);
    await applyThroughService(h, logOf([newer]));
    model.apply(...newer);
    expect(model.observable().guildChannels).toEqual({ '100': { '5': ['2', '1'] } });
    expect(normalized(await readObservableState(h.redis))).toEqual(normalized(model.observable()));
  });

  it('ends a session whose lease ran out as a DISCONNECT would: a redelivered CONNECT does not revive it', async () => {
    const h = await harness({ SESSION_TTL_SECONDS: '2' });
    await redis.flush();
    const model = new PresenceModel({ leases: true });
    const records: Timed[] = [connect('s1', '1', 1, { guildIds: ['100'] }), connect('s2', '2', 2), join('1', '100', '5', 10)];
    await applyThroughService(h, logOf(records));
    for (const [event, at] of records) model.apply(event, at);
    await sleep(1200);
    await applyThroughService(h, logOf([[{ type: 'HEARTBEAT', sessionId: 's2' }, t(3)]])); // s2's lease runs 2 s from here
    await sleep(1000);
    await h.sessions.expireLeases();
    model.apply({ type: 'LEASE_EXPIRED', userId: '1', sessionId: 's1' }, 0);
    expect(model.observable()).toMatchObject({
      userStates: { '1': 'offline', '2': 'online' },
      guildChannels: { '100': { '5': ['1'] } },
      guildOnline: {},
    });
    expect(normalized(await readObservableState(h.redis))).toEqual(normalized(model.observable()));
    await applyThroughService(h, logOf([records[0]]));
    model.apply(...records[0]);
    expect(normalized(await readObservableState(h.redis))).toEqual(normalized(model.observable()));
  });
});
