import fc from 'fast-check';
import { coalesceVoiceChanges, VoiceChange, VoiceScope } from '../../src/voice/coalesce-voice-changes';
import { normalizedChannels } from '../../testkit/observed-state';
import { ChannelEventModel, PresenceModel } from '../../testkit/presence-model';

/**
 * Coalescing a batch of JOIN / LEAVE (src/voice/coalesce-voice-changes.ts) changes nothing a peer
 * can see: on the reference model, applying only the kept changes gives the same state as applying
 * the whole batch, for any batch, any state before it, and every voice scope.
 */

const change = fc.record({
  kind: fc.constantFrom('join' as const, 'leave' as const),
  userId: fc.constantFrom('1', '2'),
  guildId: fc.constantFrom('100', '200'),
  channelId: fc.constantFrom('10', '11'),
  atMs: fc.integer({ min: 1_000, max: 1_006 }),
  serverId: fc.constantFrom(undefined, 'sig-1', 'sig-2'),
});

const toModel = (c: VoiceChange): ChannelEventModel => ({
  type: c.kind === 'join' ? 'JOIN' : 'LEAVE',
  userId: c.userId,
  guildId: c.guildId,
  channelId: c.channelId,
  ...(c.kind === 'join' && c.serverId ? { serverId: c.serverId } : {}),
});

it.each(['guild', 'user', 'none'] as VoiceScope[])('keeps the state the whole batch gives (VOICE_SCOPE=%s)', (scope) => {
  fc.assert(
    fc.property(fc.array(change, { maxLength: 8 }), fc.array(change, { minLength: 1, maxLength: 12 }), (before, batch) => {
      const all = new PresenceModel({ voiceScope: scope });
      const coalesced = new PresenceModel({ voiceScope: scope });
      for (const c of before as VoiceChange[]) {
        all.apply(toModel(c), c.atMs);
        coalesced.apply(toModel(c), c.atMs);
      }
      for (const c of batch as VoiceChange[]) all.apply(toModel(c), c.atMs);
      const { kept } = coalesceVoiceChanges(batch, scope);
      for (const c of kept) coalesced.apply(toModel(c), c.atMs);
      expect(normalizedChannels(coalesced)).toEqual(normalizedChannels(all));
    }),
    { numRuns: 1000 },
  );
});

it('drops only changes dominated in their own register, and says which were identical', () => {
  const join = (atMs: number, channelId: string): VoiceChange => ({
    kind: 'join',
    userId: '1',
    guildId: '100',
    channelId,
    atMs,
    serverId: undefined,
  });
  const { kept, dropped } = coalesceVoiceChanges(
    [join(5, '10'), join(7, '11'), join(7, '11'), { kind: 'leave', userId: '1', guildId: '100', channelId: '10', atMs: 6 }],
    'guild',
  );
  expect(kept).toEqual([join(7, '11'), { kind: 'leave', userId: '1', guildId: '100', channelId: '10', atMs: 6 }]);
  expect([...dropped.entries()].sort()).toEqual([
    [0, 'stale'],
    [2, 'duplicate'],
  ]);
});
