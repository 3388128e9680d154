import { TestStack } from '../../testkit/stack';
import { BenchContext, BenchKafka, serviceEnv, startBenchStack } from '../lib/context';
import { startChild } from '../lib/child';
import { summarizeProfile } from '../profile-summary';
import { log, progress, ratio, redisCpuUs, round, ScenarioResult } from '../lib/report';

const POLL_MS = 20;

/** Produces the whole workload to the bench topics, in batches, before anything consumes it. */
export async function produceBacklog(kafka: BenchKafka, ctx: BenchContext, topics: { sessionEvents: string; channelEvents: string }) {
  const producer = kafka.kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const { events } = ctx.workload;
  let sent = 0;
  const shown = progress('producing backlog', () => `${sent.toLocaleString()} / ${events.length.toLocaleString()} events`);
  try {
    for (let i = 0; i < events.length; i += 5000) {
      const slice = events.slice(i, i + 5000);
      await producer.sendBatch({
        acks: -1,
        topicMessages: (['session', 'channel'] as const).map((t) => ({
          topic: t === 'session' ? topics.sessionEvents : topics.channelEvents,
          messages: slice.filter((e) => e.topic === t).map((e) => ({ key: e.key, value: e.value })),
        })),
      });
      sent += slice.length;
    }
  } finally {
    shown.stop();
    await producer.disconnect();
  }
}

/** Sum of the group's committed offsets over both topics (-1 = nothing committed yet counts as 0). */
export async function committed(admin: ReturnType<BenchKafka['kafka']['admin']>, groupId: string, topics: string[]): Promise<number> {
  const offsets = await admin.fetchOffsets({ groupId, topics });
  return offsets.reduce((sum, t) => sum + t.partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0), 0);
}

interface DrainRun {
  mode: 'service' | 'bare';
  seconds: number;
  eventsPerSecond: number;
  joinSeconds: number;
  peakRssBytes: number;
  statesChecked?: { users: number; mismatches: number };
  /** Redis's own CPU (INFO cpu, user + sys) from the consumer joining to the end, per event. */
  redisCpuUsPerEvent?: number;
  profile?: string;
}

async function drainOnce(mode: 'service' | 'bare', run: number, stack: TestStack<'none'>, ctx: BenchContext): Promise<DrainRun> {
  const { kafka, topics } = stack;
  const redis = stack.redis.client;
  const total = ctx.workload.events.length;
  const groupId = `bench-drain-${mode}-${run}-${Date.now().toString(36)}`;
  if (mode === 'service') await stack.redis.flush();
  const env = await serviceEnv(stack, groupId);
  const admin = kafka.kafka.admin();
  await admin.connect();
  const spawned = Date.now();
  const child = startChild('consumer', { mode, env }, { label: `drain-${mode}-${run}`, cpuProfileDir: ctx.profileDir });
  const rss = child.sampleRss();
  let done = 0;
  const shown = progress(`drain ${mode} #${run}`, () => `${done.toLocaleString()} / ${total.toLocaleString()} committed`);
  try {
    const { at: joinedAt } = await child.next<{ at: number }>('joined', 60000);
    const cpuAtJoin = await redisCpuUs(redis);
    for (;;) {
      done = await committed(admin, groupId, [topics.sessionEvents, topics.channelEvents]);
      if (done >= total) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const finished = Date.now();
    const seconds = (finished - joinedAt) / 1000;
    const result: DrainRun = {
      mode,
      seconds: round(seconds, 3),
      eventsPerSecond: Math.round(total / seconds),
      joinSeconds: round((joinedAt - spawned) / 1000, 2),
      peakRssBytes: child.peakRss(),
    };
    if (mode === 'service') {
      result.redisCpuUsPerEvent = round(((await redisCpuUs(redis)) - cpuAtJoin) / total, 2);
      const states = await redis.hgetall('USER:STATE');
      let mismatches = 0;
      for (const [user, state] of ctx.workload.expectedStates) if (states[user] !== state) mismatches++;
      result.statesChecked = { users: ctx.workload.expectedStates.size, mismatches };
      if (mismatches > 0) log(`  WARNING: ${mismatches} users' USER:STATE differ from the expected final state`);
    }
    return result;
  } finally {
    shown.stop();
    rss.stop();
    await admin.disconnect();
    await child.stop();
  }
}

export async function drainScenario(ctx: BenchContext, kafka: BenchKafka): Promise<ScenarioResult> {
  const stack = await startBenchStack(kafka, 'drain');
  try {
    await produceBacklog(kafka, ctx, stack.topics);
    const runs: DrainRun[] = [];
    const rounds = ctx.quick ? 1 : 2;
    for (let r = 1; r <= rounds; r++) {
      for (const mode of ['bare', 'service'] as const) {
        const child = await drainOnce(mode, r, stack, ctx);
        runs.push(child);
        log(`  drain ${mode} #${r}: ${child.eventsPerSecond.toLocaleString()} events/s (${child.seconds} s)`);
      }
    }
    const best = (mode: string) => runs.filter((r) => r.mode === mode).sort((a, b) => b.eventsPerSecond - a.eventsPerSecond)[0];
    const service = best('service');
    const bare = best('bare');
    ctx.measured.drainEventsPerSecond = service.eventsPerSecond;
    ctx.measured.drainRedisCpuUsPerEvent = service.redisCpuUsPerEvent;
    ctx.measured.bareConsumerEventsPerSecond = bare.eventsPerSecond;
    return {
      scenario: 'drain',
      description:
        'A backlog of mixed events produced to the embedded broker (in the bench process), then drained by a child process from a fresh group: ' +
        'the service (startApp: ingest -> rules -> Lua on Redis) vs a bare kafkajs consumer doing no work (same partitions consumed concurrently). ' +
        'Timed from the consumer joining its group to the committed offsets reaching the end (polled every 20 ms); Redis CPU (INFO cpu) over the same span. Best of the rounds.',
      params: { events: ctx.workload.events.length, users: ctx.workload.users, partitionsPerTopic: 3, rounds },
      figures: [
        {
          name: 'drain events/s',
          value: service.eventsPerSecond,
          unit: 'events/s',
          baselineName: 'bare kafkajs consumer',
          baseline: bare.eventsPerSecond,
          ratio: ratio(service.eventsPerSecond, bare.eventsPerSecond),
        },
        { name: 'Redis CPU per event during the drain (INFO cpu)', value: service.redisCpuUsPerEvent ?? NaN, unit: 'µs' },
      ],
      details: { runs, profile: ctx.profileDir ? summarizeLatestProfile(ctx.profileDir) : undefined },
    };
  } finally {
    await stack.stop();
  }
}

function summarizeLatestProfile(dir: string) {
  try {
    return summarizeProfile(dir, 'drain-service', 25);
  } catch (error) {
    return { error: (error as Error).message };
  }
}
