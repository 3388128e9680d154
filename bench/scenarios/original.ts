import Redis from 'ioredis';
import { StateHarness } from '../../testkit/state-harness';
import { applyAllOriginally } from '../original-algorithm';
import { startTestRedis } from '../../testkit/redis-server';
import { BENCH_ENV, BenchContext } from '../lib/context';
import { log, progress, ratio, round, ScenarioResult } from '../lib/report';
import { measureOurApply, timed } from './apply';

export async function originalScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const redis = await startTestRedis({ own: true });
  const harness = new StateHarness(redis.url, BENCH_ENV);
  const client = new Redis(redis.url);
  try {
    await harness.ready();
    const events = ctx.workload.events;
    let ours = ctx.measured.applyEventsPerSecond;
    if (ours === undefined) {
      ours = (await measureOurApply(ctx, harness)).eventsPerSecond;
      log(`  ours: ${ours.toLocaleString()} events/s`);
    }
    await client.flushall();
    await applyAllOriginally(client, events.slice(0, 2000)); // JIT warm-up
    await client.flushall();
    let done = 0;
    const shown = progress('original algorithm', () => `${done.toLocaleString()} / ${events.length.toLocaleString()} events`);
    const { seconds } = await timed(() => applyAllOriginally(client, events, (n) => (done = n))).finally(shown.stop);
    const original = Math.round(events.length / seconds);
    log(`  original: ${original.toLocaleString()} events/s`);
    ctx.measured.originalEventsPerSecond = original;
    return {
      scenario: 'original',
      description:
        'The same events applied the way the original Java service did (bench/original-algorithm.ts): one event at a time, each command awaited, ' +
        "read the JSON array, change it in the app, write it back, EXPIRE the whole USER:STATE / GUILD key. Ours is the apply scenario's figure from the same run.",
      params: { events: events.length },
      figures: [
        {
          name: 'apply events/s vs original',
          value: ours,
          unit: 'events/s',
          baselineName: 'original algorithm',
          baseline: original,
          ratio: ratio(ours, original),
        },
      ],
      details: { originalSeconds: round(seconds, 3) },
    };
  } finally {
    client.disconnect();
    harness.close();
    await redis.stop();
  }
}
