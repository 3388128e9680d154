import { Logger } from '@nestjs/common';
import fc from 'fast-check';
import { decodeEvent } from '../../src/ingest/event-decoding';
import { SessionEvent } from '../../src/sessions/session-event';
import { ApplyOutcome } from '../../src/state-store/state-store.repository';
import { ChannelEvent } from '../../src/voice/channel-event';
import { invariantViolations, normalized, readObservableState } from '../model/observed-state';
import { PresenceEvent, PresenceModel } from '../model/presence-model';
import { startTestRedis, TestRedis } from '../support/redis-server';
import { StateHarness } from '../support/state-harness';
import { CONNECT_STATES, DeliveredLog, deliveredLogs, GUILDS, topicOf, USERS } from './event-log';

/** Applies a delivered log to the model, each event with its record timestamp. */
function modelOf(log: DeliveredLog, options: ConstructorParameters<typeof PresenceModel>[0]): { model: PresenceModel; outcomes: string[] } {
  const model = new PresenceModel(options);
  const outcomes = log.deliveries.map((d) => model.apply(d.event, d.atMs));
  return { model, outcomes };
}

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

const consumed = <T extends object>(type: new () => T, d: { event: PresenceEvent; atMs: number }) => ({
  event: decodeEvent(Buffer.from(JSON.stringify(wire(d.event))), type, 65536),
  timestampMs: d.atMs,
});

/**
 * Applies a delivered log through the service (decoded from JSON, with record timestamps, as the
 * consumer hands them over), one batch per run of same-topic events; returns each event's outcome.
 */
async function applyThroughService(harness: StateHarness, log: DeliveredLog): Promise<('applied' | 'unchanged')[]> {
  const outcomes: ('applied' | 'unchanged')[] = [];
  const deliveries = log.deliveries;
  for (let i = 0; i < deliveries.length; ) {
    const topic = topicOf(deliveries[i].event);
    let end = i + 1;
    while (end < deliveries.length && topicOf(deliveries[end].event) === topic && topic !== 'clock') end++;
    const batch = deliveries.slice(i, end);
    let result: ApplyOutcome[];
    if (topic === 'sessionEvent') result = await harness.sessions.applyAll(batch.map((d) => consumed(SessionEvent, d)));
    else if (topic === 'channelEvent') result = await harness.voice.applyAll(batch.map((d) => consumed(ChannelEvent, d)));
    else result = [await expireLease(harness, (batch[0].event as { sessionId: string }).sessionId)];
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
        const { model, outcomes } = modelOf(log, options);
        expect(await applyThroughService(harness(), log)).toEqual(outcomes);
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
 * At-least-once: a consumer that crashes re-applies the records after its last committed offset,
 * each partition from its own offset. Tombstones, idempotent JOIN/LEAVE and the stale-JOIN /
 * stale-CONNECT rules make that harmless - for who is where; the order of a channel's members may
 * change (a user's redelivered LEAVE + JOIN puts them last), as join order across partitions is
 * not defined anyway.
 */
describe('redelivery', () => {
  it('ends in the same state as applying each record once, whatever is redelivered (channel members as sets)', async () => {
    await fc.assert(
      fc.asyncProperty(deliveredLogs({ maxEvents: 80, leases: true }), async (log) => {
        await redis.flush();
        await applyThroughService(leased, log);
        expect(normalized(await readObservableState(leased.redis))).toEqual(normalized(modelOf(log.once(), { leases: true }).model.observable()));
      }),
      { numRuns: 300 },
    );
  });
});
