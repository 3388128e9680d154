import fc from 'fast-check';
import { statesJson, zipStates } from '../../src/guild-states/guild-states.service';

// Ids as the routes pass them (canonical snowflakes: small ones are array indices, which an object orders first), and a few other keys.
const id = fc.oneof(
  fc.bigInt({ min: 1n, max: 9223372036854775807n }).map(String),
  fc.bigInt({ min: 0n, max: 4294967300n }).map(String),
  fc.constantFrom('4294967294', '4294967295', '007', 'x"y'),
);
const state = fc.option(fc.oneof(fc.constantFrom('online', 'idle', 'dnd', 'offline'), fc.string()), { nil: null });

describe('statesJson', () => {
  it('writes exactly what JSON.stringify writes of the zipped object ("offline" for users never seen)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(id, { maxLength: 60 }), fc.array(state, { minLength: 60, maxLength: 60 }), (ids, states) => {
        expect(statesJson(ids, states)).toBe(JSON.stringify(zipStates(ids, states)));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps 5,000 snowflakes in the order asked', () => {
    const ids = Array.from({ length: 5000 }, (_, i) => String(900000000000000000n - BigInt(i)));
    const text = statesJson(
      ids,
      ids.map(() => 'online'),
    );
    expect(Object.keys(JSON.parse(text) as object)).toEqual(ids);
  });
});
