import 'reflect-metadata';
import Redis, { Cluster } from 'ioredis';
import { startTestRedisCluster } from './test/support/redis-cluster';
import { startTestRedis } from './test/support/redis-server';
import { StateHarness } from './test/support/state-harness';
import { ApplyPath, toRawStreams } from './bench/lib/apply-path';
import { byPartition, mixedWorkload } from './bench/lib/workload';
import { Logger } from '@nestjs/common';
Logger.overrideLogger(false);
async function stats(nodes: Redis[]) {
  const total: Record<string, { calls: number; usec: number }> = {};
  for (const n of nodes) {
    const info = await n.info('commandstats');
    for (const m of info.matchAll(/cmdstat_(\w+):calls=(\d+),usec=(\d+)/g)) {
      const t = (total[m[1]] ??= { calls: 0, usec: 0 }); t.calls += +m[2]; t.usec += +m[3];
    }
  }
  return total;
}
(async () => {
  const w = mixedWorkload(40000);
  const single = await startTestRedis({ single: true });
  const cluster = await startTestRedisCluster({ masters: 3, nodeTimeoutMs: 15000 });
  for (const [label, env] of [['single', single.env], ['cluster', { REDIS_CLUSTER_NODES: cluster.seeds.join(',') }]] as const) {
    const h = new StateHarness(env, { VOICE_GRACE_SECONDS: '0' }); await h.ready();
    const nodes = (h.redis as Cluster).isCluster ? (h.redis as Cluster).nodes('master') : [h.redis as Redis];
    for (const topic of ['session', 'channel'] as const) {
      await Promise.all(nodes.map(n => n.call('CONFIG', 'RESETSTAT')));
      const events = w.events.filter(e => e.topic === topic);
      const path = new ApplyPath(h.store, h.config);
      const t = Date.now();
      await path.applyStreams(toRawStreams(byPartition(events, 3)), 4);
      const s = await stats(nodes);
      const rows = Object.entries(s).map(([k, v]) => `${k}: ${v.calls} calls, ${(v.usec / events.length).toFixed(1)} µs/event`).join('; ');
      console.log(label, topic, events.length, 'events', Date.now() - t, 'ms |', rows);
    }
    h.close();
  }
  await single.stop(); await cluster.stop();
})();
