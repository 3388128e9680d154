import { request as httpRequest } from 'node:http';
import { getJson, RunningApp, startTestApp, waitUntilReady } from '../../testkit/app';
import { startStack, TestStack } from '../../testkit/stack';

/**
 * Rate limiting is off unless RATE_LIMIT_PER_MINUTE is set. Then each client has its own budget per
 * route: its IP without an API token (behind a proxy, TRUST_PROXY, the IP the proxy forwards), the
 * token it uses with one. A refused request is answered before its body is read.
 */
const LIMIT = 3;
const TOKENS = ['chat-server-token-1', 'community-server-token-2'];
let stack: TestStack;
/** A second instance of the same stack, with API tokens. */
let withTokens: RunningApp;
beforeAll(async () => {
  stack = await startStack('rate-limit', { env: { RATE_LIMIT_PER_MINUTE: String(LIMIT), TRUST_PROXY: 'true' } });
  withTokens = await startTestApp({
    ...stack.serviceEnv,
    KAFKA_GROUP_ID: `${stack.topics.groupId}-tokens`,
    RATE_LIMIT_PER_MINUTE: String(LIMIT),
    API_TOKEN: TOKENS.join(','),
  });
  await waitUntilReady(withTokens.url);
});
afterAll(async () => {
  await withTokens?.close();
  await stack?.stop();
});

const getFrom = (ip: string) => getJson(`${stack.app.url}/guilds/1/states?userIds=1`, { headers: { 'x-forwarded-for': ip } });

it('limits each client IP on its own when no API token is set', async () => {
  for (let i = 0; i < LIMIT; i++) expect((await getFrom('10.0.0.1')).status).toBe(200);
  const limited = await getFrom('10.0.0.1');
  expect(limited.status).toBe(429);
  expect(limited.body).toEqual({
    statusCode: 429,
    error: 'Too Many Requests',
    message: expect.stringMatching(new RegExp(`^rate limit of ${LIMIT} requests per minute exceeded; retry in \\d+ s$`)),
  });
  expect((await getFrom('10.0.0.2')).status).toBe(200);
});

it('gives each API token its own budget, whatever address it comes from', async () => {
  const getWith = (token: string) =>
    getJson(`${withTokens.url}/guilds/1/states?userIds=1`, { headers: { authorization: `Bearer ${token}` } });
  for (let i = 0; i < LIMIT; i++) expect((await getWith(TOKENS[0])).status).toBe(200);
  expect((await getWith(TOKENS[0])).status).toBe(429);
  expect((await getWith(TOKENS[1])).status).toBe(200);
  // A wrong token is refused by the token check and spends no one's budget.
  expect((await getWith('not-a-token')).status).toBe(401);
});

it('answers 429 before reading the body of a refused request', async () => {
  const route = '/api/state/direct/user/info';
  const post = () =>
    getJson(`${stack.app.url}${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': '10.0.0.3' },
      body: '{"userIds":[1]}',
    });
  for (let i = 0; i < LIMIT; i++) expect((await post()).status).toBe(200);
  // Announces a 3 MB body and sends none of it: only an answer given before the body is read can arrive.
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(`${stack.app.url}${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': 3_000_000, 'x-forwarded-for': '10.0.0.3' },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => {
        req.destroy(); // the announced body will never come
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    req.flushHeaders();
  });
  expect(answer.status).toBe(429);
  expect(JSON.parse(answer.body)).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
});

it('never limits health and metrics', async () => {
  for (let i = 0; i <= LIMIT; i++) {
    expect((await getJson(`${stack.app.url}/health/ready`, { headers: { 'x-forwarded-for': '10.0.0.1' } })).status).toBe(200);
    expect((await getJson(`${stack.app.url}/metrics`, { headers: { 'x-forwarded-for': '10.0.0.1' } })).status).toBe(200);
  }
});
