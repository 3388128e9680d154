--[[
  RESET of a signaling server (optional: only servers that send serverId with their JOINs), one
  bounded step: every seat taken by a JOIN of that server before the reset ends, as a LEAVE of that
  channel at the JOIN's own time would. Both times come from that server's clock.
  ARGV (after the layout and settings, see lib.lua): 1 serverId, 2 resetAtMs, 3 SSCAN cursor, 4 step.
  On a cluster VOICE_SERVER_SEATS:<serverId> and VOICE_RESETS are one per bucket: a RESET runs in
  every bucket, each with its own cursor.
  Returns { next cursor, seats ended in this step, follow-ups (lib.lua) }.
]]
local serverId, resetAt = arg(1), tonumber(arg(2))
if resetAt > tonumber(redis.call('HGET', K.voiceResets, serverId) or '-1') then
  redis.call('HSET', K.voiceResets, serverId, resetAt)
end
local seatsKey = K.voiceServerSeats .. serverId
local scan = redis.call('SSCAN', seatsKey, arg(3), 'COUNT', arg(4))
local ended = 0
for _, member in ipairs(scan[2]) do
  local userId, scope = string.match(member, '^(%d+)|(.+)$')
  if userId then
    local voiceKey = K.userVoice .. userId
    local join = parse_join(redis.call('HGET', voiceKey, 'J|' .. scope))
    if join and join.server == serverId and join.ts < resetAt then
      local n = end_seat(userId, voiceKey, join)
      if n > 0 then count_seats(userId, voiceKey, -n) end
      ended = ended + n
      redis.call('SREM', seatsKey, member)
    elseif not join or join.server ~= serverId then
      redis.call('SREM', seatsKey, member)
    end
  end
end
save()
return { scan[1], ended, follow_ups(true) }
