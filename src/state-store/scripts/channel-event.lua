--[[
  JOIN / LEAVE of a voice channel.
  ARGV (after the layout, see lib.lua): 1 'JOIN' or 'LEAVE', 2 userId, 3 guildId, 4 channelId,
       5 '1' when a user may sit in one voice channel only (JOIN elsewhere moves them), '0' otherwise.
  Returns 1 when something changed, 0 when nothing did (a redelivered JOIN, a LEAVE of a channel
  the user is not in).
]]
local kind, userId, guildId, channelId, oneChannel = arg(1), arg(2), arg(3), arg(4), arg(5)
local voiceKey = LAYOUT.userVoice .. userId
local seat = guildId .. ':' .. channelId

if kind == 'LEAVE' then
  redis.call('SREM', voiceKey, seat)
  return remove_from_channel(guildId, channelId, userId) and 1 or 0
end

local changed = false
if oneChannel == '1' then
  for _, other in ipairs(redis.call('SMEMBERS', voiceKey)) do
    if other ~= seat then
      local otherGuild, otherChannel = split_seat(other)
      if otherGuild then remove_from_channel(otherGuild, otherChannel, userId) end
      redis.call('SREM', voiceKey, other)
      changed = true
    end
  end
end
if add_to_channel(guildId, channelId, userId) then changed = true end
redis.call('SADD', voiceKey, seat)
return changed and 1 or 0
