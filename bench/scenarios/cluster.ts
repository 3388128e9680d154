import Redis, { Cluster } from 'ioredis';
import { startTestRedisCluster } from '../../testkit/redis-cluster';
import { startTestRedis } from '../../testkit/redis-server';
import { StateHarness } from '../../testkit/state-harness';
import { BENCH_ENV, BenchContext } from '../lib/context';
import { Figure, log, ratio, round, ScenarioResult } from '../lib/report';
import { measureOurApply } from './apply';

/** Seconds of CPU (user + sys) a redis-server has used so far (INFO cpu). */
async function redisCpuSeconds(node: Redis): Promise<number> {
  const info = await node.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return field('used_cpu_user') + field('used_cpu_sys');
}

const mastersOf = (harness: StateHarness): Redis[] => {
  const redis = harness.redis as Cluster;
  return redis.isCluster ? redis.nodes('master') : [harness.redis as Redis];
};

/** One apply run of the workload, with the CPU each Redis master spent on it. */
async function run(ctx: BenchContext, harness: StateHarness, label: string) {
  const masters = mastersOf(harness);
  const before = await Promise.all(masters.map(redisCpuSeconds));
  const result = await measureOurApply(ctx, harness, label);
  const after = await Promise.all(masters.map(redisCpuSeconds));
  const cpu = after.map((a, i) => round(a - before[i], 3));
  log(`  ${label}: ${result.eventsPerSecond.toLocaleString()} events/s; Redis CPU ${cpu.join(' + ')} s`);
  return { ...result, redisCpuSeconds: cpu };
}

/**
 * The same workload through the service's apply path (as the apply scenario: decode -> rules ->
 * StateStore, no Kafka), once on one Redis and once on a local 3-master Redis Cluster, alternated
 * twice (best of each), and the key balance across the masters afterwards.
 */
export async function clusterScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const single = await startTestRedis({ single: true });
  // A long node timeout: on a loaded 2-core machine a busy master must not be voted out mid-run.
  const cluster = await startTestRedisCluster({ masters: 3, replicasPerMaster: 0, nodeTimeoutMs: 15000 });
  const onOne = new StateHarness(single.env, { ...BENCH_ENV, VOICE_GRACE_SECONDS: '0' });
  const onCluster = new StateHarness({ REDIS_CLUSTER_NODES: cluster.seeds.join(',') }, { ...BENCH_ENV, VOICE_GRACE_SECONDS: '0' });
  try {
    await Promise.all([onOne.ready(), onCluster.ready()]);
    const singleRuns = [];
    const clusterRuns = [];
    for (let i = 0; i < 2; i++) {
      singleRuns.push(await run(ctx, onOne, `1 Redis, run ${i + 1}`));
      clusterRuns.push(await run(ctx, onCluster, `3-master cluster, run ${i + 1}`));
    }
    const best = <T extends { eventsPerSecond: number }>(runs: T[]) =>
      runs.reduce((a, b) => (b.eventsPerSecond > a.eventsPerSecond ? b : a));
    const one = best(singleRuns);
    const three = best(clusterRuns);

    // Keys per master after the last cluster run (the workload's whole state).
    const masters = (onCluster.redis as Cluster).nodes('master');
    const keys = await Promise.all(masters.map((m) => m.dbsize()));
    const byMaster = Object.fromEntries(masters.map((m, i) => [`${m.options.host}:${m.options.port}`, keys[i]]));
    const totalKeys = keys.reduce((a, b) => a + b, 0);
    const largestShare = round(Math.max(...keys) / totalKeys, 3);
    const bucketsPerMaster = new Map<string, number>();
    for (const node of onCluster.store.bucketMasters().values())
      bucketsPerMaster.set(node ?? '?', (bucketsPerMaster.get(node ?? '?') ?? 0) + 1);

    const events = ctx.workload.events.length;
    const singleCpu = one.redisCpuSeconds[0];
    const clusterCpu = three.redisCpuSeconds.reduce((a, b) => a + b, 0);
    const busiest = Math.max(...three.redisCpuSeconds);
    // If each master had a core of its own and the clients kept up, Redis would limit throughput
    // at events / (the busiest master's CPU seconds), against events / (the one Redis's CPU seconds).
    const projected = round(singleCpu / busiest, 2);
    const r = ratio(three.eventsPerSecond, one.eventsPerSecond);
    ctx.measured.clusterLargestKeySharePercent = round(largestShare * 100, 1);
    const figures: Figure[] = [
      {
        name: 'apply events/s, 3-master cluster',
        value: three.eventsPerSecond,
        unit: 'events/s',
        baselineName: '1 Redis, same workload and client',
        baseline: one.eventsPerSecond,
        ratio: r,
      },
      {
        name: "largest master's share of keys",
        value: round(largestShare * 100, 1),
        unit: '%',
      },
      {
        name: 'Redis CPU per event, cluster (all masters) vs 1 Redis',
        value: round((clusterCpu / events) * 1e6, 1),
        unit: 'µs',
        baselineName: '1 Redis',
        baseline: round((singleCpu / events) * 1e6, 1),
        ratio: ratio(clusterCpu, singleCpu),
      },
      { name: 'Redis-bound throughput on 3 real nodes (1 Redis CPU / busiest master CPU)', value: projected, unit: 'x' },
    ];
    return {
      scenario: 'cluster',
      description:
        "The same mixed workload through the service's own apply path (decode -> rules -> StateStore, no Kafka, as the apply scenario) on one redis-server and on a " +
        "local 3-master Redis Cluster (no replicas), alternated twice, best of each; then DBSIZE per master. All processes share this machine's cores, so the " +
        'cluster cannot run faster here: the Redis CPU seconds per master show what three machines would give.',
      params: { events, users: ctx.workload.users, masters: 3, buckets: onCluster.store.layout.buckets.length },
      figures,
      details: {
        singleRuns,
        clusterRuns,
        keysPerMaster: byMaster,
        bucketsPerMaster: Object.fromEntries(bucketsPerMaster),
        totalKeys,
        redisCpuSeconds: { single: singleCpu, clusterPerMaster: three.redisCpuSeconds },
      },
    };
  } finally {
    onOne.close();
    onCluster.close();
    await single.stop();
    await cluster.stop();
  }
}
