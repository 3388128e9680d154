/**
 * The bounded soak's engine: the built service under steady load with faults injected on a
 * schedule, checked against the reference model. Run by tools/soak.ts (npm run soak) and, short,
 * by test/faults/soak.test.ts.
 *
 * It starts its own redis-server and the embedded Kafka broker (or uses KAFKA_BROKERS), builds the
 * service if dist/ is stale, and runs `node dist/main.js`. Every few seconds it prints events
 * produced and processed, dead letters and the last divergence from the model. Faults, in turn:
 * the service SIGKILLed and restarted; a chat server RESET; Redis killed and restarted empty, which
 * the service rebuilds by itself by replaying the topics through a fresh consumer group. Records
 * are unkeyed, as the peers send them, so one user's records are applied in any order (the rules
 * make that harmless). After each fault, production pauses until the service has caught up, and
 * the state must equal the model's (divergence 0). Garbage records go along with the traffic and
 * must all reach the dead-letter topics.
 */
import { Admin } from 'kafkajs';
import { normalized, readObservableState } from './observed-state';
import { ObservableState } from './presence-model';
import { eventually } from './eventually';
import { publish, StoryWorkload } from './story-workload';
import { readTopic } from './kafka';
import { ServiceProcess } from './service-process';
import { startStack } from './stack';
import { metricsText, sumSamples } from './metrics';

export interface SoakOptions {
  seconds: number;
  rate: number;
  seed: number;
  /** Seconds between faults. */
  faultEvery: number;
  /** Longest wait for the service to catch up at a checkpoint (default 90 s); past it, what differs counts as divergence. */
  catchUpTimeoutMs?: number;
  log: (line: string) => void;
}

export interface SoakResult {
  produced: number;
  processed: number;
  deadLettersSent: number;
  /** Records in the dead-letter topics: every bad one, some twice (dead-lettered again by a rebuild's replay). */
  deadLettersFound: number;
  /** Bad records sent that are not in the dead-letter topics (must be 0). */
  deadLettersMissing: number;
  faults: string[];
  checkpoints: number;
  divergence: number;
  slowestCatchUpMs: number;
}

/** Bad records, each made unique by n so that every one can be found in the dead-letter topics. */
const GARBAGE = [
  (n: number) => `not json ${n}`,
  (n: number) => `{"type":"JOIN","userId":"abc","guildId":1,"channelId":${n}}`,
  (n: number) => `[1,2,${n}]`,
  (n: number) => `{"type":"CONNECT","sessionId":"x${n}"}`,
  (n: number) => `{"type":"EXPLODE","n":${n}}`,
];

