import { Logger } from '@nestjs/common';
import { eventually } from '../../testkit/eventually';
import { StateHarness } from '../../testkit/state-harness';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';

/**
 * Taking over the original service's Redis (issue #9): it put a whole-key expiry on USER:STATE and
 * GUILD:*, which would make everyone read offline once it ran out. The original ran on one Redis,
 * so this runs on one Redis in every pass (with REDIS_CLUSTER=1 too).
 */
let redis: TestRedis;

beforeAll(async () => {
  Logger.overrideLogger(['error']);
  redis = await startTestRedis({ single: true });
});
afterAll(() => redis.stop());

it('clears the inherited whole-key expiry on USER:STATE and GUILD:* at start-up and on write', async () => {
  await redis.client.hset('USER:STATE', '1', 'online');
  await redis.client.expire('USER:STATE', 60000);
  await redis.client.hset('GUILD:100', '10', '["1"]');
  await redis.client.expire('GUILD:100', 60000);
  const state = new StateHarness(redis.env, { VOICE_GRACE_SECONDS: '0' });
  try {
    await state.ready(); // start-up runs on connect
    await eventually(async () => {
      expect(await redis.client.ttl('USER:STATE')).toBe(-1);
      expect(await redis.client.ttl('GUILD:100')).toBe(-1);
    });
    // An expiry put back while running is cleared by the next write.
    await redis.client.expire('USER:STATE', 60000);
    await state.session({ type: 'CONNECT', sessionId: 's1', userId: 2, state: 'online' });
    expect(await redis.client.ttl('USER:STATE')).toBe(-1);
    expect(await redis.client.hget('USER:STATE', '2')).toBe('online');
  } finally {
    state.close();
  }
});
