import Redis from 'ioredis';
import type { RedisClient } from '../src/redis/redis.module';
import { byId, ObservableState, PresenceModel, VoiceScope } from './presence-model';

/**
 * Reads from Redis what the model calls the observable state, in the same shape, so the two can be
 * compared with toEqual. Only the service's Redis contract keys are read (USER:STATE, GUILD:<g>,
 * GUILD_ONLINE:<g>); the internal layout is the scripts' business.
 */
/** On one Redis (SCAN does not span a cluster: the property suites run on a single Redis). */
export async function readObservableState(client: RedisClient): Promise<ObservableState> {
  const redis = client as Redis;
  const userStates = await redis.hgetall('USER:STATE');
  const guildChannels: ObservableState['guildChannels'] = {};
  for (const key of await guildKeys(redis, 'GUILD:')) {
    const raw = await redis.hgetall(key);
    if (Object.keys(raw).length > 0)
      guildChannels[key.slice('GUILD:'.length)] = Object.fromEntries(
        Object.entries(raw).map(([c, v]) => [c, (JSON.parse(v) as unknown[]).map(String)]),
      );
  }
  const guildOnline: ObservableState['guildOnline'] = {};
  for (const key of await guildKeys(redis, 'GUILD_ONLINE:')) {
    const members = await redis.smembers(key);
    if (members.length > 0) guildOnline[key.slice('GUILD_ONLINE:'.length)] = members.sort(byId);
  }
  return { userStates, guildChannels, guildOnline };
}

export interface InvariantOptions {
  voiceScope: VoiceScope;
  /** INVISIBLE_SHOWN_AS (default offline): the one shown state an online user may have that reads "offline". */
  invisibleShownAs?: string;
}

/**
 * Rules that must hold on the contract keys whatever was delivered, checked on the stored data
 * itself (not against the model). Returns a description of each broken one; empty when all hold.
 */
export async function invariantViolations(client: RedisClient, options: InvariantOptions): Promise<string[]> {
  const redis = client as Redis;
  const problems: string[] = [];
  const states = await redis.hgetall('USER:STATE');
  for (const [userId, state] of Object.entries(states)) {
    if (!/^[0-9]{1,20}$/.test(userId)) problems.push(`USER:STATE has a field that is not a user id: ${JSON.stringify(userId)}`);
    if (!/^[^\p{C}]+$/u.test(state) || [...state].length > 32)
      problems.push(`user ${userId} has a state that is not 1-32 printable characters: ${JSON.stringify(state)}`);
  }
  if ((await redis.ttl('USER:STATE')) >= 0) problems.push('USER:STATE has an expiry');

  const invisibleShownAs = options.invisibleShownAs ?? 'offline';
  for (const key of await guildKeys(redis, 'GUILD_ONLINE:')) {
    for (const userId of await redis.smembers(key)) {
      const state = states[userId];
      if (state === undefined) problems.push(`${key} lists user ${userId}, who has no USER:STATE entry`);
      else if (state === 'offline' && invisibleShownAs !== 'offline') problems.push(`${key} lists user ${userId}, whose state is offline`);
    }
  }

  const seatsOf = new Map<string, string[]>(); // userId -> "<guildId>/<channelId>"
  for (const key of await guildKeys(redis, 'GUILD:')) {
    const guildId = key.slice('GUILD:'.length);
    if ((await redis.ttl(key)) >= 0) problems.push(`${key} has an expiry`);
    for (const [channelId, raw] of Object.entries(await redis.hgetall(key))) {
      let members: string[];
      try {
        const parsed = JSON.parse(raw) as unknown;
        if (!Array.isArray(parsed)) throw new Error('not an array');
        members = parsed.map(String);
      } catch {
        problems.push(`channel ${guildId}/${channelId} holds what is not a JSON array: ${raw}`);
        continue;
      }
      if (members.length === 0) problems.push(`channel ${guildId}/${channelId} is stored empty`);
      if (new Set(members).size !== members.length) problems.push(`channel ${guildId}/${channelId} lists a user twice: ${raw}`);
      for (const userId of new Set(members)) {
        if (!/^[0-9]{1,20}$/.test(userId)) problems.push(`channel ${guildId}/${channelId} lists something that is not a user id: ${raw}`);
        seatsOf.set(userId, [...(seatsOf.get(userId) ?? []), `${guildId}/${channelId}`]);
      }
    }
  }
  for (const [userId, seats] of seatsOf) {
    if (options.voiceScope === 'user' && seats.length > 1)
      problems.push(`user ${userId} sits in ${seats.length} channels (VOICE_SCOPE=user): ${seats.join(' ')}`);
    if (options.voiceScope === 'guild') {
      const guilds = seats.map((s) => s.split('/')[0]);
      if (new Set(guilds).size !== guilds.length)
        problems.push(`user ${userId} sits in two channels of one guild (VOICE_SCOPE=guild): ${seats.join(' ')}`);
    }
  }
  return problems;
}

/** Channel member arrays sorted, for comparing states reached through different orders (the order users sat down in is then not defined). */
export function normalized(state: ObservableState): ObservableState {
  const guildChannels: ObservableState['guildChannels'] = {};
  for (const [guildId, channels] of Object.entries(state.guildChannels)) {
    guildChannels[guildId] = Object.fromEntries(Object.entries(channels).map(([c, members]) => [c, [...members].sort(byId)]));
  }
  return { ...state, guildChannels };
}

/** The model's voice channels with members sorted (the order of sitting down is not part of the registers). */
export function normalizedChannels(model: PresenceModel): ObservableState['guildChannels'] {
  return normalized(model.observable()).guildChannels;
}

/** Contract keys <prefix><guildId> (not whatever else the internal layout may put under the prefix). */
async function guildKeys(redis: Redis, prefix: string): Promise<string[]> {
  return (await scanKeys(redis, `${prefix}*`)).filter((key) => /^[0-9]{1,20}$/.test(key.slice(prefix.length)));
}

async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys.sort();
}
