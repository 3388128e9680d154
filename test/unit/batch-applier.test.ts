import { ReplyError } from 'ioredis';
import { BatchApplier, RawRecord, TopicRoute } from '../../src/ingest/batch-applier';
import { ConsumedEvent } from '../../src/common/consumed-event';
import { SessionEvent } from '../../src/sessions/session-event';
import { ApplyOutcome, StateStoreUnavailableError } from '../../src/state-store/state-store';

/** The applier's own logic (decode, isolate failures, tell transient from permanent), with rules given as plain functions. */

const record = (offset: number, value: unknown): RawRecord => ({
  offset: String(offset),
  timestamp: '1700000000000',
  value: value === null ? null : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
});
const connect = (sessionId: string) => ({ type: 'CONNECT', sessionId, userId: 1, state: 'online' });

function applierWith(apply: (events: ConsumedEvent<SessionEvent>[]) => Promise<ApplyOutcome[]>) {
  const route: TopicRoute = { decodeAs: SessionEvent, apply: apply };
  return new BatchApplier(new Map([['sessionEvent', route]]), 65536);
}

describe('BatchApplier', () => {
  it('applies valid records and dead-letters the ones that cannot be decoded, with the reason', async () => {
    const seen: string[] = [];
    const applier = applierWith(async (events) => events.map((e) => (seen.push(e.event.sessionId), 'applied' as const)));
    const results = await applier.applyChunk('sessionEvent', [
      record(0, connect('a')),
      record(1, '{"type":'),
      record(2, connect('b')),
      record(3, { type: 'CONNECT' }),
    ]);
    expect(results.map((r) => [r.record.offset, r.outcome])).toEqual([
      ['0', 'applied'],
      ['1', 'dead_lettered'],
      ['2', 'applied'],
      ['3', 'dead_lettered'],
    ]);
    expect(results[1].reason).toMatch(/not valid JSON/);
    expect(results[3].reason).toMatch(/sessionId is required/);
    expect(seen).toEqual(['a', 'b']);
  });

  it('passes on the outcomes the rules decided, ignored ones with their reason', async () => {
    const applier = applierWith(async () => ['duplicate', { ignored: 'leave_without_ids' }, { rejected: 'Redis refused the change: x' }]);
    const results = await applier.applyChunk('sessionEvent', [record(0, connect('a')), record(1, connect('b')), record(2, connect('c'))]);
    expect(results.map((r) => [r.outcome, r.reason])).toEqual([
      ['duplicate', undefined],
      ['ignored', 'leave_without_ids'],
      ['dead_lettered', 'Redis refused the change: x'],
    ]);
  });

  it('dead-letters only the record whose apply fails for good, and applies the others of the chunk', async () => {
    const applier = applierWith(async (events) => {
      if (events.some((e) => e.event.sessionId === 'poison'))
        throw new ReplyError('ERR user_script:1: Script attempted to access nonexistent global variable');
      return events.map(() => 'applied' as const);
    });
    const results = await applier.applyChunk('sessionEvent', [
      record(0, connect('a')),
      record(1, connect('poison')),
      record(2, connect('b')),
    ]);
    expect(results.map((r) => r.outcome)).toEqual(['applied', 'dead_lettered', 'applied']);
    expect(results[1].reason).toMatch(/could not be applied: ERR user_script/);
  });

  it('dead-letters records a handler answers with the wrong number of outcomes for', async () => {
    const applier = applierWith(async () => []);
    const results = await applier.applyChunk('sessionEvent', [record(0, connect('a'))]);
    expect(results[0]).toMatchObject({ outcome: 'dead_lettered', reason: expect.stringMatching(/returned 0 outcomes for 1 events/) });
  });

  it.each([
    ['Redis unreachable', new StateStoreUnavailableError('connect ECONNREFUSED 127.0.0.1:6379')],
    ['Redis loading its data', new ReplyError('LOADING Redis is loading the dataset in memory')],
    ['a replica not yet promoted', new ReplyError("READONLY You can't write against a read only replica.")],
  ])('throws a transient failure (%s) so that the whole chunk is retried', async (_what, error) => {
    const applier = applierWith(async () => {
      throw error;
    });
    await expect(applier.applyChunk('sessionEvent', [record(0, connect('a')), record(1, connect('b'))])).rejects.toBe(error);
  });
});
