import { StateHarness } from '../../testkit/state-harness';
import { TestStack } from '../../testkit/stack';
import { userId } from '../../testkit/mixed-workload';
import { cannon, CannonRun, describeRun } from '../lib/cannon';
import { BenchChild, startChild } from '../lib/child';
import { BENCH_ENV, BenchContext, BenchKafka, serviceEnv, startBenchStack } from '../lib/context';
import { Figure, log, progress, ratio, redisCpuUs, round, ScenarioResult } from '../lib/report';
import { SESSION_RATE } from '../targets';

const USER_BASE = 70_000_000;
const BACKGROUND_BASE = 75_000_000;
/** Chat traffic while measuring, so the wait has records to wait for: CONNECTs of new users, unkeyed as the chat server sends them. */
const BACKGROUND_RATE = 200;
const WAIT_HEADER = 'x-session-wait';
const ROUTE = '/api/state/update/session';

/** CONNECTs of new users produced at `rate` per second (a batch every 50 ms) until stop(). */
function steadyTraffic(kafka: BenchKafka, topic: string, rate: number) {
  const producer = kafka.kafka.producer({ allowAutoTopicCreation: false });
  let next = 0;
  let running = true;
  const perTick = Math.max(1, Math.round((rate * 50) / 1000));
  const done = (async () => {
    await producer.connect();
    while (running) {
      const started = Date.now();
      const messages = Array.from({ length: perTick }, () => {
        const n = next++;
        return { value: `{"type":"CONNECT","sessionId":"bg-${n}","userId":${userId(BACKGROUND_BASE + n)},"state":"online"}` };
      });
      await producer.send({ topic, acks: -1, messages });
      await new Promise((r) => setTimeout(r, Math.max(0, 50 - (Date.now() - started))));
    }
    await producer.disconnect();
  })();
  return {
    produced: () => next,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/** A backlog of `count` CONNECTs on the session topic, produced before anything consumes it. */
async function produceBacklog(kafka: BenchKafka, topic: string, count: number, from: number): Promise<void> {
  const producer = kafka.kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  let sent = 0;
  const shown = progress('producing a backlog', () => `${sent.toLocaleString()} / ${count.toLocaleString()}`);
  try {
    for (; sent < count; sent += 5000) {
      const messages = Array.from({ length: Math.min(5000, count - sent) }, (_, k) => {
        const n = from + sent + k;
        return { value: `{"type":"CONNECT","sessionId":"bl-${n}","userId":${userId(BACKGROUND_BASE + n)},"state":"online"}` };
      });
      await producer.send({ topic, acks: -1, messages });
    }
  } finally {
    shown.stop();
    await producer.disconnect();
  }
}

/** calls and µs of the script commands so far (INFO commandstats: EVALSHA, EVAL and FCALL). */
async function scriptStats(harness: StateHarness): Promise<{ calls: number; usec: number }> {
  const info = await harness.redis.info('commandstats');
  let calls = 0;
  let usec = 0;
  for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval|fcall):calls=(\d+),usec=(\d+)/gm)) {
    calls += Number(m[1]);
    usec += Number(m[2]);
  }
  return { calls, usec };
}

/** Waits (at most 15 s) until no script call has run for a second: the consumer has applied what was produced. */
async function quiet(harness: StateHarness): Promise<void> {
  let last = await scriptStats(harness);
  for (let i = 0; i < 15; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const now = await scriptStats(harness);
    if (now.calls === last.calls) return;
    last = now;
  }
}

/**
 * The chat server's DISCONNECT (POST /api/state/update/session, no userId), each request ending
 * a different live session, at a realistic fixed rate while the consumer keeps up with steady chat
 * traffic: with the read-your-writes wait on (default) and with SESSION_ROUTE_WAIT_MS=0, against
 * the same service's GET /health/live at the same rate. Then the wait under a backlog, and with
 * one of two instances SIGKILLed: how the answers' X-Session-Wait labels are spread.
 */
