--[[
  Claims a new epoch for rebuilding a lost state: one winner among the instances, whatever epoch
  came before. The epoch moves from `seen` (the one the caller consumes, "" for none) to `candidate`
  only if it is still `seen`; a caller that lost the race, or saw an older epoch, gets the current
  one and follows it. Stand-alone (not in the state library, prelude.lua): one key, no layout.
  KEYS[1] STATE_STORE:EPOCH; ARGV 1 seen, 2 candidate. Returns the epoch to consume.
]]
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return ARGV[2]
end
return current
