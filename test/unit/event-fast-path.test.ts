import 'reflect-metadata';
import { validateSync } from 'class-validator';
import fc from 'fast-check';
import { parseJsonKeepingNumbersAsText } from '../../src/common/lossless-json';
import { SessionEvent } from '../../src/sessions/session-event';
import { ChannelEvent } from '../../src/voice/channel-event';

/**
 * The event classes' fast paths (isPlainlyValid) skip class-validator for records in their usual
 * shape. They must accept nothing the decorators refuse: checked here against class-validator on
 * records built from valid and invalid values of every field, as the lossless parser hands them over
 * (numbers as text). And they must actually be taken by the peers' usual records.
 */
/** Mostly valid values (so that whole records often are), else one of many invalid ones. */
const mostly = <T, U>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<U>) =>
  fc.oneof({ arbitrary: valid, weight: 6 }, { arbitrary: invalid, weight: 1 });
const id = mostly(
  fc.bigInt({ min: 1n, max: 9223372036854775807n }).map(String),
  fc.oneof(
    fc.constantFrom('0', '007', '-1', '', ' 1', '1.5', '9223372036854775808', '12345678901234567890', 'x'),
    fc.integer(),
    fc.constant(null),
  ),
);
const token = mostly(
  fc.stringMatching(/^[A-Za-z0-9._:@-]{1,12}$/),
  fc.oneof(fc.constantFrom('', 'a b', 'x'.repeat(129), 'é', 'a/b'), fc.integer(), fc.constant(null)),
);
const state = mostly(
  fc.constantFrom('online', 'offline', 'idle', 'dnd', 'invisible', 'à la'),
  fc.oneof(fc.constantFrom('', 'x'.repeat(33), 'a\u0000b', 'a\nb'), fc.integer(), fc.constant(null)),
);
const timestamp = mostly(
  fc.nat().map(String),
  fc.oneof(fc.constantFrom('1234567890123456', '-1', '1.5', 'x'), fc.integer(), fc.constant(null)),
);
const guildIds = mostly(fc.array(id, { maxLength: 4 }), fc.oneof(fc.constant(Array.from({ length: 1001 }, () => '1')), id, fc.object()));
const extra = fc.oneof(fc.constant(undefined), fc.anything());

const sessionRecord = fc.record(
  {
    type: mostly(fc.constantFrom('CONNECT', 'DISCONNECT'), fc.constantFrom('HEARTBEAT', 'RESET', 'connect', '', null)),
    sessionId: token,
    userId: id,
    state,
    guildIds,
    serverId: token,
    timestamp,
    __TypeId__: extra,
  },
  { requiredKeys: [] },
);
const channelRecord = fc.record(
  {
    type: mostly(fc.constantFrom('JOIN', 'LEAVE'), fc.constantFrom('RESET', 'join', '', null)),
    userId: id,
    guildId: id,
    channelId: id,
    serverId: token,
    timestamp,
    other: extra,
  },
  { requiredKeys: [] },
);

const refusedBy = (type: typeof SessionEvent | typeof ChannelEvent, record: object) =>
  validateSync(Object.assign(Object.create(type.prototype as object) as object, record), {
    forbidUnknownValues: false,
    stopAtFirstError: true,
  });

describe("the event classes' fast paths", () => {
  for (const [name, type, records] of [
    ['SessionEvent', SessionEvent, sessionRecord],
    ['ChannelEvent', ChannelEvent, channelRecord],
  ] as const) {
    it(`${name}: accepts no record its decorators refuse`, () => {
      let taken = 0;
      fc.assert(
        fc.property(records as fc.Arbitrary<Record<string, unknown>>, (record) => {
          if (!type.isPlainlyValid(record)) return;
          taken++;
          expect(refusedBy(type, record)).toEqual([]);
        }),
        { numRuns: 5000 },
      );
      // The property is not vacuous: a fair share of the records took the fast path.
      expect(taken).toBeGreaterThan(500);
    });
  }

  it("is taken by the peers' usual records, as the lossless parser hands them over", () => {
    const parsed = (json: string) => parseJsonKeepingNumbersAsText(json) as Record<string, unknown>;
    expect(SessionEvent.isPlainlyValid(parsed('{"userId":123,"sessionId":"x1y2z3ab","type":"CONNECT","state":"online"}'))).toBe(true);
    expect(SessionEvent.isPlainlyValid(parsed('{"sessionId":"x1y2z3ab","type":"DISCONNECT","state":"offline","userId":123}'))).toBe(true);
    expect(
      SessionEvent.isPlainlyValid(
        parsed('{"type":"CONNECT","sessionId":"s","userId":9223372036854775807,"guildIds":[1,2],"serverId":"chat-1"}'),
      ),
    ).toBe(true);
    expect(ChannelEvent.isPlainlyValid(parsed('{"guildId":1,"channelId":5,"userId":123,"type":"JOIN"}'))).toBe(true);
    expect(ChannelEvent.isPlainlyValid(parsed('{"guildId":null,"channelId":null,"userId":null,"type":"LEAVE"}'))).toBe(true);
    // and not by what needs class-validator's verdict
    expect(SessionEvent.isPlainlyValid(parsed('{"type":"RESET","serverId":"chat-1","timestamp":1}'))).toBe(false);
    expect(ChannelEvent.isPlainlyValid(parsed('{"type":"JOIN","userId":1,"guildId":2}'))).toBe(false);
  });
});
