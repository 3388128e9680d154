import { createTopics, kafkaEnv, startTestKafka, TestKafka, uniqueTopics } from '../../testkit/kafka';
import { Peers } from '../../testkit/peers';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';
import { eventually, getJson, RunningApp, startTestApp, waitUntilReady } from '../../testkit/app';
import { InvalidConfigError, loadConfig } from '../../src/config/app-config';
import { requestLogging } from '../../src/logging/request-logging';
import { readMetric } from '../../testkit/metrics';

/**
 * What an operator relies on: readiness follows Redis, the API token guards every route but health
 * and metrics, metrics count what happened to events and requests, logs are one JSON line per
 * request with its id and never a secret, and the rate limit answers 429.
 */
const TOKEN = 'ops-test-token-7f3a9c';
const REDIS_PASSWORD = 'ops-redis-pw-51e8';
const RATE_LIMIT = 60;
const topics = uniqueTopics('operations');

let kafka: TestKafka;
let redis: TestRedis;
let app: RunningApp;
let peers: Peers;
/** Every line the process wrote to stdout while the app ran: the service's logs. */
const stdout: string[] = [];
let stdoutSpy: jest.SpyInstance;

const auth = { authorization: `Bearer ${TOKEN}` };
const get = (path: string, headers: Record<string, string> = auth) => getJson(`${app.url}${path}`, { headers });
const logLines = () =>
  stdout.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, any>];
    } catch {
      return [];
    }
  });

/** The sum of one metric's samples with those labels, e.g. metric('state_server_events_total', { outcome: 'applied' }); /metrics needs no token. */
const metric = (name: string, labels: Record<string, string> = {}) => readMetric(app.url, name, labels);

beforeAll(async () => {
  stdoutSpy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
  [kafka, redis] = await Promise.all([startTestKafka(), startTestRedis({ persistent: true })]);
  await createTopics(kafka.kafka, [topics.sessionEvents, topics.channelEvents]);
  app = await startTestApp({
    ...kafkaEnv(kafka.brokers, topics),
    REDIS_URL: redis.url.replace('redis://', `redis://default:${REDIS_PASSWORD}@`),
    API_TOKEN: TOKEN,
    RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT),
    REDIS_COMMAND_TIMEOUT_MS: '500',
    // One line per request, successful ones included (the default logs only errors and slow requests).
    HTTP_LOG: 'all',
  });
  // startTestApp quiets the app to errors; this file reads the info-level request lines.
  app.app.useLogger(['log', 'warn', 'error', 'fatal']);
  await waitUntilReady(app.url);
  peers = await Peers.connect(kafka.kafka, topics);
});
afterAll(async () => {
  await peers?.close();
  await app?.close();
  await redis?.stop();
  await kafka?.stop();
  stdoutSpy?.mockRestore();
});

describe('access control (API_TOKEN set)', () => {
  it('answers 401 with a JSON error without a token, or with a wrong one', async () => {
    const missing = await get('/guilds/1/states?userIds=1', {});
    expect(missing).toEqual({
      status: 401,
      body: { statusCode: 401, error: 'Unauthorized', message: 'missing Authorization: Bearer <token> header' },
    });
    const wrong = await get('/guilds/1/states?userIds=1', { authorization: 'Bearer not-the-token' });
    expect(wrong).toEqual({ status: 401, body: { statusCode: 401, error: 'Unauthorized', message: 'invalid bearer token' } });
    const postWithout = await getJson(`${app.url}/api/state/direct/user/info`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"userIds":[1]}',
    });
    expect(postWithout.status).toBe(401);
  });

  it('answers 200 with the token', async () => {
    expect(await get('/guilds/1/states?userIds=1')).toEqual({
      status: 200,
      body: { guildId: '1', connectionStates: { '1': 'offline' }, channelStates: {} },
    });
  });

  it('keeps health and metrics open', async () => {
    expect((await get('/health/live', {})).status).toBe(200);
    expect((await get('/health/ready', {})).status).toBe(200);
    expect((await get('/metrics', {})).status).toBe(200);
  });

  it('guards the API docs too, which describe every route and its errors', async () => {
    expect((await get('/docs-json', {})).status).toBe(401);
    const { status, body } = await get('/docs-json');
    expect(status).toBe(200);
    const ops = Object.entries(body.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>).flatMap(
      ([path, methods]) =>
        Object.entries(methods).map(([method, op]) => ({ route: `${method.toUpperCase()} ${path}`, statuses: Object.keys(op.responses) })),
    );
    expect(ops.map((o) => o.route).sort()).toEqual([
      'GET /events',
      'GET /guilds/{guildId}/states',
      'GET /health/live',
      'GET /health/ready',
      'GET /metrics',
      'POST /api/state/community/user/info',
      'POST /api/state/direct/user/info',
      'POST /api/state/update/session',
      'POST /events',
      'POST /guilds/{guildId}/states/query',
    ]);
    for (const op of ops.filter((o) => !/health|metrics/.test(o.route)))
      expect(op.statuses).toEqual(expect.arrayContaining(['200', '400', '401', '429', '503']));
    expect((await get('/docs', {})).status).toBe(401);
    expect((await get('/docs/')).status).toBe(200);
  });

  it('shows as its 413 and 414 examples what the service answers with the default limits', async () => {
    const { body: docs } = await get('/docs-json');
    const example = (path: string, method: string, status: number) =>
      Object.values(
        docs.paths[path][method].responses[status].content['application/json'].examples as Record<string, { value: unknown }>,
      )[0].value;
    // Just over the default limits (MAX_QUERY_USER_IDS 100,000): a 3.3 MB body, a 2.3 MB URL.
    const tooLarge = await getJson(`${app.url}/guilds/1/states/query`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ userIds: [1], pad: 'x'.repeat(3_300_000) }),
    });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body).toEqual(example('/guilds/{guildId}/states/query', 'post', 413));
    const tooLong = await get(`/guilds/1/states?userIds=${'1234567890123456789,'.repeat(115_000)}1`);
    expect(tooLong.status).toBe(414);
    expect(tooLong.body).toEqual(example('/guilds/{guildId}/states', 'get', 414));
  });
});

