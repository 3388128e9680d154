/**
 * Summarizes a V8 CPU profile (node --cpu-prof): where the self time went, by function and by
 * package/file. Usage: ts-node --transpile-only bench/profile-summary.ts <file-or-dir> [top=25] [from]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  byFunction: { name: string; where: string; selfMs: number; percent: number }[];
  byModule: { module: string; selfMs: number; percent: number }[];
}

const ROOT = join(__dirname, '..');

/** Which package or project file a script URL belongs to, e.g. "kafkajs", "ioredis", "src/ingest/event-decoding.ts". */
function moduleOf(url: string): string {
  if (!url) return '(native/V8)';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (path.startsWith('node:') || !path.startsWith('/')) return `node:${path.replace(/^node:/, '')}`;
  return relative(ROOT, path);
}

function newestProfile(dirOrFile: string, prefix = ''): string {
  if (statSync(dirOrFile).isFile()) return dirOrFile;
  const files = readdirSync(dirOrFile)
    .filter((f) => f.endsWith('.cpuprofile') && f.startsWith(prefix))
    .map((f) => join(dirOrFile, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (files.length === 0) throw new Error(`no ${prefix}*.cpuprofile in ${dirOrFile}`);
  return files[0];
}

/**
 * `from`: count only the samples from the first one whose stack holds a function whose name or
 * file contains this text (e.g. "checkedIds" for a query run: start-up, compiling and loading left out).
 */
export function summarizeProfile(dirOrFile: string, prefix = '', top = 25, from?: string): ProfileSummary {
  const file = newestProfile(dirOrFile, prefix);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inStack = (id: number | undefined): boolean =>
    id !== undefined &&
    (`${byId.get(id)!.callFrame.functionName} ${byId.get(id)!.callFrame.url}`.includes(from!) || inStack(parent.get(id)));
  const first = from ? profile.samples.findIndex((id) => inStack(id)) : 0;
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    if (i >= first) selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const mod = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id)!;
    const name = callFrame.functionName || '(anonymous)';
    const module = moduleOf(callFrame.url);
    const where = callFrame.url ? `${module}:${callFrame.lineNumber + 1}` : module;
    const key = `${name}@${where}`;
    const entry = fn.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    fn.set(key, entry);
    mod.set(module, (mod.get(module) ?? 0) + us);
  }
  const pct = (us: number) => Math.round((us / totalUs) * 1000) / 10;
  return {
    file,
    totalMs: Math.round(totalUs / 1000),
    byFunction: [...fn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, selfMs: Math.round(f.us / 1000), percent: pct(f.us) })),
    byModule: [...mod.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([module, us]) => ({ module, selfMs: Math.round(us / 1000), percent: pct(us) })),
  };
}

export function formatProfile(summary: ProfileSummary): string {
  const lines = [`${summary.file}: ${summary.totalMs} ms sampled`, '  self time by module:'];
  for (const m of summary.byModule) lines.push(`    ${String(m.percent).padStart(5)}%  ${String(m.selfMs).padStart(6)} ms  ${m.module}`);
  lines.push('  self time by function:');
  for (const f of summary.byFunction)
    lines.push(`    ${String(f.percent).padStart(5)}%  ${String(f.selfMs).padStart(6)} ms  ${f.name}  (${f.where})`);
  return lines.join('\n');
}

if (require.main === module) {
  const [target, top, from] = process.argv.slice(2);
  if (!target) {
    console.error('usage: profile-summary.ts <file.cpuprofile | dir> [top] [from: path text of the first sample counted]');
    process.exit(2);
  }
  console.log(formatProfile(summarizeProfile(target, '', Number(top ?? 25), from)));
}
