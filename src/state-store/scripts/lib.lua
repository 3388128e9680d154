--[[
  Shared prelude, prepended to every state script when it is loaded (see state-store.repository.ts).

  KEYS: none. The keys a script touches follow from the data (the channels a user sits in, the guilds
  they belong to), so they cannot all be declared up front. The key layout is passed instead, as
  prefixes in ARGV[1..9], from redis-keys.ts, the one place that defines it. This is fine on a single
  Redis (or a primary with replicas); it is not Redis Cluster compatible.

  ARGV[1..9]: USER:STATE hash, guild channels prefix, guild online prefix, session prefix,
              user sessions prefix, user voice prefix, user guilds prefix, server sessions prefix,
              session leases sorted set.
  ARGV[10..]: the script's own arguments, read with arg(i).
]]
local LAYOUT = {
  userState = ARGV[1], guild = ARGV[2], guildOnline = ARGV[3], session = ARGV[4], userSessions = ARGV[5],
  userVoice = ARGV[6], userGuilds = ARGV[7], serverSessions = ARGV[8], sessionLeases = ARGV[9],
}
local function arg(i) return ARGV[9 + i] end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A user's voice seat is stored as "<guildId>:<channelId>" in their USER_VOICE set.
local function split_seat(seat)
  return string.match(seat, '^(%d+):(%d+)$')
end

-- GUILD:<guildId> field <channelId> holds a JSON array of userId strings, in join order.
-- Edited here, inside one script, so concurrent JOINs can never overwrite each other.
local function add_to_channel(guildId, channelId, userId)
  local key = LAYOUT.guild .. guildId
  local raw = redis.call('HGET', key, channelId)
  local members = raw and cjson.decode(raw) or {}
  for _, m in ipairs(members) do
    if tostring(m) == userId then return false end
  end
  members[#members + 1] = userId
  redis.call('HSET', key, channelId, cjson.encode(members))
  return true
end

-- Removes the user; a channel left empty is removed from the hash (the original's contract).
local function remove_from_channel(guildId, channelId, userId)
  local key = LAYOUT.guild .. guildId
  local raw = redis.call('HGET', key, channelId)
  if not raw then return false end
  local members = cjson.decode(raw)
  local kept, found = {}, false
  for _, m in ipairs(members) do
    if tostring(m) == userId then found = true else kept[#kept + 1] = m end
  end
  if not found then return false end
  if #kept == 0 then
    redis.call('HDEL', key, channelId)
  else
    redis.call('HSET', key, channelId, cjson.encode(kept))
  end
  return true
end

-- The user's last session ended: record the state, leave every voice channel, drop out of the
-- online sets of their guilds. Afterwards only the USER:STATE field remains of them.
local function end_presence(userId, state)
  redis.call('HSET', LAYOUT.userState, userId, state)
  local voiceKey = LAYOUT.userVoice .. userId
  for _, seat in ipairs(redis.call('SMEMBERS', voiceKey)) do
    local guildId, channelId = split_seat(seat)
    if guildId then remove_from_channel(guildId, channelId, userId) end
  end
  redis.call('DEL', voiceKey)
  local guildsKey = LAYOUT.userGuilds .. userId
  for _, guildId in ipairs(redis.call('SMEMBERS', guildsKey)) do
    redis.call('SREM', LAYOUT.guildOnline .. guildId, userId)
  end
  redis.call('DEL', guildsKey)
end

-- Ends one session. The session record stays behind as a tombstone ("ended", with a TTL) so that a
-- redelivered or late CONNECT of it changes nothing: session ids are never reused.
-- fallbackUserId (may be '') names the user when the session was never seen (DISCONNECT before CONNECT).
-- Returns 1 when something changed, 0 for an already-ended session.
local function end_session(sessionId, state, endedTtlSeconds, fallbackUserId)
  local sessionKey = LAYOUT.session .. sessionId
  local record = redis.call('HMGET', sessionKey, 'state', 'user', 'server')
  if record[1] == 'ended' then return 0 end
  local userId = record[2] or fallbackUserId
  redis.call('HSET', sessionKey, 'state', 'ended')
  if userId and userId ~= '' then redis.call('HSET', sessionKey, 'user', userId) end
  redis.call('EXPIRE', sessionKey, endedTtlSeconds)
  redis.call('ZREM', LAYOUT.sessionLeases, sessionId)
  if record[3] then redis.call('SREM', LAYOUT.serverSessions .. record[3], sessionId) end
  if not userId or userId == '' then return 1 end
  local sessionsKey = LAYOUT.userSessions .. userId
  redis.call('SREM', sessionsKey, sessionId)
  if redis.call('SCARD', sessionsKey) == 0 then end_presence(userId, state) end
  return 1
end
