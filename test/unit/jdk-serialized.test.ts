import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJdkString, decodeJdkStringSet, isJdkSerialized } from '../../src/state-store/jdk-serialized';

/**
 * The original state server's hash fields and values, as a real JVM writes them
 * (test/fixtures/original-redis/WriteOriginalValues.java; the .bin files next to it are its output,
 * committed so that this runs without a JDK).
 */
const FIXTURES = join(__dirname, '..', 'fixtures', 'original-redis');
const fixture = (name: string) => readFileSync(join(FIXTURES, `${name}.bin`));

it('reads serialized Strings: ids, states, the empty string, and Java’s modified UTF-8', () => {
  expect(decodeJdkString(fixture('string-1'))).toBe('1');
  expect(decodeJdkString(fixture('string-10'))).toBe('10');
  expect(decodeJdkString(fixture('string-online'))).toBe('online');
  expect(decodeJdkString(fixture('string-idle'))).toBe('idle');
  expect(decodeJdkString(fixture('string-snowflake'))).toBe('300000000000000001');
  expect(decodeJdkString(fixture('string-empty'))).toBe('');
  expect(decodeJdkString(fixture('string-unicode'))).toBe('café 😀 \u0000');
});

it('reads serialized HashSet<String>s, empty and large ones included', () => {
  expect(decodeJdkStringSet(fixture('hashset-1-2'))?.sort()).toEqual(['1', '2']);
  expect(decodeJdkStringSet(fixture('hashset-3'))).toEqual(['3']);
  expect(decodeJdkStringSet(fixture('hashset-empty'))).toEqual([]);
  expect(decodeJdkStringSet(fixture('hashset-snowflakes'))?.sort()).toEqual(['300000000000000001', '300000000000000002']);
  expect(decodeJdkStringSet(fixture('hashset-many'))?.sort()).toEqual(Array.from({ length: 40 }, (_, i) => String(1001 + i)));
});

it('reads nothing else: another class, the other shape, truncated or extended bytes, plain text', () => {
  expect(isJdkSerialized(fixture('long-42'))).toBe(true);
  expect(decodeJdkString(fixture('long-42'))).toBeUndefined();
  expect(decodeJdkStringSet(fixture('long-42'))).toBeUndefined();
  expect(decodeJdkString(fixture('hashset-1-2'))).toBeUndefined();
  expect(decodeJdkStringSet(fixture('string-1'))).toBeUndefined();
  const set = fixture('hashset-1-2');
  expect(decodeJdkStringSet(set.subarray(0, set.length - 1))).toBeUndefined();
  expect(decodeJdkStringSet(Buffer.concat([set, Buffer.from([0x78])]))).toBeUndefined();
  expect(decodeJdkString(Buffer.from('["1","2"]'))).toBeUndefined();
  expect(isJdkSerialized(Buffer.from('["1","2"]'))).toBe(false);
});

const jdk = spawnSync('javac', ['-version']).status === 0;
(jdk ? it : it.skip)('the committed fixtures are what a JVM writes today (javac on this machine)', () => {
  const out = mkdtempSync(join(tmpdir(), 'original-redis-'));
  try {
    execFileSync('javac', ['-d', out, join(FIXTURES, 'WriteOriginalValues.java')]);
    execFileSync('java', ['-cp', out, 'WriteOriginalValues', join(out, 'values')]);
    const written = readdirSync(join(out, 'values')).sort();
    expect(written).toEqual(
      readdirSync(FIXTURES)
        .filter((f) => f.endsWith('.bin'))
        .sort(),
    );
    for (const file of written) expect(readFileSync(join(out, 'values', file))).toEqual(readFileSync(join(FIXTURES, file)));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
