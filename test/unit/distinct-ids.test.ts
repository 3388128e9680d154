import fc from 'fast-check';
import { distinctIds } from '../../src/guild-states/distinct-ids';

const id = fc.oneof(fc.bigInt({ min: 1n, max: 9223372036854775807n }).map(String), fc.constantFrom('1', '2', '10', '100'), fc.string());

describe('distinctIds', () => {
  it('answers what [...new Set(ids)] answers', () => {
    fc.assert(
      fc.property(fc.array(id, { maxLength: 300 }), fc.array(fc.nat(), { maxLength: 50 }), (ids, repeats) => {
        const withRepeats = [...ids];
        for (const r of repeats) if (ids.length > 0) withRepeats.splice(r % (withRepeats.length + 1), 0, ids[r % ids.length]);
        expect(distinctIds(withRepeats)).toEqual([...new Set(withRepeats)]);
      }),
      { numRuns: 3000 },
    );
  });

  it('hands back the list itself when nothing repeats', () => {
    const ids = Array.from({ length: 5000 }, (_, i) => String(1100000000060000000n + BigInt(i)));
    expect(distinctIds(ids)).toBe(ids);
    expect(distinctIds([...ids, ids[17]])).toEqual(ids);
  });

  it('copes with 100,000 ids, repeated', () => {
    const ids = Array.from({ length: 100_000 }, (_, i) => String(1100000000000000000n + BigInt(i % 50_000) * 1_000_000_000n));
    expect(distinctIds(ids)).toEqual(ids.slice(0, 50_000));
  });
});
