/**
 * The Redis key layout: the only place that knows it. Lua scripts receive it as prefixes
 * (see scripts/lib.lua). The first two are the original service's contract, read by other tools.
 *
 *   USER:STATE               hash    userId -> state carried by the last event (online / offline / …)   [contract]
 *   GUILD:<guildId>          hash    channelId -> JSON array of userId strings in that voice channel    [contract]
 *   GUILD_ONLINE:<guildId>   set     userIds online in the guild (from guildIds on CONNECT)
 *   SESSION:<sessionId>      hash    user, state (live | ended), since (ms), server; ended ones expire
 *   USER_SESSIONS:<userId>   set     the user's live sessionIds
 *   USER_VOICE:<userId>      hash    the user's voice seats, "<guildId>:<channelId>" -> when taken (ms)
 *   USER_GUILDS:<userId>     set     guildIds the user is counted online in
 *   SERVER_SESSIONS:<id>     set     live sessionIds owned by a chat-server instance (for RESET)
 *   SESSION_LEASES           zset    sessionId -> lease expiry (ms), only with SESSION_TTL_SECONDS
 *   STATE_COUNTERS           hash    online_users, voice_seats: kept exact by the scripts, read by /metrics
 *   USER_OFFLINE_AT          hash    userId -> when their last session ended (ms): older JOINs are stale
 *   SERVER_RESETS            hash    serverId -> time of its last RESET (ms): older CONNECTs are stale
 *   STATE_STORE:SINCE        string  when the state was started (ISO time); if a reconnected Redis lacks it, the state was lost
 */
export const redisKeys = {
  userStates: 'USER:STATE',
  guildChannelsPrefix: 'GUILD:',
  guildOnlinePrefix: 'GUILD_ONLINE:',
  sessionPrefix: 'SESSION:',
  userSessionsPrefix: 'USER_SESSIONS:',
  userVoicePrefix: 'USER_VOICE:',
  userGuildsPrefix: 'USER_GUILDS:',
  serverSessionsPrefix: 'SERVER_SESSIONS:',
  sessionLeases: 'SESSION_LEASES',
  counters: 'STATE_COUNTERS',
  userOfflineAt: 'USER_OFFLINE_AT',
  serverResets: 'SERVER_RESETS',
  storeMarker: 'STATE_STORE:SINCE',
} as const;

export const guildChannelsKey = (guildId: string) => redisKeys.guildChannelsPrefix + guildId;
export const guildOnlineKey = (guildId: string) => redisKeys.guildOnlinePrefix + guildId;
export const sessionKey = (sessionId: string) => redisKeys.sessionPrefix + sessionId;
export const userSessionsKey = (userId: string) => redisKeys.userSessionsPrefix + userId;
export const userVoiceKey = (userId: string) => redisKeys.userVoicePrefix + userId;

/** The layout as the scripts receive it (ARGV[1], decoded by lib.lua). */
export const scriptLayout: string = JSON.stringify({
  userState: redisKeys.userStates,
  guild: redisKeys.guildChannelsPrefix,
  guildOnline: redisKeys.guildOnlinePrefix,
  session: redisKeys.sessionPrefix,
  userSessions: redisKeys.userSessionsPrefix,
  userVoice: redisKeys.userVoicePrefix,
  userGuilds: redisKeys.userGuildsPrefix,
  serverSessions: redisKeys.serverSessionsPrefix,
  sessionLeases: redisKeys.sessionLeases,
  counters: redisKeys.counters,
  userOfflineAt: redisKeys.userOfflineAt,
  serverResets: redisKeys.serverResets,
});
