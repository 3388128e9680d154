--[=[
  Applies a run of events of one bucket, in order, atomically (nothing else runs in Redis meanwhile).
  The ingest layer sends a partition's chunk as a few of these calls in one pipeline per node: one
  command per ~200 events instead of one per event is what makes the apply path fast (see
  docs/performance.md).
  Arguments (after <recording>, see prelude.lua): 1 a JSON array of events, each an array:
    ["C", userId, sessionId, state, tsMs, serverId or "", [guildId, …], claimed]  CONNECT
    ["D", sessionId, userId or ""]                                        DISCONNECT
    ["H", sessionId, userId or ""]                                        HEARTBEAT
    ["J", userId, guildId, channelId, tsMs, serverId or ""]               JOIN
    ["L", userId, guildId, channelId, tsMs]                               LEAVE
  On a cluster, the first step of the events that name a session id, in the session id's bucket
  (the second step above then names the user, and CONNECT's `claimed` says what this step found):
    ["c", sessionId, userId]     CONNECT: claims the id; returns 1 if a pending DISCONNECT was there
    ["d", sessionId]             DISCONNECT naming no user: returns {outcome, userId or ""}
    ["h", sessionId]             HEARTBEAT naming no user: returns the userId or ""
  2 "1" when nothing would redeliver these events if the caller died before applying their
  follow-ups (the HTTP session route): they are all kept in the outbox (follow-ups.lua, follow_ups).
  Returns { one entry per event, follow-ups (follow-ups.lua; none on a single Redis) }. An entry is an
  outcome (1 applied, 0 duplicate, 2 stale; CONNECT: {outcome, sessions ended by the bound};
  DISCONNECT: {outcome, userId or "", 1 if it ended the user's last live session}), or an error
  text when Redis refused that event (its partial effect stays, as with any script error; the others
  go on).
]=]
local function apply_event(e)
  local kind = e[1]
  change_cause = kind
  if kind == 'C' then
    local outcome, evicted = connect_session(e[2], e[3], e[4], tonumber(e[5]), e[6], e[7], e[8] or '')
    return { outcome, evicted }
  elseif kind == 'D' then
    local outcome, userId, last = disconnect_session(e[2], e[3])
    return { outcome, userId, last and 1 or 0 }
  elseif kind == 'H' then
    return renew_lease(e[3], e[2])
  elseif kind == 'J' then
    return apply_join(e[2], e[3], e[4], tonumber(e[5]), e[6])
  elseif kind == 'L' then
    return apply_leave(e[2], e[3], e[4], tonumber(e[5]))
  elseif kind == 'c' then
    return claim_session_id(e[2], e[3])
  elseif kind == 'd' then
    local outcome, userId = resolve_session_id(e[2])
    return { outcome, userId }
  elseif kind == 'h' then
    -- A table, as every good answer here; a string is an error (state-store.ts reads it so).
    return { owner_of(e[2]) or '' }
  end
  error('unknown event kind ' .. tostring(kind))
end

state_function('apply_events', function()
  local events = cjson.decode(arg(1))
  local outcomes = {}
  for i, e in ipairs(events) do
    -- pcall: an event Redis refuses fails alone.
    local ok, result = pcall(apply_event, e)
  -- One presence record per user per event (change-outbox.lua), also for an event Redis refused partway.
  flush_presence()
    if ok then
      outcomes[i] = result
    else
      outcomes[i] = type(result) == 'table' and (result.err or 'error') or tostring(result)
    end
  end
  save()
  return { outcomes, follow_ups(arg(2) == '1') }
end)
