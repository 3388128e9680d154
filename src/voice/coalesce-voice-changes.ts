import type { AppConfig } from '../config/app-config';
import { StateChange } from '../state-store/state-store';

/** A JOIN or LEAVE as the voice service hands it to the store. */
export type VoiceChange = Extract<StateChange, { kind: 'join' | 'leave' }>;
export type VoiceScope = AppConfig['VOICE_SCOPE'];

const idGreater = (a: string, b: string) => a.length > b.length || (a.length === b.length && a > b);

/** The JOIN order of docs/rules.md: newer record time, then larger guild id, channel id, serverId. */
function joinNewer(a: VoiceChange, b: VoiceChange): boolean {
  if (a.atMs !== b.atMs) return a.atMs > b.atMs;
  if (a.guildId !== b.guildId) return idGreater(a.guildId, b.guildId);
  if (a.channelId !== b.channelId) return idGreater(a.channelId, b.channelId);
  return ((a.kind === 'join' && a.serverId) || '') > ((b.kind === 'join' && b.serverId) || '');
}

const sameJoin = (a: VoiceChange, b: VoiceChange) =>
  a.atMs === b.atMs &&
  a.guildId === b.guildId &&
  a.channelId === b.channelId &&
  ((a.kind === 'join' && a.serverId) || '') === ((b.kind === 'join' && b.serverId) || '');

/**
 * Coalesces one batch of JOIN / LEAVE changes before they reach Redis. The voice state is made of
 * registers that only move forward (docs/rules.md): per user and scope the newest JOIN, per user and
 * channel the newest LEAVE. So of the JOINs of one user and scope in a batch only the newest can
 * change the state, and of the LEAVEs of one user and channel only the newest: applying just those
 * gives the same state as applying all, in any order (proved against the reference model by
 * test/property/voice-coalescing.property.test.ts). The others are reported `stale` (`duplicate`
 * when identical to the one kept) without a trip to Redis.
 * Not coalesced: session events (a CONNECT's guildIds add up, tombstones must be written) and RESETs
 * (they split the batch).
 */
export function coalesceVoiceChanges(
  changes: readonly VoiceChange[],
  scope: VoiceScope,
): { kept: VoiceChange[]; dropped: Map<number, 'stale' | 'duplicate'> } {
  const newest = new Map<string, number>();
  const dropped = new Map<number, 'stale' | 'duplicate'>();
  changes.forEach((change, i) => {
    const key =
      change.kind === 'join'
        ? `J|${change.userId}|${scope === 'user' ? '*' : scope === 'none' ? `${change.guildId}:${change.channelId}` : change.guildId}`
        : `L|${change.userId}|${change.guildId}:${change.channelId}`;
    const j = newest.get(key);
    if (j === undefined) {
      newest.set(key, i);
      return;
    }
    const kept = changes[j];
    const newer = change.kind === 'join' ? joinNewer(change, kept) : change.atMs > kept.atMs;
    const [winner, loser] = newer ? [i, j] : [j, i];
    const identical = change.kind === 'join' ? sameJoin(change, kept) : change.atMs === kept.atMs;
    newest.set(key, winner);
    dropped.set(loser, identical ? 'duplicate' : 'stale');
  });
  return { kept: changes.filter((_, i) => !dropped.has(i)), dropped };
}
