import { Logger } from '@nestjs/common';
import fc from 'fast-check';
import { ChangeOutbox } from '../../src/change-stream/change-outbox';
import { ObservableState, PresenceModel } from '../../testkit/presence-model';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';
import { StateHarness } from '../../testkit/state-harness';
import { applyThroughService } from '../../testkit/apply-through-service';
import { DeliveredLog, scenarios } from '../../testkit/event-log';

/**
 * The change stream against the reference model: for any order and redelivery of a set of
 * records, applied one at a time through the service, the records the scripts write to the outbox
 * at each application are exactly the changes of the model's shown states and seats at that
 * application (nothing for a record that changes nothing visible), and folding every record by
 * version gives the final state. No record names `invisible`. Redis is flushed between runs.
 */

const configurations = [
  { name: 'VOICE_SCOPE=guild', env: { VOICE_SCOPE: 'guild' }, model: { voiceScope: 'guild' as const } },
  { name: 'VOICE_SCOPE=user', env: { VOICE_SCOPE: 'user' }, model: { voiceScope: 'user' as const } },
];

let redis: TestRedis;
const harnesses = new Map<string, StateHarness>();

beforeAll(async () => {
  Logger.overrideLogger(['error']);
  redis = await startTestRedis();
  for (const c of configurations) harnesses.set(c.name, new StateHarness(redis.env, { VOICE_GRACE_SECONDS: '0', ...c.env }));
  await Promise.all([...harnesses.values()].map((h) => h.ready()));
});
afterAll(async () => {
  for (const h of harnesses.values()) h.close();
  await redis?.stop();
});

/** The changes between two observable states, in a comparable form: presence first, then seats ended, then seats taken, sorted. */
function changesBetween(before: ObservableState, after: ObservableState): string[] {
  const presence: string[] = [];
  for (const userId of Object.keys(after.userStates)) {
    const previous = before.userStates[userId] ?? 'offline';
    const state = after.userStates[userId];
    if (previous !== state) presence.push(`PRESENCE ${userId} ${previous}->${state}`);
  }
  const seats = (s: ObservableState) =>
    new Set(
      Object.entries(s.guildChannels).flatMap(([g, channels]) =>
        Object.entries(channels).flatMap(([c, users]) => users.map((u) => `${g} ${c} ${u}`)),
      ),
    );
  const [was, is] = [seats(before), seats(after)];
  const leaves = [...was].filter((s) => !is.has(s)).map((s) => `VOICE LEAVE ${s}`);
  const joins = [...is].filter((s) => !was.has(s)).map((s) => `VOICE JOIN ${s}`);
  return [...presence.sort(), ...leaves.sort(), ...joins.sort()];
}

type Record = {
  type: string;
  userId: string;
  guildId: string;
  channelId: string;
  state: string;
  previous: string;
  change: string;
  version: number;
};

function describe_(r: Record): string {
  return r.type === 'PRESENCE'
    ? `PRESENCE ${r.userId} ${r.previous}->${r.state}`
    : `VOICE ${r.change} ${r.guildId} ${r.channelId} ${r.userId}`;
}

async function take(outbox: ChangeOutbox): Promise<Record[]> {
  const waiting = await outbox.readOutbox(outbox.buckets, 10_000);
  await outbox.deleteFromOutbox(waiting);
  return waiting.map((w) => JSON.parse(w.json) as Record);
}

describe.each(configurations)('the change stream matches the model ($name)', (configuration) => {
  it("records exactly the changes of the model's shown states and seats, in the order applied", async () => {
    const harness = harnesses.get(configuration.name)!;
    const outbox = new ChangeOutbox(harness.store, harness.redis);
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(scenarios({ maxRecords: 20 }), async (scenario) => {
        runs++;
        await redis.flush();
        const model = new PresenceModel(configuration.model);
        const all: Record[] = [];
        for (const delivery of scenario.delivered.deliveries) {
          const before = model.observable();
          model.apply(delivery.event, delivery.atMs);
          await applyThroughService(harness, new DeliveredLog([delivery]));
          const recorded = await take(outbox);
          all.push(...recorded);
          const presence = recorded
            .filter((r) => r.type === 'PRESENCE')
            .map(describe_)
            .sort();
          const voice = recorded.filter((r) => r.type === 'VOICE').map(describe_);
          const leaves = voice.filter((v) => v.startsWith('VOICE LEAVE')).sort();
          const joins = voice.filter((v) => v.startsWith('VOICE JOIN')).sort();
          expect([...presence, ...leaves, ...joins]).toEqual(changesBetween(before, model.observable()));
        }
        // Folded by version, the records give the final state; and none names invisible.
        const shown = new Map<string, Record>();
        const seats = new Map<string, Record>();
        for (const r of all) {
          const [map, key] = r.type === 'PRESENCE' ? [shown, r.userId] : [seats, `${r.guildId} ${r.channelId} ${r.userId}`];
          expect(r.version).toBeGreaterThan(map.get(key)?.version ?? 0);
          map.set(key, r);
        }
        const final = model.observable();
        for (const [userId, r] of shown) expect(r.state).toBe(final.userStates[userId]);
        const seated = [...seats.values()].filter((r) => r.change === 'JOIN').map((r) => `${r.guildId} ${r.channelId} ${r.userId}`);
        expect(seated.sort()).toEqual(
          changesBetween({ userStates: {}, guildChannels: {}, guildOnline: {} }, { ...final, userStates: {} }).map((c) =>
            c.slice('VOICE JOIN '.length),
          ),
        );
        expect(JSON.stringify(all)).not.toContain('invisible');
      }),
      { numRuns: 100, interruptAfterTimeLimit: 20_000, markInterruptAsFailure: false },
    );
    expect(runs).toBeGreaterThanOrEqual(15);
  }, 90_000);
});
