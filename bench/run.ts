/**
 * npm run bench -- [scenario ...] [--quick] [--record] [--events N] [--duration S] [--rate N] [--profile]
 * `npm run bench -- --help` lists the scenarios with how long each takes. Prints progress on stderr,
 * each scenario's figures and then the targets (bench/targets.ts) on stdout; writes the JSON results to
 * bench/runs/ (untracked), or to bench/results/ (tracked) with --record.
 */
import 'reflect-metadata';
import { join } from 'node:path';
import { applyScenario } from './scenarios/apply';
import { changeStreamScenario } from './scenarios/change-stream';
import { clusterScenario } from './scenarios/cluster';
import { drainScenario } from './scenarios/drain';
import { freshnessScenario } from './scenarios/freshness';
import { memoryScenario } from './scenarios/memory';
import { originalScenario } from './scenarios/original';
import { queryScenario } from './scenarios/query';
import { scriptCallsScenario } from './scenarios/script-calls';
import { sessionRouteScenario } from './scenarios/session-route';
import { wholeGuildScenario } from './scenarios/whole-guild';
import { BenchContext, BenchKafka, startBenchKafka } from './lib/context';
import { log, machine, RECORDED_DIR, RUNS_DIR, ScenarioResult, table, writeResult, writeSummary } from './lib/report';
import { judge, targetTable } from './targets';
import { redisInstructionsScenario } from './scenarios/redis-instructions';
import { mixedWorkload } from '../testkit/mixed-workload';

interface Scenario {
  run: (ctx: BenchContext, kafka: BenchKafka) => Promise<ScenarioResult>;
  what: string;
  /** Seconds it took on the 2-core machine shared with other work (load 10-18): full run, --quick. */
  seconds: [number, number];
  /** Run only when named. */
  extra?: boolean;
}
const SCENARIOS: Record<string, Scenario> = {
  drain: { run: drainScenario, what: 'backlog drained by the service vs a bare kafkajs consumer; Redis CPU per event', seconds: [95, 40] },
  apply: { run: applyScenario, what: "the service's apply path without Kafka vs Redis's limit (raw EVALSHA replay)", seconds: [70, 15] },
  original: { run: originalScenario, what: 'the original algorithm on the same events', seconds: [40, 13] },
  query: {
    run: queryScenario,
    what: '100-id query and 5,000-id community route vs the floor server; p99 at 1,000 req/s',
    seconds: [190, 45],
  },
  'session-route': {
    run: sessionRouteScenario,
    what: 'DISCONNECT at 300 req/s, wait on and SESSION_ROUTE_WAIT_MS=0, vs /health/live; backlog; a killed owner',
    seconds: [240, 85],
  },
  'whole-guild': { run: wholeGuildScenario, what: '8 readers paging a 100,000-member guild: SLOWLOG, PING p99 vs idle', seconds: [85, 20] },
  freshness: { run: freshnessScenario, what: 'event-to-answer latency at 5,000 events/s', seconds: [50, 25] },
  'change-stream': {
    run: changeStreamScenario,
    what: 'backlog drained with the change stream on vs CHANGE_TOPIC= off; record -> SSE event latency at 200/s vs the query',
    seconds: [150, 60],
  },
  'script-calls': {
    run: scriptCallsScenario,
    what: 'Redis time per script call and per event, before/after the function library',
    seconds: [20, 8],
  },
  memory: { run: memoryScenario, what: 'Redis bytes per online user', seconds: [65, 15] },
  'redis-instructions': {
    run: redisInstructionsScenario,
    what: 'Redis instructions per applied event (callgrind: repeatable on a busy machine), change stream on and off',
    seconds: [150, 45],
  },
  cluster: { run: clusterScenario, what: '1 Redis vs a local 3-master Redis Cluster (only when named)', seconds: [120, 40], extra: true },
};
const DEFAULT_SCENARIOS = Object.keys(SCENARIOS).filter((name) => !SCENARIOS[name].extra);

