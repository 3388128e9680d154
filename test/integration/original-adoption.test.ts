import { Logger } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '../../testkit/eventually';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';
import { StateHarness } from '../../testkit/state-harness';

/**
 * The switch-over onto the Redis the original (Java/Spring) state service leaves (docs/operations.md):
 * its sessions, states and seats are adopted at start-up and then end as the rules end ours; its
 * hash entries are the bytes a real JVM writes (test/fixtures/original-redis). The original ran on
 * one Redis, so this runs on one Redis in every pass (with REDIS_CLUSTER=1 too).
 */
const FIXTURES = join(__dirname, '..', 'fixtures', 'original-redis');
const jdk = (name: string) => readFileSync(join(FIXTURES, `${name}.bin`));
const GRACE_SECONDS = 2;

let redis: TestRedis;
let state: StateHarness;

beforeAll(async () => {
  Logger.overrideLogger(['error']);
  redis = await startTestRedis({ single: true });
});
afterAll(async () => {
  state?.close();
  await redis?.stop();
});

/** What the original left: users 1 (idle, one device), 2 (two devices, shown offline by its bug), 3 (no session left). */
async function writeOriginalState(): Promise<void> {
  const r = redis.client;
  await r.set('sockA', '1', 'EX', 60000);
  await r.set('sockB', '2', 'EX', 60000);
  await r.set('sockC', '2', 'EX', 60000);
  await r.set('sockD', '4', 'PX', 1500); // its DISCONNECT was lost while neither service ran: ends when the key would have expired
  await r.set('not-a-session', 'hello', 'EX', 60000); // someone else's: left alone
  await r.hset('USER:STATE', jdk('string-1'), jdk('string-idle'));
  await r.hset('USER:STATE', jdk('string-2'), jdk('string-offline'));
  await r.hset('USER:STATE', jdk('string-3'), jdk('string-online'));
  await r.hset('GUILD:100', jdk('string-10'), jdk('hashset-1-2'));
  await r.hset('GUILD:100', jdk('string-11'), jdk('hashset-3'));
  await r.hset('GUILD:100', jdk('long-42'), jdk('hashset-3')); // not a shape of the original's: foreign
  await r.hset('GUILD:200', '12', '["2", "3"]'); // another JSON writer's spelling
  for (const key of ['USER:STATE', 'GUILD:100', 'GUILD:200']) await r.expire(key, 60000);
}

const states = (ids: string[]) => state.queries.directUserInfo(ids).then((a) => a.connectionStates);
const channels = async (guildId: string) => {
  const answer = await state.queries.guildStates(guildId, ['1']);
  return Object.fromEntries(Object.entries(answer.channelStates).map(([c, m]) => [c, [...m].sort()]));
};
const disconnect = (sessionId: string) =>
  state.sessions.applyNow([{ event: { type: 'DISCONNECT', sessionId }, timestampMs: Date.now() }]).then(([r]) => r);

it("adopts the original's sessions, states and seats at start-up; its DISCONNECTs, LEAVEs and the grace period end them", async () => {
  await writeOriginalState();
  state = new StateHarness(redis.env, { VOICE_GRACE_SECONDS: String(GRACE_SECONDS) });
  await state.ready();
  await eventually(async () => expect(await redis.client.exists('sockA', 'sockB', 'sockC')).toBe(0)); // the start-up adoption ran

  expect(await states(['1', '2', '3', '4'])).toEqual({ '1': 'idle', '2': 'online', '3': 'offline', '4': 'online' });
  await eventually(async () => {
    await state.sessions.expireLeases();
    expect(await states(['4'])).toEqual({ '4': 'offline' });
  });
  expect(await channels('100')).toEqual({ '10': ['1', '2'], '11': ['3'] });
  expect(await channels('200')).toEqual({ '12': ['2', '3'] });
  // Its JDK-serialized entries are gone, the foreign one and the foreign key are left; nothing expires as a whole.
  expect(await redis.client.hexists('USER:STATE', jdk('string-1'))).toBe(0);
  expect(await redis.client.hlen('GUILD:100')).toBe(3); // 10, 11 and the foreign entry
  expect(await redis.client.get('not-a-session')).toBe('hello');
  expect(await redis.client.ttl('GUILD:100')).toBe(-1);
  // Run again (another instance, a restart): nothing more to adopt.
  expect(await state.store.adoptOriginal()).toEqual({ sessions: 0, seats: 0, states: 0, foreign: 1 });

  // The chat server's DISCONNECT of a socket opened before the switch answers its user.
  expect(await disconnect('sockA')).toMatchObject({ userId: '1', endedLastSession: true });
  expect(await disconnect('sockB')).toMatchObject({ userId: '2', endedLastSession: false });
  expect(await states(['1', '2'])).toEqual({ '1': 'offline', '2': 'online' });

  // An adopted seat ends as one we saw being taken: the user's LEAVE of it, a newer JOIN of its scope.
  await state.channel({ type: 'LEAVE', userId: '2', guildId: '200', channelId: '12' });
  expect(await channels('200')).toEqual({ '12': ['3'] });
  await state.channel({ type: 'JOIN', userId: '2', guildId: '100', channelId: '13' });
  expect(await channels('100')).toEqual({ '11': ['3'], '13': ['2'], '10': ['1'] });

  // And the grace period: 1 (since its DISCONNECT) and 3 (never live here) lose their seats; 2 is online.
  await eventually(async () => {
    await state.voice.expireGrace();
    expect(await channels('100')).toEqual({ '13': ['2'] });
    expect(await channels('200')).toEqual({});
  });
});

it("adopts another writer's readable seat list while running: the LEAVE of one of its users ends that seat", async () => {
  state ??= new StateHarness(redis.env, { VOICE_GRACE_SECONDS: String(GRACE_SECONDS) });
  await state.ready();
  await redis.client.hset('GUILD:300', '20', '["5", "6"]');
  await state.session({ type: 'CONNECT', sessionId: 's5', userId: '5', state: 'online' });
  await state.channel({ type: 'LEAVE', userId: '6', guildId: '300', channelId: '20' });
  expect(await channels('300')).toEqual({ '20': ['5'] });
  await state.channel({ type: 'LEAVE', userId: '5', guildId: '300', channelId: '20' });
  expect(await channels('300')).toEqual({});
});
