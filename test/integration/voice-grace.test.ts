import { Logger } from '@nestjs/common';
import { eventually } from '../../testkit/eventually';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';
import { StateHarness } from '../../testkit/state-harness';

/**
 * The voice grace period follows every sign of chat life (docs/rules.md): a CONNECT that used up a
 * pending DISCONNECT (a quick socket whose HTTP DISCONNECT overtook its CONNECT) shows the chat was
 * up at its record time, so the seats are kept until that time plus the grace period; a record from
 * long ago (a late or replayed one) keeps nothing alive past its own time. On the state server's
 * clock, with a short grace period; runs on one Redis and with REDIS_CLUSTER=1.
 */
const GRACE_MS = 3000;
let redis: TestRedis;
let state: StateHarness;

beforeAll(async () => {
  Logger.overrideLogger(['error']);
  redis = await startTestRedis();
  state = new StateHarness(redis.env, { VOICE_GRACE_SECONDS: String(GRACE_MS / 1000) });
  await state.ready();
});
afterAll(async () => {
  state?.close();
  await redis?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sleepUntil = (ms: number) => sleep(Math.max(0, ms - Date.now()));

async function seated(guildId: string): Promise<string[]> {
  const answer = await state.queries.guildStates(guildId, ['1']);
  return (answer.channelStates['5'] ?? []).sort();
}

it('keeps the seats of a user whose CONNECT used up a pending DISCONNECT until the grace period counted from it runs out', async () => {
  // The assertions need the sweep to fall between the two deadlines; a machine too slow for that
  // (a stall of over a second) makes an attempt inconclusive, and it is tried again with new users.
  for (let attempt = 1; attempt <= 5; attempt++) {
    const guild = String(100 + attempt);
    const [fresh, late] = [String(attempt * 10 + 1), String(attempt * 10 + 2)];
    for (const user of [fresh, late]) {
      await state.session({ type: 'CONNECT', sessionId: `a${user}`, userId: user, state: 'online' });
      await state.channel({ type: 'JOIN', userId: user, guildId: guild, channelId: '5' });
    }
    // Both users' chat sockets close (the chat server's DISCONNECT names no user): the grace period starts.
    await state.session({ type: 'DISCONNECT', sessionId: `a${fresh}` }, { type: 'DISCONNECT', sessionId: `a${late}` });
    const graceStarted = Date.now();
    await sleep(1200);
    // Each reconnects through a quick socket whose DISCONNECT comes before its CONNECT.
    await state.session({ type: 'DISCONNECT', sessionId: `b${fresh}` }, { type: 'DISCONNECT', sessionId: `b${late}` });
    const lifeSeen = Date.now();
    await state.sessionAt(lifeSeen, { type: 'CONNECT', sessionId: `b${fresh}`, userId: fresh, state: 'online' });
    // The other's CONNECT record is old (it waited in a producer, or this is a replay): no later than its time.
    await state.sessionAt(graceStarted - 60_000, { type: 'CONNECT', sessionId: `b${late}`, userId: late, state: 'online' });

    await sleepUntil(graceStarted + GRACE_MS + 300);
    const sweptFrom = Date.now();
    await state.voice.expireGrace();
    const sweptBy = Date.now();
    if (sweptFrom <= graceStarted + GRACE_MS || sweptBy >= lifeSeen + GRACE_MS) continue; // inconclusive: try again

    // The first grace period ran out: the late record kept nothing; the quick socket kept its user seated.
    expect((await state.queries.guildStates(guild, [fresh, late])).connectionStates).toEqual({ [fresh]: 'offline', [late]: 'offline' });
    expect(await seated(guild)).toEqual([fresh]);
    // Until the grace period counted from that CONNECT runs out too.
    await sleepUntil(lifeSeen + GRACE_MS);
    await eventually(async () => {
      await state.voice.expireGrace();
      expect(await seated(guild)).toEqual([]);
    });
    return;
  }
  throw new Error('five attempts were inconclusive: the machine stalled for over a second in each');
});
