// TEMP: for each recorded file, a fresh redis-server under callgrind with only that file's library: instructions per event.
import { readFileSync, readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { execSync } from 'node:child_process';
import Redis from 'ioredis';
import { blast } from './lib/raw-redis';

async function main() {
  const [port, events, ...files] = process.argv.slice(2);
  for (const f of files) {
    const out = `/work/prof/cgrun.${f.replace(/.*\//, '')}.out`;
    const child = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, '--dump-instr=no', '/work/redis-src/src/redis-server', '--port', port, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const cg = new Redis(Number(port), { retryStrategy: () => 200, lazyConnect: false });
    await new Promise((r) => cg.once('ready', r));
    await cg.call('FUNCTION', 'RESTORE', readFileSync(f + '.fn'), 'FLUSH');
    const bytes = readFileSync(f);
    let commands = 0;
    for (let i = 0; ; ) { const j = bytes.indexOf('FCALL\r\n', i); if (j < 0) break; commands++; i = j + 7; }
    execSync(`callgrind_control -z ${child.pid}`, { stdio: 'ignore' });
    const res = await blast(Number(port), [{ bytes, commands }], 1);
    execSync(`callgrind_control -d replay ${child.pid}`, { stdio: 'ignore' });
    cg.disconnect();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const dump = readdirSync('/work/prof').filter((n) => n.startsWith(out.replace('/work/prof/', '') + '.')).sort().pop();
    const text = readFileSync('/work/prof/' + dump, 'utf8');
    const total = Number(text.match(/^(?:summary|totals): (\d+)/m)![1]);
    console.log(`${f}: ${(total / Number(events)).toFixed(0)} instructions/event (errors ${res.errors}) -> /work/prof/${dump}`);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
