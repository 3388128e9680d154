import { loadConfig } from '../../src/config/app-config';
import { bucketOfId, KeyLayout } from '../../src/state-store/redis-keys';
import { StateScripts } from '../../src/state-store/state-scripts';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';

/**
 * On a cluster, apply-events.lua returns the follow-ups of a call and keeps in the bucket's outbox
 * only those nothing would send again if the client died before applying them: all of a durable
 * call's, else only the pinned ones (the end of a session that a CONNECT evicted to stay within
 * MAX_SESSIONS_PER_USER: a redelivered CONNECT would not end it again). An event Redis refuses
 * fails alone (apply-events.lua, pcall per event); the events after it in the same call must not inherit
 * its pinning.
 *
 * The cluster's functions and key layout on one redis-server (startTestRedis({ single })): the script
 * cannot tell the difference, and its reply, the follow-ups and the ones kept, is read as it is.
 */

const layout = new KeyLayout(true);
let redis: TestRedis;

beforeAll(async () => (redis = await startTestRedis({ single: true })));
afterAll(() => redis?.stop());

/** Two users whose keys share a bucket, so that one call applies events of both. */
function usersOfOneBucket(): [string, string] {
  const first = '1001';
  for (let id = 1002; ; id++) if (bucketOfId(String(id)) === bucketOfId(first)) return [first, String(id)];
}

it('pins only the session a CONNECT evicted, not the events after a refused one in the same call', async () => {
  const [evicting, joining] = usersOfOneBucket();
  const bucket = bucketOfId(evicting);
  const apply = async (events: (string | number | string[])[][]) => {
    const scripts = new StateScripts(redis.client, loadConfig({ MAX_SESSIONS_PER_USER: '1' }), layout);
    const [outcomes, [followUps, kept]] = (await scripts.call('applyEvents', bucket, [
      '0',
      ...events.flatMap((e) => e.map((f) => (Array.isArray(f) ? f.join(',') : String(f)))),
    ])) as [unknown[], [string[], string[]]];
    return { outcomes, followUps, kept };
  };
  const ts = Date.now();
  expect((await apply([['C', evicting, 's1', 'online', ts, 'chat-a', ['100'], '0']])).outcomes).toEqual([1, 0]);
  // Another writer's bytes where the chat server's session set should be: ending s1 is refused there.
  await redis.client.set(layout.serverSessions(bucket, 'chat-a'), 'not a set');

  const { outcomes, followUps, kept } = await apply([
    ['C', evicting, 's2', 'online', ts + 1, '', ['100'], '0'], // evicts s1 (MAX_SESSIONS_PER_USER=1): refused half-way
    ['J', joining, '200', '20', ts + 2, ''],
  ]);
  // The answers are flat (apply-events.lua): the CONNECT's two values (its error, then ""), then the JOIN's outcome.
  expect(outcomes[0]).toMatch(/WRONGTYPE/);
  expect(outcomes[2]).toBe(1);
  const seat = followUps.map((text) => JSON.parse(text) as unknown[]).find(([kind]) => kind === 'V');
  expect(seat).toEqual(['V', '200', '20', joining, 1, expect.any(String), 'J']); // the cause, for the change stream
  // The evicted session's end was pinned before the refusal; the JOIN after it is a Kafka record's: not kept.
  expect(kept.map((text) => JSON.parse(text) as unknown[])).toEqual([['E', 's1', evicting, expect.any(String)]]);
});
