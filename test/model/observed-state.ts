import Redis from 'ioredis';
import { byId, ObservableState } from './presence-model';

/**
 * Reads from Redis what the model calls the observable state, in the same shape, so the two can be
 * compared with toEqual. Key names are the service's Redis contract (src/state-store/redis-keys.ts).
 */
export async function readObservableState(redis: Redis): Promise<ObservableState> {
  const userStates = await redis.hgetall('USER:STATE');
  const guildChannels: ObservableState['guildChannels'] = {};
  for (const key of await scanKeys(redis, 'GUILD:*')) {
    const raw = await redis.hgetall(key);
    guildChannels[key.slice('GUILD:'.length)] = Object.fromEntries(Object.entries(raw).map(([c, v]) => [c, (JSON.parse(v) as unknown[]).map(String)]));
  }
  const guildOnline: ObservableState['guildOnline'] = {};
  for (const key of await scanKeys(redis, 'GUILD_ONLINE:*')) {
    const members = await redis.smembers(key);
    if (members.length > 0) guildOnline[key.slice('GUILD_ONLINE:'.length)] = members.sort(byId);
  }
  return { userStates, guildChannels, guildOnline };
}

/**
 * Rules that must hold in Redis whatever was delivered, checked on the stored data itself (not
 * against the model). Returns a description of each broken one; empty when all hold.
 * `connectStates`: the states CONNECTs carry (a user with a live session must have one of them).
 */
export async function invariantViolations(redis: Redis, options: { connectStates: readonly string[]; oneChannel: boolean }): Promise<string[]> {
  const problems: string[] = [];
  const states = await redis.hgetall('USER:STATE');
  const liveOf = new Map<string, string[]>();
  for (const key of await scanKeys(redis, 'USER_SESSIONS:*')) {
    const userId = key.slice('USER_SESSIONS:'.length);
    const sessions = await redis.smembers(key);
    liveOf.set(userId, sessions);
    for (const sessionId of sessions) {
      const [state, user] = await redis.hmget(`SESSION:${sessionId}`, 'state', 'user');
      if (state !== 'live' || user !== userId) problems.push(`USER_SESSIONS:${userId} lists ${sessionId}, which is ${state} for user ${user}`);
    }
  }
  for (const [userId, state] of Object.entries(states)) {
    const live = (liveOf.get(userId) ?? []).length > 0;
    if (live !== options.connectStates.includes(state)) problems.push(`user ${userId} has ${live ? 'a' : 'no'} live session but state ${state}`);
  }
  for (const key of await scanKeys(redis, 'GUILD_ONLINE:*')) {
    for (const userId of await redis.smembers(key)) {
      if (!(liveOf.get(userId) ?? []).length) problems.push(`${key} lists user ${userId}, who has no live session`);
    }
  }
  const seatsInChannels = new Set<string>();
  for (const key of await scanKeys(redis, 'GUILD:*')) {
    const guildId = key.slice('GUILD:'.length);
    for (const [channelId, raw] of Object.entries(await redis.hgetall(key))) {
      const members = (JSON.parse(raw) as unknown[]).map(String);
      if (members.length === 0) problems.push(`channel ${guildId}/${channelId} is stored empty`);
      if (new Set(members).size !== members.length) problems.push(`channel ${guildId}/${channelId} lists a user twice: ${raw}`);
      for (const userId of members) {
        seatsInChannels.add(`${userId}@${guildId}:${channelId}`);
        if (!(await redis.hexists(`USER_VOICE:${userId}`, `${guildId}:${channelId}`))) {
          problems.push(`user ${userId} sits in ${guildId}/${channelId} without that seat in USER_VOICE`);
        }
      }
    }
  }
  for (const key of await scanKeys(redis, 'USER_VOICE:*')) {
    const userId = key.slice('USER_VOICE:'.length);
    const seats = await redis.hkeys(key);
    if (options.oneChannel && seats.length > 1) problems.push(`user ${userId} sits in ${seats.length} channels: ${seats.join(' ')}`);
    for (const seat of seats) if (!seatsInChannels.has(`${userId}@${seat}`)) problems.push(`USER_VOICE:${userId} has ${seat} but the channel does not list them`);
  }
  for (const sessionId of await redis.zrange('SESSION_LEASES', '0', '-1')) {
    if ((await redis.hget(`SESSION:${sessionId}`, 'state')) !== 'live') problems.push(`SESSION_LEASES holds ${sessionId}, which is not live`);
  }
  return problems;
}

/** Channel member arrays sorted, for comparing states reached through different interleavings (join order across users is then not defined). */
export function normalized(state: ObservableState): ObservableState {
  const guildChannels: ObservableState['guildChannels'] = {};
  for (const [guildId, channels] of Object.entries(state.guildChannels)) {
    guildChannels[guildId] = Object.fromEntries(Object.entries(channels).map(([c, members]) => [c, [...members].sort(byId)]));
  }
  return { ...state, guildChannels };
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
