import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

/** One measured figure; when it has a baseline measured in the same run, the ratio ours/baseline. */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  baselineName?: string;
  baseline?: number;
  ratio?: number;
}

export interface ScenarioResult {
  scenario: string;
  description: string;
  params: Record<string, unknown>;
  figures: Figure[];
  /** Anything else worth keeping (raw timings, per-run samples, checks). */
  details: Record<string, unknown>;
  durationSeconds?: number;
}

const git = (args: string[]) => {
  try {
    return execFileSync('git', args, { cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return '';
  }
};

/** Tracked results, written only when asked (`--record`). */
export const RECORDED_DIR = join(__dirname, '..', 'results');
/** Every other run's results: untracked (bench/.gitignore). */
export const RUNS_DIR = join(__dirname, '..', 'runs');

export function machine() {
  const cpus = os.cpus();
  const redisVersion =
    execFileSync('redis-server', ['--version'])
      .toString()
      .match(/v=(\S+)/)?.[1] ?? 'unknown';

  const kafkajsVersion = (JSON.parse(readFileSync(require.resolve('kafkajs/package.json'), 'utf8')) as { version: string }).version;
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    redis: redisVersion,
    kafkajs: kafkajsVersion,
    commit: git(['rev-parse', '--short', 'HEAD']),
    /** Uncommitted changes under src/ when the bench ran (the figures then describe the working tree). */
    srcChanged: git(['status', '--porcelain', '--', 'src']) !== '',
    /** Other work on the machine skews the figures: the 1-minute load average when the bench started. */
    loadAverage1m: Math.round(os.loadavg()[0] * 100) / 100,
    date: new Date().toISOString(),
  };
}

/** Redis's own CPU so far (INFO cpu: used_cpu_user + used_cpu_sys), in µs. */
export async function redisCpuUs(redis: { info(section: 'cpu'): Promise<string> }): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(info.match(new RegExp(`^${name}:([0-9.]+)`, 'm'))?.[1] ?? 0);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

export function ratio(ours: number, baseline: number): number {
  return baseline > 0 ? round(ours / baseline, 3) : NaN;
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Percentile of an ascending-sorted array (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function log(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

/** Prints `describe()` every second until stopped: long steps show they are alive. */
export function progress(label: string, describe: () => string): { stop(): void } {
  const started = Date.now();
  const timer = setInterval(() => log(`  ${label}: ${describe()} (${((Date.now() - started) / 1000).toFixed(0)} s)`), 1000);
  return { stop: () => clearInterval(timer) };
}

const fmt = (x: number | undefined, unit = '') => {
  if (x === undefined || Number.isNaN(x)) return '';
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2;
  return `${x.toLocaleString('en-US', { maximumFractionDigits: digits })}${unit ? ` ${unit}` : ''}`;
};

export function table(results: readonly ScenarioResult[]): string {
  const header = ['scenario', 'figure', 'value', 'baseline', 'baseline value', 'ratio'];
  const rows = results.flatMap((r) =>
    r.figures.map((f) => [
      r.scenario,
      f.name,
      fmt(f.value, f.unit),
      f.baselineName ?? '',
      fmt(f.baseline, f.baseline !== undefined ? f.unit : ''),
      f.ratio !== undefined && !Number.isNaN(f.ratio) ? `${fmt(f.ratio)}x` : '',
    ]),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export function writeResult(dir: string, result: ScenarioResult, env: ReturnType<typeof machine>, quick: boolean): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${result.scenario}${quick ? '.quick' : ''}.json`);
  writeFileSync(file, `${JSON.stringify({ machine: env, quick, ...result }, null, 2)}\n`);
  return file;
}

export function writeSummary(
  dir: string,
  results: readonly ScenarioResult[],
  env: ReturnType<typeof machine>,
  quick: boolean,
  command: string,
  targets: { rows: unknown[]; table: string },
): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `summary${quick ? '.quick' : ''}.json`);
  const summary = {
    machine: env,
    quick,
    command,
    targets: targets.rows,
    targetTable: targets.table.split('\n'),
    figures: results.flatMap((r) => r.figures.map((f) => ({ scenario: r.scenario, ...f }))),
    table: table(results).split('\n'),
  };
  writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  return file;
}
