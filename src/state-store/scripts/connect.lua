--[[
  CONNECT: a session of a user started.
  ARGV (after the layout, see lib.lua): 1 sessionId, 2 userId, 3 state, 4 serverId ('' if none),
       5 startedAtMs, 6 leaseSeconds ('0' = no lease), 7.. guildIds.
  Returns 1 when applied, 0 when the session is already known: live (a redelivery) or ended
  (its DISCONNECT overtook it, or it is replayed after its DISCONNECT) - either way nothing changes,
  so a user is never brought back online by an old session.
]]
local sessionId, userId, state, serverId = arg(1), arg(2), arg(3), arg(4)
local startedAt, leaseSeconds = arg(5), tonumber(arg(6))
local sessionKey = LAYOUT.session .. sessionId

local known = redis.call('HGET', sessionKey, 'state')
if known then
  if known == 'live' and leaseSeconds > 0 then
    redis.call('ZADD', LAYOUT.sessionLeases, 'XX', now_ms() + leaseSeconds * 1000, sessionId)
  end
  return 0
end

redis.call('HSET', sessionKey, 'state', 'live', 'user', userId, 'since', startedAt)
redis.call('SADD', LAYOUT.userSessions .. userId, sessionId)
redis.call('HSET', LAYOUT.userState, userId, state)
for i = 7, #ARGV - 9 do
  local guildId = arg(i)
  redis.call('SADD', LAYOUT.userGuilds .. userId, guildId)
  redis.call('SADD', LAYOUT.guildOnline .. guildId, userId)
end
if serverId ~= '' then
  redis.call('HSET', sessionKey, 'server', serverId)
  redis.call('SADD', LAYOUT.serverSessions .. serverId, sessionId)
end
if leaseSeconds > 0 then
  redis.call('ZADD', LAYOUT.sessionLeases, now_ms() + leaseSeconds * 1000, sessionId)
end
return 1
