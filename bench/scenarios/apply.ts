import Redis, { Cluster } from 'ioredis';
import { MAX_CHUNK as CHUNK } from '../../src/ingest/batch-applier';
import { decodeEvent } from '../../src/ingest/event-decoding';
import { ConsumedEvent } from '../../src/common/consumed-event';
import { SessionEvent } from '../../src/sessions/session-event';
import { ApplyOutcome } from '../../src/state-store/state-store';
import { ChannelEvent } from '../../src/voice/channel-event';
import { RawStream, StateHarness } from '../../testkit/state-harness';
import { startTestRedis } from '../../testkit/redis-server';
import { recordingRedis, replayBuffers } from '../lib/recording-redis';
import { BENCH_ENV, BenchContext } from '../lib/context';
import { blast, sha1 } from '../lib/raw-redis';
import { Figure, log, progress, ratio, redisCpuUs, round, ScenarioResult } from '../lib/report';
import { BenchEvent, byPartition, mixedWorkload, Workload } from '../../testkit/mixed-workload';

const PARTITIONS = 3;

const toRawStreams = (streams: BenchEvent[][]): RawStream[] =>
  streams.map((s) => ({ topic: s[0].topic, values: s.map((e) => Buffer.from(e.value)) }));

/** Where the apply path's time goes, part 1: records [from, to) of a stream decoded as the consumer does. */
function decode(harness: StateHarness, stream: RawStream, from: number, to: number): ConsumedEvent<SessionEvent | ChannelEvent>[] {
  const type: new () => SessionEvent | ChannelEvent = stream.topic === 'session' ? SessionEvent : ChannelEvent;
  const now = Date.now();
  const events: ConsumedEvent<SessionEvent | ChannelEvent>[] = [];
  for (let i = from; i < to; i++)
    events.push({ event: decodeEvent(stream.values[i], type, harness.config.MAX_EVENT_BYTES), timestampMs: now });
  return events;
}

/** Part 2: decoded events through the topic's service (rules -> Redis). */
function applyDecoded(
  harness: StateHarness,
  topic: 'session' | 'channel',
  events: ConsumedEvent<SessionEvent | ChannelEvent>[],
): Promise<ApplyOutcome[]> {
  return topic === 'session'
    ? harness.sessions.applyAll(events as ConsumedEvent<SessionEvent>[])
    : harness.voice.applyAll(events as ConsumedEvent<ChannelEvent>[]);
}

export const timed = async <T>(work: () => Promise<T>): Promise<{ seconds: number; result: T }> => {
  const started = process.hrtime.bigint();
  const result = await work();
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, result };
};

/** USER:STATE fields that differ from the workload's expected final states (every shard on a cluster). */
export async function stateMismatches(harness: StateHarness, workload: Workload): Promise<number> {
  const states = await harness.allUserStates();
  let mismatches = 0;
  for (const [user, state] of workload.expectedStates) if (states[user] !== state) mismatches++;
  return mismatches;
}

/** Empties the Redis the harness uses: every master of a cluster. */
export async function flushAll(harness: StateHarness): Promise<void> {
  const redis = harness.redis as Cluster;
  await Promise.all((redis.isCluster ? redis.nodes('master') : [harness.redis as Redis]).map((node: Redis) => node.flushall()));
}

