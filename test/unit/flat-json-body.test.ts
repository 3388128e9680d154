import fc from 'fast-check';
import { parseJsonKeepingNumbersAsText } from '../../src/common/lossless-json';
import { parseFlatJsonObject } from '../../src/http/json-body';

/** The lossless parser's answer, or its error message. */
const lossless = (text: string): unknown => {
  try {
    return { value: parseJsonKeepingNumbersAsText(text) };
  } catch (error) {
    return { error: (error as Error).message };
  }
};

const space = fc.constantFrom('', ' ', '\n', '\t', '\r\n  ');
const integer = fc.oneof(
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  fc.constantFrom('0', '-0', '01', '-', '1.5', '1e3', '2E-1'),
);
const text = fc.oneof(fc.string(), fc.constantFrom('a\\"b', '\\u0041', 'tab\there', 'é', '\ud800'));
const scalar = fc.oneof(
  integer,
  text.map((s) => `"${s}"`),
  fc.constantFrom('true', 'null', '{}', '[]', ''),
);
const value = fc.oneof(
  scalar,
  fc.array(scalar, { maxLength: 6 }).chain((items) => space.map((s) => `[${s}${items.join(`${s},`)}${s}]`)),
);
const key = fc.oneof(fc.constantFrom('userIds', 'guildId', '__proto__', 'a', '1', ''), text);
/** Bodies shaped like the query routes', right or slightly wrong: repeated keys, odd numbers, escapes, stray commas. */
const flatBody = fc
  .tuple(fc.array(fc.tuple(key, value, space), { maxLength: 4 }), space, fc.constantFrom('', ',', '}', ' x'))
  .map(([members, s, tail]) => `${s}{${members.map(([k, v, w]) => `${w}"${k}"${w}:${w}${v}`).join(',')}}${tail}${s}`);

describe('parseFlatJsonObject', () => {
  it('answers exactly as the lossless parser, or leaves the body to it', () => {
    fc.assert(
      fc.property(fc.oneof(flatBody, fc.json(), fc.string()), (body) => {
        const fast = parseFlatJsonObject(body);
        if (fast !== undefined) expect({ value: fast }).toEqual(lossless(body));
      }),
      { numRuns: 20000 },
    );
  });

  it("takes the query routes' usual bodies, ids as numbers or strings", () => {
    const ids = ['1234567890123456789', '9223372036854775807', '5'];
    for (const body of [
      `{"guildId":100,"userIds":[${ids.join(',')}]}`,
      `{ "userIds" : [ "${ids.join('", "')}" ] }`,
      '{"userIds":[]}',
      '{}',
    ]) {
      expect(parseFlatJsonObject(body)).toEqual(parseJsonKeepingNumbersAsText(body));
    }
    expect(parseFlatJsonObject(`{"guildId":"100","userIds":[${ids.join(',')}]}`)).toEqual({ guildId: '100', userIds: ids });
  });

  it('leaves what it does not read exactly to the lossless parser', () => {
    for (const body of [
      '{"a":1,"a":1}',
      '{"a":1.5}',
      '{"a":"\\n"}',
      '{"a":[1,]}',
      '{"a":01}',
      '{"a":{}}',
      '[1]',
      '{"a":1} x',
      '{"__proto__":1}',
    ]) {
      expect(parseFlatJsonObject(body)).toBeUndefined();
    }
  });
});
