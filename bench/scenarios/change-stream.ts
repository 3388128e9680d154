import { TestStack } from '../../testkit/stack';
import { readMetric } from '../../testkit/metrics';
import { CHANNELS_PER_GUILD, channelId, eventJson, guildId, userId } from '../../testkit/mixed-workload';
import { BenchChild, startChild } from '../lib/child';
import { BenchContext, BenchKafka, serviceEnv, startBenchStack } from '../lib/context';
import { log, percentile, progress, ratio, redisCpuUs, round, ScenarioResult } from '../lib/report';
import { EventStreamClient, ServerSentEvent } from '../../testkit/event-stream-client';
import { committed, produceBacklog } from './drain';

const POLL_MS = 20;
/** (b): records per second, users and guilds followed, SSE clients (each follows a quarter). */
const LATENCY_RATE = 200;
const TICK_MS = 10;
const GUILDS = 20;
const CLIENTS = 4;
/** Users' ids far from the mixed workload's and from the freshness probes'. */
const LATENCY_USER_BASE = 80_000_000;
const LATENCY_GUILD_BASE = 3_000_000;

interface RelayRun {
  relay: boolean;
  round: number;
  /** From the service's consumer joining to the committed offsets reaching the end. */
  seconds: number;
  eventsPerSecond: number;
  /** Relay on: from joining until the outboxes were empty (every record on Kafka). */
  relayedSeconds?: number;
  relayedRecords?: number;
  outboxOverflows?: number;
  /** Redis's CPU (INFO cpu) from the join until applied (off) or relayed (on), per event. */
  redisCpuUsPerEvent: number;
  /** The service process's CPU over the same span, per event. */
  serviceCpuUsPerEvent: number;
}

/** Change records still in the outboxes of the stack's Redis. */
async function outboxRecords(stack: TestStack<'none'>): Promise<number> {
  let total = 0;
  for (const bucket of stack.redis.keys.buckets) total += await stack.redis.client.xlen(stack.redis.keys.changeOutbox(bucket));
  return total;
}

async function topicRecords(admin: ReturnType<BenchKafka['kafka']['admin']>, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
}

