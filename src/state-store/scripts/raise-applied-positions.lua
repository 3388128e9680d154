--[[
  Raises a consumer group's applied positions on the session topic (the session route waits for
  them, src/sessions/applied-positions.ts): per partition, the offset after the last record whose
  batch is applied. Only ever raised: an older owner finishing a batch after a rebalance, or a
  replay after a failover, never moves one back. Nothing is written while the state's marker is
  missing (Redis lost the state): a lost state must not look caught up.
  Stand-alone (not in the state library, prelude.lua). KEYS[1] STATE_STORE:APPLIED:<group>, KEYS[2] the marker of the
  same bucket (STATE_STORE:SINCE); ARGV partition, position pairs. Returns 1 when written, 0 without marker.
]]
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
for i = 1, #ARGV, 2 do
  local known = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > known then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1
