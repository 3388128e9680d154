import { freePort } from '../../testkit/free-port';
import { StateHarness } from '../../testkit/state-harness';
import { cannon, CannonRun } from '../lib/cannon';
import { BenchChild, startChild } from '../lib/child';
import { BenchContext, BenchKafka, serviceEnv, startBenchStack } from '../lib/context';
import { Figure, log, progress, ratio, round, ScenarioResult } from '../lib/report';
import { channelId, guildId, userId } from '../../testkit/mixed-workload';

const CONNECTIONS = 32;
const QUERY_GUILD = 1_000_000;
const QUERY_USERS = 100;
const FILLER_BASE = 60_000_000;

/** Adds filler users to USER:STATE (pipelined HSET, 1000 fields a command) until it holds `target` fields. */
async function fillUsers(harness: StateHarness, target: number): Promise<void> {
  let have = await harness.redis.hlen('USER:STATE');
  const shown = progress(`filling USER:STATE to ${target.toLocaleString()}`, () => `${have.toLocaleString()} users`);
  try {
    let next = have;
    while (have < target) {
      const pipeline = harness.redis.pipeline();
      for (let c = 0; c < 100 && next < target; c++) {
        const fields: string[] = [];
        for (let i = 0; i < 1000 && next < target; i++, next++)
          fields.push(userId(FILLER_BASE + next), next % 3 === 0 ? 'online' : 'offline');
        pipeline.hset('USER:STATE', ...fields);
      }
      await pipeline.exec();
      have = await harness.redis.hlen('USER:STATE');
    }
  } finally {
    shown.stop();
  }
}

/** A guild with QUERY_USERS online members, half of them in its 10 voice channels, through the service's apply path. */
async function seedGuild(harness: StateHarness): Promise<string[]> {
  const g = guildId(QUERY_GUILD);
  const ids = Array.from({ length: QUERY_USERS }, (_, k) => userId(50_000_000 + k));
  await harness.session(
    ...ids.map((id, k) => `{"type":"CONNECT","sessionId":"q-${k}","userId":${id},"state":"online","guildIds":[${g}],"serverId":"chat-1"}`),
  );
  await harness.channel(
    ...ids.slice(0, 50).map((id, k) => `{"type":"JOIN","userId":${id},"guildId":${g},"channelId":${channelId(QUERY_GUILD, k % 10)}}`),
  );
  const channels = await harness.redis.hlen(`GUILD:${g}`);
  if (channels !== 10) throw new Error(`expected 10 occupied channels, got ${channels}`);
  return ids;
}

