--[[
  Shared prelude, prepended to every state script when it is loaded (see state-store.ts).
  The rules it implements are stated in docs/rules.md; this file says how they sit in Redis.

  KEYS: none. The keys a script touches follow from the data (the channels a user sits in, the
  guilds they belong to), so they cannot all be declared up front. The key layout is passed instead,
  as a JSON object in ARGV[1] built from redis-keys.ts, the one place that defines it. Fine on a
  single Redis (or a primary with replicas).

  ARGV[1]: the layout; ARGV[2]: the settings (JSON: ttl, lease, grace, maxSessions, rank,
  invisibleAs, scope); ARGV[3..]: the script's own arguments, read with arg(i).
]]
local LAYOUT = cjson.decode(ARGV[1])
local SETTINGS = cjson.decode(ARGV[2])
local function arg(i) return ARGV[2 + i] end

-- Outcomes of one event (see state-store.ts): the state changed; the same thing was known already
-- (redelivery); older than what is known (changes nothing).
local APPLIED, DUPLICATE, STALE = 1, 0, 2

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Keys written by this script call that may carry an expiry inherited from the original service
-- (it set a whole-key expiry on USER:STATE and GUILD:*): cleared once per call, at the end.
local touched = {}

-- Decimal ids compare like their numbers when the shorter one is smaller.
local function id_greater(a, b)
  return #a > #b or (#a == #b and a > b)
end

