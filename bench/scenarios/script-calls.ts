import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import Redis from 'ioredis';
import { loadConfig } from '../../src/config/app-config';
import { KeyLayout, scriptLayout } from '../../src/state-store/redis-keys';
import { ScriptName, SCRIPTS, scriptSettings, StateScripts } from '../../src/state-store/state-scripts';
import { startTestRedis } from '../../testkit/redis-server';
import { BenchContext } from '../lib/context';
import { Figure, log, ratio, redisCpuUs, round, ScenarioResult } from '../lib/report';

/**
 * The commit before the state library became a Redis function library: each script was lib.lua +
 * change-outbox.lua + the script, sent by EVALSHA with the layout and the settings as JSON
 * arguments, decoded and every function defined again on every call.
 */
const BEFORE_COMMIT = '8feb368db136ebad0ab72f548be6cce4d1895875';
const PIPELINE = 100;
const ROUNDS = 3;

/** The scripts of BEFORE_COMMIT as that commit assembled them for one Redis. */
function scriptsBefore(): Record<string, string> {
  const show = (file: string) =>
    execFileSync('git', ['show', `${BEFORE_COMMIT}:src/state-store/scripts/${file}.lua`], { cwd: __dirname, encoding: 'utf8' });
  const prelude = `${show('lib')}\n${show('change-outbox')}`;
  return Object.fromEntries(Object.values(SCRIPTS).map((file) => [file, `${prelude}\n${show(file)}`]));
}

/** The settings JSON as BEFORE_COMMIT sent it (ARGV[2]): recording on, floor 0. */
function settingsBefore(): string {
  const settings = JSON.parse(scriptSettings(loadConfig({}), false)) as { changes: { enabled: boolean; limit: number } };
  return JSON.stringify({ ...settings, changes: { on: settings.changes.enabled, limit: settings.changes.limit, floor: 0 } });
}

interface CallKind {
  name: string;
  script: ScriptName;
  calls: number;
  eventsPerCall: number;
  /** The arguments of call i (fresh users each call, so that every event applies). */
  args: (i: number) => string[];
  /** The same call's arguments for the library, when they differ (apply-events: flat fields since 2026-12-07). */
  ourArgs?: (i: number) => string[];
}

type BenchEvent = (string | number | string[])[];
/** Events as the base commit's apply-events.lua read them (one JSON argument), then the durable flag. */
const asJson = (events: BenchEvent[]) => [JSON.stringify(events), '0'];
/** The same events as the library reads them now: the durable flag, then each event's fields as arguments. */
const asFields = (events: BenchEvent[]) => ['0', ...events.flatMap((e) => e.map((f) => (Array.isArray(f) ? f.join(',') : String(f))))];

interface CallCost {
  commandUsPerCall: number;
  cpuUsPerCall: number;
  /** Commands the script or function ran (redis.call). */
  innerCallsPerCall: number;
}

/** Redis's own time and CPU for `calls` calls, sent `PIPELINE` at a time. */
async function measure(
  redis: Redis,
  calls: number,
  queue: (pipeline: ReturnType<Redis['pipeline']>, i: number) => void,
  command: string,
): Promise<CallCost> {
  await redis.config('RESETSTAT');
  const cpuBefore = await redisCpuUs(redis);
  for (let from = 0; from < calls; from += PIPELINE) {
    const pipeline = redis.pipeline();
    for (let i = from; i < Math.min(calls, from + PIPELINE); i++) queue(pipeline, i);
    const replies = (await pipeline.exec()) ?? [];
    const failed = replies.find(([error]) => error);
    if (failed) throw failed[0] as Error;
  }
  const cpu = (await redisCpuUs(redis)) - cpuBefore;
  const stats = await redis.info('commandstats');
  const usec = Number(stats.match(new RegExp(`^cmdstat_${command}:calls=\\d+,usec=(\\d+)`, 'm'))?.[1] ?? NaN);
  let inner = 0;
  for (const [, name, n] of stats.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) {
    if (!/^(evalsha|fcall|config\|resetstat|info)$/.test(name)) inner += Number(n);
  }
  return { commandUsPerCall: usec / calls, cpuUsPerCall: cpu / calls, innerCallsPerCall: inner / calls };
}

/**
 * Redis's time per call of the state scripts, before (BEFORE_COMMIT's scripts by EVALSHA, layout
 * and settings as JSON arguments) and after (the function library, FCALL), in one run against one
 * fresh redis-server: a 1-event apply, a 200-event apply, an upkeep call (prune-versions).
 */
