--[[
  Lease expiry, one bounded step: ends sessions whose lease (SESSION_TTL_SECONDS) ran out, as a
  DISCONNECT would. Safe to run from every instance at once: each session ends exactly once.
  ARGV (after the layout, see lib.lua): 1 state, 2 ended TTL (s), 3 step size.
  Returns the number of sessions ended.
]]
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', LAYOUT.sessionLeases, '-inf', now, 'LIMIT', 0, tonumber(arg(3)))
local ended = 0
for _, sessionId in ipairs(due) do
  ended = ended + end_session(sessionId, arg(1), tonumber(arg(2)), '', now)
  redis.call('ZREM', LAYOUT.sessionLeases, sessionId)
end
save_channels()
return ended
