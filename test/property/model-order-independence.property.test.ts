import fc from 'fast-check';
import { DeliveredLog, scenarios } from '../../testkit/event-log';
import { normalized } from '../../testkit/observed-state';
import { ModelOptions, PresenceModel } from '../../testkit/presence-model';
import { StoryWorkload } from '../../testkit/story-workload';

/**
 * The rules themselves (docs/rules.md), checked on the reference model: for any set of records
 * (timestamps distinct per producing host), any order of application and any redelivery end in
 * the same observable state (channel members compared as sets: the order users sat down in
 * follows the order applied). The state server's own clock (lease expiry, grace period) stays
 * where it happened: records are reordered around it only within the segment it closes.
 *
 * Left out on purpose, because the rules are order-dependent there (see the model's tests and
 * docs/rules.md): more live sessions than MAX_SESSIONS_PER_USER, and a DISCONNECT without userId
 * for a session id that two users used.
 */

function applied(log: DeliveredLog, options: ModelOptions) {
  const model = new PresenceModel(options);
  for (const d of log.deliveries) model.apply(d.event, d.atMs);
  return normalized(model.observable());
}

const MAX_RECORDS = 30;
const configurations: { name: string; options: ModelOptions }[] = [
  { name: 'VOICE_SCOPE=guild, leases', options: { voiceScope: 'guild', leases: true } },
  { name: 'VOICE_SCOPE=user', options: { voiceScope: 'user' } },
  {
    name: 'VOICE_SCOPE=none, another state priority',
    options: { voiceScope: 'none', statePriority: ['online', 'dnd', 'idle', 'invisible'], invisibleShownAs: 'away' },
  },
];

describe.each(configurations)('the model ($name)', ({ options }) => {
  it('ends in the same state for any order of a set of records and any redelivery', () => {
    fc.assert(
      fc.property(scenarios({ maxRecords: MAX_RECORDS, clock: true }), (scenario) => {
        expect(applied(scenario.delivered, options)).toEqual(applied(scenario.produced, options));
      }),
      { numRuns: 500 },
    );
  });

  it("ends in the same state for any order of one user's voice records", () => {
    fc.assert(
      fc.property(scenarios({ maxRecords: 12, users: 1, sessions: false }), (scenario) => {
        expect(applied(scenario.delivered, options)).toEqual(applied(scenario.produced, options));
      }),
      { numRuns: 500 },
    );
  });

  it("ends in the same state for any order of one user's session records", () => {
    fc.assert(
      fc.property(scenarios({ maxRecords: 12, users: 1, voice: false }), (scenario) => {
        expect(applied(scenario.delivered, options)).toEqual(applied(scenario.produced, options));
      }),
      { numRuns: 500 },
    );
  });
});

/**
 * The fault tests' and soak's traffic (testkit/story-workload.ts) is sent unkeyed, so the service
 * applies it in any order: its end state must be the same for any order, and must never leave a
 * seat to a user with no live session (the service's grace period would end it, on its own clock).
 */
describe('the fault workload', () => {
  it('reaches the same state in any order of its records, with no seat left to a user who is offline', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(fc.nat({ max: 1_000_000 }), { minLength: 1000, maxLength: 1000 }),
        (seed, keys) => {
          const workload = new StoryWorkload({ users: 40, guilds: 3, seed, runId: 'w' });
          const events = [
            ...workload.round(30),
            ...workload.round(30),
            ...workload.reset('chat-a'),
            ...workload.round(30),
            ...workload.reset(),
            ...workload.round(30),
          ];
          const shuffledModel = new PresenceModel();
          events
            .map((e, i) => ({ e, key: keys[i % keys.length] + i / events.length }))
            .sort((a, b) => a.key - b.key)
            .forEach(({ e }) => shuffledModel.apply(e.event, e.atMs));
          expect(normalized(shuffledModel.observable())).toEqual(workload.expected());
          const expected = workload.expected();
          const seated = new Set(Object.values(expected.guildChannels).flatMap((channels) => Object.values(channels).flat()));
          const offline = [...seated].filter((userId) => workload.model.liveSessions(userId).length === 0);
          expect(offline).toEqual([]);
        },
      ),
      { numRuns: 40 },
    );
  });
});
