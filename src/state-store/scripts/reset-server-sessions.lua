--[[
  RESET, one bounded step: a chat-server instance restarted, so every session it owned before the
  reset is gone. Called repeatedly with the returned cursor until it returns 0, so millions of
  sessions end in many short scripts instead of one that blocks Redis.
  Sessions that started at or after the reset (the restarted instance's new ones, which may be
  applied before the RESET since they travel on other partitions) are kept.
  ARGV (after the layout, see lib.lua): 1 serverId, 2 resetAtMs, 3 state, 4 ended TTL (s),
       5 SSCAN cursor, 6 step size.
  Returns { next cursor, sessions ended in this step }.
]]
local serverId, resetAt, state, endedTtl = arg(1), tonumber(arg(2)), arg(3), tonumber(arg(4))
-- Remembered so that a CONNECT of this server from before the reset, applied after it, is ignored.
if resetAt > tonumber(redis.call('HGET', LAYOUT.serverResets, serverId) or '0') then
  redis.call('HSET', LAYOUT.serverResets, serverId, resetAt)
end
local scan = redis.call('SSCAN', LAYOUT.serverSessions .. serverId, arg(5), 'COUNT', arg(6))
local ended = 0
for _, sessionId in ipairs(scan[2]) do
  local since = tonumber(redis.call('HGET', LAYOUT.session .. sessionId, 'since') or '0')
  if since < resetAt then ended = ended + end_session(sessionId, state, endedTtl, '', resetAt) end
end
save_channels()
return { scan[1], ended }
