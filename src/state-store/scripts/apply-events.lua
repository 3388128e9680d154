--[=[
  Applies a run of events of one bucket, in order, atomically (nothing else runs in Redis meanwhile).
  The ingest layer sends a partition's chunk as a few of these calls in one pipeline per node: one
  command per ~200 events instead of one per event is what makes the apply path fast (see
  docs/performance.md).
  Arguments (after <recording>, see prelude.lua): 1 "1" when nothing would redeliver these events if
  the caller died before applying their follow-ups (the HTTP session route): they are all kept in the
  outbox (follow-ups.lua, follow_ups); then the events, one after the other, each its kind and its
  fields as separate arguments (no JSON to decode: Redis hands the arguments over as Lua strings):
    C userId sessionId state tsMs serverId|"" guildIds|"" claimed   CONNECT (guild ids comma-separated)
    D sessionId userId|""                                           DISCONNECT
    H sessionId userId|""                                           HEARTBEAT
    J userId guildId channelId tsMs serverId|""                     JOIN
    L userId guildId channelId tsMs                                 LEAVE
  On a cluster, the first step of the events that name a session id, in the session id's bucket
  (the second step above then names the user, and CONNECT's `claimed` says what this step found):
    c sessionId userId     CONNECT: claims the id; returns 1 if a pending DISCONNECT was there
    d sessionId            DISCONNECT naming no user: returns {outcome, userId or ""}
    h sessionId            HEARTBEAT naming no user: returns the userId or ""
  Returns { the events' answers, follow-ups (follow-ups.lua; none on a single Redis) }. The answers
  are one flat array, REPLY_WIDTH[kind] values per event in order (nested tables are what Redis
  converts slowest into a reply: it looks each one up for err, ok, double, map ... fields):
    C  outcome (1 applied, 0 duplicate, 2 stale), sessions ended by the bound
    D  outcome, userId or "", 1 if it ended the user's last live session (else 0)
    H J L  outcome        c  1 if a pending DISCONNECT was there, else 0
    d  outcome, userId or ""                                h  1, the owner or ""
  or, when Redis refused that event, its error text then "" up to the width (its partial effect
  stays, as with any script error; the others go on). apply-steps.ts reads them by kind.
]=]
-- How many fields follow each kind, and how many values answer it.
local EVENT_FIELDS = { C = 7, D = 2, H = 2, J = 5, L = 4, c = 2, d = 1, h = 1 }
local REPLY_WIDTH = { C = 2, D = 3, H = 1, J = 1, L = 1, c = 1, d = 2, h = 2 }

-- The event whose kind is ARGS[at]; its fields are ARGS[at + 1] ... (read straight from ARGS: no call per field).
local function apply_event(kind, at)
  change_cause = kind
  local A = ARGS
  local a, b, c, d = A[at + 1], A[at + 2], A[at + 3], A[at + 4]
  if kind == 'C' then
    return connect_session(a, b, c, d, A[at + 5], A[at + 6], A[at + 7])
  elseif kind == 'J' then
    return apply_join(a, b, c, d, A[at + 5])
  elseif kind == 'L' then
    return apply_leave(a, b, c, d)
  elseif kind == 'D' then
    local outcome, userId, last = disconnect_session(a, b)
    return outcome, userId, last and 1 or 0
  elseif kind == 'H' then
    return renew_lease(b, a)
  elseif kind == 'c' then
    return claim_session_id(a, b)
  elseif kind == 'd' then
    return resolve_session_id(a)
  end
  return 1, owner_of(a) or ''
end

-- ARGS[1] is <recording>, ARGS[2] the durable flag, the first event's kind ARGS[3].
state_function('apply_events', function()
  local A, last = ARGS, #ARGS
  -- The arguments cannot be read past an unknown kind: such a call is refused whole, before any change.
  local at = 3
  while at <= last do
    local fields = EVENT_FIELDS[A[at]]
    if not fields or at + fields > last then error('unknown or incomplete event ' .. tostring(A[at]) .. ' at argument ' .. (at - 1)) end
    at = at + 1 + fields
  end
  local answers, n = {}, 0
  at = 3
  while at <= last do
    local kind = A[at]
    local width = REPLY_WIDTH[kind]
    -- pcall: an event Redis refuses fails alone.
    local ok, first, second, third = pcall(apply_event, kind, at)
    -- One presence record per user per event (change-outbox.lua), also for an event Redis refused partway.
    flush_presence()
    if ok then
      answers[n + 1] = first
      if width > 1 then answers[n + 2] = second end
      if width > 2 then answers[n + 3] = third end
    else
      answers[n + 1] = type(first) == 'table' and (first.err or 'error') or tostring(first)
      for k = 2, width do answers[n + k] = '' end
    end
    n = n + width
    at = at + 1 + EVENT_FIELDS[kind]
  end
  save()
  return { answers, follow_ups(A[2] == '1') }
end)
