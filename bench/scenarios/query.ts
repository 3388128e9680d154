import { isDeepStrictEqual } from 'node:util';
import { freePort } from '../../testkit/free-port';
import { StateHarness } from '../../testkit/state-harness';
import { cannon, CannonOptions, CannonRun, describeRun } from '../lib/cannon';
import { BenchChild, startChild } from '../lib/child';
import { BENCH_ENV, BenchContext, BenchKafka, serviceEnv, startBenchStack } from '../lib/context';
import { Figure, log, progress, ratio, round, ScenarioResult } from '../lib/report';
import { QUERY_RATE } from '../targets';
import { channelId, guildId, userId } from '../../testkit/mixed-workload';

const CONNECTIONS = 32;
const COMMUNITY_CONNECTIONS = 8;
const QUERY_GUILD = 1_000_000;
const QUERY_USERS = 100;
const COMMUNITY_IDS = 5000;
const FILLER_BASE = 60_000_000;
const USERS = 10_000;
const MANY_USERS = 1_000_000;

/** Adds filler users to USER:STATE (pipelined HSET, 1000 fields a command) until it holds `target` fields. */
async function fillUsers(harness: StateHarness, target: number): Promise<void> {
  let have = await harness.redis.hlen('USER:STATE');
  const shown = progress(`filling USER:STATE to ${target.toLocaleString()}`, () => `${have.toLocaleString()} users`);
  try {
    let next = 0;
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

interface Pair {
  ours: CannonRun;
  floor: CannonRun;
  oursCpuUsPerRequest: number;
  floorCpuUsPerRequest: number;
}

/**
 * The same load on ours and on the floor, alternated over `rounds` (ours first, then floor first),
 * keeping each side's best run (highest req/s; at a fixed rate, lowest p99).
 */
async function measurePair(
  what: string,
  rounds: number,
  seconds: number,
  targets: { ours: [string, BenchChild]; floor: [string, BenchChild] },
  options: CannonOptions,
): Promise<Pair> {
  const better = (a: CannonRun | undefined, b: CannonRun) =>
    !a ? true : options.rate ? b.p99Ms < a.p99Ms : b.requestsPerSecond > a.requestsPerSecond;
  const best: Partial<Record<'ours' | 'floor', { run: CannonRun; cpu: number }>> = {};
  for (let r = 0; r < rounds; r++) {
    for (const side of r % 2 === 0 ? (['ours', 'floor'] as const) : (['floor', 'ours'] as const)) {
      const [url, child] = targets[side];
      const before = child.cpuMs();
      const run = await cannon(url, seconds, { ...options, label: `${what}, ${side}` });
      const cpu = round(((child.cpuMs() - before) * 1000) / Math.max(1, run.requests), 0);
      log(`  ${what}, ${side}: ${describeRun(run)}, ${cpu} µs CPU per request`);
      if (better(best[side]?.run, run)) best[side] = { run, cpu };
    }
  }
  return { ours: best.ours!.run, floor: best.floor!.run, oursCpuUsPerRequest: best.ours!.cpu, floorCpuUsPerRequest: best.floor!.cpu };
}

const pairFigures = (name: string, pair: Pair, value: 'requestsPerSecond' | 'p99Ms'): Figure[] => [
  {
    name: `${name}: ${value === 'p99Ms' ? 'p99' : 'req/s'}`,
    value: pair.ours[value],
    unit: value === 'p99Ms' ? 'ms' : 'req/s',
    baselineName: 'floor',
    baseline: pair.floor[value],
    ratio: ratio(pair.ours[value], pair.floor[value]),
  },
  {
    name: `${name}: p50`,
    value: pair.ours.p50Ms,
    unit: 'ms',
    baselineName: 'floor',
    baseline: pair.floor.p50Ms,
    ratio: ratio(pair.ours.p50Ms, pair.floor.p50Ms),
  },
  ...(value === 'p99Ms'
    ? [
        {
          name: `${name}: req/s answered`,
          value: pair.ours.requestsPerSecond,
          unit: 'req/s',
          baselineName: 'floor',
          baseline: pair.floor.requestsPerSecond,
        },
      ]
    : [
        {
          name: `${name}: p99`,
          value: pair.ours.p99Ms,
          unit: 'ms',
          baselineName: 'floor',
          baseline: pair.floor.p99Ms,
          ratio: ratio(pair.ours.p99Ms, pair.floor.p99Ms),
        },
      ]),
  {
    name: `${name}: CPU per request`,
    value: pair.oursCpuUsPerRequest,
    unit: 'µs',
    baselineName: 'floor',
    baseline: pair.floorCpuUsPerRequest,
    ratio: ratio(pair.oursCpuUsPerRequest, pair.floorCpuUsPerRequest),
  },
];

async function getJson(url: string, body?: string): Promise<unknown> {
  const response = await fetch(url, body ? { method: 'POST', headers: { 'content-type': 'application/json' }, body } : undefined);
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  return response.json();
}

/**
 * The community server's two queries against the floor (bench/children/floor-server.ts: node:http
 * + one ioredis pipeline), both reading the same Redis, answers checked equal first.
 */
export async function queryScenario(ctx: BenchContext, kafka: BenchKafka): Promise<ScenarioResult> {
  const stack = await startBenchStack(kafka, 'query');
  const { redis } = stack;
  const harness = new StateHarness(redis.url, BENCH_ENV);
  const children: BenchChild[] = [];
  try {
    await harness.ready();
    const members = await seedGuild(harness);
    await fillUsers(harness, USERS);
    const g = guildId(QUERY_GUILD);
    const path = `/guilds/${g}/states?userIds=${members.join(',')}`;
    // The community server sends every member, ids as JSON numbers (a Java Long): all 5,000 known users here.
    const communityIds = [...members, ...Array.from({ length: COMMUNITY_IDS - QUERY_USERS }, (_, i) => userId(FILLER_BASE + i))];
    const communityBody = `{"guildId":${g},"userIds":[${communityIds.join(',')}]}`;
    const communityPath = '/api/state/community/user/info';

    const service = startChild(
      'consumer',
      { mode: 'service', env: await serviceEnv(stack, 'bench-query') },
      { label: 'query-service', cpuProfileDir: ctx.profileDir },
    );
    const floor = startChild(
      'floor-server',
      { redisUrl: redis.url, port: await freePort() },
      { label: 'query-floor', cpuProfileDir: ctx.profileDir },
    );
    children.push(service, floor);
    const { url } = await service.next<{ url: string }>('listening');
    const { url: floorUrl } = await floor.next<{ url: string }>('listening');

    // A floor that answered anything else would make every ratio meaningless.
    for (const [what, route, body] of [
      ['GET 100 ids', path, undefined],
      ['community POST', communityPath, communityBody],
    ] as const) {
      const ours = await getJson(url + route, body);
      const theirs = await getJson(floorUrl + route, body);
      if (!isDeepStrictEqual(ours, theirs))
        throw new Error(
          `${what}: the floor answers differently:\n ours  ${JSON.stringify(ours).slice(0, 300)}\n floor ${JSON.stringify(theirs).slice(0, 300)}`,
        );
    }
    const answer = (await getJson(url + path)) as { connectionStates: object; channelStates: object };
    if (Object.keys(answer.connectionStates).length !== QUERY_USERS || Object.keys(answer.channelStates).length !== 10)
      throw new Error(`unexpected answer: ${JSON.stringify(answer).slice(0, 300)}`);
    log('  answers equal: ours and the floor');

    const seconds = ctx.queryDurationSeconds;
    const rounds = ctx.quick ? 1 : 2;
    const warmup = ctx.quick ? 1 : 2;
    for (const target of [url, floorUrl]) {
      await cannon(target + path, warmup, { connections: CONNECTIONS, label: 'warm-up' });
      await cannon(target + communityPath, warmup, { connections: COMMUNITY_CONNECTIONS, label: 'warm-up', body: () => communityBody });
    }
    const rss = service.sampleRss();
    const on = (route: string) => ({
      ours: [url + route, service] as [string, BenchChild],
      floor: [floorUrl + route, floor] as [string, BenchChild],
    });
    const query = await measurePair('100 ids, 32 connections', rounds, seconds, on(path), { connections: CONNECTIONS });
    const community = await measurePair(
      `community ${COMMUNITY_IDS.toLocaleString()} ids, 8 connections`,
      rounds,
      seconds,
      on(communityPath),
      {
        connections: COMMUNITY_CONNECTIONS,
        body: () => communityBody,
      },
    );
    const atRate = await measurePair(`100 ids at ${QUERY_RATE} req/s`, rounds, seconds, on(path), {
      connections: CONNECTIONS,
      rate: QUERY_RATE,
    });
    ctx.measured.queryRps = query.ours.requestsPerSecond;
    ctx.measured.queryFloorRps = query.floor.requestsPerSecond;
    ctx.measured.communityRps = community.ours.requestsPerSecond;
    ctx.measured.communityFloorRps = community.floor.requestsPerSecond;
    ctx.measured.queryP99AtRate = atRate.ours.p99Ms;
    ctx.measured.queryFloorP99AtRate = atRate.floor.p99Ms;
    const figures: Figure[] = [
      ...pairFigures('100 ids, 32 connections', query, 'requestsPerSecond'),
      ...pairFigures(`community ${COMMUNITY_IDS.toLocaleString()} ids, 8 connections`, community, 'requestsPerSecond'),
      ...pairFigures(`100 ids at ${QUERY_RATE} req/s`, atRate, 'p99Ms'),
    ];
    let manyUsers: Pair | undefined;
    if (!ctx.quick) {
      // Independence from the number of users known: the same query with 100 times as many.
      await fillUsers(harness, MANY_USERS);
      manyUsers = await measurePair(`100 ids, ${MANY_USERS.toLocaleString()} users known`, 1, seconds, on(path), {
        connections: CONNECTIONS,
      });
      figures.push({
        name: `100 ids, 32 connections, ${MANY_USERS.toLocaleString()} users known: req/s`,
        value: manyUsers.ours.requestsPerSecond,
        unit: 'req/s',
        baselineName: `ours with ${USERS.toLocaleString()} users`,
        baseline: query.ours.requestsPerSecond,
        ratio: ratio(manyUsers.ours.requestsPerSecond, query.ours.requestsPerSecond),
      });
    }
    rss.stop();
    figures.push({ name: 'service RSS under query load', value: round(service.peakRss() / 2 ** 20, 1), unit: 'MiB' });
    return {
      scenario: 'query',
      description:
        `GET /guilds/:id/states with ${QUERY_USERS} userIds (a guild with 10 occupied voice channels, ${USERS.toLocaleString()} users known) at ${CONNECTIONS} connections ` +
        `and at a fixed ${QUERY_RATE} req/s (autocannon overallRate); POST /api/state/community/user/info with ${COMMUNITY_IDS.toLocaleString()} ids at ` +
        `${COMMUNITY_CONNECTIONS} connections. Each against the floor: node:http + ioredis, one pipeline (HMGET USER:STATE + HGETALL GUILD:<id>), ` +
        `its answers checked equal to ours first. ${seconds} s per run after a ${warmup} s warm-up, ${rounds} round(s) alternating ours and the floor, best of each. ` +
        'Both servers in child processes, autocannon in the bench process. CPU per request: user + system time of the child over the requests it answered.',
      params: {
        connections: CONNECTIONS,
        communityConnections: COMMUNITY_CONNECTIONS,
        seconds,
        rounds,
        rate: QUERY_RATE,
        userIds: QUERY_USERS,
        communityIds: COMMUNITY_IDS,
      },
      figures,
      details: { query, community, atRate, manyUsers, servicePeakRssBytes: service.peakRss() },
    };
  } finally {
    for (const child of children) await child.stop();
    harness.close();
    await stack.stop();
  }
}
