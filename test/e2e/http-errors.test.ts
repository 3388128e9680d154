import Redis from 'ioredis';
import { eventually, getJson, postJson } from '../../testkit/app';
import { startStack, TestStack } from '../../testkit/stack';

/** Every bad request gets a 400 with a JSON error naming the field; Redis trouble gets a quick 503. */
let stack: TestStack;
beforeAll(
  async () =>
    (stack = await startStack('http-errors', {
      // persistent: the kill below comes back with the state, so no self-healing rebuild races the teardown
      redis: { killable: true, persistent: true },
      env: { MAX_QUERY_USER_IDS: '5', REDIS_COMMAND_TIMEOUT_MS: '500' },
    })),
);
afterAll(() => stack?.stop());

const expect400 = (res: { status: number; body: any }, field: string, message: RegExp) => {
  expect(res.status).toBe(400);
  expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request', field });
  expect(res.body.message).toMatch(message);
};

describe('GET /guilds/:guildId/states', () => {
  const get = (path: string) => getJson(`${stack.app.url}${path}`);

  it('rejects a non-numeric guildId', async () =>
    expect400(await get('/guilds/abc/states?userIds=1'), 'guildId', /guildId must be a decimal integer id.*"abc"/));
  it('rejects a guildId above 2^63-1', async () =>
    expect400(await get('/guilds/9223372036854775808/states'), 'guildId', /guildId must be a decimal integer id/));
  it('rejects a non-numeric userId, saying which', async () =>
    expect400(await get('/guilds/1/states?userIds=1,x2,3'), 'userIds', /userIds\[1\] must be a decimal integer id.*"x2"/));
  it('rejects an empty userIds list', async () => expect400(await get('/guilds/1/states?userIds='), 'userIds', /userIds\[0\]/));
  it('rejects userIds given twice', async () => expect400(await get('/guilds/1/states?userIds=1&userIds=2'), 'userIds', /given once/));
  it('rejects more userIds than MAX_QUERY_USER_IDS', async () =>
    expect400(await get('/guilds/1/states?userIds=1,2,3,4,5,6'), 'userIds', /at most 5 users \(got 6\)/));
  it('rejects a page limit that is not 1 to 10000', async () =>
    expect400(await get('/guilds/1/states?limit=0'), 'limit', /limit must be an integer from 1 to 10000 \(got "0"\)/));
  it('rejects a cursor that no answer gave', async () =>
    expect400(await get('/guilds/1/states?cursor=abc'), 'cursor', /cursor must be the nextCursor of a previous answer/));
  it('answers a URL too long to read (5,000 ids) with a JSON error naming the limit and the POST route', async () => {
    const ids = Array.from({ length: 5000 }, (_, i) => String(100_000_000_000_000_000n + BigInt(i)));
    const res = await get(`/guilds/1/states?userIds=${ids.join(',')}`);
    expect(res.status).toBe(414);
    expect(res.body).toMatchObject({ statusCode: 414, error: 'URI Too Long' });
    expect(res.body.message).toMatch(/at most \d+ bytes/);
    expect(res.body.message).toMatch(/POST \/guilds\/\{guildId\}\/states\/query/);
  });
});

describe('POST /api/state/update/session', () => {
  const post = (body: unknown) => postJson(`${stack.app.url}/api/state/update/session`, body);

  it('rejects an unknown type', async () =>
    expect400(await post({ type: 'LEAVE', sessionId: 's' }), 'type', /type must be one of CONNECT, DISCONNECT/));
  it('rejects a missing sessionId', async () =>
    expect400(await post({ type: 'DISCONNECT', state: 'offline' }), 'sessionId', /sessionId is required/));
  it('rejects a CONNECT without a userId', async () =>
    expect400(await post({ type: 'CONNECT', sessionId: 's' }), 'userId', /userId is required/));
  it('rejects a state longer than 32 characters', async () =>
    expect400(
      await post({ type: 'DISCONNECT', sessionId: 's', state: 'x'.repeat(33) }),
      'state',
      /state must be 1 to 32 printable characters/,
    ));
  it('rejects malformed JSON', async () => expect400(await post('{"type":"DISCONNECT",'), 'body', /not valid JSON/));
});

