// TEMP (not committed): alternates raw replays of recorded FCALL files on one Redis: Redis CPU per event each.
import { readFileSync } from 'node:fs';
import Redis from 'ioredis';
import { blast } from './lib/raw-redis';
import { redisCpuUs } from './lib/report';

async function main() {
  const [port, events, rounds, ...files] = process.argv.slice(2);
  const redis = new Redis(Number(port));
  const data = files.map((f) => {
    const bytes = readFileSync(f);
    let commands = 0;
    for (let i = bytes.indexOf('*3\r\n$5\r\nFCALL') >= 0 ? 0 : 0; ; ) {
      const j = bytes.indexOf('FCALL\r\n', i);
      if (j < 0) break;
      commands++;
      i = j + 7;
    }
    return { f, bufs: [{ bytes, commands }], per: [] as number[] };
  });
  for (let r = 0; r < Number(rounds); r++) {
    for (const d of data) {
      await redis.flushall();
      const before = await redisCpuUs(redis);
      const res = await blast(Number(port), d.bufs, 1);
      d.per.push(((await redisCpuUs(redis)) - before) / Number(events));
      if (res.errors) console.log(d.f, 'errors', res.errors);
    }
  }
  for (const d of data) {
    const s = [...d.per].sort((a, b) => a - b);
    console.log(`${d.f}: min ${s[0].toFixed(2)} median ${s[s.length >> 1].toFixed(2)} µs/event`);
  }
  redis.disconnect();
}
main().catch((e) => { console.error(e); process.exit(1); });