export async function queryScenario(ctx: BenchContext, kafka: BenchKafka): Promise<ScenarioResult> {
  const stack = await startBenchStack(kafka, 'query');
  const { redis } = stack;
  const harness = new StateHarness(redis.url);
  const children: BenchChild[] = [];
  try {
    await harness.ready();
    const ids = await seedGuild(harness);
    const path = `/guilds/${guildId(QUERY_GUILD)}/states?userIds=${ids.join(',')}`;
    const service = startChild(
      'consumer',
      { mode: 'service', env: await serviceEnv(stack, 'bench-query') },
      { label: 'query-service', cpuProfileDir: ctx.profileDir },
    );
    children.push(service);
    const { url } = await service.next<{ url: string }>('listening');
    const answer = await (await fetch(url + path)).text();
    const check = JSON.parse(answer) as { connectionStates: object; channelStates: object };
    if (Object.keys(check.connectionStates).length !== QUERY_USERS || Object.keys(check.channelStates).length !== 10) {
      throw new Error(`unexpected answer: ${JSON.stringify(check).slice(0, 300)}`);
    }
    // The ceiling: a bare node:http server answering the same bytes, under the same autocannon settings.
    const bare = startChild('bare-json-server', { port: await freePort(), body: answer }, { label: 'query-bare-node' });
    children.push(bare);
    const { url: bareUrl } = await bare.next<{ url: string }>('listening');
    const rss = service.sampleRss();
    const seconds = ctx.queryDurationSeconds;
    const warmup = ctx.quick ? 1 : 2;
    const runs: Record<
      string,
      {
        ours: CannonRun;
        bareNode: CannonRun;
        minimal: CannonRun;
        minimalCpuUsPerRequest: number;
        original: CannonRun;
        users: number;
        oursCpuUsPerRequest: number;
        bareNodeCpuUsPerRequest: number;
        originalSequentialMs?: number[];
      }
    > = {};
    /** CPU time the child spent per answered request during the run: steadier than req/s on a shared machine. */
    const cpuPerRequest = async (child: BenchChild, run: () => Promise<CannonRun>) => {
      const before = child.cpuMs();
      const result = await run();
      return { result, cpuUsPerRequest: round(((child.cpuMs() - before) * 1000) / Math.max(1, result.requests), 0) };
    };
    for (const users of ctx.queryUserCounts) {
      await fillUsers(harness, users);
      const original = startChild('original-query-server', { redisUrl: redis.url, port: await freePort() }, { label: 'query-original' });
      children.push(original);
      const { url: originalUrl } = await original.next<{ url: string }>('listening');
      await cannon(url + path, warmup, CONNECTIONS, `warm-up ours`);
      const { result: ours, cpuUsPerRequest: oursCpuUsPerRequest } = await cpuPerRequest(service, () =>
        cannon(url + path, seconds, CONNECTIONS, `ours @ ${users.toLocaleString()} users`),
      );
      log(
        `  ours @ ${users.toLocaleString()} users: ${ours.requestsPerSecond} req/s, p50 ${ours.p50Ms} ms, p99 ${ours.p99Ms} ms, ${oursCpuUsPerRequest} µs CPU per request`,
      );
      if (ours.non2xx > 0 || ours.errors > 0)
        log(`  ours @ ${users.toLocaleString()} users: ${ours.non2xx} non-2xx answers, ${ours.errors} errors (not a clean run)`);
      await cannon(bareUrl + path, warmup, CONNECTIONS, `warm-up bare node`);
      const { result: bareNode, cpuUsPerRequest: bareNodeCpuUsPerRequest } = await cpuPerRequest(bare, () =>
        cannon(bareUrl + path, seconds, CONNECTIONS, `bare node @ ${users.toLocaleString()} users`),
      );
      log(
        `  bare node: ${bareNode.requestsPerSecond} req/s, p50 ${bareNode.p50Ms} ms, p99 ${bareNode.p99Ms} ms, ${bareNodeCpuUsPerRequest} µs CPU per request`,
      );
      // The same query in Fastify + ioredis alone (no Nest, validation, metrics or logging): what the framework costs.
      const minimalServer = startChild('minimal-query-server', { redisUrl: redis.url, port: await freePort() }, { label: 'query-minimal' });
      children.push(minimalServer);
      const { url: minimalUrl } = await minimalServer.next<{ url: string }>('listening');
      // A baseline that answered something else (errors, another shape) would make the ratios meaningless.
      const minimalAnswer = (await (await fetch(minimalUrl + path)).json()) as typeof check;
      const ourAnswer = (await (await fetch(url + path)).json()) as typeof check;
      if (
        JSON.stringify(Object.keys(minimalAnswer.channelStates ?? {}).sort()) !==
          JSON.stringify(Object.keys(ourAnswer.channelStates).sort()) ||
        Object.keys(minimalAnswer.connectionStates ?? {}).length !== Object.keys(ourAnswer.connectionStates).length
      ) {
        throw new Error(`the minimal server answers differently: ${JSON.stringify(minimalAnswer).slice(0, 300)}`);
      }
      await cannon(minimalUrl + path, warmup, CONNECTIONS, `warm-up minimal`);
      const { result: minimal, cpuUsPerRequest: minimalCpuUsPerRequest } = await cpuPerRequest(minimalServer, () =>
        cannon(minimalUrl + path, seconds, CONNECTIONS, `minimal Fastify + ioredis @ ${users.toLocaleString()} users`),
      );
      log(
        `  minimal Fastify + ioredis: ${minimal.requestsPerSecond} req/s, p50 ${minimal.p50Ms} ms, p99 ${minimal.p99Ms} ms, ${minimalCpuUsPerRequest} µs CPU per request`,
      );
      if (minimal.non2xx > 0 || minimal.errors > 0)
        log(`  minimal: ${minimal.non2xx} non-2xx answers, ${minimal.errors} errors (not a clean run)`);
      await minimalServer.stop();
      const orig = await cannon(originalUrl + path, seconds, CONNECTIONS, `original @ ${users.toLocaleString()} users`);
      log(`  original @ ${users.toLocaleString()} users: ${orig.requestsPerSecond} req/s, p50 ${orig.p50Ms} ms, p99 ${orig.p99Ms} ms`);
      await original.stop();
      let originalSequentialMs: number[] | undefined;
      if (orig.requests < 5) {
        // Too slow to finish at 32 connections: time a few requests one at a time instead.
        const alone = startChild(
          'original-query-server',
          { redisUrl: redis.url, port: await freePort() },
          { label: 'query-original-alone' },
        );
        children.push(alone);
        const { url: aloneUrl } = await alone.next<{ url: string }>('listening');
        originalSequentialMs = [];
        for (let i = 0; i < 3; i++) {
          const started = Date.now();
          await (await fetch(aloneUrl + path)).arrayBuffer();
          originalSequentialMs.push(Date.now() - started);
        }
        log(`  original @ ${users.toLocaleString()} users, one request at a time: ${originalSequentialMs.join(', ')} ms`);
        await alone.stop();
      }
      runs[String(users)] = {
        ours,
        bareNode,
        minimal,
        minimalCpuUsPerRequest,
        original: orig,
        users,
        oursCpuUsPerRequest,
        bareNodeCpuUsPerRequest,
        originalSequentialMs,
      };
    }
    rss.stop();
    const figures: Figure[] = [];
    const [small, large] = ctx.queryUserCounts.map((n) => runs[String(n)]);
    for (const run of [small, large]) {
      const n = `${run.users.toLocaleString()} users`;
      figures.push(
        {
          name: `query req/s @ ${n}`,
          value: run.ours.requestsPerSecond,
          unit: 'req/s',
          baselineName: 'original (HGETALL, pick)',
          baseline: run.original.requestsPerSecond,
          ratio: ratio(run.ours.requestsPerSecond, run.original.requestsPerSecond),
        },
        {
          name: `query p50 @ ${n}`,
          value: run.ours.p50Ms,
          unit: 'ms',
          baselineName: run.originalSequentialMs ? 'original, one request at a time (median of 3)' : 'original',
          baseline: run.originalSequentialMs ? [...run.originalSequentialMs].sort((a, b) => a - b)[1] : run.original.p50Ms,
        },
        {
          name: `query p99 @ ${n}`,
          value: run.ours.p99Ms,
          unit: 'ms',
          baselineName: 'original',
          baseline: run.original.p99Ms,
          target: '<= 10 ms',
          met: run.ours.p99Ms <= 10,
        },
        {
          name: `query req/s vs bare node @ ${n}`,
          value: run.ours.requestsPerSecond,
          unit: 'req/s',
          baselineName: 'bare node:http, fixed JSON of the same size',
          baseline: run.bareNode.requestsPerSecond,
          ratio: ratio(run.ours.requestsPerSecond, run.bareNode.requestsPerSecond),
          target: '>= 4,000 req/s and ratio >= 0.15',
          met: run.ours.requestsPerSecond >= 4000 && ratio(run.ours.requestsPerSecond, run.bareNode.requestsPerSecond) >= 0.15,
        },
        {
          name: `query p99 vs bare node @ ${n}`,
          value: run.ours.p99Ms,
          unit: 'ms',
          baselineName: 'bare node:http, fixed JSON of the same size',
          baseline: run.bareNode.p99Ms,
          ratio: ratio(run.ours.p99Ms, run.bareNode.p99Ms),
        },
        {
          name: `query CPU per request vs bare node @ ${n}`,
          value: run.oursCpuUsPerRequest,
          unit: 'µs',
          baselineName: 'bare node:http, fixed JSON of the same size',
          baseline: run.bareNodeCpuUsPerRequest,
          ratio: ratio(run.oursCpuUsPerRequest, run.bareNodeCpuUsPerRequest),
        },
        {
          name: `query req/s vs minimal Fastify + ioredis @ ${n}`,
          value: run.ours.requestsPerSecond,
          unit: 'req/s',
          baselineName: 'the same query in Fastify + ioredis alone',
          baseline: run.minimal.requestsPerSecond,
          ratio: ratio(run.ours.requestsPerSecond, run.minimal.requestsPerSecond),
        },
        {
          name: `query CPU per request vs minimal Fastify + ioredis @ ${n}`,
          value: run.oursCpuUsPerRequest,
          unit: 'µs',
          baselineName: 'the same query in Fastify + ioredis alone',
          baseline: run.minimalCpuUsPerRequest,
          ratio: ratio(run.oursCpuUsPerRequest, run.minimalCpuUsPerRequest),
        },
      );
    }
    // "Unchanged within noise": throughput within 15 % and p99 within 15 % or 1 ms.
    const rpsRatio = ratio(large.ours.requestsPerSecond, small.ours.requestsPerSecond);
    const p99Ratio = ratio(large.ours.p99Ms, small.ours.p99Ms);
    const unchanged = rpsRatio >= 0.85 && (p99Ratio <= 1.15 || large.ours.p99Ms - small.ours.p99Ms <= 1);
    figures.push({
      name: `query req/s ${large.users.toLocaleString()} vs ${small.users.toLocaleString()} users`,
      value: large.ours.requestsPerSecond,
      unit: 'req/s',
      baselineName: `ours @ ${small.users.toLocaleString()} users`,
      baseline: small.ours.requestsPerSecond,
      ratio: rpsRatio,
      target: 'unchanged (ratio >= 0.85, p99 +15 % or +1 ms at most)',
      met: unchanged,
    });
    figures.push({ name: 'service RSS under query load', value: round(service.peakRss() / 2 ** 20, 1), unit: 'MiB' });
    return {
      scenario: 'query',
      description:
        `GET /guilds/:id/states with ${QUERY_USERS} userIds, a guild with 10 occupied voice channels, ${CONNECTIONS} connections (autocannon in the bench process), ` +
        `${seconds} s per run after a ${warmup} s warm-up; the service in a child process (startApp). Bare node: a node:http server (child process) ` +
        "answering every request with the service's own answer to this query (same bytes), no parsing, Redis or logging: the ceiling on this machine. " +
        'CPU per request: user + system time of the child process during the run (/proc), over the requests answered. ' +
        'Minimal: the same query in Fastify + ioredis alone (one pipeline of HMGET and HGETALL; no Nest, validation, metrics or logging), child process. ' +
        'Original: a tiny node:http server (child process) that does HGETALL USER:STATE, picks, and HGETALL GUILD:<id>. ' +
        'Latencies from every response.',
      params: { connections: CONNECTIONS, seconds, userIds: QUERY_USERS, users: ctx.queryUserCounts },
      figures,
      details: { runs, servicePeakRssBytes: service.peakRss() },
    };
  } finally {
    for (const child of children) await child.stop();
    harness.close();
    await stack.stop();
  }
}