/** Ours: the service's apply path (decode -> rules -> pipelined Lua), like the ingest layer, no Kafka. */
export async function measureOurApply(ctx: BenchContext, harness: StateHarness, label = 'apply (ours)') {
  const concurrency = harness.config.KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY;
  // Warm up the JIT on other events, then start from an empty Redis.
  await harness.applyStreams(toRawStreams(byPartition(mixedWorkload(10_000, 7, 'warm').events, PARTITIONS)), concurrency);
  await harness.redis.flushall();
  const streams = toRawStreams(byPartition(ctx.workload.events, PARTITIONS));
  const total = ctx.workload.events.length;
  let done = 0;
  const shown = progress(label, () => `${done.toLocaleString()} / ${total.toLocaleString()} events`);
  const { seconds, result: rejected } = await timed(() => harness.applyStreams(streams, concurrency, (n) => (done += n))).finally(
    shown.stop,
  );
  const mismatches = await stateMismatches(harness, ctx.workload);
  if (rejected > 0 || mismatches > 0) log(`  WARNING: ${rejected} changes rejected, ${mismatches} users' states differ from the expected`);
  return { eventsPerSecond: Math.round(total / seconds), seconds: round(seconds, 3), rejected, mismatches, concurrency };
}

/**
 * Where Redis's time per event goes (INFO commandstats since a RESETSTAT, which counts the commands
 * scripts run as well as the EVALSHA itself): the scripts' whole time, the part spent in the
 * commands they call, and the commands per event, by name.
 */
function scriptCost(info: string, events: number) {
  let scriptUs = 0;
  let commandUs = 0;
  let calls = 0;
  const byCommand: Record<string, number> = {};
  for (const [, name, n, usec] of info.matchAll(/^cmdstat_([\w|]+):calls=(\d+),usec=(\d+)/gm)) {
    if (/^(evalsha|eval|fcall|script|config|info|flushall|ping|select|client|hello)(\|.*)?$/.test(name)) {
      if (/^(evalsha|eval|fcall)$/.test(name)) scriptUs += Number(usec);
      continue;
    }
    commandUs += Number(usec);
    calls += Number(n);
    byCommand[name] = round(Number(n) / events, 2);
  }
  return {
    scriptUsPerEvent: round(scriptUs / events, 2),
    commandUsPerEvent: round(commandUs / events, 2),
    callsPerEvent: round(calls / events, 2),
    callsPerEventByCommand: Object.fromEntries(Object.entries(byCommand).sort((a, b) => b[1] - a[1])),
  };
}

