import { urlTooLong } from '../../src/http/client-errors';

/**
 * 414 or 431: which part of a request overflowed Node's limit on the request line and headers,
 * told from the one chunk Node was parsing (a long URL arrives in many).
 */
const LIMIT = 30_000;
const overflow = (chunk: string, bytesParsed = chunk.length) =>
  Object.assign(new Error('Header overflow'), { code: 'HPE_HEADER_OVERFLOW', rawPacket: Buffer.from(chunk, 'latin1'), bytesParsed });
const ids = (n: number) => Array.from({ length: n }, (_, i) => String(1_000_000_000_000_000_000n + BigInt(i))).join(',');

describe('urlTooLong', () => {
  it('a request in one chunk: its unfinished or long request line overflowed', () => {
    expect(urlTooLong(overflow(`GET /guilds/1/states?userIds=${ids(2000)}`), LIMIT)).toBe(true);
    expect(urlTooLong(overflow(`GET /guilds/1/states?userIds=${ids(1500)} HTTP/1.1\r\nHost: a\r\n`), LIMIT)).toBe(true);
    expect(urlTooLong(overflow(`GET /guilds/1/states?userIds=1 HTTP/1.1\r\nCookie: ${'a=b; '.repeat(7000)}`), LIMIT)).toBe(false);
  });

  it('a chunk from the middle of a long URL (no line end, no space)', () => {
    expect(urlTooLong(overflow(ids(3000).slice(17)), LIMIT)).toBe(true);
  });

  it('a chunk from the middle of a long header (no line end, spaces)', () => {
    expect(urlTooLong(overflow('a=b; '.repeat(10_000)), LIMIT)).toBe(false);
  });

  it('a chunk where a long URL ends, followed by short headers', () => {
    expect(urlTooLong(overflow(`${ids(500).slice(5)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n`), LIMIT)).toBe(true);
  });

  it('a chunk where a long URL ends, followed by headers that are most of the limit', () => {
    expect(urlTooLong(overflow(`${ids(10).slice(5)} HTTP/1.1\r\nCookie: ${'a=b; '.repeat(4000)}`), LIMIT)).toBe(false);
  });

  it('a chunk where a long header line ends', () => {
    expect(urlTooLong(overflow(`${'a=b; '.repeat(100)}\r\nAccept: */*\r\n`), LIMIT)).toBe(false);
  });

  it('a long URL in a request pipelined after a short one in the same chunk', () => {
    expect(urlTooLong(overflow(`GET /health/live HTTP/1.1\r\nHost: a\r\n\r\nGET /guilds/1/states?userIds=${ids(2000)}`), LIMIT)).toBe(true);
  });

  it('only what was parsed up to the overflow counts (a URL overflowing before its line ends)', () => {
    const chunk = `${ids(2000).slice(3)} HTTP/1.1\r\nCookie: ${'a=b; '.repeat(5000)}`;
    expect(urlTooLong(overflow(chunk, chunk.indexOf(' HTTP/1.1')), LIMIT)).toBe(true);
  });

  it('nothing to read: not a URL', () => {
    expect(urlTooLong(Object.assign(new Error('x'), { rawPacket: undefined }), LIMIT)).toBe(false);
  });
});
