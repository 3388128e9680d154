--[[
  The change stream's relay: takes or renews the lease on one bucket's outbox, so that one instance
  at a time publishes it (in order). Stand-alone (not in the state library, prelude.lua): one key.
  KEYS[1] the bucket's CHANGE_RELAY; ARGV 1 the instance, 2 the lease in ms ("0": give it up).
  Returns 1 when the caller holds the lease now.
]]
local holder = redis.call('GET', KEYS[1])
if ARGV[2] == '0' then
  if holder == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return 0
end
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