export async function applyScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const redis = await startTestRedis({ own: true });
  const port = Number(new URL(redis.url).port);
  const harness = new StateHarness(redis.url, BENCH_ENV);
  try {
    await harness.ready();
    const total = ctx.workload.events.length;
    const ours = await measureOurApply(ctx, harness);
    ctx.measured.applyEventsPerSecond = ours.eventsPerSecond;
    log(`  ours: ${ours.eventsPerSecond.toLocaleString()} events/s`);

    // Where our time goes: decoding alone, and applying pre-decoded events.
    const streams = toRawStreams(byPartition(ctx.workload.events, PARTITIONS));
    const decodeOnly = await timed(async () => {
      for (const s of streams) for (let i = 0; i < s.values.length; i += CHUNK) decode(harness, s, i, Math.min(i + CHUNK, s.values.length));
    });
    const decoded = streams.map((s) => ({ topic: s.topic, chunks: [] as ReturnType<typeof decode>[] }));
    streams.forEach((s, k) => {
      for (let i = 0; i < s.values.length; i += CHUNK) decoded[k].chunks.push(decode(harness, s, i, Math.min(i + CHUNK, s.values.length)));
    });
    await harness.redis.flushall();
    const concurrency = harness.config.KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY;
    const predecoded = await timed(async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < decoded.length) {
            const s = decoded[next++];
            for (const chunk of s.chunks) await applyDecoded(harness, s.topic, chunk);
          }
        }),
      );
    });

    // Redis's limit: the same script calls, recorded from the service's own StateStore, replayed as
    // prebuilt EVALSHA commands with no client-side work.
    let recording!: ReturnType<typeof recordingRedis>;
    const recorder = new StateHarness(redis.url, BENCH_ENV, (client) => (recording = recordingRedis(client)).client);
    await recorder.ready();
    const perStream: { bytes: Buffer; commands: number }[][] = [];
    for (const s of streams) {
      const from = recording.pipelines.length;
      await recorder.applyStreams([s], 1);
      perStream.push(replayBuffers(recording, from));
    }
    recorder.close();
    for (const lua of recording.scripts.values()) {
      const loaded = (await harness.redis.script('LOAD', lua)) as string;
      if (loaded !== sha1(lua)) throw new Error('script sha mismatch');
    }
    const commands = perStream.reduce((n, s) => n + s.reduce((m, b) => m + b.commands, 0), 0);
    const limitRuns: Record<string, number> = {};
    let redisCpuPerEventUs = 0;
    let luaCost: ReturnType<typeof scriptCost> | undefined;
    for (const connections of [1, 4]) {
      await harness.redis.flushall();
      if (connections === 1) await harness.redis.config('RESETSTAT');
      const lanes = Array.from({ length: connections }, (_, c) => perStream.filter((_s, k) => k % connections === c).flat());
      const cpuBefore = await redisCpuUs(harness.redis);
      const run = await timed(() => Promise.all(lanes.map((lane) => blast(port, lane))));
      if (connections === 1) {
        redisCpuPerEventUs = round(((await redisCpuUs(harness.redis)) - cpuBefore) / total, 2);
        luaCost = scriptCost(await harness.redis.info('commandstats'), total);
        log(
          `  Redis per event: ${luaCost.scriptUsPerEvent} µs in scripts, of which ${luaCost.commandUsPerEvent} µs in ${luaCost.callsPerEvent} redis.calls`,
        );
      }
      const errors = run.result.reduce((n, r) => n + r.errors, 0);
      if (errors > 0) log(`  WARNING: ${errors} error replies in the raw replay`);
      limitRuns[`${connections} connection(s)`] = Math.round(total / run.seconds);
      log(`  raw EVALSHA replay, ${connections} connection(s): ${limitRuns[`${connections} connection(s)`].toLocaleString()} events/s`);
    }
    const limit = Math.max(...Object.values(limitRuns));

    const figures: Figure[] = [
      {
        name: 'apply events/s',
        value: ours.eventsPerSecond,
        unit: 'events/s',
        baselineName: 'Redis limit (raw pipelined EVALSHA replay)',
        baseline: limit,
        ratio: ratio(ours.eventsPerSecond, limit),
      },
      { name: 'decode+validate only', value: Math.round(total / decodeOnly.seconds), unit: 'events/s' },
      { name: 'apply of pre-decoded events', value: Math.round(total / predecoded.seconds), unit: 'events/s' },
      { name: 'Redis CPU per event (INFO cpu over the raw replay)', value: redisCpuPerEventUs, unit: 'µs' },
      ...(luaCost
        ? [
            { name: 'script time per event (commandstats, raw replay)', value: luaCost.scriptUsPerEvent, unit: 'µs' },
            { name: "of which the scripts' redis.calls", value: luaCost.commandUsPerEvent, unit: 'µs' },
            { name: 'redis.calls per event', value: luaCost.callsPerEvent, unit: '' },
          ]
        : []),
    ];
    return {
      scenario: 'apply',
      description:
        "The workload applied straight to Redis through the service's own apply path (decodeEvent -> SessionsService/VoiceService.applyAll -> StateStore, " +
        `chunks of ${CHUNK}, ${concurrency} partitions at a time, no Kafka), against Redis's own limit: the very same script calls (recorded from the StateStore) ` +
        'replayed as prebuilt pipelined EVALSHA commands over raw sockets (best of 1 and 4 connections).',
      params: { events: total, chunk: CHUNK, partitionsPerTopic: PARTITIONS, concurrency, scriptCalls: commands },
      figures,
      details: {
        ours,
        limitRuns,
        luaCost,
        decodeOnlySeconds: round(decodeOnly.seconds, 3),
        predecodedSeconds: round(predecoded.seconds, 3),
      },
    };
  } finally {
    harness.close();
    await redis.stop();
  }
}
