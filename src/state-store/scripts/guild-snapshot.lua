--[[
  Read-only: everything the community server needs about a guild when it names no users: the voice
  channels, and the state of every user who is online in the guild or sits in one of its channels.
  One script so it is one round trip and one consistent view.
  ARGV (after the layout, see lib.lua): 1 guildId.
  Returns { flat HGETALL of GUILD:<guildId>, userIds, their states (same order) }.
]]
local guildId = arg(1)
local channelHash = redis.call('HGETALL', LAYOUT.guild .. guildId)
local seen, users = {}, {}
for _, userId in ipairs(redis.call('SMEMBERS', LAYOUT.guildOnline .. guildId)) do
  if not seen[userId] then seen[userId] = true; users[#users + 1] = userId end
end
for i = 2, #channelHash, 2 do
  for _, m in ipairs(cjson.decode(channelHash[i])) do
    local userId = tostring(m)
    if not seen[userId] then seen[userId] = true; users[#users + 1] = userId end
  end
end
-- HMGET in slices: unpack() of a very long list would overflow Lua's C stack.
local states = {}
for first = 1, #users, 1000 do
  local slice = redis.call('HMGET', LAYOUT.userState, unpack(users, first, math.min(first + 999, #users)))
  for _, state in ipairs(slice) do states[#states + 1] = state end
end
return { channelHash, users, states }