describe('metrics', () => {
  it('count applied, duplicate and dead-lettered events, and show who is online and in voice', async () => {
    await peers.connect('ops-s1', 11, { guildIds: [500] });
    await peers.connect('ops-s2', 12, { guildIds: [500] });
    await peers.join(11, 500, 50);
    await peers.connect('ops-s1', 11, { guildIds: [500] }); // redelivered
    await peers.sendRaw(topics.sessionEvents, '13', '{"type":"CONNECT","sessionId":');
    await peers.sendRaw(topics.channelEvents, '14', '{"type":"JOIN","userId":14}');

    const topic = topics.sessionEvents;
    await eventually(async () => {
      expect(await metric('state_server_events_total', { topic, type: 'CONNECT', outcome: 'applied' })).toBe(2);
      expect(await metric('state_server_events_total', { topic, type: 'CONNECT', outcome: 'duplicate' })).toBe(1);
      expect(await metric('state_server_events_total', { topic, outcome: 'dead_lettered' })).toBe(1);
      expect(await metric('state_server_events_total', { topic: topics.channelEvents, type: 'JOIN', outcome: 'applied' })).toBe(1);
      expect(await metric('state_server_events_total', { topic: topics.channelEvents, outcome: 'dead_lettered' })).toBe(1);
    });
    expect(await metric('state_server_online_users')).toBe(2);
    expect(await metric('state_server_voice_participants')).toBe(1);
    expect(await metric('state_server_known_users')).toBe(2);
    expect(await metric('state_server_batch_size_count')).toBeGreaterThan(0);
    expect(await metric('state_server_apply_duration_seconds_count')).toBeGreaterThan(0);
  });

  it('count HTTP requests by route pattern and status, not by URL', async () => {
    await get('/guilds/777/states?userIds=1');
    await get('/guilds/778/states?userIds=1');
    await get('/guilds/x/states?userIds=1');
    await get('/guilds/777/states', {});
    const route = '/guilds/:guildId/states';
    expect(await metric('state_server_http_requests_total', { method: 'GET', route, status: '200' })).toBeGreaterThanOrEqual(2);
    expect(await metric('state_server_http_requests_total', { method: 'GET', route, status: '400' })).toBe(1);
    expect(await metric('state_server_http_request_duration_seconds_count', { route, status: '200' })).toBeGreaterThanOrEqual(2);
    // Refused before routing: counted, under one label rather than one per path.
    expect(await metric('state_server_http_requests_total', { route: 'unrouted', status: '401' })).toBeGreaterThanOrEqual(1);
    const scrape = (await get('/metrics', {})).body as string;
    expect(scrape).not.toMatch(/route="\/guilds\/777/);
  });
});

describe('logs', () => {
  it('write one JSON line per request, with its request id, which the response carries', async () => {
    const res = await fetch(`${app.url}/guilds/1/states?userIds=1`, { headers: { ...auth, 'x-request-id': 'ops-req-0001' } });
    expect(res.headers.get('x-request-id')).toBe('ops-req-0001');
    const generated = await fetch(`${app.url}/guilds/1/states?userIds=1`, { headers: auth });
    const id = generated.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const unsafe = await fetch(`${app.url}/guilds/1/states?userIds=1`, { headers: { ...auth, 'x-request-id': 'a"b\\c'.repeat(2) } });
    expect(unsafe.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    await eventually(() => {
      for (const reqId of ['ops-req-0001', id]) {
        const lines = logLines().filter((l) => l.reqId === reqId);
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatchObject({
          level: 'info',
          route: '/guilds/:guildId/states',
          req: { method: 'GET', url: '/guilds/1/states?userIds=1' },
          res: { statusCode: 200 },
        });
        expect(typeof lines[0].responseTime).toBe('number');
      }
    });
  });

  it('never contain the API token or the Redis password, wherever they turn up', async () => {
    await get(`/guilds/1/states?userIds=1&leak=${TOKEN}`);
    await eventually(() => expect(stdout.join('\n')).toContain('leak=[REDACTED]'));
    const all = stdout.join('\n');
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain(REDIS_PASSWORD);
  });

  it("scrub the Kafka SASL password too, and a bad REDIS_URL's password from the config error", () => {
    const saslPassword = 'ops-sasl-pw-93d0';
    const config = loadConfig({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'state', KAFKA_SASL_PASSWORD: saslPassword });
    const { logger } = requestLogging(config);
    logger.error({ err: new Error(`SASL authentication failed for state:${saslPassword}`) }, `broker refused "${saslPassword}"`);
    const line = stdout[stdout.length - 1];
    expect(line).toContain('SASL authentication failed for state:[REDACTED]');
    expect(line).not.toContain(saslPassword);

    expect(() => loadConfig({ REDIS_URL: 'http://default:ops-url-pw-1@redis:6379' })).toThrow(InvalidConfigError);
    expect(() => loadConfig({ REDIS_URL: 'http://default:ops-url-pw-1@redis:6379' })).toThrow(/REDIS_URL.*default:<hidden>@redis:6379/);
    expect(() => loadConfig({ REDIS_URL: 'http://default:ops-url-pw-1@redis:6379' })).not.toThrow(/ops-url-pw-1/);
  });

  it('write nothing per event at info level', async () => {
    const before = stdout.length;
    const applied = await metric('state_server_events_total', { outcome: 'applied' });
    for (let i = 0; i < 100; i++) await peers.connect(`ops-bulk-${i}`, 1000 + i);
    await eventually(async () => expect(await metric('state_server_events_total', { outcome: 'applied' })).toBe(applied + 100));
    const eventLines = stdout.slice(before).filter((line) => !line.includes('"reqId"'));
    expect(eventLines.length).toBeLessThan(5);
  });
});

describe('readiness', () => {
  it('turns 503 while Redis is unreachable and 200 again when it is back', async () => {
    expect((await get('/health/ready', {})).status).toBe(200);
    await redis.kill();
    await eventually(async () => {
      const { status, body } = await get('/health/ready', {});
      expect(status).toBe(503);
      expect(body).toMatchObject({ status: 'error', error: { redis: { status: 'down' } }, info: { kafka: { status: 'up' } } });
    });
    expect((await get('/health/live', {})).status).toBe(200);
    expect((await get('/guilds/1/states?userIds=1')).status).toBe(503);

    await redis.restart();
    await eventually(async () => expect((await get('/health/ready', {})).status).toBe(200));
    expect((await get('/guilds/1/states?userIds=1')).status).toBe(200);
  });
});

describe('rate limit', () => {
  it('answers 429 with a JSON error past RATE_LIMIT_PER_MINUTE, but never limits health and metrics', async () => {
    let limited: { status: number; body: any; retryAfter: string | null } | undefined;
    for (let i = 0; i <= RATE_LIMIT && !limited; i++) {
      const res = await fetch(`${app.url}/guilds/1/states?userIds=1`, { headers: auth });
      const body = await res.json();
      if (res.status === 429) limited = { status: res.status, body, retryAfter: res.headers.get('retry-after') };
    }
    expect(limited).toBeDefined();
    expect(limited!.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
    expect(limited!.body.message).toMatch(new RegExp(`rate limit of ${RATE_LIMIT} requests per minute`));
    expect(Number(limited!.retryAfter)).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) {
      expect((await get('/health/ready', {})).status).toBe(200);
      expect((await get('/metrics', {})).status).toBe(200);
    }
  });
});
