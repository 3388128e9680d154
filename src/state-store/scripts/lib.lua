--[[
  Shared prelude, prepended to every state script when it is loaded (see state-store.ts).
  The rules it implements are stated in docs/rules.md; this file says how they sit in Redis.

  KEYS[1]: the bucket's STATE_COUNTERS. Every key a call touches carries the same prefix as KEYS[1]:
  nothing on a single Redis (today's names), the bucket's hash tag `{tag}` on Redis Cluster, so one
  call touches one hash slot and is routed by KEYS[1]. The other keys follow from the data (the
  channels a user sits in, the sessions a RESET ends), so they cannot all be declared up front; on a
  cluster the scripts are loaded with a `#!lua` shebang, under which Redis itself refuses a key of
  another slot. The names come from ARGV[1], a JSON object built from redis-keys.ts, the one place
  that defines them.

  ARGV[1]: the names; ARGV[2]: the settings (JSON: ttl, lease, grace, maxSessions, rank,
  invisibleAs, scope, inline); ARGV[3..]: the script's own arguments, read with arg(i).

  SETTINGS.inline (a single Redis): everything an event changes is within this call's reach and is
  changed here, atomically. Otherwise (a cluster) the effects of an event on other buckets - a
  guild's view, a guild's online set, a session id's owner - are FOLLOW-UPS: the call records which
  (user, guild, channel) seats, (user, guild) memberships and (session, user) ends it touched and,
  at its end, returns the CURRENT state of each with a version from the bucket's clock (strictly
  increasing), also kept in the bucket's outbox until the client confirms it applied them;
  apply-follow-ups.lua applies them in their own buckets, the newest version winning. Why that
  converges after a crash, a redelivery or a failover: docs/cluster.md.
]]
local LAYOUT = cjson.decode(ARGV[1])
local SETTINGS = cjson.decode(ARGV[2])
local function arg(i) return ARGV[2 + i] end
local INLINE = SETTINGS.inline

local P = string.sub(KEYS[1], 1, #KEYS[1] - #LAYOUT.counters)
if P .. LAYOUT.counters ~= KEYS[1] then error('KEYS[1] must be a bucket\'s ' .. LAYOUT.counters) end
-- Every name of the layout, with this bucket's prefix.
local K = {}
for name, value in pairs(LAYOUT) do K[name] = P .. value end

-- Outcomes of one event (see state-store.ts): the state changed; the same thing was
-- known already (redelivery); older than what is known (changes nothing).
local APPLIED, DUPLICATE, STALE = 1, 0, 2

-- The change stream (change-outbox.lua, appended after this file, defines the recorders): what
-- caused this call's changes, set by each script (an event's kind letter, or 'reset', 'lease', 'grace').
local record_presence, record_voice, change_cause

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Keys written by this script call that may carry an expiry inherited from the original service
-- (it set a whole-key expiry on USER:STATE and GUILD:*): cleared once per call, at the end.
local touched = {}

-- Whether text a sorts before b by their bytes (UTF-8). Lua's own < on strings uses the C
-- library's collation, which follows the locale redis-server was started in: ties must not.
local function bytes_less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- Decimal ids compare like their numbers when the shorter one is smaller.
local function id_greater(a, b)
  return #a > #b or (#a == #b and bytes_less(b, a))
end