describe('POST bodies', () => {
  const post = (path: string, body: unknown) => postJson(`${stack.app.url}${path}`, body);

  it('rejects malformed JSON', async () => expect400(await post('/guilds/1/states/query', '{"userIds":[1,'), 'body', /not valid JSON/));
  it('rejects a body without userIds', async () =>
    expect400(await post('/guilds/1/states/query', {}), 'userIds', /userIds is required \(an array of ids\)/));
  it('rejects a POST without a body', async () => {
    const res = await getJson(`${stack.app.url}/api/state/direct/user/info`, { method: 'POST' });
    expect400(res, 'userIds', /userIds is required/);
  });
  it('rejects userIds that is not an array', async () =>
    expect400(await post('/guilds/1/states/query', { userIds: '1,2' }), 'userIds', /userIds must be an array/));
  it('rejects a single id where the array of ids should be', async () =>
    expect400(await post('/guilds/1/states/query', { userIds: '1' }), 'userIds', /userIds must be an array/));
  it('rejects an empty userIds array', async () =>
    expect400(await post('/guilds/1/states/query', { userIds: [] }), 'userIds', /at least one id/));
  it('rejects a non-numeric id in the array', async () =>
    expect400(await post('/guilds/1/states/query', { userIds: [1, 'two'] }), 'userIds', /userIds must contain only ids/));
  it('rejects too many userIds', async () =>
    expect400(await post('/guilds/1/states/query', { userIds: [1, 2, 3, 4, 5, 6] }), 'userIds', /at most 5/));
  it('rejects a missing guildId on the original community route', async () =>
    expect400(await post('/api/state/community/user/info', { userIds: [1] }), 'guildId', /guildId is required/));
  it('rejects a non-numeric guildId on the original community route', async () =>
    expect400(
      await post('/api/state/community/user/info', { guildId: 'g', userIds: [1] }),
      'guildId',
      /guildId must be a decimal integer id/,
    ));
  it('rejects a body that is not JSON with 415', async () => {
    const res = await getJson(`${stack.app.url}/api/state/direct/user/info`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'userIds=1',
    });
    expect(res.status).toBe(415);
    expect(res.body).toMatchObject({ statusCode: 415, field: 'body' });
    expect(res.body.message).toMatch(/must be JSON.*text\/plain/);
  });
  it('rejects a huge body with 413', async () => {
    const res = await post('/guilds/1/states/query', { userIds: [1], pad: 'x'.repeat(200_000) });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ statusCode: 413, field: 'body' });
  });
});

it('answers 404 with JSON for an unknown route', async () => {
  const res = await getJson(`${stack.app.url}/guilds/1/nope`);
  expect(res.status).toBe(404);
  expect(res.body).toMatchObject({ statusCode: 404 });
});

it('answers 503 quickly while Redis is unreachable, and 200 again after', async () => {
  await stack.redis.kill();
  try {
    const started = Date.now();
    const res = await getJson(`${stack.app.url}/guilds/1/states?userIds=1`);
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable' });
    expect(Date.now() - started).toBeLessThan(2000);
  } finally {
    await stack.redis.restart();
  }
  await eventually(async () => expect((await getJson(`${stack.app.url}/guilds/1/states?userIds=1`)).status).toBe(200));
});

it('answers 503 while Redis is busy running a long script, whole-guild pages too, and 200 again after', async () => {
  const scriptRunner = new Redis(stack.redis.url);
  const admin = new Redis(stack.redis.url);
  try {
    await admin.config('SET', 'busy-reply-threshold', '10'); // other clients get BUSY after 10 ms of a script
    const running = scriptRunner.eval('while true do end', 0).catch(() => undefined); // until SCRIPT KILL
    await eventually(async () => expect(await admin.ping().catch((error: Error) => error.message)).toMatch(/^BUSY/));
    for (const path of ['/guilds/1/states', '/guilds/1/states?userIds=1']) {
      const res = await getJson(`${stack.app.url}${path}`);
      expect({ path, status: res.status, body: res.body }).toMatchObject({ path, status: 503, body: { error: 'Service Unavailable' } });
    }
    await admin.script('KILL');
    await running;
  } finally {
    await admin.script('KILL').catch(() => undefined); // NOTBUSY when already killed
    await admin.config('SET', 'busy-reply-threshold', '5000');
    scriptRunner.disconnect();
    admin.disconnect();
  }
  await eventually(async () => expect((await getJson(`${stack.app.url}/guilds/1/states`)).status).toBe(200));
});
