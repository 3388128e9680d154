import { eventually, getJson, startTestApp } from '../../testkit/app';
import { ChatServer, CommunityServer, SignalingServer } from '../../testkit/platform-peers';
import { startStack, TestStack, waitUntilConsumed } from '../../testkit/stack';
import { readMetric } from '../../testkit/metrics';

/**
 * The platform's peers as their code behaves (../shared/PEERS.md), against the service over real
 * Kafka (3 partitions) and HTTP: the chat server's unkeyed CONNECTs with Spring's type header and
 * its HTTP DISCONNECT, the signaling servers' unkeyed JSON text with Number() ids and null LEAVEs,
 * the community server's all-members POST. One user's records are placed on different partitions
 * and applied in adverse orders: each step waits until the service has committed everything
 * produced so far, which forces the order of application.
 */
let stack: TestStack;
let chat: ChatServer;
let signaling1: SignalingServer;
let signaling2: SignalingServer;
let community: CommunityServer;

beforeAll(async () => {
  stack = await startStack('peers', { partitions: 3 });
  chat = await ChatServer.start(stack.kafka.kafka, stack.topics.sessionEvents, stack.app.url);
  signaling1 = await SignalingServer.start(stack.kafka.kafka, stack.topics.channelEvents);
  signaling2 = await SignalingServer.start(stack.kafka.kafka, stack.topics.channelEvents);
  community = new CommunityServer(stack.app.url);
});
afterAll(async () => {
  await Promise.all([chat?.stop(), signaling1?.stop(), signaling2?.stop()].map((p) => p?.catch(() => undefined)));
  await stack?.stop();
});

/** Returns once the service has applied (and committed) every record produced so far. */
const settled = () => waitUntilConsumed(stack);
const guild = async (guildId: number, memberIds: number[]) => {
  const answer = await community.guildInfo(guildId, memberIds);
  expect(answer.status).toBe(200);
  return answer.body as { connectionStates: Record<string, string>; channelStates: Record<string, string[]> };
};
const metric = (name: string, labels: Record<string, string>) => readMetric(stack.app.url, name, labels);

describe('the chat server', () => {
  it('takes a user offline with its HTTP DISCONNECT, answering the userId to broadcast', async () => {
    await chat.connect('c1-a', 2001);
    await settled();
    const answer = await chat.disconnect('c1-a');
    expect(answer).toEqual({ status: 200, body: { code: 200, message: expect.any(String), isSuccess: true, result: '2001' } });
    expect((await guild(1, [2001])).connectionStates).toEqual({ '2001': 'offline' });
  });

  it("answers result:null for a second device's DISCONNECT: the user is still online", async () => {
    await chat.connect('c2-phone', 2002, 'online', { partition: 0 });
    await chat.connect('c2-desktop', 2002, 'online', { partition: 1 });
    await settled();
    expect((await chat.disconnect('c2-phone')).body).toMatchObject({ isSuccess: true, result: null });
    expect((await guild(1, [2002])).connectionStates).toEqual({ '2002': 'online' });
    expect((await chat.disconnect('c2-desktop')).body).toMatchObject({ isSuccess: true, result: '2002' });
  });

  it('answers isSuccess:false for an unknown session, and leaves no ghost when that DISCONNECT came before its CONNECT', async () => {
    // Held until the bound for a CONNECT to use up its pending marker (none comes): labelled as cut short.
    expect((await chat.disconnect('c3-fast')).body).toEqual({
      code: 200,
      message: 'unknown session; answered before every session record already in Kafka was applied (bound)',
      isSuccess: false,
      result: null,
    });
    await chat.connect('c3-fast', 2003); // the CONNECT travelled through Kafka and arrives later
    await settled();
    expect((await guild(1, [2003])).connectionStates).toEqual({ '2003': 'offline' });
  });

  it('shows a user on two devices (online + idle) online, and still online after the idle device leaves', async () => {
    // The adverse order: the online device applied first, the idle one last.
    await chat.connect('c4-desktop', 2004, 'online', { partition: 0 });
    await settled();
    await chat.connect('c4-phone', 2004, 'idle', { partition: 2 });
    await settled();
    expect((await guild(1, [2004])).connectionStates).toEqual({ '2004': 'online' });
    expect((await chat.disconnect('c4-phone')).body).toMatchObject({ isSuccess: true, result: null });
    expect((await guild(1, [2004])).connectionStates).toEqual({ '2004': 'online' });
  });

  it('applies a status change on a live session (CONNECT again with dnd), and stores any state string', async () => {
    const now = Date.now();
    await chat.connect('c5-a', 2005, 'online', { at: now });
    await settled();
    await chat.connect('c5-a', 2005, 'dnd', { at: now + 10 });
    await chat.connect('c6-a', 2006, 'Do Not Disturb (메모)', { at: now });
    await settled();
    expect((await guild(1, [2005, 2006])).connectionStates).toEqual({ '2005': 'dnd', '2006': 'Do Not Disturb (메모)' });
  });

  it('lets another user reuse a session id a day later', async () => {
    const dayAgo = Date.now() - 86_400_000 + 60_000;
    await chat.connect('reused', 2007, 'online', { at: dayAgo });
    await settled();
    expect((await chat.disconnect('reused')).body.result).toBe('2007');
    await chat.connect('reused', 2008);
    await settled();
    expect((await guild(1, [2007, 2008])).connectionStates).toEqual({ '2007': 'offline', '2008': 'online' });
    expect((await chat.disconnect('reused')).body.result).toBe('2008');
  });
});

