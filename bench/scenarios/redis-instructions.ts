import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { StateHarness } from '../../testkit/state-harness';
import { startTestRedis } from '../../testkit/redis-server';
import { freePort } from '../../testkit/free-port';
import { byPartition, mixedWorkload } from '../../testkit/mixed-workload';
import { recordingRedis, replayBuffers } from '../lib/recording-redis';
import { blast } from '../lib/raw-redis';
import { BENCH_ENV, BenchContext } from '../lib/context';
import { Figure, log, progress, round, ScenarioResult } from '../lib/report';

const PARTITIONS = 3;

/** The apply path's script calls for a workload, recorded from the service's own StateStore, and the library they call. */
interface Recording {
  events: number;
  /** One buffer per round trip the StateStore made. */
  buffers: { bytes: Buffer; commands: number }[];
  library: Buffer;
}

async function record(url: string, events: number, changeTopic: string | undefined): Promise<Recording> {
  const workload = mixedWorkload(events, 11, 'instructions');
  const streams = byPartition(workload.events, PARTITIONS).map((s) => ({
    topic: s[0].topic,
    values: s.map((e) => Buffer.from(e.value)),
  }));
  let recording!: ReturnType<typeof recordingRedis>;
  const env = { ...BENCH_ENV, ...(changeTopic === undefined ? {} : { CHANGE_TOPIC: changeTopic }) };
  const harness = new StateHarness(url, env, (client) => (recording = recordingRedis(client)).client);
  try {
    await harness.ready();
    await harness.redis.flushall();
    await harness.redis.call('FUNCTION', 'FLUSH');
    for (const stream of streams) await harness.applyStreams([stream], 1);
    return {
      events: workload.events.length,
      buffers: replayBuffers(recording),
      library: (await harness.redis.callBuffer('FUNCTION', 'DUMP')) as Buffer,
    };
  } finally {
    harness.close();
  }
}

/** Whether valgrind (callgrind) can run here. */
function hasValgrind(): boolean {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Replays a recording on a fresh redis-server under callgrind holding only its library: the
 * instructions Redis executed for those calls (zeroed before, dumped after), and the commands the
 * functions ran (INFO commandstats).
 */
async function countInstructions(recording: Recording, dir: string, label: string): Promise<{ instructions: number; redisCalls: number }> {
  const port = await freePort();
  const out = join(dir, `${label}.callgrind`);
  const server: ChildProcess = spawn(
    'valgrind',
    ['--tool=callgrind', `--callgrind-out-file=${out}`, 'redis-server', '--port', String(port), '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const exited = new Promise((resolve) => server.once('exit', resolve));
  const client = new Redis(port, { retryStrategy: () => 200, maxRetriesPerRequest: null });
  client.on('error', () => undefined); // refused until valgrind has started it
  try {
    await client.ping(); // queued until it connects
    await client.call('FUNCTION', 'RESTORE', recording.library, 'FLUSH');
    await client.config('RESETSTAT');
    execFileSync('callgrind_control', ['--zero', String(server.pid)], { stdio: 'ignore' });
    const { errors } = await blast(port, recording.buffers);
    execFileSync('callgrind_control', ['--dump=replay', String(server.pid)], { stdio: 'ignore' });
    if (errors > 0) throw new Error(`${errors} error replies replaying the ${label} recording`);
    let redisCalls = 0;
    for (const [, name, n] of (await client.info('commandstats')).matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm))
      if (!/^(fcall|config\|resetstat|info|function\|restore)$/.test(name)) redisCalls += Number(n);
    const dump = readdirSync(dir)
      .filter((name) => name.startsWith(`${label}.callgrind.`))
      .sort()
      .pop();
    const totals = dump && readFileSync(join(dir, dump), 'utf8').match(/^(?:summary|totals): (\d+)/m);
    if (!totals) throw new Error(`no callgrind totals for ${label}`);
    return { instructions: Number(totals[1]), redisCalls };
  } finally {
    client.disconnect();
    server.kill('SIGKILL');
    await exited;
  }
}

/**
 * Redis instructions per applied event: the apply path's script calls (recorded from the service's
 * StateStore on a mixed workload) replayed on a redis-server under callgrind. Instruction counts do
 * not depend on what else the machine is doing, so this figure moves only when the code does; with
 * the change stream on and off.
 */
export async function redisInstructionsScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const events = ctx.quick ? 5_000 : 20_000;
  if (!hasValgrind()) {
    log('  skipped: valgrind is not installed (apt-get install -y valgrind)');
    return {
      scenario: 'redis-instructions',
      description: 'skipped: valgrind is not installed',
      params: { events },
      figures: [],
      details: { skipped: true },
    };
  }
  const redis = await startTestRedis({ own: true, single: true });
  const dir = mkdtempSync(join(os.tmpdir(), 'redis-instructions-'));
  try {
    const figures: Figure[] = [];
    const details: Record<string, unknown> = {};
    for (const [label, changeTopic] of [
      ['change stream on', 'bench.changes'],
      ['change stream off', ''],
    ] as const) {
      const recording = await record(redis.url, events, changeTopic);
      const calls = recording.buffers.reduce((n, buffer) => n + buffer.commands, 0);
      const shown = progress(`${label}: ${recording.events.toLocaleString()} events in ${calls} calls under callgrind`, () => 'replaying');
      const counted = await countInstructions(recording, dir, label.replace(/\W+/g, '-')).finally(shown.stop);
      const perEvent = Math.round(counted.instructions / recording.events);
      const callsPerEvent = round(counted.redisCalls / recording.events, 2);
      log(`  ${label}: ${perEvent.toLocaleString()} Redis instructions per event, ${callsPerEvent} redis.calls per event`);
      figures.push(
        { name: `Redis instructions per event, ${label}`, value: perEvent, unit: '' },
        { name: `redis.calls per event, ${label}`, value: callsPerEvent, unit: '' },
      );
      ctx.measured[changeTopic ? 'redisInstructionsPerEvent' : 'redisInstructionsPerEventStreamOff'] = perEvent;
      details[label] = {
        events: recording.events,
        calls,
        instructions: counted.instructions,
        redisCalls: counted.redisCalls,
      };
    }
    return {
      scenario: 'redis-instructions',
      description:
        `The apply path's script calls for ${events.toLocaleString()} mixed events (recorded from the service's own StateStore) replayed on a ` +
        'fresh redis-server under valgrind --tool=callgrind holding only their function library: instructions Redis executed per event ' +
        '(repeatable whatever else the machine runs), with the change stream on and off.',
      params: { events, partitions: PARTITIONS },
      figures,
      details,
    };
  } finally {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
