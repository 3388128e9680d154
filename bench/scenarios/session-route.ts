import { StateHarness } from '../../testkit/state-harness';
import { userId } from '../../testkit/mixed-workload';
import { cannon } from '../lib/cannon';
import { BenchChild, startChild } from '../lib/child';
import { BenchContext, BenchKafka, serviceEnv, startBenchStack } from '../lib/context';
import { Figure, log, progress, ratio, ScenarioResult } from '../lib/report';

const CONNECTIONS = 32;
const USER_BASE = 70_000_000;

/**
 * The chat server's DISCONNECT over HTTP (POST /api/state/update/session, no userId), each request
 * ending a different live session: it applies the event in Redis and appends it to Kafka (acks
 * all) before answering. Baseline in the same run: GET /health/live of the same service (the HTTP
 * stack alone).
 */
export async function sessionRouteScenario(ctx: BenchContext, kafka: BenchKafka): Promise<ScenarioResult> {
  const stack = await startBenchStack(kafka, 'session-route');
  const { redis } = stack;
  const harness = new StateHarness(redis.url);
  const children: BenchChild[] = [];
  try {
    await harness.ready();
    const seconds = ctx.queryDurationSeconds;
    const sessions = ctx.quick ? 40_000 : 120_000;
    const seeding = progress(`seeding ${sessions.toLocaleString()} live sessions`, () => '');
    for (let start = 0; start < sessions; start += 5000) {
      const batch = Array.from(
        { length: Math.min(5000, sessions - start) },
        (_, k) => `{"type":"CONNECT","sessionId":"h-${start + k}","userId":${userId(USER_BASE + start + k)},"state":"online"}`,
      );
      await harness.session(...batch);
    }
    seeding.stop();
    const service = startChild(
      'consumer',
      { mode: 'service', env: await serviceEnv(stack, 'bench-session-route') },
      { label: 'session-route-service', cpuProfileDir: ctx.profileDir },
    );
    children.push(service);
    const { url } = await service.next<{ url: string }>('listening');
    const first = (await (
      await fetch(`${url}/api/state/update/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"sessionId":"h-0","type":"DISCONNECT","state":"offline"}',
      })
    ).json()) as { result: string | null };
    if (first.result !== userId(USER_BASE)) throw new Error(`unexpected answer ${JSON.stringify(first)}`);
    await cannon(`${url}/health/live`, 1, CONNECTIONS, 'warm-up');
    const baseline = await cannon(`${url}/health/live`, seconds, CONNECTIONS, 'GET /health/live');
    log(`  GET /health/live: ${baseline.requestsPerSecond} req/s, p99 ${baseline.p99Ms} ms`);
    const route = await cannon(
      `${url}/api/state/update/session`,
      seconds,
      CONNECTIONS,
      'POST /api/state/update/session',
      (i) => `{"sessionId":"h-${(i + 1) % sessions}","type":"DISCONNECT","state":"offline"}`,
    );
    log(
      `  POST /api/state/update/session: ${route.requestsPerSecond} req/s, p50 ${route.p50Ms} ms, p99 ${route.p99Ms} ms (${route.non2xx} non-2xx)`,
    );
    if (route.requests > sessions) log(`  note: more requests than seeded sessions (${sessions}); the rest ended sessions already ended`);
    const figures: Figure[] = [
      {
        name: 'HTTP DISCONNECT req/s',
        value: route.requestsPerSecond,
        unit: 'req/s',
        baselineName: 'GET /health/live, same service',
        baseline: baseline.requestsPerSecond,
        ratio: ratio(route.requestsPerSecond, baseline.requestsPerSecond),
      },
      { name: 'HTTP DISCONNECT p50', value: route.p50Ms, unit: 'ms', baselineName: 'GET /health/live', baseline: baseline.p50Ms },
      {
        name: 'HTTP DISCONNECT p99',
        value: route.p99Ms,
        unit: 'ms',
        baselineName: 'GET /health/live',
        baseline: baseline.p99Ms,
        target: '<= 5 ms',
        met: route.p99Ms <= 5,
      },
    ];
    return {
      scenario: 'session-route',
      description:
        `POST /api/state/update/session as the chat server sends DISCONNECT (no userId), each request a different live session of ${sessions.toLocaleString()} seeded, ` +
        `${CONNECTIONS} connections, ${seconds} s; each is applied in Redis and appended to the session topic (acks all, embedded broker) before the answer. ` +
        'Baseline: GET /health/live of the same service in the same run.',
      params: { connections: CONNECTIONS, seconds, sessions },
      figures,
      details: { baseline, route },
    };
  } finally {
    for (const child of children) await child.stop();
    harness.close();
    await stack.stop();
  }
}
