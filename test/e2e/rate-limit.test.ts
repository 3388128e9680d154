import { getJson } from '../../testkit/app';
import { startStack, TestStack } from '../../testkit/stack';

/**
 * Rate limiting is off unless RATE_LIMIT_PER_MINUTE is set (operations.test.ts: with an API token,
 * whose holders share one budget). Without a token each client IP has its own budget; behind a
 * proxy (TRUST_PROXY) the IP is the one the proxy forwards.
 */
const LIMIT = 3;
let stack: TestStack;
beforeAll(async () => (stack = await startStack('rate-limit', { env: { RATE_LIMIT_PER_MINUTE: String(LIMIT), TRUST_PROXY: 'true' } })));
afterAll(() => stack?.stop());

const getFrom = (ip: string) => getJson(`${stack.app.url}/guilds/1/states?userIds=1`, { headers: { 'x-forwarded-for': ip } });

it('limits each client IP on its own when no API token is set', async () => {
  for (let i = 0; i < LIMIT; i++) expect((await getFrom('10.0.0.1')).status).toBe(200);
  const limited = await getFrom('10.0.0.1');
  expect(limited.status).toBe(429);
  expect(limited.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
  expect((await getFrom('10.0.0.2')).status).toBe(200);
});

it('never limits health and metrics', async () => {
  for (let i = 0; i <= LIMIT; i++) {
    expect((await getJson(`${stack.app.url}/health/ready`, { headers: { 'x-forwarded-for': '10.0.0.1' } })).status).toBe(200);
    expect((await getJson(`${stack.app.url}/metrics`, { headers: { 'x-forwarded-for': '10.0.0.1' } })).status).toBe(200);
  }
});