local function split_list(text)
  local items = {}
  if text then for item in string.gmatch(text, '[^,]+') do items[#items + 1] = item end end
  return items
end

--[[
  GUILD:<guildId> field <channelId> holds a JSON array of userId strings, in the order they sat down
  (the contract), e.g. ["1","2"]. It is the view of the voice registers below, edited only inside
  scripts, so concurrent JOINs never overwrite each other. Edits are plain string operations on that
  text (a member is found as its quoted id), so their cost does not grow with a big channel's
  decoding. A script reads each channel once and writes it back once (save).
  A value in another spelling (spaces, numbers: other JSON writers) is parsed and rewritten in ours;
  on a single Redis its members are adopted as seats (adopt_seat: the registers then back them, so
  a LEAVE ends them). One that is not JSON at all (JDK-serialized bytes) is replaced; the original's
  are adopted at start-up (original-adoption.ts).
]]
local channels = {}
local adopt_seat -- defined with the voice registers below
local function canonical(raw)
  return string.find(raw, '^%["[%d",]*"%]$') ~= nil and string.find(raw, '""', 1, true) == nil
end

local function channel(guildId, channelId)
  local id = guildId .. ':' .. channelId
  local entry = channels[id]
  if not entry then
    local raw = redis.call('HGET', K.guild .. guildId, channelId)
    local dirty, foreign = false, nil
    if raw and raw ~= '[]' and not canonical(raw) then
      local ok, decoded = pcall(cjson.decode, raw)
      local members = {}
      if ok and type(decoded) == 'table' then
        for _, m in ipairs(decoded) do
          local text = type(m) == 'number' and string.format('%.0f', m) or tostring(m)
          if string.find(text, '^%d+$') then members[#members + 1] = text end
        end
      end
      foreign = members
      raw = #members > 0 and ('["' .. table.concat(members, '","') .. '"]') or nil
      dirty = true
    end
    if raw == '[]' then raw = nil end
    entry = { key = K.guild .. guildId, field = channelId, raw = raw, dirty = dirty }
    channels[id] = entry
    if INLINE and foreign then
      for _, userId in ipairs(foreign) do adopt_seat(userId, guildId, channelId) end
    end
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
  record_voice(guildId, channelId, userId, 'JOIN')
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
  record_voice(guildId, channelId, userId, 'LEAVE')
  return true
end

-- STATE_COUNTERS moves of this call, written once each by save() (one HINCRBY per counter per call
-- instead of one per change).
local counterMoves = {}
local function count(counter, delta)
  counterMoves[counter] = (counterMoves[counter] or 0) + delta
end

-- Writes back every channel changed by this call (an emptied channel is removed: the contract),
-- clears inherited expiries on the contract keys it wrote, and moves the counters.
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
  for counter, delta in pairs(counterMoves) do
    if delta ~= 0 then redis.call('HINCRBY', K.counters, counter, delta) end
  end
  counterMoves = {}
end

--[[
  What this call touched in other buckets (cluster only; see the header). Each is recorded once per
  call; follow_ups() turns them into versioned current states at the end. Those recorded while
  `pinned` (the sessions a CONNECT ends to stay within MAX_SESSIONS_PER_USER, which a redelivery
  of that CONNECT would not end again) always go to the outbox.
]]
local pinned = false
local touches, touch_index = {}, {}
local function touch(id, entry)
  local known = touch_index[id]
  if known then
    known.pinned = known.pinned or pinned
    return
  end
  entry.pinned = pinned
  touch_index[id] = entry
  touches[#touches + 1] = entry
end

local function touch_seat(userId, guildId, channelId)
  touch('V|' .. userId .. '|' .. guildId .. '|' .. channelId, { kind = 'V', u = userId, g = guildId, c = channelId })
end

local function touch_membership(userId, guildId)
  touch('O|' .. userId .. '|' .. guildId, { kind = 'O', u = userId, g = guildId })
end

local function touch_session_end(sessionId, userId)
  touch('E|' .. userId .. '|' .. sessionId, { kind = 'E', u = userId, s = sessionId })
end

--[[
  Voice registers. USER_VOICE:<userId> is a hash:
    "J|<scope>"             -> "<ts>|<guildId>|<channelId>|<serverId>"  the newest JOIN of that scope
    "L|<guildId>:<channelId>" -> ts                                      the newest LEAVE of that channel
    "M|<guildId>:<channelId>" -> 1   (cluster) a seat ended by a move, so its state is sent again
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
  return bytes_less(old.server, server)
end

local function leave_time(voiceKey, g, c)
  return tonumber(redis.call('HGET', voiceKey, 'L|' .. g .. ':' .. c) or '-1')
end

-- The latest RESET (ms) of each server in a RESET hash, read once per script call: chat servers'
-- (SERVER_RESETS, sessions) and signaling servers' (VOICE_RESETS, seats). Only the RESET scripts
-- move them, through raise (it only moves forward, so RESETs applied in any order agree).
local function reset_times(hash)
  local known = {}
  local times = {}
  function times.of(serverId)
    if known[serverId] == nil then known[serverId] = tonumber(redis.call('HGET', hash, serverId) or '-1') end
    return known[serverId]
  end
  -- Records a RESET at `at` unless a later one is known.
  function times.raise(serverId, at)
    if at > times.of(serverId) then
      redis.call('HSET', hash, serverId, at)
      known[serverId] = at
    end
  end
  return times
end
local chatResets = reset_times(K.serverResets)
local voiceResets = reset_times(K.voiceResets)

-- A JOIN seats its user unless a LEAVE of its channel is at or after it, or its signaling server
-- announced a RESET after it (both compared on that server's clock).
local function seated(voiceKey, join)
  if join == nil or leave_time(voiceKey, join.g, join.c) >= join.ts then return false end
  return join.server == '' or join.ts >= voiceResets.of(join.server)
end

-- Whether the user sits in (guildId, channelId) now, from the registers.
local function seat_state(userId, guildId, channelId)
  local voiceKey = K.userVoice .. userId
  local join = parse_join(redis.call('HGET', voiceKey, 'J|' .. scope_of(guildId, channelId)))
  return join ~= nil and join.g == guildId and join.c == channelId and seated(voiceKey, join)
end

-- The user's seat count moved by delta: keeps STATE_COUNTERS.voice_seats exact and the register's
-- lifetime right (kept while seated, expiring once they sit nowhere). Only this sets an expiry on
-- the key, and only at n = 0, so a key with n > 0 has none: PERSIST is needed only when n leaves 0.
local function count_seats(userId, voiceKey, delta)
  local n = delta ~= 0 and redis.call('HINCRBY', voiceKey, 'n', delta) or tonumber(redis.call('HGET', voiceKey, 'n') or '0')
  if delta ~= 0 then count('voice_seats', delta) end
  if n <= 0 then
    redis.call('EXPIRE', voiceKey, SETTINGS.ttl)
  elseif n - delta <= 0 then
    redis.call('PERSIST', voiceKey)
  end
end

-- VOICE_SERVER_SEATS:<serverId> holds "<userId>|<scope>" for each seat in the view that a JOIN of
-- that signaling server took: what its RESET has to take out. sit and unsit keep it.
local function seat_member(userId, join)
  return userId .. '|' .. scope_of(join.g, join.c)
end

-- The view follows the registers: on a single Redis the channel is edited here; on a cluster the
-- seat is recorded as touched and its state sent to the guild's bucket (follow_ups).
local function sit(userId, join)
  if INLINE then add_to_channel(join.g, join.c, userId) else touch_seat(userId, join.g, join.c) end
  if join.server ~= '' then redis.call('SADD', K.voiceServerSeats .. join.server, seat_member(userId, join)) end
end

local function unsit(userId, join)
  if INLINE then remove_from_channel(join.g, join.c, userId) else touch_seat(userId, join.g, join.c) end
  if join.server ~= '' then redis.call('SREM', K.voiceServerSeats .. join.server, seat_member(userId, join)) end
end

-- Whether a JOIN's seat is in the view: seated, or made unreal by its server's RESET that has not
-- reached it yet (a RESET ends its seats in bounded steps; until then they are still counted).
local function in_view(userId, voiceKey, join)
  if seated(voiceKey, join) then return true end
  return join.server ~= '' and redis.call('SISMEMBER', K.voiceServerSeats .. join.server, seat_member(userId, join)) == 1
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
  return redis.call('EXISTS', K.userSessions .. userId) == 1
end

-- The grace period (re)starts: the user's seats end at now + grace unless a session starts first.
local function start_grace(userId)
  if SETTINGS.grace > 0 then redis.call('ZADD', K.voiceGrace, now_ms() + SETTINGS.grace * 1000, userId) end
end

--[[
  A sign of the user's chat life at `at` (ms, the state server's clock): a CONNECT of theirs, even
  one that changes nothing (it used up a pending DISCONNECT, met its tombstone, or came from before
  its server's RESET): their chat was up then, so a running grace period ends no earlier than
  at + grace. Only ever moves a deadline later (XX GT), and only one that exists (seats, no live
  session). The caller passes min(record time, now), so a replayed or late record keeps no seat
  alive past what its own time allows.
]]
local function note_chat_life(userId, at)
  if SETTINGS.grace > 0 then redis.call('ZADD', K.voiceGrace, 'XX', 'GT', at + SETTINGS.grace * 1000, userId) end
end

--[[
  Cluster: what a follow-up says is sent by the event that changed it (sit, unsit, a membership
  starting or ending, a session ending). An event that changes nothing - a redelivery, a replay -
  instead marks as touched everything it could have changed: for a voice event every seat of its
  scope the registers know of (current JOINs, LEAVEs, seats left by a move). So the redelivery of
  a record whose follow-ups were lost, between the two steps (the process died) or with a
  failed-over guild bucket (asynchronous replication), sends their current state again. A record
  applied again never changes anything the second time: registers only move forward.
]]
local function touch_scope(userId, guildId, channelId)
  local scope = SETTINGS.scope
  touch_seat(userId, guildId, channelId)
  local fields = redis.call('HGETALL', K.userVoice .. userId)
  for i = 1, #fields, 2 do
    local kind, g, c = string.sub(fields[i], 1, 2), nil, nil
    if kind == 'J|' then
      local join = parse_join(fields[i + 1])
      if join then g, c = join.g, join.c end
    elseif kind == 'L|' or kind == 'M|' then
      g, c = string.match(fields[i], '^.|(%d+):(%d+)$')
    end
    if g and (scope == 'user' or (g == guildId and (scope == 'guild' or c == channelId))) then touch_seat(userId, g, c) end
  end
end

local function join_registers(userId, guildId, channelId, ts, serverId)
  local voiceKey = K.userVoice .. userId
  local field = 'J|' .. scope_of(guildId, channelId)
  local old = parse_join(redis.call('HGET', voiceKey, field))
  if old and not join_newer(ts, guildId, channelId, serverId, old) then
    if old.ts == ts and old.g == guildId and old.c == channelId and old.server == serverId then return DUPLICATE end
    return STALE
  end
  local join = { ts = ts, g = guildId, c = channelId, server = serverId }
  local wasSeated = old ~= nil and in_view(userId, voiceKey, old)
  redis.call('HSET', voiceKey, field, ts .. '|' .. guildId .. '|' .. channelId .. '|' .. serverId)
  local nowSeated = seated(voiceKey, join)
  local sameSeat = old ~= nil and old.g == guildId and old.c == channelId
  local delta = 0
  if wasSeated and not (sameSeat and nowSeated) then
    unsit(userId, old)
    if not INLINE and not sameSeat then redis.call('HSET', voiceKey, 'M|' .. old.g .. ':' .. old.c, 1) end
    delta = delta - 1
  elseif wasSeated and old.server ~= serverId and old.server ~= '' then
    -- Same seat, now owed to another signaling server's JOIN: its RESET no longer concerns the old one.
    redis.call('SREM', K.voiceServerSeats .. old.server, seat_member(userId, old))
  end
  if nowSeated and not (sameSeat and wasSeated) then
    sit(userId, join)
    delta = delta + 1
  elseif nowSeated and serverId ~= '' then
    redis.call('SADD', K.voiceServerSeats .. serverId, seat_member(userId, join))
  end
  count_seats(userId, voiceKey, delta)
  if nowSeated and not has_live_session(userId) then start_grace(userId) end
  return APPLIED
end

local function leave_registers(userId, guildId, channelId, ts)
  -- Single Redis: the channel is read first, so that members another writer left there are adopted (adopt_seat) before this LEAVE.
  if INLINE then channel(guildId, channelId) end
  local voiceKey = K.userVoice .. userId
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

--[[
  A seat someone else wrote into the view (the original service, another JSON writer), adopted as
  the oldest possible JOIN of it (time 0, no signaling server): the user's next LEAVE of that
  channel, any newer JOIN of its scope or the grace period ends it, as for a seat we saw being
  taken; if the registers already say otherwise (a LEAVE, a JOIN elsewhere in the scope), it is
  not a seat and leaves the view. Single Redis (the guild's and the user's keys are one reach).
]]
adopt_seat = function(userId, guildId, channelId)
  local outcome = join_registers(userId, guildId, channelId, 0, '')
  if not seat_state(userId, guildId, channelId) then remove_from_channel(guildId, channelId, userId) end
  return outcome
end

local function apply_join(userId, guildId, channelId, ts, serverId)
  local outcome = join_registers(userId, guildId, channelId, ts, serverId)
  if not INLINE and outcome ~= APPLIED then touch_scope(userId, guildId, channelId) end
  return outcome
end

local function apply_leave(userId, guildId, channelId, ts)
  local outcome = leave_registers(userId, guildId, channelId, ts)
  if not INLINE and outcome ~= APPLIED then touch_scope(userId, guildId, channelId) end
  return outcome
end

-- Ends every seat of the user (grace period ran out with no live session). Returns seats ended.
local function end_all_seats(userId)
  local voiceKey = K.userVoice .. userId
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
  The owner of a session id, for DISCONNECTs that name no user (the chat server's HTTP DISCONNECT):
  SESSION_OWNER:<sessionId> on a single Redis; on a cluster the session id's own bucket keeps the
  claims (SESSION_OWNERS:<sessionId>, see "Session ids" below).
]]
local function session_key(userId, sessionId)
  return K.session .. userId .. ':' .. sessionId
end

-- Single Redis: SESSION_OWNER:<sessionId> = "<ts>|<userId>" of the newest CONNECT with that id (a tie: the larger userId).
local function inline_claim_owner(sessionId, userId, ts)
  local key = K.sessionOwner .. sessionId
  local known = redis.call('GET', key)
  if known then
    local knownTs, knownUser = string.match(known, '^(%d+)|(%d+)$')
    if knownTs and (tonumber(knownTs) > ts or (tonumber(knownTs) == ts and not id_greater(userId, knownUser) and userId ~= knownUser)) then return end
  end
  redis.call('SET', key, ts .. '|' .. userId)
end

local function inline_owner_of(sessionId)
  local known = redis.call('GET', K.sessionOwner .. sessionId)
  return known and string.match(known, '|(%d+)$') or nil
end

-- The session ended for this user: the id's owner record expires with the tombstone, unless
-- another user's newer claim holds it (a reused id), which stays as it is.
local function inline_release_owner(sessionId, userId)
  if inline_owner_of(sessionId) == userId then redis.call('EXPIRE', K.sessionOwner .. sessionId, SETTINGS.ttl) end
end

local function rank(state)
  return SETTINGS.rank[state] or 0
end

-- Which of two states is shown when both are live: the higher rank, then the smaller string.
local function outranks(a, b)
  local ra, rb = rank(a), rank(b)
  if ra ~= rb then return ra > rb end
  return bytes_less(a, b)
end

-- USER:STATE <- the highest-ranked state of the user's live sessions; offline when none.
local function refresh_shown_state(userId)
  local best
  for _, state in ipairs(redis.call('HVALS', K.userSessions .. userId)) do
    if best == nil or outranks(state, best) then best = state end
  end
  local shown = best or 'offline'
  if shown == 'invisible' then shown = SETTINGS.invisibleAs end
  record_presence(userId, shown)
  redis.call('HSET', K.userState, userId, shown)
  touched[K.userState] = true
end

local function add_session_guilds(userId, guildIds)
  for _, guildId in ipairs(guildIds) do
    if redis.call('HINCRBY', K.userGuilds .. userId, guildId, 1) == 1 then
      if INLINE then redis.call('SADD', K.guildOnline .. guildId, userId) else touch_membership(userId, guildId) end
    end
  end
end

local function drop_session_guilds(userId, guildIds)
  for _, guildId in ipairs(guildIds) do
    if redis.call('HINCRBY', K.userGuilds .. userId, guildId, -1) <= 0 then
      redis.call('HDEL', K.userGuilds .. userId, guildId)
      if INLINE then redis.call('SREM', K.guildOnline .. guildId, userId) else touch_membership(userId, guildId) end
    end
  end
end

-- Cluster, an event that changed nothing: the session's guilds, and its end, are sent again (see touch_scope).
local function touch_session(userId, sessionId, guilds, ended)
  if INLINE then return end
  for _, guildId in ipairs(guilds) do touch_membership(userId, guildId) end
  if ended then touch_session_end(sessionId, userId) end
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
  if record[1] == 'ended' then
    touch_session(userId, sessionId, split_list(record[3]), true)
    return DUPLICATE, false
  end
  if not INLINE then touch_session_end(sessionId, userId) end
  tombstone(sessionKey)
  local member = userId .. ':' .. sessionId
  if record[2] and record[2] ~= '' then redis.call('SREM', K.serverSessions .. record[2], member) end
  redis.call('ZREM', K.sessionLeases, member)
  if INLINE then inline_release_owner(sessionId, userId) end
  local last = false
  if redis.call('HDEL', K.userSessions .. userId, sessionId) == 1 then
    drop_session_guilds(userId, split_list(record[3]))
    if not has_live_session(userId) then
      last = true
      count('online_users', -1)
      if tonumber(redis.call('HGET', K.userVoice .. userId, 'n') or '0') > 0 then start_grace(userId) end
    end
  end
  refresh_shown_state(userId)
  return APPLIED, last
end

--[[
  end_session for the session bound: what it touches is pinned (see touch). pinned is set back
  even when Redis refuses a command half-way (the caller's pcall goes on with the call's next
  events, which must not be pinned), then the error goes on to that pcall.
]]
local function end_session_pinned(userId, sessionId)
  pinned = true
  local ok, err = pcall(end_session, userId, sessionId)
  pinned = false
  if not ok then error(err, 0) end
end

-- The user's oldest live session (smallest start time, then sessionId), for the session bound.
local function oldest_session(userId)
  local oldest, oldestSince
  for _, sessionId in ipairs(redis.call('HKEYS', K.userSessions .. userId)) do
    local since = tonumber(redis.call('HGET', session_key(userId, sessionId), 'since') or '0')
    if oldest == nil or since < oldestSince or (since == oldestSince and bytes_less(sessionId, oldest)) then
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
  claimed: '' on a single Redis (the session id's owner and pending marker are handled here); on a
  cluster, what the CONNECT's first step (claim_session_id, in the session id's bucket) found:
  '1' when a pending DISCONNECT was there.
]]
local function connect_registers(userId, sessionId, state, ts, serverId, guildIds, claimed)
  local sessionKey = session_key(userId, sessionId)
  local record = redis.call('HMGET', sessionKey, 'state', 'st', 'ts', 'guilds', 'since')
  local member = userId .. ':' .. sessionId
  if record[1] == 'ended' then
    -- A pending DISCONNECT is used up by the first CONNECT with its id, even one meeting a tombstone
    -- (on a cluster the first step, claim_session_id, does it).
    if INLINE then redis.call('DEL', K.pendingDisconnect .. sessionId) end
    return STALE, 0
  end
  if record[1] == 'live' then
    if serverId ~= '' and ts < chatResets.of(serverId) then
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
        redis.call('HSET', K.userSessions .. userId, sessionId, state)
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
    if SETTINGS.lease > 0 then redis.call('ZADD', K.sessionLeases, 'XX', now_ms() + SETTINGS.lease * 1000, member) end
    return outcome, 0
  end
  local endedAlready
  if INLINE then
    inline_claim_owner(sessionId, userId, ts)
    endedAlready = redis.call('DEL', K.pendingDisconnect .. sessionId) == 1
  else
    endedAlready = claimed == '1'
  end
  if not endedAlready and serverId ~= '' then
    endedAlready = ts < chatResets.of(serverId)
  end
  if endedAlready then
    tombstone(sessionKey)
    if INLINE then inline_release_owner(sessionId, userId) else touch_session_end(sessionId, userId) end
    refresh_shown_state(userId)
    return STALE, 0
  end
  local evicted = 0
  local live = redis.call('HLEN', K.userSessions .. userId)
  while live >= SETTINGS.maxSessions do
    end_session_pinned(userId, oldest_session(userId))
    evicted = evicted + 1
    live = redis.call('HLEN', K.userSessions .. userId)
  end
  local unique, seen = {}, {}
  for _, g in ipairs(guildIds) do
    if not seen[g] then seen[g] = true; unique[#unique + 1] = g end
  end
  redis.call('HSET', sessionKey, 'state', 'live', 'st', state, 'ts', ts, 'since', ts, 'server', serverId, 'guilds', table.concat(unique, ','))
  redis.call('PERSIST', sessionKey)
  if live == 0 then
    count('online_users', 1)
    redis.call('ZREM', K.voiceGrace, userId)
  end
  redis.call('HSET', K.userSessions .. userId, sessionId, state)
  add_session_guilds(userId, unique)
  if serverId ~= '' then redis.call('SADD', K.serverSessions .. serverId, member) end
  if SETTINGS.lease > 0 then redis.call('ZADD', K.sessionLeases, now_ms() + SETTINGS.lease * 1000, member) end
  refresh_shown_state(userId)
  return APPLIED, evicted
end

local function connect_session(userId, sessionId, state, ts, serverId, guildIds, claimed)
  local outcome, evicted = connect_registers(userId, sessionId, state, ts, serverId, guildIds, claimed)
  note_chat_life(userId, math.min(ts, now_ms()))
  if not INLINE and outcome ~= APPLIED then
    local record = redis.call('HMGET', session_key(userId, sessionId), 'state', 'guilds')
    touch_session(userId, sessionId, split_list(record[2]), record[1] == 'ended')
    touch_session(userId, sessionId, guildIds, false)
  end
  return outcome, evicted
end

--[[
  DISCONNECT of sessionId, by userId ('' when the event names none: then, on a single Redis, the
  user of the latest CONNECT with that id; on a cluster the first step, resolve_session_id, has
  found the user already). Returns the outcome, the user ('' if none is known) and whether this
  ended the user's last live session. When no session with that id is known, a one-shot pending
  marker is left for the first CONNECT with it (returned as outcome APPLIED with user '').
]]
local function disconnect_session(sessionId, userId)
  if userId == '' then
    userId = inline_owner_of(sessionId)
    if not userId then
      local marked = redis.call('SET', K.pendingDisconnect .. sessionId, '1', 'EX', SETTINGS.ttl, 'NX')
      return marked and APPLIED or DUPLICATE, '', false
    end
  end
  local outcome, last = end_session(userId, sessionId)
  return outcome, userId, last
end

-- HEARTBEAT: renews a live session's lease. Returns APPLIED when renewed.
local function renew_lease(userId, sessionId)
  if SETTINGS.lease <= 0 then return DUPLICATE end
  if userId == '' and INLINE then userId = inline_owner_of(sessionId) or '' end
  if userId == '' then return DUPLICATE end
  local renewed = redis.call('ZADD', K.sessionLeases, 'XX', 'CH', now_ms() + SETTINGS.lease * 1000, userId .. ':' .. sessionId)
  return renewed == 1 and APPLIED or DUPLICATE
end

--[[
  Session ids (cluster: the session id's bucket). SESSION_OWNERS:<sessionId> is a hash of the users
  that CONNECTed with that id: userId -> the order of its latest claim, suffixed "|e" once that
  user's session with the id has ended (an ended (user, session) never lives again, so its claim
  never comes back: a replayed CONNECT cannot steal the id from a live session of another user).
  The owner is the user of the latest claim still live, else of the latest claim. PENDING_DISCONNECT
  is "1" while pending and becomes the userId of the CONNECT that consumed it (kept until it
  expires), so that a redelivery of that CONNECT finds it consumed by itself.
]]
local function owner_of(sessionId)
  local fields = redis.call('HGETALL', K.sessionOwners .. sessionId)
  local best, bestSeq, bestLive
  for i = 1, #fields, 2 do
    if fields[i] ~= '#' then
      local seq, ended = string.match(fields[i + 1], '^(%d+)(.*)$')
      local live, order = ended == '', tonumber(seq)
      if best == nil or (live and not bestLive) or (live == bestLive and order > bestSeq) then
        best, bestSeq, bestLive = fields[i], order, live
      end
    end
  end
  return best
end

-- CONNECT, first step: claims the id for userId. Returns 1 when a DISCONNECT of that id came first.
local function claim_session_id(sessionId, userId)
  local key = K.sessionOwners .. sessionId
  local claim = redis.call('HGET', key, userId)
  if not claim or string.sub(claim, -2) ~= '|e' then
    redis.call('HSET', key, userId, redis.call('HINCRBY', key, '#', 1))
    redis.call('PERSIST', key)
  end
  local pendingKey = K.pendingDisconnect .. sessionId
  local pending = redis.call('GET', pendingKey)
  if pending == '1' then
    redis.call('SET', pendingKey, userId, 'KEEPTTL')
    return 1
  end
  return pending == userId and 1 or 0
end

-- DISCONNECT naming no user, first step: its user, or else a pending marker (APPLIED when new).
local function resolve_session_id(sessionId)
  local owner = owner_of(sessionId)
  if owner then return APPLIED, owner end
  local marked = redis.call('SET', K.pendingDisconnect .. sessionId, '1', 'EX', SETTINGS.ttl, 'NX')
  return marked and APPLIED or DUPLICATE, ''
end

-- Follow-up "E": (userId, sessionId) has ended. Its claim says so; the claims expire once none is live.
local function end_claim(sessionId, userId)
  local key = K.sessionOwners .. sessionId
  local claim = redis.call('HGET', key, userId)
  if claim and string.sub(claim, -2) == '|e' then return DUPLICATE end
  redis.call('HSET', key, userId, (claim or redis.call('HINCRBY', key, '#', 1)) .. '|e')
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    if fields[i] ~= '#' and string.sub(fields[i + 1], -2) ~= '|e' then return APPLIED end
  end
  redis.call('EXPIRE', key, SETTINGS.ttl)
  return APPLIED
end

--[[
  Follow-ups in a guild's bucket (cluster). GUILD_VERSIONS:<guildId> keeps, per seat
  ("<channelId>|<userId>") and per membership ("o|<userId>"), the version of the state last applied;
  an older or equal version changes nothing, so follow-ups may arrive late, twice or out of order
  (two consumers applying one user's events) and the newest state wins. Versions saying "absent"
  are listed in GUILD_VERSIONS_GONE and pruned an hour later (prune-versions.lua), long after any
  older follow-up could still arrive.
  "V" guildId channelId userId seated version; "O" guildId userId online version; "E" sessionId userId version.
]]
local function apply_follow_up(text)
  local e = cjson.decode(text)
  local kind = e[1]
  if kind == 'E' then return end_claim(e[2], e[3]) end
  local guildId, field, present, version = e[2], nil, nil, nil
  if kind == 'V' then
    field, present, version = e[3] .. '|' .. e[4], e[5] == 1, e[6]
  elseif kind == 'O' then
    field, present, version = 'o|' .. e[3], e[4] == 1, e[5]
  else
    error('unknown follow-up ' .. tostring(kind))
  end
  local versionsKey = K.guildVersions .. guildId
  local known = redis.call('HGET', versionsKey, field)
  if known and tonumber(known) >= tonumber(version) then return known == version and DUPLICATE or STALE end
  redis.call('HSET', versionsKey, field, version)
  if not present then redis.call('ZADD', K.versionsGone, version, guildId .. '|' .. field) end
  if kind == 'V' then
    if present then add_to_channel(guildId, e[3], e[4]) else remove_from_channel(guildId, e[3], e[4]) end
  elseif present then
    redis.call('SADD', K.guildOnline .. guildId, e[3])
  else
    redis.call('SREM', K.guildOnline .. guildId, e[3])
  end
  return APPLIED
end

--[[
  Cluster: the follow-ups of this call, each the CURRENT state of something it touched, with a
  version from the bucket's clock: max(now in µs, last version + 1), so versions only grow, across
  calls, and across a failover too unless the new master's clock is behind by more than the failover
  took. Returns { all follow-ups, those also kept in the bucket's outbox } as JSON texts.
  The outbox (score: version) holds what nothing else would send again if the client died before
  applying it: everything when `durable` (sweeps, RESETs, the HTTP session route, whose callers do
  not redeliver), else only the pinned ones. The client removes them once applied; leftovers are
  applied by any instance a few seconds later. A Kafka record needs none: its offset is committed
  only once its follow-ups are applied, and applied again it sends them again.
  Empty on a single Redis.
]]
local function follow_ups(durable)
  local all, kept = {}, {}
  if INLINE or #touches == 0 then return { all, kept } end
  local t = redis.call('TIME')
  local version = math.max(tonumber(t[1]) * 1000000 + tonumber(t[2]), tonumber(redis.call('GET', K.clock) or '0') + 1)
  for _, e in ipairs(touches) do
    local v = string.format('%.0f', version)
    version = version + 1
    local entry
    if e.kind == 'V' then
      entry = { 'V', e.g, e.c, e.u, seat_state(e.u, e.g, e.c) and 1 or 0, v }
    elseif e.kind == 'O' then
      entry = { 'O', e.g, e.u, tonumber(redis.call('HGET', K.userGuilds .. e.u, e.g) or '0') > 0 and 1 or 0, v }
    else
      entry = { 'E', e.s, e.u, v }
    end
    local text = cjson.encode(entry)
    all[#all + 1] = text
    if durable or e.pinned then
      redis.call('ZADD', K.outbox, v, text)
      kept[#kept + 1] = text
    end
  end
  redis.call('SET', K.clock, string.format('%.0f', version - 1))
  touches, touch_index = {}, {}
  return { all, kept }
end
