--[[
  Sessions. SESSION:<userId>:<sessionId> is a hash: state (live | ended), st (the session's own
  state, e.g. online), ts (record time of the CONNECT that set st), since (when it started), server,
  guilds (comma-separated). An ended session stays as a tombstone for SETTINGS.ttl so that a late or
  redelivered CONNECT of it changes nothing. USER_SESSIONS:<userId> maps the user's live sessionIds
  to their states; USER_GUILDS:<userId> maps each guild to how many of their live sessions list it.
  The owner of a session id, for DISCONNECTs that name no user (the chat server's HTTP DISCONNECT):
  SESSION_OWNER:<sessionId> on a single Redis; on a cluster the session id's own bucket keeps the
  claims (SESSION_OWNERS:<sessionId>, see session-ids.lua).
]]
local function session_key(userId, sessionId)
  return K.session .. userId .. ':' .. sessionId
end

-- Single Redis: SESSION_OWNER:<sessionId> = "<ts>|<userId>" of the newest CONNECT with that id (a tie: the larger userId).
local function inline_claim_owner(sessionId, userId, ts, tsText)
  local key = K.sessionOwner .. sessionId
  local known = call('GET', key)
  if known then
    local knownTs, knownUser = match(known, '^(%d+)|(%d+)$')
    if knownTs and (tonumber_(knownTs) > ts or (tonumber_(knownTs) == ts and not id_greater(userId, knownUser) and userId ~= knownUser)) then return end
  end
  call('SET', key, tsText .. '|' .. userId)
end

local function inline_owner_of(sessionId)
  local known = call('GET', K.sessionOwner .. sessionId)
  return known and match(known, '|(%d+)$') or nil
end

-- The session ended for this user: the id's owner record expires with the tombstone, unless
-- another user's newer claim holds it (a reused id), which stays as it is.
local function inline_release_owner(sessionId, userId)
  if inline_owner_of(sessionId) == userId then call('EXPIRE', K.sessionOwner .. sessionId, TTL_TEXT) end
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

-- USER:STATE fields as this call left them (only refresh_shown_state writes them).
local shownNow = {}
on_call[#on_call + 1] = function() shownNow = {} end

-- USER:STATE <- the highest-ranked state of the user's live sessions; offline when none. `live`:
-- those states when the caller knows them already (none left, or only the one it just started).
local function refresh_shown_state(userId, live)
  local best
  for _, state in ipairs(live or call('HVALS', K.userSessions .. userId)) do
    if best == nil or outranks(state, best) then best = state end
  end
  local shown = best or 'offline'
  if shown == 'invisible' then shown = SETTINGS.invisibleAs end
  if record_presence(userId, shown, shownNow[userId]) ~= shown then call('HSET', K.userState, userId, shown) end
  shownNow[userId] = shown
  touched[K.userState] = true
end

local function add_session_guilds(userId, guildIds)
  for _, guildId in ipairs(guildIds) do
    if call('HINCRBY', K.userGuilds .. userId, guildId, '1') == 1 then
      if INLINE then call('SADD', K.guildOnline .. guildId, userId) else touch_membership(userId, guildId) end
    end
  end
end

local function drop_session_guilds(userId, guildIds)
  for _, guildId in ipairs(guildIds) do
    if call('HINCRBY', K.userGuilds .. userId, guildId, '-1') <= 0 then
      call('HDEL', K.userGuilds .. userId, guildId)
      if INLINE then call('SREM', K.guildOnline .. guildId, userId) else touch_membership(userId, guildId) end
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
  call('HSET', sessionKey, 'state', 'ended')
  call('EXPIRE', sessionKey, TTL_TEXT)
end

--[[
  Ends session (userId, sessionId): DISCONNECT, RESET, lease expiry, the session bound. An unknown
  one gets its tombstone (its DISCONNECT overtook its CONNECT). The user goes offline only when it
  was their last live session; their seats then end after the grace period, not now (voice lives on
  its own socket). Returns the outcome and whether the user's last live session ended.
]]
local function end_session(userId, sessionId)
  local sessionKey = session_key(userId, sessionId)
  local record = call('HMGET', sessionKey, 'state', 'server', 'guilds')
  if record[1] == 'ended' then
    touch_session(userId, sessionId, split_list(record[3]), true)
    return DUPLICATE, false
  end
  if not INLINE then touch_session_end(sessionId, userId) end
  tombstone(sessionKey)
  local member = userId .. ':' .. sessionId
  if record[2] and record[2] ~= '' then call('SREM', K.serverSessions .. record[2], member) end
  call('ZREM', K.sessionLeases, member)
  if INLINE then inline_release_owner(sessionId, userId) end
  local last = false
  if call('HDEL', K.userSessions .. userId, sessionId) == 1 then
    drop_session_guilds(userId, split_list(record[3]))
    if not has_live_session(userId) then
      last = true
      count('online_users', -1)
      if tonumber_(call('HGET', K.userVoice .. userId, 'n') or '0') > 0 then start_grace(userId) end
    end
  end
  refresh_shown_state(userId, last and {} or nil)
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
  for _, sessionId in ipairs(call('HKEYS', K.userSessions .. userId)) do
    local since = tonumber_(call('HGET', session_key(userId, sessionId), 'since') or '0')
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
  tsText: ts as the event gave it (ms, decimal). guilds: its guild ids, comma-separated ('' for none).
  claimed: '' on a single Redis (the session id's owner and pending marker are handled here); on a
  cluster, what the CONNECT's first step (claim_session_id, in the session id's bucket) found:
  '1' when a pending DISCONNECT was there.
]]
local function connect_registers(userId, sessionId, state, tsText, serverId, guilds, claimed)
  local ts = tonumber_(tsText)
  local sessionKey = session_key(userId, sessionId)
  local record = call('HMGET', sessionKey, 'state', 'st', 'ts', 'guilds', 'since')
  local member = userId .. ':' .. sessionId
  if record[1] == 'ended' then
    -- A pending DISCONNECT is used up by the first CONNECT with its id, even one meeting a tombstone
    -- (on a cluster the first step, claim_session_id, does it).
    if INLINE then call('DEL', K.pendingDisconnect .. sessionId) end
    return STALE, 0
  end
  if record[1] == 'live' then
    if serverId ~= '' and ts < chatResets.of(serverId) then
      -- A CONNECT of it from before its server's RESET, applied after a newer one: it ended at the reset.
      local outcome = end_session(userId, sessionId)
      return outcome, 0
    end
    local outcome = DUPLICATE
    local known = tonumber_(record[3])
    -- A session started at its earliest CONNECT (what its server's RESET is compared with).
    if ts < tonumber_(record[5] or ts) then call('HSET', sessionKey, 'since', tsText) end
    if ts > known or (ts == known and state ~= record[2] and outranks(state, record[2])) then
      -- Newer: its time is kept even when the state is the same, so that an older one applied later loses.
      call('HSET', sessionKey, 'st', state, 'ts', tsText)
      if state ~= record[2] then
        call('HSET', K.userSessions .. userId, sessionId, state)
        refresh_shown_state(userId)
        outcome = APPLIED
      end
    elseif ts < known or state ~= record[2] then
      outcome = STALE
    end
    local have, added = {}, {}
    for _, g in ipairs(split_list(record[4])) do have[g] = true end
    for _, g in ipairs(split_list(guilds)) do
      if not have[g] then have[g] = true; added[#added + 1] = g end
    end
    if #added > 0 then
      call('HSET', sessionKey, 'guilds', (record[4] and record[4] ~= '' and (record[4] .. ',') or '') .. concat(added, ','))
      add_session_guilds(userId, added)
      outcome = APPLIED
    end
    if SETTINGS.lease > 0 then call('ZADD', K.sessionLeases, 'XX', deadline_text(SETTINGS.lease), member) end
    return outcome, 0
  end
  local endedAlready
  if INLINE then
    inline_claim_owner(sessionId, userId, ts, tsText)
    endedAlready = call('DEL', K.pendingDisconnect .. sessionId) == 1
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
  local live = call('HLEN', K.userSessions .. userId)
  while live >= SETTINGS.maxSessions do
    end_session_pinned(userId, oldest_session(userId))
    evicted = evicted + 1
    live = call('HLEN', K.userSessions .. userId)
  end
  local unique, seen = {}, {}
  for _, g in ipairs(split_list(guilds)) do
    if not seen[g] then seen[g] = true; unique[#unique + 1] = g end
  end
  call('HSET', sessionKey, 'state', 'live', 'st', state, 'ts', tsText, 'since', tsText, 'server', serverId, 'guilds', concat(unique, ','))
  -- Only a tombstone has an expiry, and every SESSION hash we write has a state: none read, none to clear.
  if record[1] then call('PERSIST', sessionKey) end
  if live == 0 then
    count('online_users', 1)
    call('ZREM', K.voiceGrace, userId)
  end
  call('HSET', K.userSessions .. userId, sessionId, state)
  add_session_guilds(userId, unique)
  if serverId ~= '' then call('SADD', K.serverSessions .. serverId, member) end
  if SETTINGS.lease > 0 then call('ZADD', K.sessionLeases, deadline_text(SETTINGS.lease), member) end
  refresh_shown_state(userId, live == 0 and { state } or nil)
  return APPLIED, evicted, live == 0
end

local function connect_session(userId, sessionId, state, tsText, serverId, guilds, claimed)
  local outcome, evicted, graceEnded = connect_registers(userId, sessionId, state, tsText, serverId, guilds, claimed)
  -- A grace period this CONNECT ended (its first live session) has no deadline left to move.
  if not graceEnded then note_chat_life(userId, math.min(tonumber_(tsText), now_ms())) end
  if not INLINE and outcome ~= APPLIED then
    local record = call('HMGET', session_key(userId, sessionId), 'state', 'guilds')
    touch_session(userId, sessionId, split_list(record[2]), record[1] == 'ended')
    touch_session(userId, sessionId, split_list(guilds), false)
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
      local marked = call('SET', K.pendingDisconnect .. sessionId, '1', 'EX', TTL_TEXT, 'NX')
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
  -- A live session's lease is renewed (APPLIED) even when the new deadline equals the old one to the
  -- millisecond (a HEARTBEAT right after its CONNECT): liveness, not ZADD's changed count, decides.
  local member = userId .. ':' .. sessionId
  if not call('ZSCORE', K.sessionLeases, member) then return DUPLICATE end
  call('ZADD', K.sessionLeases, 'XX', deadline_text(SETTINGS.lease), member)
  return APPLIED
end
