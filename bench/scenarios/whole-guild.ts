import { spawn } from 'node:child_process';
import { StateHarness } from '../../testkit/state-harness';
import { userId } from '../../testkit/mixed-workload';
import { BenchChild, startChild } from '../lib/child';
import { BENCH_ENV, BenchContext, BenchKafka, serviceEnv, startBenchStack } from '../lib/context';
import { Figure, log, percentile, progress, ratio, round, ScenarioResult } from '../lib/report';

const GUILD = '4242';
const READERS = 8;

/**
 * Whole guilds: a guild of 100,000 online members read whole by 8 concurrent readers paging through
 * GET /guilds/:id/states (the no-userIds route), while a separate client PINGs Redis every 10 ms:
 * no command may block Redis (PING p99 against its p99 with no reads, SLOWLOG).
 */
/**
 * PINGs Redis every 10 ms from a process of its own (this one is busy parsing pages, which would
 * delay its replies) while `during` runs; the latencies in ms, ascending.
 */
async function pingWhile(redisUrl: string, during: () => Promise<unknown>, label = 'PING'): Promise<number[]> {
  const pinger = spawn(
    process.execPath,
    [
      '-e',
      `const Redis = require('ioredis'); const r = new Redis(${JSON.stringify(redisUrl)}); const t = [];
      let on = true; process.on('SIGTERM', () => { on = false; });
      (async () => { while (on) { const s = process.hrtime.bigint(); await r.ping(); t.push(Number(process.hrtime.bigint() - s) / 1e6); await new Promise((x) => setTimeout(x, 10)); }
        process.stdout.write(JSON.stringify(t)); r.disconnect(); })();`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() },
  );
  let output = '';
  pinger.stdout.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => pinger.once('exit', () => resolve()));
  const shown = progress(label, () => 'pinging');
  try {
    await during();
  } finally {
    shown.stop();
    pinger.kill('SIGTERM');
    await exited;
  }
  return (JSON.parse(output || '[]') as number[]).sort((a, b) => a - b);
}

export async function wholeGuildScenario(ctx: BenchContext, kafka: BenchKafka): Promise<ScenarioResult> {
  const stack = await startBenchStack(kafka, 'whole-guild');
  const harness = new StateHarness(stack.redis.url, BENCH_ENV);
  const children: BenchChild[] = [];
  try {
    await harness.ready();
    const members = ctx.quick ? 20_000 : 100_000;
    const seeding = progress(`seeding a guild of ${members.toLocaleString()} online members`, () => '');
    for (let start = 0; start < members; start += 5000) {
      const batch = Array.from(
        { length: Math.min(5000, members - start) },
        (_, k) =>
          `{"type":"CONNECT","sessionId":"w-${start + k}","userId":${userId(80_000_000 + start + k)},"state":"online","guildIds":[${GUILD}]}`,
      );
      await harness.session(...batch);
    }
    seeding.stop();
    await harness.redis.config('SET', 'slowlog-log-slower-than', '1000');
    const service = startChild(
      'consumer',
      { mode: 'service', env: await serviceEnv(stack, 'bench-whole-guild') },
      { label: 'whole-guild-service', cpuProfileDir: ctx.profileDir },
    );
    children.push(service);
    const { url } = await service.next<{ url: string }>('listening');

    const seconds = ctx.queryDurationSeconds;
    const idle = await pingWhile(stack.redis.url, () => new Promise((resolve) => setTimeout(resolve, seconds * 1000)), 'PING, no reads');
    const idleP99 = round(percentile(idle, 99), 2);
    log(`  Redis PING p99 with no reads running: ${idleP99} ms`);
    await harness.redis.slowlog('RESET');
    let pagesRead = 0;
    let guildsRead = 0;
    const shown = progress(`${READERS} readers paging through the guild`, () => `${guildsRead} whole guilds, ${pagesRead} pages`);
    const deadline = Date.now() + seconds * 1000;
    const reader = async () => {
      while (Date.now() < deadline) {
        let cursor: string | undefined;
        let seen = 0;
        do {
          const page = (await (await fetch(`${url}/guilds/${GUILD}/states?limit=1000${cursor ? `&cursor=${cursor}` : ''}`)).json()) as {
            connectionStates: object;
            nextCursor?: string;
          };
          seen += Object.keys(page.connectionStates).length;
          cursor = page.nextCursor;
          pagesRead++;
        } while (cursor);
        if (seen < members) throw new Error(`a whole read saw ${seen} of ${members} members`);
        guildsRead++;
      }
    };
    const pings = await pingWhile(stack.redis.url, () => Promise.all(Array.from({ length: READERS }, reader)).finally(() => shown.stop()));
    const slowlog = (await harness.redis.slowlog('GET', 128)) as [number, number, number, string[]][];
    const slowestMs = slowlog.reduce((max, entry) => Math.max(max, entry[2] / 1000), 0);
    const pingP99 = round(percentile(pings, 99), 2);
    log(`  ${guildsRead} whole guilds read (${pagesRead} pages); Redis PING p99 ${pingP99} ms; slowest command ${round(slowestMs, 2)} ms`);

    ctx.measured.slowestCommandMs = round(slowestMs, 2);
    ctx.measured.pingP99Busy = pingP99;
    ctx.measured.pingP99Idle = idleP99;
    const figures: Figure[] = [
      {
        name: `Redis PING p99 while ${READERS} readers page a ${members.toLocaleString()}-member guild`,
        value: pingP99,
        unit: 'ms',
        baselineName: 'PING p99, no reads',
        baseline: idleP99,
        ratio: ratio(pingP99, idleP99),
      },
      { name: 'slowest Redis command meanwhile (SLOWLOG)', value: round(slowestMs, 2), unit: 'ms' },
      { name: 'whole-guild reads/s (all pages)', value: round(guildsRead / seconds, 2), unit: 'guilds/s' },
    ];
    return {
      scenario: 'whole-guild',
      description:
        `A guild of ${members.toLocaleString()} online members; ${READERS} concurrent readers page through GET /guilds/:id/states (limit 1000) for ${seconds} s ` +
        'while another process PINGs Redis every 10 ms, against its PING p99 for as long with the service idle before; SLOWLOG threshold 1 ms.',
      params: { members, readers: READERS, seconds },
      figures,
      details: {
        pings: pings.length,
        guildsRead,
        pagesRead,
        slowlog: [...slowlog]
          .sort((a, b) => b[2] - a[2])
          .slice(0, 5)
          .map((e) => ({ ms: e[2] / 1000, command: e[3].slice(0, 3) })),
      },
    };
  } finally {
    for (const child of children) await child.stop();
    harness.close();
    await stack.stop();
  }
}
