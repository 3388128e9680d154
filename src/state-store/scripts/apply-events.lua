--[=[
  Applies a run of events, in order, atomically (nothing else runs in Redis meanwhile). The ingest
  layer sends a partition's chunk as a few of these calls in one pipeline: one command per ~200
  events instead of one per event is what makes the apply path fast (see docs/performance.md).
  ARGV (after the layout, see lib.lua): 1 a JSON array of events, each an array:
    ["C", sessionId, userId, state, serverId or "", startedAtMs, leaseSeconds, [guildId, …], endedTtlSeconds]  CONNECT
    ["D", sessionId, userId or "", state, endedTtlSeconds, endedAtMs]                         DISCONNECT
    ["H", sessionId, leaseSeconds]                                                             HEARTBEAT
    ["J" or "L", userId, guildId, channelId, oneChannel (1|0), atMs]                           JOIN / LEAVE
  Returns one entry per event: 1 applied, 0 unchanged (redelivery / no-op), or an error text when
  Redis refused that event (its partial effect stays, as with any script error; the others go on).
]=]
local events = cjson.decode(arg(1))
local function apply_event(e)
  local kind = e[1]
  if kind == 'C' then
    return connect_session(e[2], e[3], e[4], e[5], e[6], tonumber(e[7]), e[8], tonumber(e[9]))
  elseif kind == 'D' then
    return end_session(e[2], e[4], tonumber(e[5]), e[3], tonumber(e[6]))
  elseif kind == 'H' then
    return renew_lease(e[2], tonumber(e[3]))
  elseif kind == 'J' then
    return apply_channel_event('JOIN', e[2], e[3], e[4], e[5] == 1, tonumber(e[6]))
  elseif kind == 'L' then
    return apply_channel_event('LEAVE', e[2], e[3], e[4], e[5] == 1, tonumber(e[6]))
  end
  error('unknown event kind ' .. tostring(kind))
end

local outcomes = {}
for i, e in ipairs(events) do
  -- pcall: an event Redis refuses (e.g. a GUILD field another tool wrote as non-JSON) fails alone.
  local ok, result = pcall(apply_event, e)
  if ok then
    outcomes[i] = result
  else
    outcomes[i] = type(result) == 'table' and (result.err or 'error') or tostring(result)
  end
end
save_channels()
return outcomes