export async function sessionRouteScenario(ctx: BenchContext, kafka: BenchKafka): Promise<ScenarioResult> {
  const stack: TestStack<'none'> = await startBenchStack(kafka, 'session-route');
  const harness = new StateHarness(stack.redis.url, BENCH_ENV);
  const children: BenchChild[] = [];
  const topic = stack.topics.sessionEvents;
  try {
    await harness.ready();
    const seconds = ctx.queryDurationSeconds;
    const sessions = ctx.quick ? 20_000 : 60_000;
    const seeding = progress(`seeding ${sessions.toLocaleString()} live sessions`, () => '');
    for (let start = 0; start < sessions; start += 5000) {
      await harness.session(
        ...Array.from(
          { length: Math.min(5000, sessions - start) },
          (_, k) => `{"type":"CONNECT","sessionId":"h-${start + k}","userId":${userId(USER_BASE + start + k)},"state":"online"}`,
        ),
      );
    }
    seeding.stop();
    let nextSession = 0;
    const disconnect = () => `{"sessionId":"h-${nextSession++ % sessions}","type":"DISCONNECT","state":"offline"}`;
    const groupId = 'bench-session-route';
    const start = async (label: string, env: Record<string, string> = {}) => {
      const child = startChild(
        'consumer',
        { mode: 'service', env: { ...(await serviceEnv(stack, groupId)), ...env } },
        { label, cpuProfileDir: ctx.profileDir },
      );
      children.push(child);
      const { url } = await child.next<{ url: string }>('listening');
      await child.next('joined');
      return { child, url };
    };
    const route = (url: string, what: string, options: { seconds?: number; connections?: number } = {}) =>
      cannon(url + ROUTE, options.seconds ?? seconds, {
        connections: options.connections ?? 32,
        rate: SESSION_RATE,
        label: what,
        body: disconnect,
        countHeader: WAIT_HEADER,
      });

    // 1. Normal lag: steady chat traffic, the consumer keeping up. Wait on vs wait 0, alternated.
    let traffic = steadyTraffic(kafka, topic, BACKGROUND_RATE);
    const best: { waitOn?: CannonRun; waitOff?: CannonRun; health?: CannonRun } = {};
    const keep = (key: keyof typeof best, run: CannonRun) => {
      if (!best[key] || run.p99Ms < best[key].p99Ms) best[key] = run;
    };
    let smallCall: { callUs: number; calls: number; requests: number; redisCpuUsPerRequest: number } | undefined;
    const rounds = ctx.quick ? 1 : 2;
    for (let r = 0; r < rounds; r++) {
      for (const wait of r % 2 === 0 ? ['on', 'off'] : ['off', 'on']) {
        const { child, url } = await start(`session-route-wait-${wait}`, wait === 'off' ? { SESSION_ROUTE_WAIT_MS: '0' } : {});
        await cannon(`${url}/health/live`, 1, { connections: 32, rate: SESSION_RATE, label: 'warm-up' });
        await route(url, 'warm-up', { seconds: 1 });
        if (wait === 'on') {
          const health = await cannon(`${url}/health/live`, seconds, { connections: 32, rate: SESSION_RATE, label: 'GET /health/live' });
          log(`  GET /health/live at ${SESSION_RATE} req/s: ${describeRun(health)}`);
          keep('health', health);
        }
        const run = await route(url, `DISCONNECT, wait ${wait}`);
        log(
          `  DISCONNECT at ${SESSION_RATE} req/s, wait ${wait}: ${describeRun(run)}; ${WAIT_HEADER}: ${JSON.stringify(run.headerCounts)}`,
        );
        keep(wait === 'on' ? 'waitOn' : 'waitOff', run);
        if (wait === 'off' && !smallCall) {
          // Redis's cost of one small call: one connection (no group commit), nothing else running.
          await traffic.stop();
          await quiet(harness);
          const [stats, cpu] = [await scriptStats(harness), await redisCpuUs(harness.redis)];
          const alone = await route(url, 'DISCONNECT one at a time', { seconds: Math.min(seconds, 3), connections: 1 });
          const [after, cpuAfter] = [await scriptStats(harness), await redisCpuUs(harness.redis)];
          const calls = after.calls - stats.calls;
          smallCall = {
            callUs: round((after.usec - stats.usec) / Math.max(1, calls), 1),
            calls,
            requests: alone.requests,
            redisCpuUsPerRequest: round((cpuAfter - cpu) / Math.max(1, alone.requests), 1),
          };
          log(
            `  one at a time: ${smallCall.callUs} µs of Redis per script call (${calls} calls for ${alone.requests} requests; INFO cpu ${smallCall.redisCpuUsPerRequest} µs per request)`,
          );
          traffic = steadyTraffic(kafka, topic, BACKGROUND_RATE);
        }
        await child.stop();
      }
    }
    await traffic.stop();

    // 2. A backlog the consumer cannot drain within the bound: the answers say they stopped early.
    const backlogEvents = ctx.quick ? 30_000 : 100_000;
    await produceBacklog(kafka, topic, backlogEvents, 10_000_000);
    const backlogService = await start('session-route-backlog');
    const backlog = await route(backlogService.url, 'DISCONNECT under a backlog');
    log(
      `  under a backlog of ${backlogEvents.toLocaleString()}: ${describeRun(backlog)}; ${WAIT_HEADER}: ${JSON.stringify(backlog.headerCounts)}`,
    );

    // 3. Two instances, one SIGKILLed: its partitions stand still until the group notices.
    const survivor = await start('session-route-survivor');
    await new Promise((resolve) => setTimeout(resolve, 3000)); // the rebalance that gave each instance partitions
    const killedTraffic = steadyTraffic(kafka, topic, BACKGROUND_RATE);
    await backlogService.child.kill();
    const killed = await route(survivor.url, 'DISCONNECT after an owner was killed');
    await killedTraffic.stop();
    log(`  after an owner was SIGKILLed: ${describeRun(killed)}; ${WAIT_HEADER}: ${JSON.stringify(killed.headerCounts)}`);

    const { waitOn, waitOff, health } = best as Required<typeof best>;
    ctx.measured.sessionP99AtRate = waitOn.p99Ms;
    ctx.measured.sessionNoWaitP99AtRate = waitOff.p99Ms;
    ctx.measured.healthP99AtRate = health.p99Ms;
    if (smallCall) ctx.measured.sessionCallRedisUs = smallCall.callUs;
    const figures: Figure[] = [
      {
        name: `DISCONNECT, wait on: p50 at ${SESSION_RATE} req/s`,
        value: waitOn.p50Ms,
        unit: 'ms',
        baselineName: 'wait 0',
        baseline: waitOff.p50Ms,
        ratio: ratio(waitOn.p50Ms, waitOff.p50Ms),
      },
      {
        name: `DISCONNECT, wait on: p99 at ${SESSION_RATE} req/s`,
        value: waitOn.p99Ms,
        unit: 'ms',
        baselineName: 'wait 0',
        baseline: waitOff.p99Ms,
        ratio: ratio(waitOn.p99Ms, waitOff.p99Ms),
      },
      {
        name: `DISCONNECT, wait on: p99 vs /health/live at ${SESSION_RATE} req/s`,
        value: waitOn.p99Ms,
        unit: 'ms',
        baselineName: 'GET /health/live',
        baseline: health.p99Ms,
        ratio: ratio(waitOn.p99Ms, health.p99Ms),
      },
      { name: 'DISCONNECT under a backlog: p50', value: backlog.p50Ms, unit: 'ms' },
      { name: 'DISCONNECT under a backlog: p99', value: backlog.p99Ms, unit: 'ms' },
      { name: 'DISCONNECT after an owner was killed: p99', value: killed.p99Ms, unit: 'ms' },
      ...(smallCall
        ? [
            { name: 'Redis time per session-route script call (commandstats)', value: smallCall.callUs, unit: 'µs' },
            {
              name: 'script calls per session-route request',
              value: round(smallCall.calls / Math.max(1, smallCall.requests), 2),
              unit: '',
            },
          ]
        : []),
    ];
    return {
      scenario: 'session-route',
      description:
        `POST ${ROUTE} as the chat server sends DISCONNECT (no userId), each request a different live session, at ${SESSION_RATE} req/s (autocannon overallRate, 32 connections) ` +
        `for ${seconds} s while ${BACKGROUND_RATE} CONNECTs/s flow through Kafka; the service with SESSION_ROUTE_WAIT_MS unset (wait on) and =0, ${rounds} round(s) alternated, best p99 of each; ` +
        `GET /health/live of the same service at the same rate. Redis time per script call: INFO commandstats over requests sent one at a time, no other traffic. ` +
        `Then: a backlog of ${backlogEvents.toLocaleString()} CONNECTs when the service starts; two instances, one SIGKILLed just before the run. ` +
        `Answers counted by their ${WAIT_HEADER} header ("(none)": the service does not send it).`,
      params: { rate: SESSION_RATE, seconds, sessions, rounds, backgroundRate: BACKGROUND_RATE, backlogEvents },
      figures,
      details: { waitOn, waitOff, health, smallCall, backlog, killed },
    };
  } finally {
    for (const child of children) await child.stop();
    harness.close();
    await stack.stop();
  }
}
