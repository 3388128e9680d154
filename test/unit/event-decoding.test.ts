import 'reflect-metadata';
import { decodeEvent, InvalidEventError } from '../../src/ingest/event-decoding';
import { SessionEvent } from '../../src/sessions/session-event';
import { ChannelEvent } from '../../src/voice/channel-event';

const session = (json: string) => decodeEvent(Buffer.from(json), SessionEvent, 65536);
const channel = (json: string) => decodeEvent(Buffer.from(json), ChannelEvent, 65536);
const reasonOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidEventError);
    return (error as Error).message;
  }
  throw new Error('expected the event to be rejected');
};

describe('decoding session events', () => {
  it('accepts the chat server CONNECT and keeps ids as decimal strings', () => {
    expect(session('{"type":"CONNECT","sessionId":"abc","userId":123,"state":"online"}')).toMatchObject({
      type: 'CONNECT',
      sessionId: 'abc',
      userId: '123',
      state: 'online',
    });
  });

  it('keeps every digit of a 64-bit id sent as a JSON number', () => {
    const event = session('{"type":"CONNECT","sessionId":"s","userId":9223372036854775807,"guildIds":[1234567890123456789,"42"]}');
    expect(event.userId).toBe('9223372036854775807');
    expect(event.guildIds).toEqual(['1234567890123456789', '42']);
  });

  it('treats ids sent as strings like numbers', () => {
    expect(session('{"type":"CONNECT","sessionId":"s","userId":"123"}').userId).toBe('123');
  });

  it('accepts a DISCONNECT without userId', () => {
    expect(session('{"type":"DISCONNECT","sessionId":"abc","state":"offline"}')).toMatchObject({ type: 'DISCONNECT', sessionId: 'abc' });
  });

  it.each([
    ['not json', '{"type":', /not valid JSON/],
    ['a JSON array', '[1,2]', /must be a JSON object/],
    ['a JSON string', '"CONNECT"', /must be a JSON object/],
    ['an unknown type', '{"type":"LOGIN","sessionId":"s","userId":1}', /type must be one of CONNECT, DISCONNECT/],
    ['a CONNECT without userId', '{"type":"CONNECT","sessionId":"s"}', /userId is required/],
    ['a non-numeric userId', '{"type":"CONNECT","sessionId":"s","userId":"12a"}', /userId must be a decimal integer id/],
    ['a fractional userId', '{"type":"CONNECT","sessionId":"s","userId":1.5}', /userId must be a decimal integer id/],
    ['a negative userId', '{"type":"CONNECT","sessionId":"s","userId":-4}', /userId must be a decimal integer id/],
    ['a string id with leading zeros', '{"type":"CONNECT","sessionId":"s","userId":"007"}', /without leading zeros \(got "007"\)/],
    ['a zero id', '{"type":"CONNECT","sessionId":"s","userId":0}', /userId must be a decimal integer id/],
    ['an id above 2^63-1', '{"type":"CONNECT","sessionId":"s","userId":9223372036854775808}', /userId must be a decimal integer id/],
    ['a boolean userId', '{"type":"CONNECT","sessionId":"s","userId":true}', /userId must be a decimal integer id/],
    ['a missing sessionId', '{"type":"DISCONNECT","userId":1}', /sessionId is required/],
    ['an object as sessionId', '{"type":"DISCONNECT","sessionId":{"a":1}}', /sessionId must be a string/],
    ['a sessionId with spaces', '{"type":"DISCONNECT","sessionId":"a b"}', /sessionId must be 1 to 128 letters/],
    ['bad guildIds', '{"type":"CONNECT","sessionId":"s","userId":1,"guildIds":[1,"x"]}', /guildIds must contain only ids/],
    ['a RESET without serverId', '{"type":"RESET"}', /serverId is required/],
  ])('rejects %s with a reason naming the problem', (_name, json, reason) => {
    expect(reasonOf(() => session(json))).toMatch(reason);
  });

  it('rejects an oversized event before reading it', () => {
    const big = Buffer.from(JSON.stringify({ type: 'CONNECT', sessionId: 's', userId: 1, pad: 'x'.repeat(70000) }));
    expect(reasonOf(() => decodeEvent(big, SessionEvent, 65536))).toMatch(/exceeds the limit of 65536 bytes/);
  });

  it('rejects an empty record', () => {
    expect(reasonOf(() => decodeEvent(null, SessionEvent, 65536))).toMatch(/no value/);
  });
});

describe('decoding channel events', () => {
  it('accepts JOIN and LEAVE with numeric or string ids', () => {
    expect(channel('{"type":"JOIN","userId":1,"guildId":"2","channelId":3}')).toMatchObject({
      type: 'JOIN',
      userId: '1',
      guildId: '2',
      channelId: '3',
    });
  });

  it('names the missing field', () => {
    expect(reasonOf(() => channel('{"type":"JOIN","userId":1,"guildId":2}'))).toMatch(/channelId is required/);
  });

  it('rejects an unknown type', () => {
    expect(reasonOf(() => channel('{"type":"MUTE","userId":1,"guildId":2,"channelId":3}'))).toMatch(/type must be one of JOIN, LEAVE/);
  });
});
