import { Logger } from '@nestjs/common';
import fc from 'fast-check';
import { ApplyOutcome } from '../../src/state-store/state-store.repository';
import { invariantViolations, readObservableState } from '../model/observed-state';
import { PresenceEvent, PresenceModel } from '../model/presence-model';
import { startTestRedis, TestRedis } from '../support/redis-server';
import { StateHarness } from '../support/state-harness';
import { CONNECT_STATES, DeliveredLog, deliveredLogs, GUILDS, topicOf, USERS } from './event-log';

/**
 * The service's apply path (decode -> services -> Lua, via StateHarness) on a real Redis, driven
 * by long random delivered logs (see event-log.ts), against the reference model. Redis is flushed
 * between runs. A failing case shrinks to a short log printed one delivered event per line.
 */

let redis: TestRedis;
let leased: StateHarness;
let multiChannel: StateHarness;

beforeAll(async () => {
  Logger.overrideLogger(['error']); // RESET logs how many sessions it ended: noise here
  redis = await startTestRedis();
  leased = new StateHarness(redis.url, { SESSION_TTL_SECONDS: '3600' });
  multiChannel = new StateHarness(redis.url, { VOICE_ONE_CHANNEL_PER_USER: 'false' });
  await Promise.all([leased.ready(), multiChannel.ready()]);
});
afterAll(async () => {
  leased?.close();
  multiChannel?.close();
  await redis?.stop();
});

/** The event as its peer writes it: JSON with ids as bare numbers. */
function wire(event: PresenceEvent): Record<string, unknown> {
  const numeric = (id: string) => Number(id);
  const json: Record<string, unknown> = { ...event };
  for (const field of ['userId', 'guildId', 'channelId'] as const) if (typeof json[field] === 'string') json[field] = numeric(json[field] as string);
  if (Array.isArray(json.guildIds)) json.guildIds = (json.guildIds as string[]).map(numeric);
  for (const [k, v] of Object.entries(json)) if (v === undefined) delete json[k];
  return json;
}

/** Applies a delivered log through the service, one batch per run of same-topic events; returns each event's outcome. */
async function applyThroughService(harness: StateHarness, log: DeliveredLog): Promise<('applied' | 'unchanged')[]> {
  const outcomes: ('applied' | 'unchanged')[] = [];
  const events = log.events;
  for (let i = 0; i < events.length; ) {
    const topic = topicOf(events[i]);
    let end = i + 1;
    while (end < events.length && topicOf(events[end]) === topic && topic !== 'clock') end++;
    const batch = events.slice(i, end);
    let result: ApplyOutcome[];
    if (topic === 'sessionEvent') result = await harness.session(...batch.map(wire));
    else if (topic === 'channelEvent') result = await harness.channel(...batch.map(wire));
    else result = [await expireLease(harness, (batch[0] as { sessionId: string }).sessionId)];
    for (const outcome of result) {
      if (typeof outcome === 'object') throw new Error(`Redis rejected an event: ${outcome.rejected}`);
      outcomes.push(outcome);
    }
    i = end;
  }
  return outcomes;
}

/** The clock runs past one session's lease: its expiry is moved to the past, then the sweeper runs. */
async function expireLease(harness: StateHarness, sessionId: string): Promise<ApplyOutcome> {
  await harness.redis.zadd('SESSION_LEASES', 'XX', 0, sessionId);
  return (await harness.sessions.expireLeases()) > 0 ? 'applied' : 'unchanged';
}

async function answers(harness: StateHarness) {
  const named = [...USERS, '9'];
  const result: Record<string, unknown> = { direct: await harness.queries.directUserInfo(named) };
  for (const guildId of GUILDS) {
    result[`named ${guildId}`] = await harness.queries.guildStates(guildId, named);
    result[`snapshot ${guildId}`] = await harness.queries.guildStates(guildId, undefined);
    result[`community ${guildId}`] = await harness.queries.communityUserInfo(guildId, named);
  }
  return result;
}

function modelAnswers(model: PresenceModel) {
  const named = [...USERS, '9'];
  const result: Record<string, unknown> = { direct: model.directUserInfo(named) };
  for (const guildId of GUILDS) {
    result[`named ${guildId}`] = model.guildStates(guildId, named);
    result[`snapshot ${guildId}`] = model.guildStates(guildId);
    result[`community ${guildId}`] = model.communityUserInfo(guildId, named);
  }
  return result;
}

const configurations = [
  { name: 'one channel per user, session leases', harness: () => leased, model: { oneChannel: true, leases: true } },
  { name: 'several channels per user, no leases', harness: () => multiChannel, model: { oneChannel: false, leases: false } },
];

describe.each(configurations)('the service matches the model ($name)', ({ harness, model: options }) => {
  it('gives the same outcomes, Redis state and query answers for any delivery Kafka allows', async () => {
    await fc.assert(
      fc.asyncProperty(deliveredLogs({ maxEvents: 80, leases: options.leases }), async (log) => {
        await redis.flush();
        const model = new PresenceModel(options);
        const expectedOutcomes = log.events.map((e) => model.apply(e));
        expect(await applyThroughService(harness(), log)).toEqual(expectedOutcomes);
        expect(await readObservableState(harness().redis)).toEqual(model.observable());
        expect(await answers(harness())).toEqual(modelAnswers(model));
      }),
      { numRuns: 300 },
    );
  });
});

describe('invariants that hold whatever is delivered', () => {
  it('online iff a live session; no empty or doubled channel; seats and channels agree; one channel each', async () => {
    await fc.assert(
      fc.asyncProperty(deliveredLogs({ maxEvents: 80, leases: true }), async (log) => {
        await redis.flush();
        await applyThroughService(leased, log);
        expect(await invariantViolations(leased.redis, { connectStates: CONNECT_STATES, oneChannel: true })).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});

/**
 * At-least-once: a consumer that crashes re-applies records after its last committed offset. Each
 * topic's redeliveries alone are harmless (tombstones; JOIN/LEAVE are idempotent). Across topics
 * they are not: see cross-topic-redelivery.test.ts.
 */
describe('redelivery', () => {
  it('changes nothing in a log of voice events alone', async () => {
    await fc.assert(
      fc.asyncProperty(deliveredLogs({ maxEvents: 50, sessions: false }), async (log) => {
        await redis.flush();
        await applyThroughService(leased, log);
        expect(await readObservableState(leased.redis)).toEqual(new PresenceModel().applyAll(log.once().events).observable());
      }),
      { numRuns: 100 },
    );
  });

  it('changes nothing in a log of CONNECT / DISCONNECT / HEARTBEAT alone', async () => {
    await fc.assert(
      fc.asyncProperty(deliveredLogs({ maxEvents: 50, channels: false, resets: false }), async (log) => {
        await redis.flush();
        await applyThroughService(leased, log);
        expect(await readObservableState(leased.redis)).toEqual(new PresenceModel({ leases: true }).applyAll(log.once().events).observable());
      }),
      { numRuns: 100 },
    );
  });
});
