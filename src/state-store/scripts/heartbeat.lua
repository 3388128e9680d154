--[[
  HEARTBEAT: renews the lease of a live session (only meaningful with SESSION_TTL_SECONDS set).
  ARGV (after the layout, see lib.lua): 1 sessionId, 2 leaseSeconds.
  Returns 1 when a live session's lease was renewed, 0 otherwise.
]]
local sessionId, leaseSeconds = arg(1), tonumber(arg(2))
if leaseSeconds <= 0 then return 0 end
if redis.call('HGET', LAYOUT.session .. sessionId, 'state') ~= 'live' then return 0 end
redis.call('ZADD', LAYOUT.sessionLeases, 'XX', now_ms() + leaseSeconds * 1000, sessionId)
return 1