--[[
  GUILD:<guildId> field <channelId> holds a JSON array of userId strings, in the order they sat down
  (the contract), e.g. ["1","2"]. It is the view of the voice registers below, edited only inside
  scripts, so concurrent JOINs never overwrite each other. Edits are plain string operations on that
  text (a member is found as its quoted id), so their cost does not grow with a big channel's
  decoding. A script reads each channel once and writes it back once (save_channels).
  A value in another spelling (spaces, numbers: other JSON writers) is parsed and rewritten in ours;
  one that is not JSON at all (the original's JDK-serialized bytes) is replaced.
]]
local channels = {}
local function canonical(raw)
  return string.find(raw, '^%["[%d",]*"%]$') ~= nil and string.find(raw, '""', 1, true) == nil
end

local function channel(guildId, channelId)
  local id = guildId .. ':' .. channelId
  local entry = channels[id]
  if not entry then
    local raw = redis.call('HGET', LAYOUT.guild .. guildId, channelId)
    local dirty = false
    if raw and raw ~= '[]' and not canonical(raw) then
      local ok, decoded = pcall(cjson.decode, raw)
      local members = {}
      if ok and type(decoded) == 'table' then
        for _, m in ipairs(decoded) do
          local text = type(m) == 'number' and string.format('%.0f', m) or tostring(m)
          if string.find(text, '^%d+$') then members[#members + 1] = '"' .. text .. '"' end
        end
      end
      raw = #members > 0 and ('[' .. table.concat(members, ',') .. ']') or nil
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

-- Writes back every channel changed by this call (an emptied channel is removed: the contract) and
-- clears inherited expiries on the contract keys it wrote.
local function save()
  for _, entry in pairs(channels) do
    if entry.dirty then
      if entry.raw then
        redis.call('HSET', entry.key, entry.field, entry.raw)
      else
        redis.call('HDEL', entry.key, entry.field)
      end
      touched[entry.key] = true
      entry.dirty = false
    end
  end
  for key in pairs(touched) do redis.call('PERSIST', key) end
  touched = {}
end

--[[
  Voice registers. USER_VOICE:<userId> is a hash:
    "J|<scope>"             -> "<ts>|<guildId>|<channelId>|<serverId>"  the newest JOIN of that scope
    "L|<guildId>:<channelId>" -> ts                                      the newest LEAVE of that channel
    "n"                     -> how many seats the user has now
  The scope is the guild (VOICE_SCOPE=guild), "*" (user) or "<guildId>:<channelId>" (none).
  A user sits in channel c iff the newest JOIN of c's scope names c and no LEAVE of c is at or after
  its time. Both registers only ever move forward (newest wins), so the result does not depend on
  the order the records are applied in. While the user sits nowhere the hash expires after the
  "too old to matter" window (SETTINGS.ttl); while they sit somewhere it is kept.
]]
local function scope_of(guildId, channelId)
  if SETTINGS.scope == 'user' then return '*' end
  if SETTINGS.scope == 'none' then return guildId .. ':' .. channelId end
  return guildId
end

local function parse_join(raw)
  if not raw then return nil end
  local ts, g, c, server = string.match(raw, '^(%d+)|(%d+)|(%d+)|(.*)$')
  if not ts then return nil end
  return { ts = tonumber(ts), g = g, c = c, server = server }
end

-- Newest JOIN wins; a tie goes to the larger guild id, channel id, then serverId (none smallest).
local function join_newer(ts, g, c, server, old)
  if ts ~= old.ts then return ts > old.ts end
  if g ~= old.g then return id_greater(g, old.g) end
  if c ~= old.c then return id_greater(c, old.c) end
  return server > old.server
end

local function leave_time(voiceKey, g, c)
  return tonumber(redis.call('HGET', voiceKey, 'L|' .. g .. ':' .. c) or '-1')
end

-- The latest RESET of a signaling server (ms), cached for this script call.
local voiceResets = {}
local function voice_reset(serverId)
  if voiceResets[serverId] == nil then
    voiceResets[serverId] = tonumber(redis.call('HGET', LAYOUT.voiceResets, serverId) or '-1')
  end
  return voiceResets[serverId]
end

-- A JOIN seats its user unless a LEAVE of its channel is at or after it, or its signaling server
-- announced a RESET after it (both compared on that server's clock).
local function seated(voiceKey, join)
  if join == nil or leave_time(voiceKey, join.g, join.c) >= join.ts then return false end
  return join.server == '' or join.ts >= voice_reset(join.server)
end

-- The user's seat count moved by delta: keeps STATE_COUNTERS.voice_seats exact and the register's
-- lifetime right (kept while seated, expiring once they sit nowhere).
local function count_seats(userId, voiceKey, delta)
  local n = delta ~= 0 and redis.call('HINCRBY', voiceKey, 'n', delta) or tonumber(redis.call('HGET', voiceKey, 'n') or '0')
  if delta ~= 0 then redis.call('HINCRBY', LAYOUT.counters, 'voice_seats', delta) end
  if n > 0 then redis.call('PERSIST', voiceKey) else redis.call('EXPIRE', voiceKey, SETTINGS.ttl) end
end

local function sit(userId, join)
  add_to_channel(join.g, join.c, userId)
  if join.server ~= '' then redis.call('SADD', LAYOUT.voiceServerSeats .. join.server, userId .. '|' .. scope_of(join.g, join.c)) end
end

local function unsit(userId, join)
  remove_from_channel(join.g, join.c, userId)
  if join.server ~= '' then redis.call('SREM', LAYOUT.voiceServerSeats .. join.server, userId .. '|' .. scope_of(join.g, join.c)) end
end

-- Ends a seat as a LEAVE of its channel at its JOIN's own time would (the grace period): a
-- redelivered JOIN cannot bring it back, a newer one can. Returns 1 if the user sat there.
local function end_seat(userId, voiceKey, join)
  if not seated(voiceKey, join) then return 0 end
  redis.call('HSET', voiceKey, 'L|' .. join.g .. ':' .. join.c, join.ts)
  unsit(userId, join)
  return 1
end

local function has_live_session(userId)
  return redis.call('EXISTS', LAYOUT.userSessions .. userId) == 1
end

-- The grace period (re)starts: the user's seats end at now + grace unless a session starts first.
local function start_grace(userId)
  if SETTINGS.grace > 0 then redis.call('ZADD', LAYOUT.voiceGrace, now_ms() + SETTINGS.grace * 1000, userId) end
end

local function apply_join(userId, guildId, channelId, ts, serverId)
  local voiceKey = LAYOUT.userVoice .. userId
  local field = 'J|' .. scope_of(guildId, channelId)
  local old = parse_join(redis.call('HGET', voiceKey, field))
  if old and not join_newer(ts, guildId, channelId, serverId, old) then
    if old.ts == ts and old.g == guildId and old.c == channelId and old.server == serverId then return DUPLICATE end
    return STALE
  end
  local join = { ts = ts, g = guildId, c = channelId, server = serverId }
  local wasSeated = old ~= nil and seated(voiceKey, old)
  redis.call('HSET', voiceKey, field, ts .. '|' .. guildId .. '|' .. channelId .. '|' .. serverId)
  local nowSeated = seated(voiceKey, join)
  local sameSeat = old ~= nil and old.g == guildId and old.c == channelId
  local delta = 0
  if wasSeated and not (sameSeat and nowSeated) then
    unsit(userId, old)
    delta = delta - 1
  elseif wasSeated and old.server ~= serverId and old.server ~= '' then
    -- Same seat, now owed to another signaling server's JOIN: its RESET no longer concerns the old one.
    redis.call('SREM', LAYOUT.voiceServerSeats .. old.server, userId .. '|' .. field:sub(3))
  end
  if nowSeated and not (sameSeat and wasSeated) then
    sit(userId, join)
    delta = delta + 1
  elseif nowSeated and serverId ~= '' then
    redis.call('SADD', LAYOUT.voiceServerSeats .. serverId, userId .. '|' .. field:sub(3))
  end
  count_seats(userId, voiceKey, delta)
  if nowSeated and not has_live_session(userId) then start_grace(userId) end
  return APPLIED
end

local function apply_leave(userId, guildId, channelId, ts)
  local voiceKey = LAYOUT.userVoice .. userId
  local leaveField = 'L|' .. guildId .. ':' .. channelId
  local before = tonumber(redis.call('HGET', voiceKey, leaveField) or '-1')
  if before >= ts then return before == ts and DUPLICATE or STALE end
  local join = parse_join(redis.call('HGET', voiceKey, 'J|' .. scope_of(guildId, channelId)))
  -- Older than the newest JOIN of its scope: it can never matter (a JOIN of this channel that it
  -- could end would have to be newer still).
  if join and ts < join.ts then return STALE end
  local wasSeated = join ~= nil and join.g == guildId and join.c == channelId and seated(voiceKey, join)
  redis.call('HSET', voiceKey, leaveField, ts)
  if wasSeated then unsit(userId, join) end
  count_seats(userId, voiceKey, wasSeated and -1 or 0)
  return APPLIED
end

-- Ends every seat of the user (grace period ran out with no live session). Returns seats ended.
local function end_all_seats(userId)
  local voiceKey = LAYOUT.userVoice .. userId
  local fields = redis.call('HGETALL', voiceKey)
  local ended = 0
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'J|' then
      ended = ended + end_seat(userId, voiceKey, parse_join(fields[i + 1]))
    end
  end
  if ended > 0 or #fields > 0 then count_seats(userId, voiceKey, -ended) end
  return ended
end

--[[
  Sessions. SESSION:<userId>:<sessionId> is a hash: state (live | ended), st (the session's own
  state, e.g. online), ts (record time of the CONNECT that set st), since (when it started), server,
  guilds (comma-separated). An ended session stays as a tombstone for SETTINGS.ttl so that a late or
  redelivered CONNECT of it changes nothing. USER_SESSIONS:<userId> maps the user's live sessionIds
  to their states; USER_GUILDS:<userId> maps each guild to how many of their live sessions list it.
  SESSION_OWNER:<sessionId> names the user of the latest CONNECT with that id, for DISCONNECTs that
  name no user (the chat server's HTTP DISCONNECT).
]]
local function session_key(userId, sessionId)
  return LAYOUT.session .. userId .. ':' .. sessionId
end

-- SESSION_OWNER:<sessionId> = "<ts>|<userId>" of the newest CONNECT with that id (a tie: the larger userId).
local function claim_owner(sessionId, userId, ts)
  local key = LAYOUT.sessionOwner .. sessionId
  local known = redis.call('GET', key)
  if known then
    local knownTs, knownUser = string.match(known, '^(%d+)|(%d+)$')
    if knownTs and (tonumber(knownTs) > ts or (tonumber(knownTs) == ts and not id_greater(userId, knownUser) and userId ~= knownUser)) then return end
  end
  redis.call('SET', key, ts .. '|' .. userId)
end

local function owner_of(sessionId)
  local known = redis.call('GET', LAYOUT.sessionOwner .. sessionId)
  return known and string.match(known, '|(%d+)$') or nil
end

local function rank(state)
  return SETTINGS.rank[state] or 0
end

-- Which of two states is shown when both are live: the higher rank, then the smaller string.
local function outranks(a, b)
  local ra, rb = rank(a), rank(b)
  if ra ~= rb then return ra > rb end
  return a < b
end

-- USER:STATE <- the highest-ranked state of the user's live sessions; offline when none.
local function refresh_shown_state(userId)
  local best
  for _, state in ipairs(redis.call('HVALS', LAYOUT.userSessions .. userId)) do
    if best == nil or outranks(state, best) then best = state end
  end
  local shown = best or 'offline'
  if shown == 'invisible' then shown = SETTINGS.invisibleAs end
  redis.call('HSET', LAYOUT.userState, userId, shown)
  touched[LAYOUT.userState] = true
end

local function split_list(text)
  local items = {}
  if text then for item in string.gmatch(text, '[^,]+') do items[#items + 1] = item end end
  return items
end

local function add_session_guilds(userId, guildIds)
  for _, guildId in ipairs(guildIds) do
    if redis.call('HINCRBY', LAYOUT.userGuilds .. userId, guildId, 1) == 1 then
      redis.call('SADD', LAYOUT.guildOnline .. guildId, userId)
    end
  end
end

local function drop_session_guilds(userId, guildIds)
  for _, guildId in ipairs(guildIds) do
    if redis.call('HINCRBY', LAYOUT.userGuilds .. userId, guildId, -1) <= 0 then
      redis.call('HDEL', LAYOUT.userGuilds .. userId, guildId)
      redis.call('SREM', LAYOUT.guildOnline .. guildId, userId)
    end
  end
end

local function tombstone(sessionKey)
  redis.call('HSET', sessionKey, 'state', 'ended')
  redis.call('EXPIRE', sessionKey, SETTINGS.ttl)
end

--[[
  Ends session (userId, sessionId): DISCONNECT, RESET, lease expiry, the session bound. An unknown
  one gets its tombstone (its DISCONNECT overtook its CONNECT). The user goes offline only when it
  was their last live session; their seats then end after the grace period, not now (voice lives on
  its own socket). Returns the outcome and whether the user's last live session ended.
]]
local function end_session(userId, sessionId)
  local sessionKey = session_key(userId, sessionId)
  local record = redis.call('HMGET', sessionKey, 'state', 'server', 'guilds')
  if record[1] == 'ended' then return DUPLICATE, false end
  tombstone(sessionKey)
  local member = userId .. ':' .. sessionId
  if record[2] and record[2] ~= '' then redis.call('SREM', LAYOUT.serverSessions .. record[2], member) end
  redis.call('ZREM', LAYOUT.sessionLeases, member)
  if owner_of(sessionId) == userId then redis.call('EXPIRE', LAYOUT.sessionOwner .. sessionId, SETTINGS.ttl) end
  local last = false
  if redis.call('HDEL', LAYOUT.userSessions .. userId, sessionId) == 1 then
    drop_session_guilds(userId, split_list(record[3]))
    if not has_live_session(userId) then
      last = true
      redis.call('HINCRBY', LAYOUT.counters, 'online_users', -1)
      if tonumber(redis.call('HGET', LAYOUT.userVoice .. userId, 'n') or '0') > 0 then start_grace(userId) end
    end
  end
  refresh_shown_state(userId)
  return APPLIED, last
end

-- The user's oldest live session (smallest start time, then sessionId), for the session bound.
local function oldest_session(userId)
  local oldest, oldestSince
  for _, sessionId in ipairs(redis.call('HKEYS', LAYOUT.userSessions .. userId)) do
    local since = tonumber(redis.call('HGET', session_key(userId, sessionId), 'since') or '0')
    if oldest == nil or since < oldestSince or (since == oldestSince and sessionId < oldest) then
      oldest, oldestSince = sessionId, since
    end
  end
  return oldest
end

--[[
  CONNECT of (userId, sessionId) with state at ts (the chat server's clock). Returns the outcome and
  how many sessions the bound ended (MAX_SESSIONS_PER_USER).
  - ended already (its DISCONNECT came first, or this is a replay): stale, nothing changes;
  - a pending DISCONNECT for this id (it named no user and came first): the session ends at once;
  - its chat server's RESET is newer: it ended at the reset;
  - live already: a status change, the newest CONNECT (by ts) wins;
  - else it starts, and the user is online.
]]
local function connect_session(userId, sessionId, state, ts, serverId, guildIds)
  local sessionKey = session_key(userId, sessionId)
  local record = redis.call('HMGET', sessionKey, 'state', 'st', 'ts', 'guilds', 'since')
  local member = userId .. ':' .. sessionId
  if record[1] == 'ended' then
    redis.call('DEL', LAYOUT.pendingDisconnect .. sessionId)
    return STALE, 0
  end
  if record[1] == 'live' then
    if serverId ~= '' and ts < tonumber(redis.call('HGET', LAYOUT.serverResets, serverId) or '-1') then
      -- A CONNECT of it from before its server's RESET, applied after a newer one: it ended at the reset.
      local outcome = end_session(userId, sessionId)
      return outcome, 0
    end
    local outcome = DUPLICATE
    local known = tonumber(record[3])
    -- A session started at its earliest CONNECT (what its server's RESET is compared with).
    if ts < tonumber(record[5] or ts) then redis.call('HSET', sessionKey, 'since', ts) end
    if ts > known or (ts == known and state ~= record[2] and outranks(state, record[2])) then
      -- Newer: its time is kept even when the state is the same, so that an older one applied later loses.
      redis.call('HSET', sessionKey, 'st', state, 'ts', ts)
      if state ~= record[2] then
        redis.call('HSET', LAYOUT.userSessions .. userId, sessionId, state)
        refresh_shown_state(userId)
        outcome = APPLIED
      end
    elseif ts < known or state ~= record[2] then
      outcome = STALE
    end
    local have, added = {}, {}
    for _, g in ipairs(split_list(record[4])) do have[g] = true end
    for _, g in ipairs(guildIds) do
      if not have[g] then have[g] = true; added[#added + 1] = g end
    end
    if #added > 0 then
      redis.call('HSET', sessionKey, 'guilds', (record[4] and record[4] ~= '' and (record[4] .. ',') or '') .. table.concat(added, ','))
      add_session_guilds(userId, added)
      outcome = APPLIED
    end
    if SETTINGS.lease > 0 then redis.call('ZADD', LAYOUT.sessionLeases, 'XX', now_ms() + SETTINGS.lease * 1000, member) end
    return outcome, 0
  end
  claim_owner(sessionId, userId, ts)
  local endedAlready = redis.call('DEL', LAYOUT.pendingDisconnect .. sessionId) == 1
  if not endedAlready and serverId ~= '' then
    endedAlready = ts < tonumber(redis.call('HGET', LAYOUT.serverResets, serverId) or '-1')
  end
  if endedAlready then
    tombstone(sessionKey)
    redis.call('EXPIRE', LAYOUT.sessionOwner .. sessionId, SETTINGS.ttl)
    refresh_shown_state(userId)
    return STALE, 0
  end
  local evicted = 0
  while redis.call('HLEN', LAYOUT.userSessions .. userId) >= SETTINGS.maxSessions do
    end_session(userId, oldest_session(userId))
    evicted = evicted + 1
  end
  local unique, seen = {}, {}
  for _, g in ipairs(guildIds) do
    if not seen[g] then seen[g] = true; unique[#unique + 1] = g end
  end
  redis.call('HSET', sessionKey, 'state', 'live', 'st', state, 'ts', ts, 'since', ts, 'server', serverId, 'guilds', table.concat(unique, ','))
  redis.call('PERSIST', sessionKey)
  if not has_live_session(userId) then
    redis.call('HINCRBY', LAYOUT.counters, 'online_users', 1)
    redis.call('ZREM', LAYOUT.voiceGrace, userId)
  end
  redis.call('HSET', LAYOUT.userSessions .. userId, sessionId, state)
  add_session_guilds(userId, unique)
  if serverId ~= '' then redis.call('SADD', LAYOUT.serverSessions .. serverId, member) end
  if SETTINGS.lease > 0 then redis.call('ZADD', LAYOUT.sessionLeases, now_ms() + SETTINGS.lease * 1000, member) end
  refresh_shown_state(userId)
  return APPLIED, evicted
end

--[[
  DISCONNECT of sessionId, by userId ('' when the event names none: then the user of the latest
  CONNECT with that id). Returns the outcome, the user ('' if none is known) and whether this ended
  the user's last live session. When no session with that id is known, a one-shot pending marker
  is left for the first CONNECT with it (returned as outcome APPLIED with user '').
]]
local function disconnect_session(sessionId, userId)
  if userId == '' then
    userId = owner_of(sessionId)
    if not userId then
      local marked = redis.call('SET', LAYOUT.pendingDisconnect .. sessionId, '1', 'EX', SETTINGS.ttl, 'NX')
      return marked and APPLIED or DUPLICATE, '', false
    end
  end
  local outcome, last = end_session(userId, sessionId)
  return outcome, userId, last
end

-- HEARTBEAT: renews a live session's lease. Returns APPLIED when renewed.
local function renew_lease(userId, sessionId)
  if SETTINGS.lease <= 0 then return DUPLICATE end
  if userId == '' then userId = owner_of(sessionId) or '' end
  if userId == '' then return DUPLICATE end
  local renewed = redis.call('ZADD', LAYOUT.sessionLeases, 'XX', 'CH', now_ms() + SETTINGS.lease * 1000, userId .. ':' .. sessionId)
  return renewed == 1 and APPLIED or DUPLICATE
end
