// TEMP (not committed): records the apply path's FCALLs for a workload, then replays them raw K times: Redis CPU per event.
import { writeFileSync } from 'node:fs';
import { StateHarness } from '../testkit/state-harness';
import { recordingRedis } from './lib/recording-redis';
import { blast, resp } from './lib/raw-redis';
import { BENCH_ENV } from './lib/context';
import { redisCpuUs } from './lib/report';
import { byPartition, mixedWorkload } from '../testkit/mixed-workload';

async function main() {
  const [url, out, n, changeTopic, rounds] = process.argv.slice(2);
  const workload = mixedWorkload(Number(n));
  const streams = byPartition(workload.events, 3).map((s) => ({ topic: s[0].topic, values: s.map((e) => Buffer.from(e.value)) }));
  let rec!: ReturnType<typeof recordingRedis>;
  const env = { ...BENCH_ENV, ...(changeTopic !== undefined && changeTopic !== '-' ? { CHANGE_TOPIC: changeTopic } : {}) };
  const h = new StateHarness(url, env, (c) => (rec = recordingRedis(c)).client);
  await h.ready();
  await h.redis.flushall();
  await h.redis.call('FUNCTION', 'FLUSH');
  for (const s of streams) await h.applyStreams([s], 1);
  const bufs = rec.pipelines.filter((p) => p.length > 0).map((p) => ({
    bytes: Buffer.concat(p.map((c) => resp(c.command === 'fcall' ? ['FCALL', ...c.args] : [c.command, ...c.args]))),
    commands: p.length,
  }));
  if (out !== '-') {
    writeFileSync(out, Buffer.concat(bufs.map((b) => b.bytes)));
    writeFileSync(out + '.fn', (await h.redis.callBuffer('FUNCTION', 'DUMP')) as Buffer);
  }
  const port = Number(new URL(url).port);
  const results: number[] = [];
  for (let r = 0; r < Number(rounds || 5); r++) {
    await h.redis.flushall();
    await h.redis.config('RESETSTAT');
    const before = await redisCpuUs(h.redis);
    const res = await blast(port, bufs);
    results.push((await redisCpuUs(h.redis)) - before);
    if (res.errors) console.log('errors', res.errors);
  }
  const per = results.map((us) => +(us / workload.events.length).toFixed(2)).sort((a, b) => a - b);
  const stats = await h.redis.info('commandstats');
  let calls = 0;
  for (const [, name, c] of stats.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) if (!/^(fcall|config|info|flushall)/.test(name)) calls += Number(c);
  console.log(`CHANGE_TOPIC=${h.config.CHANGE_TOPIC || '(off)'} Redis CPU µs/event min ${per[0]} median ${per[per.length >> 1]} all ${per.join(' ')}; redis.calls/event ${(calls / workload.events.length).toFixed(2)}`);
  h.close();
}
main().catch((e) => { console.error(e); process.exit(1); });