/** (a) The backlog drained from a fresh group into an empty Redis, with the change stream on or off. */
async function drainOnce(relay: boolean, round_: number, stack: TestStack<'none'>, ctx: BenchContext): Promise<RelayRun> {
  const total = ctx.workload.events.length;
  const redis = stack.redis.client;
  const tag = `${relay ? 'on' : 'off'}-${round_}-${Date.now().toString(36)}`;
  const groupId = `bench-cs-${tag}`;
  const changeTopic = relay ? `bench-changes-${tag}` : '';
  await stack.redis.flush();
  const env = { ...(await serviceEnv(stack, groupId)), CHANGE_TOPIC: changeTopic };
  const admin = stack.kafka.kafka.admin();
  await admin.connect();
  const child = startChild('consumer', { mode: 'service', env }, { label: `cs-drain-${tag}`, cpuProfileDir: ctx.profileDir });
  let done = 0;
  let outboxLeft: number | undefined;
  const shown = progress(`relay ${relay ? 'on ' : 'off'} #${round_}`, () =>
    outboxLeft === undefined
      ? `${done.toLocaleString()} / ${total.toLocaleString()} committed`
      : `all applied, ${outboxLeft.toLocaleString()} change records not yet on Kafka`,
  );
  try {
    const { url } = await child.next<{ url: string }>('listening', 60000);
    const { at: joinedAt } = await child.next<{ at: number }>('joined', 60000);
    const [cpuAtJoin, serviceCpuAtJoin] = [await redisCpuUs(redis), child.cpuMs()];
    for (;;) {
      done = await committed(admin, groupId, [stack.topics.sessionEvents, stack.topics.channelEvents]);
      if (done >= total) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const applied = Date.now();
    const run: Partial<RelayRun> = { relay, round: round_, seconds: round((applied - joinedAt) / 1000, 3) };
    run.eventsPerSecond = Math.round(total / run.seconds!);
    if (relay) {
      while ((outboxLeft = await outboxRecords(stack)) > 0) await new Promise((r) => setTimeout(r, POLL_MS));
      run.relayedSeconds = round((Date.now() - joinedAt) / 1000, 3);
    }
    run.redisCpuUsPerEvent = round(((await redisCpuUs(redis)) - cpuAtJoin) / total, 2);
    run.serviceCpuUsPerEvent = round(((child.cpuMs() - serviceCpuAtJoin) * 1000) / total, 1);
    if (relay) {
      run.relayedRecords = await topicRecords(admin, changeTopic);
      run.outboxOverflows = await readMetric(url, 'state_server_change_outbox_overflows_total');
    }
    return run as RelayRun;
  } finally {
    shown.stop();
    await admin.disconnect();
    await child.stop();
  }
}

interface Step {
  type: 'CONNECT' | 'JOIN' | 'LEAVE' | 'DISCONNECT';
  /** The SSE event it should cause: presence state or voice change. */
  sseKey: string;
}

/** User n's k-th step of the cycle CONNECT, JOIN, LEAVE, DISCONNECT (each a change of the view, so each one event). */
function stepOf(n: number, users: number): { user: number; cycle: number; step: number } {
  const k = Math.floor(n / users);
  return { user: n % users, cycle: Math.floor(k / 4), step: k % 4 };
}

interface Pending {
  producedAt: number;
  measured: boolean;
}

/**
 * (b) A steady LATENCY_RATE records/s, each a change of a user or guild that CLIENTS SSE clients
 * follow: from just before the produce call to the SSE event's arrival; in the same run, to the
 * change record on the topic (read by a consumer here) and to the first answer of the guild route
 * (polled back to back) that shows the change.
 */
async function latencyRun(kafka: BenchKafka, ctx: BenchContext) {
  const stack = await startBenchStack(kafka, 'cs-sse');
  const users = ctx.quick ? 100 : 200;
  const seconds = ctx.quick ? 6 : 20;
  const warmupMs = ctx.quick ? 1500 : 3000;
  const changeTopic = `bench-changes-sse-${Date.now().toString(36)}`;
  const env = { ...(await serviceEnv(stack, 'bench-cs-sse')), CHANGE_TOPIC: changeTopic, VOICE_GRACE_SECONDS: '0' };
  const service: BenchChild = startChild('consumer', { mode: 'service', env }, { label: 'cs-sse', cpuProfileDir: ctx.profileDir });
  const producer = kafka.kafka.producer({ allowAutoTopicCreation: false });
  const listeners: EventStreamClient[] = [];
  const pendingSse = new Map<string, Pending>();
  /** The same keys, for the change topic read directly: where the relay's part ends and the SSE path's begins. */
  const pendingTopic = new Map<string, Pending>();
  const topicLatencies: number[] = [];
  const topicReader = kafka.kafka.consumer({ groupId: `bench-cs-reader-${Date.now().toString(36)}`, maxWaitTimeInMs: 10 });
  const pendingPoll = new Map<number, Pending & { step: number }>();
  const sseLatencies: number[] = [];
  const pollLatencies: number[] = [];
  let unexpected = 0;
  let stopping = false;
  try {
    await producer.connect();
    const { url } = await service.next<{ url: string }>('listening');
    await service.next('joined');
    const uid = (u: number) => userId(LATENCY_USER_BASE + u);
    const gOf = (u: number) => LATENCY_GUILD_BASE + (u % GUILDS);
    const chOf = (u: number) => channelId(gOf(u), u % CHANNELS_PER_GUILD);
    const keyOf = (data: string) => {
      const r = JSON.parse(data) as { userId: string; state?: string; change?: string };
      return `${r.userId}|${r.state ?? r.change}`;
    };
    const onEvent = ({ event, data }: ServerSentEvent, at: number) => {
      if (event !== 'presence' && event !== 'voice') return;
      const key = keyOf(data);
      const p = pendingSse.get(key);
      if (!p) return void unexpected++;
      pendingSse.delete(key);
      if (p.measured) sseLatencies.push(at - p.producedAt);
    };
    // Client k follows the users u with u % CLIENTS === k and their guilds (GUILDS is a multiple of CLIENTS).
    const until = Date.now() + 30_000;
    for (let k = 0; k < CLIENTS; k++) {
      const ids = Array.from({ length: users }, (_, u) => u).filter((u) => u % CLIENTS === k);
      const guilds = [...new Set(ids.map((u) => guildId(gOf(u))))];
      const query = `userIds=${ids.map(uid).join(',')}&guildIds=${guilds.join(',')}`;
      for (;;) {
        const listener = await EventStreamClient.open(`${url}/events?${query}`, { onEvent });
        if (listener.status === 200) {
          listeners.push(listener);
          break;
        }
        if (Date.now() > until) throw new Error(`GET /events answered ${listener.status} for 30 s`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const joined = new Promise((resolve) => topicReader.on(topicReader.events.GROUP_JOIN, resolve));
    await topicReader.connect();
    await topicReader.subscribe({ topic: changeTopic, fromBeginning: true });
    await topicReader.run({
      eachMessage: ({ message }) => {
        const at = Date.now();
        const key = keyOf(message.value?.toString() ?? '{}');
        const p = pendingTopic.get(key);
        if (p) {
          pendingTopic.delete(key);
          if (p.measured) topicLatencies.push(at - p.producedAt);
        }
        return Promise.resolve();
      },
    });
    await joined;
    const poller = (async () => {
      while (!stopping || pendingPoll.size > 0) {
        if (pendingPoll.size === 0) {
          await new Promise((r) => setTimeout(r, 1));
          continue;
        }
        const byGuild = new Map<number, number[]>();
        for (const u of pendingPoll.keys()) byGuild.set(gOf(u), [...(byGuild.get(gOf(u)) ?? []), u]);
        await Promise.all(
          [...byGuild].map(async ([g, us]) => {
            const res = await fetch(`${url}/guilds/${guildId(g)}/states?userIds=${us.map(uid).join(',')}`);
            const body = (await res.json()) as { connectionStates: Record<string, string>; channelStates: Record<string, string[]> };
            const now = Date.now();
            for (const u of us) {
              const p = pendingPoll.get(u);
              if (!p) continue;
              const seated = body.channelStates?.[chOf(u)]?.includes(uid(u)) ?? false;
              const state = body.connectionStates?.[uid(u)];
              const shown = [state === 'online', seated, !seated, state === 'offline'][p.step];
              if (!shown) continue;
              if (p.measured) pollLatencies.push(now - p.producedAt);
              pendingPoll.delete(u);
            }
          }),
        );
        if (stopping && Date.now() - Math.min(...[...pendingPoll.values()].map((p) => p.producedAt)) > 10_000) break;
      }
    })();
    const perTick = Math.round((LATENCY_RATE * TICK_MS) / 1000);
    const warmupTicks = Math.round(warmupMs / TICK_MS);
    const ticks = warmupTicks + Math.round((seconds * 1000) / TICK_MS);
    let produced = 0;
    let sendErrors = 0;
    let behindMs = 0;
    const shown = progress(
      `record -> SSE @ ${LATENCY_RATE} records/s`,
      () => `${produced} produced, ${sseLatencies.length} SSE / ${pollLatencies.length} poll seen, ${pendingSse.size} pending`,
    );
    const started = Date.now();
    const sends: Promise<unknown>[] = [];
    for (let t = 0; t < ticks; t++) {
      const wait = started + t * TICK_MS - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      else behindMs = Math.max(behindMs, -wait);
      const session: { key: string; value: string }[] = [];
      const channel: { key: string; value: string }[] = [];
      const now = Date.now();
      const measured = t >= warmupTicks;
      for (let i = 0; i < perTick; i++) {
        const { user, cycle, step } = stepOf(produced++, users);
        const u = uid(user);
        const sessionId = `cs-${user}-${cycle}`;
        const steps: Step[] = [
          { type: 'CONNECT', sseKey: 'online' },
          { type: 'JOIN', sseKey: 'JOIN' },
          { type: 'LEAVE', sseKey: 'LEAVE' },
          { type: 'DISCONNECT', sseKey: 'offline' },
        ];
        const { type, sseKey } = steps[step];
        if (type === 'CONNECT')
          session.push({ key: u, value: eventJson({ type, sessionId, userId: u, state: 'online', guildIds: [guildId(gOf(user))] }) });
        else if (type === 'DISCONNECT') session.push({ key: u, value: eventJson({ type, sessionId, userId: u }) });
        else channel.push({ key: u, value: eventJson({ type, userId: u, guildId: guildId(gOf(user)), channelId: chOf(user) }) });
        pendingSse.set(`${u}|${sseKey}`, { producedAt: now, measured });
        pendingTopic.set(`${u}|${sseKey}`, { producedAt: now, measured });
        pendingPoll.set(user, { producedAt: now, measured, step });
      }
      const topicMessages = [
        { topic: stack.topics.sessionEvents, messages: session },
        { topic: stack.topics.channelEvents, messages: channel },
      ].filter((tm) => tm.messages.length > 0);
      sends.push(producer.sendBatch({ acks: -1, topicMessages }).catch(() => sendErrors++));
    }
    const elapsed = (Date.now() - started) / 1000;
    await Promise.all(sends);
    const drainUntil = Date.now() + 10_000;
    while (pendingSse.size > 0 && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
    stopping = true;
    await poller;
    shown.stop();
    sseLatencies.sort((a, b) => a - b);
    topicLatencies.sort((a, b) => a - b);
    pollLatencies.sort((a, b) => a - b);
    const stats = (xs: number[]) => ({ p50: percentile(xs, 50), p99: percentile(xs, 99), max: xs[xs.length - 1], count: xs.length });
    return {
      users,
      seconds,
      warmupMs,
      sse: stats(sseLatencies),
      poll: stats(pollLatencies),
      changeTopic: stats(topicLatencies),
      sseMissing: pendingSse.size,
      pollMissing: pendingPoll.size,
      unexpectedSseEvents: unexpected,
      producedRecordsPerSecond: round(produced / elapsed),
      producerBehindMaxMs: behindMs,
      sendErrors,
    };
  } finally {
    for (const l of listeners) l.close();
    await topicReader.disconnect();
    await producer.disconnect();
    await service.stop();
    await stack.stop();
  }
}

export async function changeStreamScenario(ctx: BenchContext, kafka: BenchKafka): Promise<ScenarioResult> {
  const stack = await startBenchStack(kafka, 'cs');
  const runs: RelayRun[] = [];
  const rounds = ctx.quick ? 1 : 2;
  try {
    await produceBacklog(kafka, ctx, stack.topics);
    // Alternated (off, on, on, off): a machine getting busier or quieter weighs on both alike.
    for (let r = 1; r <= rounds; r++) {
      for (const relay of r % 2 === 1 ? [false, true] : [true, false]) {
        const run = await drainOnce(relay, r, stack, ctx);
        runs.push(run);
        log(
          `  relay ${relay ? 'on ' : 'off'} #${r}: ${run.eventsPerSecond.toLocaleString()} events/s applied (${run.seconds} s)` +
            (relay ? `, all ${run.relayedRecords?.toLocaleString()} records on Kafka after ${run.relayedSeconds} s` : '') +
            `; Redis ${run.redisCpuUsPerEvent} µs/event, service ${run.serviceCpuUsPerEvent} µs/event`,
        );
      }
    }
  } finally {
    await stack.stop();
  }
  const best = (relay: boolean) => runs.filter((r) => r.relay === relay).sort((a, b) => b.eventsPerSecond - a.eventsPerSecond)[0];
  const on = best(true);
  const off = best(false);
  const relayedPerSecond = Math.round(ctx.workload.events.length / on.relayedSeconds!);
  const latency = await latencyRun(kafka, ctx);
  log(
    `  record -> SSE: p50 ${latency.sse.p50} ms, p99 ${latency.sse.p99} ms, max ${latency.sse.max} ms over ${latency.sse.count}; ` +
      `record -> change topic: p50 ${latency.changeTopic.p50} ms, p99 ${latency.changeTopic.p99} ms; ` +
      `record -> query: p50 ${latency.poll.p50} ms, p99 ${latency.poll.p99} ms (${latency.sseMissing} SSE events missing)`,
  );
  ctx.measured.changeRelayOnEventsPerSecond = on.eventsPerSecond;
  ctx.measured.changeRelayOffEventsPerSecond = off.eventsPerSecond;
  ctx.measured.sseLatencyP99 = latency.sse.p99;
  ctx.measured.sseQueryLatencyP99 = latency.poll.p99;
  const off_ = 'relay off (CHANGE_TOPIC=)';
  const query = 'produce -> query shows it';
  return {
    scenario: 'change-stream',
    description:
      '(a) The mixed backlog drained by the service (child process) from a fresh group into an empty Redis, the change stream on (CHANGE_TOPIC, outbox written by the scripts and relayed) ' +
      'vs off (CHANGE_TOPIC=), alternated, best of the rounds: applied = committed offsets at the end; relayed = every outbox empty. Redis CPU (INFO cpu) and the service process CPU per event, ' +
      'from the join until applied (off) or relayed (on). ' +
      `(b) ${LATENCY_RATE} records/s (CONNECT, JOIN, LEAVE, DISCONNECT per user in turn, each a change) produced steadily, ${CLIENTS} SSE clients on GET /events following the users and their guilds: ` +
      "from just before the produce call to the SSE event parsed, and to the change record read from the topic by a consumer in the bench (the relay's part); " +
      'baseline in the same run, to the first answer of GET /guilds/:id/states (polled back to back) showing the change.',
    params: {
      events: ctx.workload.events.length,
      rounds,
      latencyRate: LATENCY_RATE,
      latencyUsers: latency.users,
      latencySeconds: latency.seconds,
    },
    figures: [
      {
        name: 'apply events/s, change stream on',
        value: on.eventsPerSecond,
        unit: 'events/s',
        baselineName: off_,
        baseline: off.eventsPerSecond,
        ratio: ratio(on.eventsPerSecond, off.eventsPerSecond),
      },
      {
        name: 'applied and relayed events/s, change stream on',
        value: relayedPerSecond,
        unit: 'events/s',
        baselineName: off_,
        baseline: off.eventsPerSecond,
        ratio: ratio(relayedPerSecond, off.eventsPerSecond),
      },
      {
        name: 'Redis CPU per event, change stream on',
        value: on.redisCpuUsPerEvent,
        unit: 'µs',
        baselineName: off_,
        baseline: off.redisCpuUsPerEvent,
        ratio: ratio(on.redisCpuUsPerEvent, off.redisCpuUsPerEvent),
      },
      {
        name: 'service CPU per event, change stream on',
        value: on.serviceCpuUsPerEvent,
        unit: 'µs',
        baselineName: off_,
        baseline: off.serviceCpuUsPerEvent,
        ratio: ratio(on.serviceCpuUsPerEvent, off.serviceCpuUsPerEvent),
      },
      { name: 'change records relayed for the backlog', value: on.relayedRecords ?? NaN, unit: 'records' },
      ...(['p50', 'p99'] as const).flatMap((p) =>
        (['sse', 'changeTopic'] as const).map((path) => ({
          name: `record -> ${path === 'sse' ? 'SSE event' : 'on the change topic'} ${p} @ ${LATENCY_RATE}/s`,
          value: latency[path][p],
          unit: 'ms',
          baselineName: query,
          baseline: latency.poll[p],
          ratio: ratio(latency[path][p], latency.poll[p]),
        })),
      ),
    ],
    details: { runs, latency },
  };
}
