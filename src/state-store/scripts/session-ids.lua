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
  local fields = call('HGETALL', K.sessionOwners .. sessionId)
  local best, bestSeq, bestLive
  for i = 1, #fields, 2 do
    if fields[i] ~= '#' then
      local seq, ended = match(fields[i + 1], '^(%d+)(.*)$')
      local live, order = ended == '', tonumber_(seq)
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
  local claim = call('HGET', key, userId)
  if not claim or sub(claim, -2) ~= '|e' then
    call('HSET', key, userId, int_text(call('HINCRBY', key, '#', '1')))
    call('PERSIST', key)
  end
  local pendingKey = K.pendingDisconnect .. sessionId
  local pending = call('GET', pendingKey)
  if pending == '1' then
    call('SET', pendingKey, userId, 'KEEPTTL')
    return 1
  end
  return pending == userId and 1 or 0
end

-- DISCONNECT naming no user, first step: its user, or else a pending marker (APPLIED when new).
local function resolve_session_id(sessionId)
  local owner = owner_of(sessionId)
  if owner then return APPLIED, owner end
  local marked = call('SET', K.pendingDisconnect .. sessionId, '1', 'EX', TTL_TEXT, 'NX')
  return marked and APPLIED or DUPLICATE, ''
end

-- Follow-up "E": (userId, sessionId) has ended. Its claim says so; the claims expire once none is live.
local function end_claim(sessionId, userId)
  local key = K.sessionOwners .. sessionId
  local claim = call('HGET', key, userId)
  if claim and sub(claim, -2) == '|e' then return DUPLICATE end
  call('HSET', key, userId, (claim or int_text(call('HINCRBY', key, '#', '1'))) .. '|e')
  local fields = call('HGETALL', key)
  for i = 1, #fields, 2 do
    if fields[i] ~= '#' and sub(fields[i + 1], -2) ~= '|e' then return APPLIED end
  end
  call('EXPIRE', key, TTL_TEXT)
  return APPLIED
end