function usage(): string {
  const total = (i: 0 | 1) => DEFAULT_SCENARIOS.reduce((s, n) => s + SCENARIOS[n].seconds[i], 0);
  const minutes = (s: number) => `${Math.round(s / 6) / 10} min`;
  return [
    'usage: npm run bench -- [scenario ...] [--quick] [--record] [--events N] [--duration S] [--rate N] [--profile]',
    '',
    `scenarios (all but cluster by default: ~${minutes(total(0))}, --quick ~${minutes(total(1))}; times on 2 busy shared cores):`,
    ...Object.entries(SCENARIOS).map(
      ([name, s]) =>
        `  ${name.padEnd(14)} ~${String(s.seconds[0]).padStart(3)} s (quick ~${String(s.seconds[1]).padStart(2)} s)  ${s.what}`,
    ),
    '',
    '  --quick        smaller workload and shorter runs',
    '  --record       write the results to bench/results/ (tracked); otherwise to bench/runs/ (untracked)',
    '  --events N     size of the mixed workload (default 100,000; quick 20,000)',
    '  --duration S   seconds per HTTP measurement (default 10; quick 3)',
    '  --rate N       events/s of the freshness scenario (default 5,000)',
    '  --profile      run the service children under node --cpu-prof (bench/profiles/, summarised in the JSON)',
    '',
    'The targets (bench/targets.ts) are printed after the scenarios, judged from this run only.',
  ].join('\n');
}

function parseArgs(argv: string[]) {
  const chosen: string[] = [];
  const options = { quick: false, record: false, events: 0, duration: 0, profile: false, rate: 0 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => Number(inline ?? argv[++i]);
    if (flag === '--quick') options.quick = true;
    else if (flag === '--profile') options.profile = true;
    else if (flag === '--record') options.record = true;
    else if (flag === '--events') options.events = value();
    else if (flag === '--duration') options.duration = value();
    else if (flag === '--rate') options.rate = value();
    else if (flag === '--help' || flag === '-h') {
      console.log(usage());
      process.exit(0);
    } else if (flag in SCENARIOS) chosen.push(flag);
    else {
      console.error(`unknown argument ${argv[i]}\n\n${usage()}`);
      process.exit(2);
    }
  }
  if (options.events && !(options.events > 0)) throw new Error('--events must be a positive number');
  return { chosen: chosen.length > 0 ? chosen : DEFAULT_SCENARIOS, ...options };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const env = machine();
  log(
    `bench on ${env.cpuModel} x${env.cores}, Node ${env.node}, Redis ${env.redis}${args.quick ? ' (quick)' : ''}: ${args.chosen.join(', ')}`,
  );
  const events = args.events || (args.quick ? 20_000 : 100_000);
  const workload = mixedWorkload(events);
  const ctx: BenchContext = {
    quick: args.quick,
    events,
    workload,
    queryDurationSeconds: args.duration || (args.quick ? 3 : 10),
    freshnessSeconds: args.quick ? 4 : 10,
    freshnessRate: args.rate || 5000,
    memoryUsers: args.quick ? 20_000 : 100_000,
    originalEvents: Math.min(workload.events.length, args.quick ? 10_000 : 100_000),
    queryUserCounts: [10_000, 1_000_000],
    profileDir: args.profile ? join(__dirname, 'profiles') : undefined,
    measured: {},
  };
  log(`workload: ${workload.events.length.toLocaleString()} events of ${workload.users.toLocaleString()} users`);
  const kafka = await startBenchKafka();
  const results: ScenarioResult[] = [];
  const dir = args.record ? RECORDED_DIR : RUNS_DIR;
  const failed: string[] = [];
  try {
    for (const name of args.chosen) {
      const started = Date.now();
      log(`== ${name}`);
      let result: ScenarioResult;
      try {
        result = await SCENARIOS[name].run(ctx, kafka);
      } catch (error) {
        // One scenario failing (on a loaded machine: a Redis command timing out) leaves the others' figures.
        log(`== ${name} FAILED: ${(error as Error).stack ?? String(error)}`);
        failed.push(name);
        continue;
      }
      result.durationSeconds = Math.round((Date.now() - started) / 100) / 10;
      results.push(result);
      const file = writeResult(dir, result, env, args.quick);
      log(`== ${name} done in ${result.durationSeconds} s -> ${file}`);
      console.log(table([result]));
    }
  } finally {
    await kafka.stop();
  }
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const rows = judge(ctx.measured);
  const targets = { rows, table: targetTable(rows) };
  log(`summary -> ${writeSummary(dir, results, env, args.quick, command, targets)}`);
  console.log(
    `\n${env.cpuModel} x${env.cores}, Node ${env.node}, Redis ${env.redis}, ${env.date}, load ${env.loadAverage1m}\n${table(results)}`,
  );
  console.log(`\nTargets (ratios within this run; bench/targets.ts):\n${targets.table}`);
  if (failed.length > 0) {
    console.log(`\nFAILED: ${failed.join(', ')} (see the log above)`);
    process.exitCode = 1;
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