describe('the signaling servers', () => {
  it('leaves no ghost when a LEAVE on one partition is applied before its JOIN on another', async () => {
    const t = Date.now();
    await signaling1.leave(3001, 10, 100, { partition: 1, at: t + 50 });
    await settled();
    await signaling1.join(3001, 10, 100, { partition: 0, at: t });
    await settled();
    expect((await guild(10, [3001])).channelStates).toEqual({});
  });

  it('keeps the newest JOIN when an older one is applied after it', async () => {
    const t = Date.now();
    await signaling1.join(3002, 11, 111, { partition: 2, at: t + 50 });
    await settled();
    await signaling1.join(3002, 11, 110, { partition: 0, at: t });
    await settled();
    expect((await guild(11, [3002])).channelStates).toEqual({ '111': ['3002'] });
  });

  it('keeps a device switch across two signaling instances, in every order of application', async () => {
    const orders = [
      [0, 1, 2],
      [2, 1, 0],
      [1, 2, 0],
      [2, 0, 1],
      [0, 2, 1],
      [1, 0, 2],
    ];
    for (const [n, order] of orders.entries()) {
      const userId = 3100 + n;
      const t = Date.now();
      const steps = [
        () => signaling1.join(userId, 12, 5, { partition: 0, at: t }), // JOIN c5 on signaling 1
        () => signaling2.join(userId, 12, 6, { partition: 1, at: t + 100 }), // JOIN c6 on signaling 2
        () => signaling1.leave(userId, 12, 5, { partition: 2, at: t + 200 }), // the old socket closes later
      ];
      for (const i of order) {
        await steps[i]();
        await settled();
      }
    }
    expect((await guild(12, [3100])).channelStates).toEqual({ '6': ['3100', '3101', '3102', '3103', '3104', '3105'] });
  });

  it('lets a LEAVE and a JOIN of the same channel and millisecond, applied LEAVE first, leave the user out', async () => {
    const t = Date.now();
    await signaling1.leave(3003, 13, 130, { partition: 2, at: t });
    await settled();
    await signaling1.join(3003, 13, 130, { partition: 1, at: t });
    await settled();
    expect((await guild(13, [3003])).channelStates).toEqual({});
  });

  it('keeps a call through a chat reconnect (CONNECT s1, JOIN, DISCONNECT s1, CONNECT s2)', async () => {
    await chat.connect('v1-s1', 3004);
    await settled();
    await signaling1.join(3004, 14, 140);
    await settled();
    expect((await chat.disconnect('v1-s1')).body.result).toBe('3004');
    await chat.connect('v1-s2', 3004);
    await settled();
    expect(await guild(14, [3004])).toEqual({ connectionStates: { '3004': 'online' }, channelStates: { '140': ['3004'] } });
  });

  it("never compares its clock with the chat server's: 5 s ahead or behind changes nothing", async () => {
    const now = Date.now();
    // Ahead: the user joins, reconnects to chat (stamped 5 s behind the JOIN) and keeps the seat;
    // the LEAVE ends it whatever the chat server's clock says.
    await chat.connect('v2-s1', 3005, 'online', { at: now });
    await signaling1.join(3005, 15, 150, { partition: 0, at: now + 5000 });
    await settled();
    expect((await chat.disconnect('v2-s1')).body.result).toBe('3005');
    await chat.connect('v2-s2', 3005, 'online', { at: now + 10 });
    await settled();
    expect((await guild(15, [3005])).channelStates).toEqual({ '150': ['3005'] });
    await signaling1.leave(3005, 15, 150, { partition: 1, at: now + 5100 });
    // Behind: a JOIN after a chat reconnect seats the user although its timestamp is older.
    await chat.connect('v3-s1', 3006, 'online', { at: now });
    await settled();
    expect((await chat.disconnect('v3-s1')).body.result).toBe('3006');
    await chat.connect('v3-s2', 3006, 'online', { at: now + 10 });
    await signaling2.join(3006, 15, 151, { partition: 2, at: now - 5000 });
    await settled();
    expect((await guild(15, [3005, 3006])).channelStates).toEqual({ '151': ['3006'] });
  });

  it('lets a user sit in voice in two guilds at once', async () => {
    await signaling1.join(3007, 16, 160);
    await signaling2.join(3007, 17, 170);
    await settled();
    expect((await guild(16, [3007])).channelStates).toEqual({ '160': ['3007'] });
    expect((await guild(17, [3007])).channelStates).toEqual({ '170': ['3007'] });
  });

  it('ignores the routine LEAVE of a socket that never joined: counted as ignored, never dead-lettered', async () => {
    const dead = await metric('state_server_events_total', { topic: stack.topics.channelEvents, outcome: 'dead_lettered' });
    await signaling1.leaveWithoutJoining();
    await signaling2.leaveWithoutJoining();
    await settled();
    expect(
      await metric('state_server_events_total', { topic: stack.topics.channelEvents, outcome: 'ignored', reason: 'leave_without_ids' }),
    ).toBe(2);
    expect(await metric('state_server_events_total', { topic: stack.topics.channelEvents, outcome: 'dead_lettered' })).toBe(dead);
  });
});

