/**
 * npm run bench -- [scenario ...] [--quick] [--events N] [--profile] [--duration S]
 *
 * Scenarios (all by default): drain, apply, original, query, session-route, whole-guild, freshness, memory;
 * and, only when named, cluster (1 Redis vs a local 3-master Redis Cluster).
 *   --quick        smaller sizes and shorter runs (well under 3 minutes)
 *   --events N     size of the mixed workload (default 100,000; quick 20,000)
 *   --duration S   seconds per query run (default 10; quick 3)
 *   --rate N       events/s of the freshness scenario (default 5,000)
 *   --profile      run the service children under node --cpu-prof (bench/profiles/, summary in the JSON)
 * Prints progress on stderr and a table on stdout; writes bench/results/<scenario>.json and
 * summary.json (with .quick in the name for --quick runs).
 */
import 'reflect-metadata';
import { join } from 'node:path';
import { applyScenario } from './scenarios/apply';
import { clusterScenario } from './scenarios/cluster';
import { drainScenario } from './scenarios/drain';
import { freshnessScenario } from './scenarios/freshness';
import { memoryScenario } from './scenarios/memory';
import { originalScenario } from './scenarios/original';
import { queryScenario } from './scenarios/query';
import { sessionRouteScenario } from './scenarios/session-route';
import { wholeGuildScenario } from './scenarios/whole-guild';
import { BenchContext, BenchKafka, startBenchKafka } from './lib/context';
import { log, machine, ScenarioResult, table, writeResult, writeSummary } from './lib/report';
import { mixedWorkload } from '../testkit/mixed-workload';

type Scenario = (ctx: BenchContext, kafka: BenchKafka) => Promise<ScenarioResult>;
const SCENARIOS: Record<string, Scenario> = {
  drain: drainScenario,
  apply: applyScenario,
  original: originalScenario,
  query: queryScenario,
  'session-route': sessionRouteScenario,
  'whole-guild': wholeGuildScenario,
  freshness: freshnessScenario,
  memory: memoryScenario,
};
/** Run only when named: `npm run bench -- cluster`. */
const EXTRA_SCENARIOS: Record<string, Scenario> = { cluster: clusterScenario };
const ALL_SCENARIOS = { ...SCENARIOS, ...EXTRA_SCENARIOS };

function parseArgs(argv: string[]) {
  const chosen: string[] = [];
  const options = { quick: false, events: 0, duration: 0, profile: false, rate: 0 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => Number(inline ?? argv[++i]);
    if (flag === '--quick') options.quick = true;
    else if (flag === '--profile') options.profile = true;
    else if (flag === '--events') options.events = value();
    else if (flag === '--duration') options.duration = value();
    else if (flag === '--rate') options.rate = value();
    else if (flag === '--help' || flag === '-h') {
      console.log(
        `usage: npm run bench -- [${Object.keys(ALL_SCENARIOS).join('|')} ...] [--quick] [--events N] [--duration S] [--rate N] [--profile]`,
      );
      process.exit(0);
    } else if (flag in ALL_SCENARIOS) chosen.push(flag);
    else {
      console.error(`unknown argument ${argv[i]}; scenarios: ${Object.keys(ALL_SCENARIOS).join(', ')}`);
      process.exit(2);
    }
  }
  if (options.events && !(options.events > 0)) throw new Error('--events must be a positive number');
  return { chosen: chosen.length > 0 ? chosen : Object.keys(SCENARIOS), ...options };
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
    shared: {},
  };
  log(`workload: ${workload.events.length.toLocaleString()} events of ${workload.users.toLocaleString()} users`);
  const kafka = await startBenchKafka();
  const results: ScenarioResult[] = [];
  try {
    for (const name of args.chosen) {
      const started = Date.now();
      log(`== ${name}`);
      const result = await ALL_SCENARIOS[name](ctx, kafka);
      result.durationSeconds = Math.round((Date.now() - started) / 100) / 10;
      results.push(result);
      const file = writeResult(result, env, args.quick);
      log(`== ${name} done in ${result.durationSeconds} s -> ${file}`);
      console.log(table([result]));
    }
  } finally {
    await kafka.stop();
  }
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  if (args.chosen.length === Object.keys(SCENARIOS).length) log(`summary -> ${writeSummary(results, env, args.quick, command)}`);
  console.log(`\n${env.cpuModel} x${env.cores}, Node ${env.node}, Redis ${env.redis}, ${env.date}\n${table(results)}`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
