--[[
  The change stream's relay published records of a bucket's CHANGE_OVERFLOW (change-outbox.lua):
  each leaves the hash unless a newer record of its key replaced it meanwhile (that one is published
  next time). Stand-alone (not in the state library, prelude.lua): one key.
  KEYS[1] the bucket's CHANGE_OVERFLOW; ARGV field, record, field, record, …
  Returns how many it removed.
]]
local removed = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    removed = removed + 1
  end
end
return removed
