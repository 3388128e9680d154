import fc from 'fast-check';
import { canonicalId, canonicalIdList } from '../../src/common/snowflake-id';

/** Parts of a list, right or slightly wrong: leading zeros, signs, blanks, 20 digits, above 2^63 - 1, empty. */
const part = fc.oneof(
  fc.bigInt({ min: 1n, max: 9223372036854775807n }).map(String),
  fc.bigInt({ min: 0n, max: 99999999999999999999n }).map(String),
  fc.constantFrom('0', '007', '', ' 1', '1 ', '-1', '+1', '1.5', '1e3', '9223372036854775807', '9223372036854775808', '٣', 'x'),
);

describe('canonicalIdList', () => {
  it('answers the ids exactly when canonicalId takes every part as written', () => {
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 8 }), (parts) => {
        const text = parts.join(',');
        const split = text.split(',');
        const expected = split.every((id) => canonicalId(id) !== undefined) ? split : undefined;
        expect(canonicalIdList(text)).toEqual(expected);
      }),
      { numRuns: 5000 },
    );
  });
});
