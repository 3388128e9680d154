import fc from 'fast-check';
import { parse } from 'fast-querystring';
import { parseQueryString } from '../../src/http/query-string';

/** Query strings like the routes get, and odd ones: repeated keys, parts without '=', empty parts, '=' in values, encodings. */
const part = fc.oneof(
  fc.constantFrom(
    'userIds=1,2,3',
    'limit=10',
    'cursor=0',
    'a',
    '',
    '=',
    '=x',
    'a=',
    'a=b=c',
    '__proto__=1',
    'constructor=2',
    'x=%2C',
    'y=1+2',
  ),
  fc.tuple(fc.constantFrom('userIds', 'limit', 'a', ''), fc.string()).map(([k, v]) => `${k}=${v}`),
  fc.string(),
);
const query = fc.array(part, { maxLength: 6 }).map((parts) => parts.join('&'));

describe('parseQueryString', () => {
  it("answers exactly as fast-querystring (Fastify's own parser)", () => {
    fc.assert(
      fc.property(query, (text) => {
        const ours = parseQueryString(text);
        const theirs = parse(text) as Record<string, unknown>;
        expect({ ...ours }).toEqual({ ...theirs });
        expect(Object.keys(ours)).toEqual(Object.keys(theirs));
        expect(Object.getPrototypeOf(Object.getPrototypeOf(ours))).toBeNull();
      }),
      { numRuns: 5000 },
    );
  });

  it('reads a list of 100 ids as one value, and a repeated key as a list', () => {
    const ids = Array.from({ length: 100 }, (_, i) => String(900000000000000000n + BigInt(i))).join(',');
    expect({ ...parseQueryString(`userIds=${ids}&limit=5`) }).toEqual({ userIds: ids, limit: '5' });
    expect({ ...parseQueryString('userIds=1&userIds=2&userIds=3') }).toEqual({ userIds: ['1', '2', '3'] });
  });
});