/** The entries of the observable state that differ (users, channels, guild online sets), described. */
export function divergence(actual: ObservableState, expected: ObservableState): string[] {
  const differences: string[] = [];
  for (const section of ['userStates', 'guildChannels', 'guildOnline'] as const) {
    const a = actual[section] as Record<string, unknown>;
    const e = expected[section] as Record<string, unknown>;
    for (const key of new Set([...Object.keys(a), ...Object.keys(e)])) {
      if (JSON.stringify(a[key]) !== JSON.stringify(e[key]))
        differences.push(`${section}[${key}]: ${JSON.stringify(a[key])}, model ${JSON.stringify(e[key])}`);
    }
  }
  return differences;
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const { log } = options;
  // Redis of its own (killable: a fault kills it), the built service as a child process (killed too).
  const stack = await startStack('soak', {
    service: 'process',
    partitions: 4,
    redis: { killable: true },
    env: { KAFKA_FROM_BEGINNING: 'true' },
  });
  const { kafka, redis, topics, peers, service } = stack;
  const admin = kafka.kafka.admin();
  await admin.connect();

  const workload = new StoryWorkload({ users: 2000, seed: options.seed });
  const result: SoakResult = {
    produced: 0,
    processed: 0,
    deadLettersSent: 0,
    deadLettersFound: 0,
    deadLettersMissing: 0,
    faults: [],
    checkpoints: 0,
    divergence: 0,
    slowestCatchUpMs: 0,
  };
  let processedBefore = 0; // by instances already gone
  let lastDivergence = 0;
  const garbageSent: string[] = [];
  const processedNow = async () => processedBefore + (await processedBy(service));

  const produceFor = async (ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const target = workload.produced + Math.ceil(options.rate / 4);
      const events = [];
      while (workload.produced < target) events.push(...workload.round(50));
      await publish(peers, topics, events);
      if (Math.random() < 0.5) {
        const value = GARBAGE[garbageSent.length % GARBAGE.length](garbageSent.length);
        await peers.sendRaw(garbageSent.length % 2 ? topics.sessionEvents : topics.channelEvents, 'garbage', value);
        garbageSent.push(value);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  /** Stops producing until Redis holds the model's state, or catchUpTimeoutMs passes (then counts the divergence). */
  const checkpoint = async (after: string) => {
    const started = Date.now();
    const expected = workload.expected();
    let differences: string[] = [];
    while (Date.now() - started < (options.catchUpTimeoutMs ?? 90000)) {
      differences = divergence(
        normalized(await readObservableState(redis.client).catch(() => ({ userStates: {}, guildChannels: {}, guildOnline: {} }))),
        expected,
      );
      if (differences.length === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const diff = differences.length;
    const took = Date.now() - started;
    result.checkpoints++;
    result.slowestCatchUpMs = Math.max(result.slowestCatchUpMs, took);
    lastDivergence = diff;
    result.divergence += diff;
    log(`  checkpoint after ${after}: caught up in ${took} ms, divergence ${diff}`);
    for (const line of differences.slice(0, 10)) log(`    ${line}`);
  };

  const faults: [string, () => Promise<void>][] = [
    [
      'service SIGKILL',
      async () => {
        processedBefore += await processedBy(service);
        await service.kill('SIGKILL');
        await produceFor(1000);
        await service.restart();
      },
    ],
    [
      'chat-server RESET',
      async () => {
        await publish(peers, topics, workload.reset());
      },
    ],
    [
      'Redis kill + empty restart + self-healing rebuild',
      async () => {
        await redis.kill();
        await produceFor(2000);
        await redis.restart();
        // The service finds the state lost and rebuilds it by itself through a fresh consumer group
        // from the earliest offsets (STATE_REBUILD=auto, docs/reliability.md); the checkpoint waits for it.
        await eventually(
          async () => {
            const res = await fetch(`${service.url}/health/ready`);
            if (!/rebuilding/.test(await res.text())) throw new Error('the rebuild has not started yet');
          },
          15000,
          100,
        ).catch(() => undefined); // a rebuild of a short history may be over before it is seen
      },
    ],
  ];

  const started = Date.now();
  const deadline = started + options.seconds * 1000;
  let nextFault = started + options.faultEvery * 1000;
  let nextReport = started + 5000;
  let turn = 0;
  try {
    log(`soak: ${options.seconds} s at ~${options.rate} events/s, a fault every ${options.faultEvery} s (seed ${options.seed})`);
    // Runs past the deadline if needed until every kind of fault has happened once: on a slow
    // machine the first faults (a SIGKILL waits out the dead member's session) can take most of the time.
    // (At most a minute more: a fault kind that never got its turn is then missing from the result.)
    const moreFaults = () => turn < faults.length && Date.now() < deadline + 60_000;
    while (Date.now() < deadline || moreFaults()) {
      await produceFor(250);
      if (Date.now() >= nextReport) {
        nextReport += 5000;
        const elapsed = Math.round((Date.now() - started) / 1000);
        log(
          `[${elapsed}s] produced ${workload.produced}, processed ${await processedNow().catch(() => NaN)} (incl. replays), dead letters ${await countDeadLetters(admin, topics.sessionEvents, topics.channelEvents)} (bad records sent ${garbageSent.length}), last divergence ${lastDivergence}`,
        );
      }
      if (Date.now() >= nextFault && (Date.now() + Math.min(10, options.faultEvery) * 1000 < deadline || moreFaults())) {
        const [name, inject] = faults[turn++ % faults.length];
        log(`fault: ${name}`);
        await inject();
        result.faults.push(name);
        await checkpoint(name);
        nextFault = Date.now() + options.faultEvery * 1000;
      }
    }
    await checkpoint('the end of the load');
    result.produced = workload.produced;
    result.processed = await processedNow();
    // Dead letters are published before the offsets of their batch commit: caught up means all in.
    result.deadLettersSent = garbageSent.length;
    result.deadLettersFound = await countDeadLetters(admin, topics.sessionEvents, topics.channelEvents);
    const lettered = new Set<string>();
    for (const topic of [topics.sessionEvents, topics.channelEvents]) {
      const total = await countDeadLetters(admin, topic);
      for (const record of await readTopic(kafka.kafka, `${topic}.DLT`, total, 20000)) lettered.add(record.value ?? '');
    }
    result.deadLettersMissing = garbageSent.filter((v) => !lettered.has(v)).length;
    log(
      `soak done: produced ${result.produced} events, processed ${result.processed} (incl. replays), ` +
        `bad records ${result.deadLettersSent}, in the dead-letter topics ${result.deadLettersFound} (missing ${result.deadLettersMissing}), faults ${result.faults.length} (${result.faults.join(', ')}), ` +
        `checkpoints ${result.checkpoints}, slowest catch-up ${result.slowestCatchUpMs} ms, divergence ${result.divergence}`,
    );
    return result;
  } finally {
    await admin.disconnect();
    await stack.stop();
  }
}

/** Records this instance applied or found changed nothing (applied, duplicate, stale, ignored), from its /metrics. */
async function processedBy(service: ServiceProcess): Promise<number> {
  if (!service.running) return 0;
  const text = await metricsText(service.url);
  return ['applied', 'duplicate', 'stale', 'ignored'].reduce(
    (sum, outcome) => sum + sumSamples(text, 'state_server_events_total', { outcome }),
    0,
  );
}

/** Records in the dead-letter topics of the given topics. */
async function countDeadLetters(admin: Admin, ...topics: string[]): Promise<number> {
  const existing = await admin.listTopics();
  let count = 0;
  for (const topic of topics.map((t) => `${t}.DLT`)) {
    if (!existing.includes(topic)) continue;
    for (const p of await admin.fetchTopicOffsets(topic)) count += Number(p.high) - Number(p.low);
  }
  return count;
}
