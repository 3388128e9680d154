import { Logger } from '@nestjs/common';
import fc from 'fast-check';
import { applyThroughService } from '../../testkit/apply-through-service';
import { GUILDS, scenarios, USERS } from '../../testkit/event-log';
import { invariantViolations, normalized, readObservableState } from '../../testkit/observed-state';
import { GuildStatesAnswer, ModelOptions, PresenceModel, UserInfoAnswer } from '../../testkit/presence-model';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';
import { StateHarness } from '../../testkit/state-harness';

/**
 * The service's apply path (decode -> services -> Lua, via StateHarness) on a real Redis, against
 * the reference model: any order of a set of records (timestamps distinct per producing host) and
 * any redelivery, applied through the service, must end in the state the model reaches by
 * applying the records once in the order produced (which the model's own property test shows is
 * the state of every order). Compared: the contract keys (channel members as sets) and the query
 * answers; checked: the contract keys' invariants. Redis is flushed between runs; a failing case
 * shrinks to a short log printed one application per line.
 *
 * VOICE_GRACE_SECONDS=0 and no session leases: both run on the state server's clock, which a
 * property over records cannot drive (the model's tests cover them).
 */

const MAX_RECORDS = 30;

interface Configuration {
  name: string;
  env: Record<string, string>;
  model: ModelOptions;
}
const configurations: Configuration[] = [
  { name: 'VOICE_SCOPE=guild', env: { VOICE_SCOPE: 'guild' }, model: { voiceScope: 'guild' } },
  { name: 'VOICE_SCOPE=user', env: { VOICE_SCOPE: 'user' }, model: { voiceScope: 'user' } },
  {
    name: 'VOICE_SCOPE=none, STATE_PRIORITY=online,dnd,idle,invisible, INVISIBLE_SHOWN_AS=away',
    env: { VOICE_SCOPE: 'none', STATE_PRIORITY: 'online,dnd,idle,invisible', INVISIBLE_SHOWN_AS: 'away' },
    model: { voiceScope: 'none', statePriority: ['online', 'dnd', 'idle', 'invisible'], invisibleShownAs: 'away' },
  },
];

let redis: TestRedis;
const harnesses = new Map<string, StateHarness>();

beforeAll(async () => {
  Logger.overrideLogger(['error']); // RESETs log how many sessions they ended: noise here
  redis = await startTestRedis();
  for (const c of configurations) harnesses.set(c.name, new StateHarness(redis.url, { VOICE_GRACE_SECONDS: '0', ...c.env }));
  await Promise.all([...harnesses.values()].map((h) => h.ready()));
});
afterAll(async () => {
  for (const h of harnesses.values()) h.close();
  await redis?.stop();
});

const NAMED = [...USERS, '9'];

/** Channel member arrays sorted: the order users sat down in follows the order applied. */
function sortedChannels<T extends { channelStates?: Record<string, string[]> }>(answer: T): T {
  if (!answer.channelStates) return answer;
  return { ...answer, channelStates: Object.fromEntries(Object.entries(answer.channelStates).map(([c, m]) => [c, [...m].sort()])) };
}

async function serviceAnswers(harness: StateHarness) {
  const result: Record<string, GuildStatesAnswer | UserInfoAnswer> = { direct: await harness.queries.directUserInfo(NAMED) };
  for (const guildId of GUILDS) {
    result[`named ${guildId}`] = sortedChannels(await harness.queries.guildStates(guildId, NAMED));
    result[`snapshot ${guildId}`] = sortedChannels(await harness.queries.guildStates(guildId, undefined));
    result[`community ${guildId}`] = sortedChannels(await harness.queries.communityUserInfo(guildId, NAMED));
  }
  return result;
}

function modelAnswers(model: PresenceModel) {
  const result: Record<string, GuildStatesAnswer | UserInfoAnswer> = { direct: model.directUserInfo(NAMED) };
  for (const guildId of GUILDS) {
    result[`named ${guildId}`] = sortedChannels(model.guildStates(guildId, NAMED));
    result[`snapshot ${guildId}`] = sortedChannels(model.guildStates(guildId));
    result[`community ${guildId}`] = sortedChannels(model.communityUserInfo(guildId, NAMED));
  }
  return result;
}

describe.each(configurations)('the service matches the model ($name)', (configuration) => {
  it("reaches the model's state and answers for any order of a set of records and any redelivery", async () => {
    const harness = harnesses.get(configuration.name)!;
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(scenarios({ maxRecords: MAX_RECORDS }), async (scenario) => {
        runs++;
        await redis.flush();
        await applyThroughService(harness, scenario.delivered);
        const model = new PresenceModel(configuration.model);
        for (const d of scenario.produced.deliveries) model.apply(d.event, d.atMs);
        expect(normalized(await readObservableState(harness.redis))).toEqual(normalized(model.observable()));
        expect(await serviceAnswers(harness)).toEqual(modelAnswers(model));
        expect(
          await invariantViolations(harness.redis, {
            voiceScope: configuration.model.voiceScope!,
            invisibleShownAs: configuration.model.invisibleShownAs,
          }),
        ).toEqual([]);
      }),
      // A failure shrinks through many service runs: bounded, the best counterexample so far is reported.
      { numRuns: 120, interruptAfterTimeLimit: 15_000, markInterruptAsFailure: false },
    );
    // The time limit must not make the property pass on (nearly) nothing: a floor far below what a slow machine runs.
    expect(runs).toBeGreaterThanOrEqual(20);
  }, 60_000);
});