export async function scriptCallsScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const redis = await startTestRedis({ own: true, single: true });
  const client = new Redis(redis.url);
  try {
    const before = scriptsBefore();
    const shas = new Map<string, string>();
    for (const [file, text] of Object.entries(before)) {
      await client.script('LOAD', text);
      shas.set(file, createHash('sha1').update(text).digest('hex'));
    }
    const settings = settingsBefore();
    const scripts = new StateScripts(client, loadConfig({}), new KeyLayout(false));
    await scripts.call('pruneVersions', 0, ['3600', '1']); // the library loaded
    const scale = ctx.quick ? 1 : 5;
    const now = Date.now();
    // Fresh ids per phase and call: a phase's users never met before.
    let phase = 0;
    const user = (i: number, k: number) => String(10_000_000 * (phase + 1) + i * 1000 + k);
    const connect = (u: string, k: number): BenchEvent => ['C', u, `s${u}`, 'online', now + k, 'chat-1', [String(100 + (k % 10))], ''];
    const join = (u: string, k: number): BenchEvent => ['J', u, String(100 + (k % 10)), String(1000 + (k % 50)), now + k, ''];
    const batchOf = (i: number) => Array.from({ length: 100 }, (_, k) => [connect(user(i, k), k), join(user(i, k), k)]).flat();
    const kinds: CallKind[] = [
      {
        name: '1-event apply',
        script: 'applyEvents',
        calls: 600 * scale,
        eventsPerCall: 1,
        args: (i) => asJson([connect(user(i, 0), i)]),
        ourArgs: (i) => asFields([connect(user(i, 0), i)]),
      },
      {
        name: '200-event apply',
        script: 'applyEvents',
        calls: 20 * scale,
        eventsPerCall: 200,
        args: (i) => asJson(batchOf(i)),
        ourArgs: (i) => asFields(batchOf(i)),
      },
      { name: 'upkeep call (prune-versions)', script: 'pruneVersions', calls: 600 * scale, eventsPerCall: 0, args: () => ['3600', '100'] },
    ];
    const rows: Record<string, { before: CallCost; after: CallCost }> = {};
    const figures: Figure[] = [];
    // Before and after alternate, ROUNDS times; the best of each (the machine is shared and noisy).
    const best = (a: CallCost | undefined, b: CallCost) => (a && a.commandUsPerCall <= b.commandUsPerCall ? a : b);
    for (let r = 0; r < ROUNDS; r++) {
      for (const kind of kinds) {
        phase++;
        await client.flushall();
        const sha = shas.get(SCRIPTS[kind.script])!;
        const old = await measure(
          client,
          kind.calls,
          (p, i) => p.evalsha(sha, 1, 'STATE_COUNTERS', scriptLayout, settings, ...kind.args(i)),
          'evalsha',
        );
        phase++;
        await client.flushall();
        const ours = await measure(client, kind.calls, (p, i) => scripts.queue(p, kind.script, 0, (kind.ourArgs ?? kind.args)(i)), 'fcall');
        rows[kind.name] = { before: best(rows[kind.name]?.before, old), after: best(rows[kind.name]?.after, ours) };
      }
    }
    for (const kind of kinds) {
      const { before: old, after: ours } = rows[kind.name];
      const per = kind.eventsPerCall > 1 ? kind.eventsPerCall : 1;
      const unit = kind.eventsPerCall > 1 ? 'per event' : 'per call';
      log(
        `  ${kind.name}: Redis ${round(old.commandUsPerCall / per, 2)} -> ${round(ours.commandUsPerCall / per, 2)} µs ${unit} ` +
          `(${ratio(ours.commandUsPerCall, old.commandUsPerCall)}×; CPU ${round(old.cpuUsPerCall / per, 2)} -> ${round(ours.cpuUsPerCall / per, 2)} µs; ` +
          `redis.calls ${round(old.innerCallsPerCall / per, 2)} -> ${round(ours.innerCallsPerCall / per, 2)} ${unit})`,
      );
      figures.push(
        {
          name: `${kind.name}: Redis time ${unit}`,
          value: round(ours.commandUsPerCall / per, 2),
          unit: 'µs',
          baselineName: 'before',
          baseline: round(old.commandUsPerCall / per, 2),
          ratio: ratio(ours.commandUsPerCall, old.commandUsPerCall),
        },
        {
          name: `${kind.name}: redis.calls ${unit}`,
          value: round(ours.innerCallsPerCall / per, 2),
          unit: '',
          baselineName: 'before',
          baseline: round(old.innerCallsPerCall / per, 2),
          ratio: ratio(ours.innerCallsPerCall, old.innerCallsPerCall),
        },
      );
    }
    const [small, batch, upkeep] = kinds.map((k) => rows[k.name]);
    ctx.measured.smallCallRedisUs = small.after.commandUsPerCall;
    ctx.measured.smallCallRedisUsBefore = small.before.commandUsPerCall;
    ctx.measured.batchEventRedisUs = batch.after.commandUsPerCall / 200;
    ctx.measured.batchEventRedisUsBefore = batch.before.commandUsPerCall / 200;
    ctx.measured.upkeepCallRedisUs = upkeep.after.commandUsPerCall;
    ctx.measured.upkeepCallRedisUsBefore = upkeep.before.commandUsPerCall;
    return {
      scenario: 'script-calls',
      description:
        `Redis time per state-script call (INFO commandstats usec / calls; Redis CPU used_cpu_user+sys around, in details), before ` +
        `(${BEFORE_COMMIT.slice(0, 7)}: lib.lua sent with each script, layout and settings decoded each call, EVALSHA) and after ` +
        `(the function library, FCALL), one fresh redis-server, ${PIPELINE} calls per pipeline, fresh users per call.`,
      params: { beforeCommit: BEFORE_COMMIT, calls: Object.fromEntries(kinds.map((k) => [k.name, k.calls])) },
      figures,
      details: rows,
    };
  } finally {
    client.disconnect();
    await redis.stop();
  }
}