describe('the community server', () => {
  it('gets a state for every member of a big guild (20,000 ids), offline for users never seen', async () => {
    await chat.connect('m1', 4001);
    await settled();
    const members = Array.from({ length: 20_000 }, (_, i) => 400_000 + i).concat([4001]);
    const answer = await guild(40, members);
    expect(answer.connectionStates).toEqual(Object.fromEntries(members.map((id) => [String(id), id === 4001 ? 'online' : 'offline'])));
  });

  it('gets empty states for an empty member list', async () => {
    expect(await guild(41, [])).toEqual({ connectionStates: {}, channelStates: {} });
    expect((await community.directInfo([])).body).toEqual({ connectionStates: {} });
  });
});

describe('the log', () => {
  it('holds the HTTP DISCONNECTs: a replay of the topics into an empty Redis ends the sessions ended over HTTP', async () => {
    await chat.connect('r1-a', 5001);
    await chat.connect('r2-a', 5002);
    await settled();
    expect((await chat.disconnect('r1-a')).body.result).toBe('5001');
    await settled();
    // Stopped first, as an operator replaying into a new Redis would: a running service would
    // notice the loss and rebuild by itself under its own epoch group (self-healing.test.ts).
    await stack.app.close();
    await stack.redis.flush();
    // A new consumer group replays both topics from the start into the empty Redis.
    const groupId = `${stack.topics.groupId}-replay`;
    const replay = await startTestApp({ ...stack.serviceEnv, KAFKA_GROUP_ID: groupId });
    try {
      await waitUntilConsumed({ kafka: stack.kafka, topics: { ...stack.topics, groupId } });
      await eventually(async () => {
        const answer = (await getJson(`${replay.url}/guilds/1/states?userIds=5001,5002,2001,2003`)).body;
        expect(answer.connectionStates).toEqual({ '5001': 'offline', '5002': 'online', '2001': 'offline', '2003': 'offline' });
      }, 20000);
      // The direct route: 5001 and 2001 were ended over HTTP, 5999 was never seen.
      const direct = await new CommunityServer(replay.url).directInfo([5001, 5002, 2001, 5999]);
      expect(direct.body).toEqual({ connectionStates: { '5001': 'offline', '5002': 'online', '2001': 'offline', '5999': 'offline' } });
    } finally {
      await replay.close();
    }
  });
});
