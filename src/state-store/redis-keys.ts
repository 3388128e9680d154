/**
 * The Redis key layout: the only place that knows it. Lua scripts receive it as prefixes
 * (see scripts/lib.lua). The first two are the original service's contract, read by other tools.
 * What each key means for the rules: docs/rules.md.
 *
 *   USER:STATE                  hash    userId -> shown state (highest-ranked live session; offline)   [contract]
 *   GUILD:<guildId>             hash    channelId -> JSON array of userId strings sitting there          [contract]
 *   GUILD_ONLINE:<guildId>      set     userIds online with that guild among their live sessions' guildIds
 *   SESSION:<userId>:<sessionId> hash   state (live | ended), st, ts, since, server, guilds; ended ones expire
 *   SESSION_OWNER:<sessionId>   string  userId of the latest CONNECT with that id (DISCONNECTs naming no user)
 *   PENDING_DISCONNECT:<sessionId> string a DISCONNECT that came before any CONNECT of that id (expires)
 *   USER_SESSIONS:<userId>      hash    live sessionId -> its state
 *   USER_GUILDS:<userId>        hash    guildId -> how many live sessions list it
 *   USER_VOICE:<userId>         hash    voice registers: J|<scope> newest JOIN, L|<g>:<c> newest LEAVE, n seats
 *   VOICE_GRACE                 zset    userId -> when their seats end unless a session starts (ms)
 *   SERVER_SESSIONS:<serverId>  set     "<userId>:<sessionId>" of a chat-server instance's live sessions (RESET)
 *   SERVER_RESETS               hash    chat serverId -> time of its last RESET (ms)
 *   VOICE_SERVER_SEATS:<serverId> set   "<userId>|<scope>" seats taken by JOINs of a signaling server (RESET)
 *   VOICE_RESETS                hash    signaling serverId -> time of its last RESET (ms)
 *   SESSION_LEASES              zset    "<userId>:<sessionId>" -> lease expiry (ms), only with SESSION_TTL_SECONDS
 *   STATE_COUNTERS              hash    online_users, voice_seats: kept exact by the scripts, read by /metrics
 *   STATE_STORE:SINCE           string  when the state was started; absent = the state was lost (or never built)
 *   STATE_STORE:EPOCH           string  the state's epoch after a rebuild: consumers use group <KAFKA_GROUP_ID>.<epoch>
 *   STATE_STORE:REBUILD:<epoch> string  the end offsets a rebuild must reach (JSON), set by the first instance to switch
 */
export const redisKeys = {
  userStates: 'USER:STATE',
  guildChannelsPrefix: 'GUILD:',
  guildOnlinePrefix: 'GUILD_ONLINE:',
  sessionPrefix: 'SESSION:',
  sessionOwnerPrefix: 'SESSION_OWNER:',
  pendingDisconnectPrefix: 'PENDING_DISCONNECT:',
  userSessionsPrefix: 'USER_SESSIONS:',
  userGuildsPrefix: 'USER_GUILDS:',
  userVoicePrefix: 'USER_VOICE:',
  voiceGrace: 'VOICE_GRACE',
  serverSessionsPrefix: 'SERVER_SESSIONS:',
  serverResets: 'SERVER_RESETS',
  voiceServerSeatsPrefix: 'VOICE_SERVER_SEATS:',
  voiceResets: 'VOICE_RESETS',
  sessionLeases: 'SESSION_LEASES',
  counters: 'STATE_COUNTERS',
  storeMarker: 'STATE_STORE:SINCE',
  storeEpoch: 'STATE_STORE:EPOCH',
  storeRebuildPrefix: 'STATE_STORE:REBUILD:',
} as const;

export const guildChannelsKey = (guildId: string) => redisKeys.guildChannelsPrefix + guildId;
export const guildOnlineKey = (guildId: string) => redisKeys.guildOnlinePrefix + guildId;
export const sessionKey = (userId: string, sessionId: string) => `${redisKeys.sessionPrefix}${userId}:${sessionId}`;
export const userSessionsKey = (userId: string) => redisKeys.userSessionsPrefix + userId;
export const userVoiceKey = (userId: string) => redisKeys.userVoicePrefix + userId;

/** The layout as the scripts receive it (ARGV[1], decoded by lib.lua). */
export const scriptLayout: string = JSON.stringify({
  userState: redisKeys.userStates,
  guild: redisKeys.guildChannelsPrefix,
  guildOnline: redisKeys.guildOnlinePrefix,
  session: redisKeys.sessionPrefix,
  sessionOwner: redisKeys.sessionOwnerPrefix,
  pendingDisconnect: redisKeys.pendingDisconnectPrefix,
  userSessions: redisKeys.userSessionsPrefix,
  userGuilds: redisKeys.userGuildsPrefix,
  userVoice: redisKeys.userVoicePrefix,
  voiceGrace: redisKeys.voiceGrace,
  serverSessions: redisKeys.serverSessionsPrefix,
  serverResets: redisKeys.serverResets,
  voiceServerSeats: redisKeys.voiceServerSeatsPrefix,
  voiceResets: redisKeys.voiceResets,
  sessionLeases: redisKeys.sessionLeases,
  counters: redisKeys.counters,
});
