import { Cluster } from 'ioredis';
import { loadConfig } from '../../src/config/app-config';
import { KeyLayout } from '../../src/state-store/redis-keys';
import { StateScripts, stateLibrary } from '../../src/state-store/state-scripts';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';

/**
 * The state library is loaded into Redis once (FUNCTION LOAD), not sent with every call. A Redis
 * that comes back without it - restarted without persistence, or its functions flushed - gets it
 * again on the first call that misses it, pipelined or not, and the caller sees only the answers.
 */

const config = loadConfig({});
/** apply-events' arguments for one CONNECT: the durable flag, then the event's fields. */
const connect = (userId: string, sessionId: string) => ['0', 'C', userId, sessionId, 'online', String(Date.now()), '', '100', ''];

/** The answer to one apply-events call's only event, a CONNECT: its outcome and the sessions the bound ended (or an error text and ""). */
const firstOutcome = (reply: unknown) => (reply as [unknown[]])[0].slice(0, 2);

async function viaPipeline(redis: TestRedis, scripts: StateScripts, bucket: number, args: string[]): Promise<unknown> {
  const pipeline = redis.client.pipeline();
  scripts.queue(pipeline, 'applyEvents', bucket, args);
  const [[error, reply]] = (await pipeline.exec()) ?? [];
  if (error) throw error;
  return reply;
}

describe('a Redis restarted without persistence', () => {
  let redis: TestRedis;
  beforeAll(async () => (redis = await startTestRedis({ killable: true })));
  afterAll(() => redis?.stop());

  it('keeps answering: the library is loaded again on the first call that misses it', async () => {
    const layout = new KeyLayout(false);
    const scripts = new StateScripts(redis.client, config, layout);
    expect(firstOutcome(await scripts.call('applyEvents', 0, connect('1', 's1')))).toEqual([1, 0]);

    await redis.kill();
    await redis.restart(); // empty: no data, no functions
    await new Promise((resolve) => setTimeout(resolve, 300)); // the client reconnects
    expect(await redis.client.call('FUNCTION', 'LIST')).toEqual([]);

    expect(firstOutcome(await viaPipeline(redis, scripts, 0, connect('2', 's2')))).toEqual([1, 0]);
    await redis.client.call('FUNCTION', 'FLUSH');
    expect(firstOutcome(await scripts.call('applyEvents', 0, connect('3', 's3')))).toEqual([1, 0]);
    expect(await redis.client.hmget('USER:STATE', '2', '3')).toEqual(['online', 'online']);
  });
});

describe('every master', () => {
  let redis: TestRedis;
  beforeAll(async () => (redis = await startTestRedis()));
  afterAll(() => redis?.stop());

  const masters = () =>
    (redis.client as unknown as Cluster).isCluster ? (redis.client as unknown as Cluster).nodes('master') : [redis.client];

  it('gets the library again when its functions are gone, in the bucket the call goes to', async () => {
    const scripts = new StateScripts(redis.client, config, redis.keys);
    const buckets = redis.keys.buckets.slice(0, 4);
    await Promise.all(masters().map((node) => node.call('FUNCTION', 'FLUSH')));
    const pipeline = redis.client.pipeline();
    // Users of these buckets are found by trying ids (the bucket follows from the user id).
    const users = buckets.map((bucket) => {
      for (let id = 1; ; id++) if (redis.keys.bucketOf(String(id)) === bucket) return String(id);
    });
    buckets.forEach((bucket, i) => scripts.queue(pipeline, 'applyEvents', bucket, connect(users[i], `s${i}`)));
    const replies = (await pipeline.exec()) ?? [];
    expect(replies.map(([error, reply]) => error ?? firstOutcome(reply))).toEqual(buckets.map(() => [1, 0]));
  });

  it('refuses, on a cluster, a key outside the slot of the key the call declared', async () => {
    if (!redis.clustered) return;
    const library = stateLibrary(config, true);
    await new StateScripts(redis.client, config, redis.keys).call('pruneVersions', 0, ['3600', '10']);
    // The single Redis's anchor (no hash tag) on a cluster: the CONNECT's keys are in other slots.
    const reply = await redis.client.fcall(`${library.functionPrefix}apply_events`, 1, 'STATE_COUNTERS', '0', ...connect('7', 's7'));
    expect(String(firstOutcome(reply))).toMatch(/same slot|non local key/i);
  });
});
