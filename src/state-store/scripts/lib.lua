--[[
  Shared prelude, prepended to every state script when it is loaded (see state-store.repository.ts).

  KEYS: none. The keys a script touches follow from the data (the channels a user sits in, the
  guilds they belong to), so they cannot all be declared up front. The key layout is passed instead,
  as a JSON object in ARGV[1] built from redis-keys.ts, the one place that defines it. Fine on a
  single Redis (or a primary with replicas); not Redis Cluster compatible.

  ARGV[1]: the layout; ARGV[2..]: the script's own arguments, read with arg(i).
]]
local LAYOUT = cjson.decode(ARGV[1])
local function arg(i) return ARGV[1 + i] end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A user's voice seat is named "<guildId>:<channelId>" (a field of their USER_VOICE hash).
local function split_seat(seat)
  return string.match(seat, '^(%d+):(%d+)$')
end

--[[
  GUILD:<guildId> field <channelId> holds a JSON array of userId strings, in join order (the
  contract), e.g. ["1","2"]. It is edited only inside scripts, so concurrent JOINs can never
  overwrite each other. Edits are plain string operations on that text (a member is found as its
  quoted id), not decode + encode, so their cost does not grow with a big channel's decoding. A
  script that applies many events reads each channel once, edits it here and writes it back once
  (save_channels): a burst of 500 JOINs into one channel is one HGET and one HSET.
]]
local channels = {}
local function channel(guildId, channelId)
  local id = guildId .. ':' .. channelId
  local entry = channels[id]
  if not entry then
    local raw = redis.call('HGET', LAYOUT.guild .. guildId, channelId)
    local dirty = false
    if raw and raw ~= '[]' and string.sub(raw, 1, 2) ~= '["' then
      -- Written by another tool (numbers, spaces): rewrite it once in our form. Not JSON: an error
      -- here rejects the event that touched it.
      local members = {}
      for _, m in ipairs(cjson.decode(raw)) do members[#members + 1] = tostring(m) end
      raw = #members > 0 and cjson.encode(members) or nil
      dirty = true
    end
    if raw == '[]' then raw = nil end
    entry = { key = LAYOUT.guild .. guildId, field = channelId, raw = raw, dirty = dirty }
    channels[id] = entry
  end
  return entry
end

local function add_to_channel(guildId, channelId, userId)
  local entry = channel(guildId, channelId)
  local member = '"' .. userId .. '"'
  if not entry.raw then
    entry.raw = '[' .. member .. ']'
  elseif string.find(entry.raw, member, 1, true) then
    return false
  else
    entry.raw = string.sub(entry.raw, 1, -2) .. ',' .. member .. ']'
  end
  entry.dirty = true
  return true
end

local function remove_from_channel(guildId, channelId, userId)
  local entry = channel(guildId, channelId)
  if not entry.raw then return false end
  local first, last = string.find(entry.raw, '"' .. userId .. '"', 1, true)
  if not first then return false end
  local before, after = string.sub(entry.raw, 1, first - 1), string.sub(entry.raw, last + 1)
  if string.sub(after, 1, 1) == ',' then
    after = string.sub(after, 2)
  elseif string.sub(before, -1) == ',' then
    before = string.sub(before, 1, -2)
  end
  entry.raw = before .. after
  if entry.raw == '[]' then entry.raw = nil end
  entry.dirty = true
  return true
end

-- Writes back every channel changed by this script; a channel left empty is removed (the contract).
local function save_channels()
  for _, entry in pairs(channels) do
    if entry.dirty then
      if entry.raw then
        redis.call('HSET', entry.key, entry.field, entry.raw)
      else
        redis.call('HDEL', entry.key, entry.field)
      end
      entry.dirty = false
    end
  end
end

--[[
  Voice seats: USER_VOICE:<userId> maps "<guildId>:<channelId>" to when the seat was taken (ms,
  the JOIN record's timestamp), so that an older event applied late - a DISCONNECT, a RESET - can
  tell the seats it ends from the ones taken after it. STATE_COUNTERS.voice_seats stays exact so
  /metrics reads it in O(1).
]]
local function take_seat(userId, guildId, channelId, atMs)
  local added = add_to_channel(guildId, channelId, userId)
  local seat = guildId .. ':' .. channelId
  local since = redis.call('HGET', LAYOUT.userVoice .. userId, seat)
  if not since then
    redis.call('HSET', LAYOUT.userVoice .. userId, seat, atMs)
    redis.call('HINCRBY', LAYOUT.counters, 'voice_seats', 1)
  elseif atMs > tonumber(since) then
    redis.call('HSET', LAYOUT.userVoice .. userId, seat, atMs)
  end
  return added
end

local function leave_seat(userId, guildId, channelId)
  local removed = remove_from_channel(guildId, channelId, userId)
  if redis.call('HDEL', LAYOUT.userVoice .. userId, guildId .. ':' .. channelId) == 1 then
    redis.call('HINCRBY', LAYOUT.counters, 'voice_seats', -1)
  end
  return removed
end

-- Leaves every seat taken at or before endedAt (all of them when endedAt is nil); keeps later ones.
-- A tie goes to the order of application: a JOIN of the same millisecond applied after the end stays.
local function leave_seats_before(userId, endedAt)
  local seats = redis.call('HGETALL', LAYOUT.userVoice .. userId)
  for i = 1, #seats, 2 do
    if endedAt == nil or tonumber(seats[i + 1]) <= endedAt then
      local guildId, channelId = split_seat(seats[i])
      if guildId then leave_seat(userId, guildId, channelId) end
    end
  end
end

--[[
  JOIN / LEAVE at atMs (the record's timestamp). With oneChannel, a JOIN elsewhere first takes the
  user out of every other channel (Discord's rule). Stale events change nothing:
  - a JOIN from before the user last went offline (redelivered after a crash, or overtaken across
    topics by the DISCONNECT that ended their last session) must not seat a ghost;
  - a LEAVE from before the user took that seat must not unseat them.
  Returns 1 when something changed, 0 for a stale or redelivered JOIN or a LEAVE of a channel the
  user is not in.
]]
local function apply_channel_event(kind, userId, guildId, channelId, oneChannel, atMs)
  if kind == 'LEAVE' then
    local since = redis.call('HGET', LAYOUT.userVoice .. userId, guildId .. ':' .. channelId)
    if since and atMs < tonumber(since) then return 0 end
    return leave_seat(userId, guildId, channelId) and 1 or 0
  end
  local offlineAt = tonumber(redis.call('HGET', LAYOUT.userOfflineAt, userId) or '0')
  if atMs < offlineAt then return 0 end
  local changed = false
  if oneChannel then
    local here = guildId .. ':' .. channelId
    for _, seat in ipairs(redis.call('HKEYS', LAYOUT.userVoice .. userId)) do
      if seat ~= here then
        local otherGuild, otherChannel = split_seat(seat)
        if otherGuild then leave_seat(userId, otherGuild, otherChannel) end
        changed = true
      end
    end
  end
  if take_seat(userId, guildId, channelId, atMs) then changed = true end
  return changed and 1 or 0
end

-- The user's last session ended at endedAt (ms): record the state and the time, leave the voice
-- seats taken before then (a later one means the JOIN was applied before this older event), drop
-- out of the online sets of their guilds. Afterwards only their USER:STATE and USER_OFFLINE_AT
-- fields remain, and any seat taken after endedAt.
local function end_presence(userId, state, wasOnline, endedAt)
  redis.call('HSET', LAYOUT.userState, userId, state)
  local before = tonumber(redis.call('HGET', LAYOUT.userOfflineAt, userId) or '0')
  if endedAt > before then redis.call('HSET', LAYOUT.userOfflineAt, userId, endedAt) end
  if wasOnline then redis.call('HINCRBY', LAYOUT.counters, 'online_users', -1) end
  leave_seats_before(userId, endedAt)
  local guildsKey = LAYOUT.userGuilds .. userId
  for _, guildId in ipairs(redis.call('SMEMBERS', guildsKey)) do
    redis.call('SREM', LAYOUT.guildOnline .. guildId, userId)
  end
  redis.call('DEL', guildsKey)
end

--[[
  CONNECT: a session started at startedAt (ms). Returns 1 when applied, 0 when the session is
  already known: live (a redelivery) or ended (its DISCONNECT overtook it, or it is replayed after
  it) - or when its chat server announced a RESET after it started (the RESET travels on another
  partition and may be applied first). Either way nothing changes: an old session never brings a
  user back online.
]]
local function connect_session(sessionId, userId, state, serverId, startedAt, leaseSeconds, guildIds, endedTtlSeconds)
  local sessionKey = LAYOUT.session .. sessionId
  local known = redis.call('HGET', sessionKey, 'state')
  if known then
    if known == 'live' and leaseSeconds > 0 then
      redis.call('ZADD', LAYOUT.sessionLeases, 'XX', now_ms() + leaseSeconds * 1000, sessionId)
    end
    return 0
  end
  local resetAt = serverId ~= '' and tonumber(redis.call('HGET', LAYOUT.serverResets, serverId) or '0') or 0
  if tonumber(startedAt) < resetAt then
    -- Its server's RESET ended it already: remember it as ended, and if the user has no other
    -- session, they went offline at the reset (a JOIN of theirs from before then is stale too).
    redis.call('HSET', sessionKey, 'state', 'ended', 'user', userId)
    redis.call('EXPIRE', sessionKey, endedTtlSeconds)
    if redis.call('SCARD', LAYOUT.userSessions .. userId) == 0 then end_presence(userId, 'offline', false, resetAt) end
    return 0
  end
  redis.call('HSET', sessionKey, 'state', 'live', 'user', userId, 'since', startedAt)
  if redis.call('SADD', LAYOUT.userSessions .. userId, sessionId) == 1
    and redis.call('SCARD', LAYOUT.userSessions .. userId) == 1 then
    redis.call('HINCRBY', LAYOUT.counters, 'online_users', 1)
  end
  redis.call('HSET', LAYOUT.userState, userId, state)
  for _, guildId in ipairs(guildIds) do
    redis.call('SADD', LAYOUT.userGuilds .. userId, guildId)
    redis.call('SADD', LAYOUT.guildOnline .. guildId, userId)
  end
  if serverId ~= '' then
    redis.call('HSET', sessionKey, 'server', serverId)
    redis.call('SADD', LAYOUT.serverSessions .. serverId, sessionId)
  end
  if leaseSeconds > 0 then
    redis.call('ZADD', LAYOUT.sessionLeases, now_ms() + leaseSeconds * 1000, sessionId)
  end
  return 1
end

--[[
  Ends one session (DISCONNECT, RESET, lease expiry). The user goes offline, leaves voice and their
  guilds' online sets only when it was their last live session. The session record stays behind as
  a tombstone ("ended", expiring after endedTtlSeconds) so that a redelivered or late CONNECT of it
  changes nothing: session ids are never reused. fallbackUserId ('' if unknown) names the user when
  the session was never seen (DISCONNECT before CONNECT). endedAt (ms) is when it ended.
  Returns 1 when applied, 0 if already ended.
]]
local function end_session(sessionId, state, endedTtlSeconds, fallbackUserId, endedAt)
  local sessionKey = LAYOUT.session .. sessionId
  local record = redis.call('HMGET', sessionKey, 'state', 'user', 'server')
  if record[1] == 'ended' then return 0 end
  local userId = record[2] or fallbackUserId
  redis.call('HSET', sessionKey, 'state', 'ended')
  if userId ~= '' then redis.call('HSET', sessionKey, 'user', userId) end
  redis.call('EXPIRE', sessionKey, endedTtlSeconds)
  redis.call('ZREM', LAYOUT.sessionLeases, sessionId)
  if record[3] then redis.call('SREM', LAYOUT.serverSessions .. record[3], sessionId) end
  if userId == '' then return 1 end
  local sessionsKey = LAYOUT.userSessions .. userId
  local wasLive = redis.call('SREM', sessionsKey, sessionId) == 1
  -- Also when the session was never seen live (DISCONNECT before CONNECT): the user has no session
  -- left, so they are offline and out of voice.
  if redis.call('SCARD', sessionsKey) == 0 then end_presence(userId, state, wasLive, endedAt) end
  return 1
end

-- HEARTBEAT: renews a live session's lease. Returns 1 when renewed, 0 otherwise.
local function renew_lease(sessionId, leaseSeconds)
  if leaseSeconds <= 0 then return 0 end
  if redis.call('HGET', LAYOUT.session .. sessionId, 'state') ~= 'live' then return 0 end
  redis.call('ZADD', LAYOUT.sessionLeases, 'XX', now_ms() + leaseSeconds * 1000, sessionId)
  return 1
end
