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

-- A JOIN register's value as a table: ts (a number), tsText (as stored), g, c, server.
local function parse_join(raw)
  if not raw then return nil end
  local ts, g, c, server = match(raw, '^(%d+)|(%d+)|(%d+)|(.*)$')
  if not ts then return nil end
  return { ts = tonumber_(ts), tsText = ts, g = g, c = c, server = server }
end

-- Newest JOIN wins; a tie goes to the larger guild id, channel id, then serverId (none smallest).
local function join_newer(ts, g, c, server, old)
  if ts ~= old.ts then return ts > old.ts end
  if g ~= old.g then return id_greater(g, old.g) end
  if c ~= old.c then return id_greater(c, old.c) end
  return bytes_less(old.server, server)
end

local function leave_time(voiceKey, g, c)
  return tonumber_(call('HGET', voiceKey, 'L|' .. g .. ':' .. c) or '-1')
end

-- The latest RESET (ms) of each server in a RESET hash (a layout name), read once per call: chat
-- servers' (serverResets, sessions) and signaling servers' (voiceResets, seats). Only the RESET
-- functions move them, through raise (it only moves forward, so RESETs applied in any order agree).
local function reset_times(hashName)
  local known = {}
  on_call[#on_call + 1] = function() known = {} end
  local times = {}
  function times.of(serverId)
    if known[serverId] == nil then known[serverId] = tonumber_(call('HGET', K[hashName], serverId) or '-1') end
    return known[serverId]
  end
  -- Records a RESET at `at` unless a later one is known.
  function times.raise(serverId, at)
    if at > times.of(serverId) then
      call('HSET', K[hashName], serverId, int_text(at))
      known[serverId] = at
    end
  end
  return times
end
local chatResets = reset_times('serverResets')
local voiceResets = reset_times('voiceResets')

-- A JOIN seats its user unless a LEAVE of its channel is at or after it, or its signaling server
-- announced a RESET after it (both compared on that server's clock).
-- `leave`: the newest LEAVE of the JOIN's channel when the caller has read it already.
local function seated(voiceKey, join, leave)
  if join == nil or (leave or leave_time(voiceKey, join.g, join.c)) >= join.ts then return false end
  return join.server == '' or join.ts >= voiceResets.of(join.server)
end

-- Whether the user sits in (guildId, channelId) now, from the registers.
local function seat_state(userId, guildId, channelId)
  local voiceKey = K.userVoice .. userId
  local join = parse_join(call('HGET', voiceKey, 'J|' .. scope_of(guildId, channelId)))
  return join ~= nil and join.g == guildId and join.c == channelId and seated(voiceKey, join)
end

-- The user's seat count moved by delta: keeps STATE_COUNTERS.voice_seats exact and the register's
-- lifetime right (kept while seated, expiring once they sit nowhere). Only this sets an expiry on
-- the key, and only at n = 0, so a key with n > 0 has none: PERSIST is needed only when n leaves 0.
-- known: the count when the caller has read it already (and delta is 0).
local function count_seats(userId, voiceKey, delta, known)
  local n
  if delta ~= 0 then
    n = call('HINCRBY', voiceKey, 'n', int_text(delta))
  else
    n = known or tonumber_(call('HGET', voiceKey, 'n') or '0')
  end
  if delta ~= 0 then count('voice_seats', delta) end
  if n <= 0 then
    call('EXPIRE', voiceKey, TTL_TEXT)
  elseif n - delta <= 0 then
    call('PERSIST', voiceKey)
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
  if join.server ~= '' then call('SADD', K.voiceServerSeats .. join.server, seat_member(userId, join)) end
end

local function unsit(userId, join)
  if INLINE then remove_from_channel(join.g, join.c, userId) else touch_seat(userId, join.g, join.c) end
  if join.server ~= '' then call('SREM', K.voiceServerSeats .. join.server, seat_member(userId, join)) end
end

-- Whether a JOIN's seat is in the view: seated, or made unreal by its server's RESET that has not
-- reached it yet (a RESET ends its seats in bounded steps; until then they are still counted).
-- `leave`: as for seated().
local function in_view(userId, voiceKey, join, leave)
  if seated(voiceKey, join, leave) then return true end
  return join.server ~= '' and call('SISMEMBER', K.voiceServerSeats .. join.server, seat_member(userId, join)) == 1
end

-- Ends a seat as a LEAVE of its channel at its JOIN's own time would (the grace period): a
-- redelivered JOIN cannot bring it back, a newer one can. Returns 1 if the user sat there.
local function end_seat(userId, voiceKey, join)
  if not seated(voiceKey, join) then return 0 end
  call('HSET', voiceKey, 'L|' .. join.g .. ':' .. join.c, join.tsText)
  unsit(userId, join)
  return 1
end

local function has_live_session(userId)
  return call('EXISTS', K.userSessions .. userId) == 1
end

-- The grace period (re)starts: the user's seats end at now + grace unless a session starts first.
local function start_grace(userId)
  if SETTINGS.grace > 0 then call('ZADD', K.voiceGrace, deadline_text(SETTINGS.grace), userId) end
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
  if SETTINGS.grace > 0 then call('ZADD', K.voiceGrace, 'XX', 'GT', int_text(at + SETTINGS.grace * 1000), userId) end
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
  local fields = call('HGETALL', K.userVoice .. userId)
  for i = 1, #fields, 2 do
    local kind, g, c = sub(fields[i], 1, 2), nil, nil
    if kind == 'J|' then
      local join = parse_join(fields[i + 1])
      if join then g, c = join.g, join.c end
    elseif kind == 'L|' or kind == 'M|' then
      g, c = match(fields[i], '^.|(%d+):(%d+)$')
    end
    if g and (scope == 'user' or (g == guildId and (scope == 'guild' or c == channelId))) then touch_seat(userId, g, c) end
  end
end

-- tsText: the JOIN's time as the event gave it (ms, decimal).
local function join_registers(userId, guildId, channelId, tsText, serverId)
  local ts = tonumber_(tsText)
  local voiceKey = K.userVoice .. userId
  local field = 'J|' .. scope_of(guildId, channelId)
  -- The scope's JOIN, this channel's LEAVE and the seat count in one read (only this function writes the JOIN, and
  -- no LEAVE is written before seated() below).
  local known = call('HMGET', voiceKey, field, 'L|' .. guildId .. ':' .. channelId, 'n')
  local old, leave = parse_join(known[1]), tonumber_(known[2] or '-1')
  if old and not join_newer(ts, guildId, channelId, serverId, old) then
    if old.ts == ts and old.g == guildId and old.c == channelId and old.server == serverId then return DUPLICATE end
    return STALE
  end
  local join = { ts = ts, tsText = tsText, g = guildId, c = channelId, server = serverId }
  local sameSeat = old ~= nil and old.g == guildId and old.c == channelId
  local wasSeated = old ~= nil and in_view(userId, voiceKey, old, sameSeat and leave or nil)
  call('HSET', voiceKey, field, tsText .. '|' .. guildId .. '|' .. channelId .. '|' .. serverId)
  local nowSeated = seated(voiceKey, join, leave)
  local delta, viewChanged = 0, false
  if wasSeated and not (sameSeat and nowSeated) then
    unsit(userId, old)
    if not INLINE and not sameSeat then call('HSET', voiceKey, 'M|' .. old.g .. ':' .. old.c, '1') end
    delta, viewChanged = delta - 1, true
  elseif wasSeated and old.server ~= serverId and old.server ~= '' then
    -- Same seat, now owed to another signaling server's JOIN: its RESET no longer concerns the old one.
    call('SREM', K.voiceServerSeats .. old.server, seat_member(userId, old))
  end
  if nowSeated and not (sameSeat and wasSeated) then
    sit(userId, join)
    delta, viewChanged = delta + 1, true
  elseif nowSeated and serverId ~= '' then
    call('SADD', K.voiceServerSeats .. serverId, seat_member(userId, join))
  end
  -- The count read above still holds unless the view was edited (reading a channel may adopt its members' seats).
  count_seats(userId, voiceKey, delta, not viewChanged and tonumber_(known[3] or '0') or nil)
  if nowSeated and not has_live_session(userId) then start_grace(userId) end
  return APPLIED
end

local function leave_registers(userId, guildId, channelId, tsText)
  local ts = tonumber_(tsText)
  -- Single Redis: the channel is read first, so that members another writer left there are adopted (adopt_seat) before this LEAVE.
  if INLINE then channel(guildId, channelId) end
  local voiceKey = K.userVoice .. userId
  local leaveField = 'L|' .. guildId .. ':' .. channelId
  -- This channel's LEAVE, the scope's JOIN and the seat count in one read.
  local known = call('HMGET', voiceKey, leaveField, 'J|' .. scope_of(guildId, channelId), 'n')
  local before = tonumber_(known[1] or '-1')
  if before >= ts then return before == ts and DUPLICATE or STALE end
  local join = parse_join(known[2])
  -- Older than the newest JOIN of its scope: it can never matter (a JOIN of this channel that it
  -- could end would have to be newer still).
  if join and ts < join.ts then return STALE end
  local wasSeated = join ~= nil and join.g == guildId and join.c == channelId and seated(voiceKey, join, before)
  call('HSET', voiceKey, leaveField, tsText)
  if wasSeated then
    unsit(userId, join)
    count_seats(userId, voiceKey, -1)
  else
    count_seats(userId, voiceKey, 0, tonumber_(known[3] or '0'))
  end
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
  local outcome = join_registers(userId, guildId, channelId, '0', '')
  if not seat_state(userId, guildId, channelId) then remove_from_channel(guildId, channelId, userId) end
  return outcome
end

local function apply_join(userId, guildId, channelId, tsText, serverId)
  local outcome = join_registers(userId, guildId, channelId, tsText, serverId)
  if not INLINE and outcome ~= APPLIED then touch_scope(userId, guildId, channelId) end
  return outcome
end

local function apply_leave(userId, guildId, channelId, tsText)
  local outcome = leave_registers(userId, guildId, channelId, tsText)
  if not INLINE and outcome ~= APPLIED then touch_scope(userId, guildId, channelId) end
  return outcome
end

-- Ends every seat of the user (grace period ran out with no live session). Returns seats ended.
local function end_all_seats(userId)
  local voiceKey = K.userVoice .. userId
  local fields = call('HGETALL', voiceKey)
  local ended = 0
  for i = 1, #fields, 2 do
    if sub(fields[i], 1, 2) == 'J|' then
      ended = ended + end_seat(userId, voiceKey, parse_join(fields[i + 1]))
    end
  end
  if ended > 0 or #fields > 0 then count_seats(userId, voiceKey, -ended) end
  return ended
end
