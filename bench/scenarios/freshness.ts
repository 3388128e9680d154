import { StateHarness } from '../../testkit/state-harness';
import { startChild } from '../lib/child';
import { BENCH_ENV, BenchContext, BenchKafka, serviceEnv, startBenchStack } from '../lib/context';
import { log, percentile, progress, round, ScenarioResult } from '../lib/report';
import { eventJson, guildId, mixedWorkload, userId } from '../../testkit/mixed-workload';

const TICK_MS = 10;
/** Traffic before the first probe: the service's first fetches, JIT and script loading are not steady state. */
const WARMUP_MS = 3000;
const FRESH_BASE = 70_000_000;

/**
 * Steady traffic through the broker; each tick one CONNECT of a never-seen user is a probe. The
 * bench polls the service's HTTP query, back to back, for the probes not yet visible; a probe's
 * freshness is from just before its produce call to the first answer that shows it online.
 */
export async function freshnessScenario(ctx: BenchContext, kafka: BenchKafka): Promise<ScenarioResult> {
  const stack = await startBenchStack(kafka, 'fresh');
  const { redis, topics } = stack;
  const harness = new StateHarness(redis.url, BENCH_ENV);
  const service = startChild(
    'consumer',
    { mode: 'service', env: await serviceEnv(stack, 'bench-fresh') },
    { label: 'fresh-service', cpuProfileDir: ctx.profileDir },
  );
  const producer = kafka.kafka.producer({ allowAutoTopicCreation: false });
  try {
    await harness.ready();
    await producer.connect();
    const { url } = await service.next<{ url: string }>('listening');
    await service.next('joined');
    const rate = ctx.freshnessRate;
    const perTick = Math.round((rate * TICK_MS) / 1000);
    const warmupTicks = Math.round(WARMUP_MS / TICK_MS);
    const ticks = warmupTicks + Math.round((ctx.freshnessSeconds * 1000) / TICK_MS);
    const background = mixedWorkload(ticks * (perTick - 1) + 100, 11, 'fresh').events;
    const g = guildId(2_000_000);
    const pending = new Map<string, number>();
    const latencies: number[] = [];
    let produced = 0;
    let sendErrors = 0;
    let behindMs = 0;
    let stopPolling = false;
    const poller = (async () => {
      while (!stopPolling || pending.size > 0) {
        if (pending.size === 0) {
          await new Promise((r) => setTimeout(r, 1));
          continue;
        }
        const ids = [...pending.keys()].slice(0, 500);
        const res = await fetch(`${url}/guilds/${g}/states?userIds=${ids.join(',')}`);
        const body = (await res.json()) as { connectionStates: Record<string, string> };
        const now = Date.now();
        for (const id of ids) {
          if (body.connectionStates?.[id] === 'online') {
            latencies.push(now - pending.get(id)!);
            pending.delete(id);
          }
        }
        if (stopPolling && now - Math.min(...pending.values()) > 10000) break; // lost probes: give up
      }
    })();
    const rss = service.sampleRss();
    const shown = progress(
      `freshness @ ${rate.toLocaleString()} events/s`,
      () => `${produced.toLocaleString()} produced, ${latencies.length} probes seen, ${pending.size} pending`,
    );
    const started = Date.now();
    const sends: Promise<unknown>[] = [];
    let cursor = 0;
    for (let t = 0; t < ticks; t++) {
      const due = started + t * TICK_MS;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      else behindMs = Math.max(behindMs, -wait);
      const probe = userId(FRESH_BASE + t);
      const batch = background.slice(cursor, cursor + perTick - 1);
      cursor += perTick - 1;
      const probeValue = eventJson({
        type: 'CONNECT',
        sessionId: `probe-${t}`,
        userId: probe,
        state: 'online',
        guildIds: [g],
        serverId: 'chat-1',
      });
      const topicMessages = [
        {
          topic: topics.sessionEvents,
          messages: [
            { key: probe, value: probeValue },
            ...batch.filter((e) => e.topic === 'session').map((e) => ({ key: e.key, value: e.value })),
          ],
        },
        { topic: topics.channelEvents, messages: batch.filter((e) => e.topic === 'channel').map((e) => ({ key: e.key, value: e.value })) },
      ].filter((tm) => tm.messages.length > 0);
      if (t >= warmupTicks) pending.set(probe, Date.now());
      produced += perTick;
      sends.push(producer.sendBatch({ acks: -1, topicMessages }).catch(() => sendErrors++));
    }
    const elapsed = (Date.now() - started) / 1000;
    await Promise.all(sends);
    stopPolling = true;
    await poller;
    shown.stop();
    rss.stop();
    latencies.sort((a, b) => a - b);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    log(`  freshness: p50 ${p50} ms, p99 ${p99} ms over ${latencies.length} probes; ${round(produced / elapsed)} events/s produced`);
    return {
      scenario: 'freshness',
      description:
        `${rate.toLocaleString()} events/s of mixed traffic produced steadily (a batch every ${TICK_MS} ms, acks=-1) to the embedded broker for ${WARMUP_MS / 1000} s of warm-up, then ${ctx.freshnessSeconds} s measured; ` +
        'each batch carries one CONNECT of a never-seen user as a probe. Freshness = from just before the produce call to the first answer of GET /guilds/:id/states ' +
        '(polled back to back by the bench) that shows the probe online. Includes the producer, broker, consumer, Redis and one query.',
      params: { rate, seconds: ctx.freshnessSeconds, warmupMs: WARMUP_MS, tickMs: TICK_MS, perTick },
      figures: [
        { name: `freshness p50 @ ${rate.toLocaleString()} events/s`, value: p50, unit: 'ms' },
        { name: `freshness p99 @ ${rate.toLocaleString()} events/s`, value: p99, unit: 'ms' },
        { name: 'service RSS under 5,000 events/s', value: round(service.peakRss() / 2 ** 20, 1), unit: 'MiB' },
      ],
      details: {
        probes: latencies.length,
        lostProbes: pending.size,
        producedEventsPerSecond: round(produced / elapsed),
        producerBehindMaxMs: behindMs,
        sendErrors,
        maxMs: latencies[latencies.length - 1],
        p90Ms: percentile(latencies, 90),
        servicePeakRssBytes: service.peakRss(),
      },
    };
  } finally {
    await producer.disconnect();
    await service.stop();
    harness.close();
    await stack.stop();
  }
}
