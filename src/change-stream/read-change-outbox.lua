--[[
  The change stream's relay, one step on one bucket: first removes what it published last step
  (Kafka acknowledged it), then reads the oldest records still waiting. One call instead of XDEL,
  XRANGE, EXISTS and HEXISTS, and one string back instead of nested entries: the relay's share of
  the service's CPU was mostly decoding those replies. Stand-alone (not with lib.lua).
  KEYS[1] the bucket's CHANGE_OUTBOX, KEYS[2] its CHANGE_OVERFLOW (change-outbox.lua).
  ARGV 1: remove the entries below this id ("": none; the id after the last one published, so
    entries written since are kept: XADD ids only grow), 2: how many records to read at most.
  Returns one string, lines joined by "\n" (a JSON text has no raw newline):
    line 1: "" when records follow or nothing overflowed, "o" when the outbox is empty and
            CHANGE_OVERFLOW holds records, "r" the same with the RESYNC still owed;
    then per record: its entry id, its JSON (field r).
]]
if ARGV[1] ~= '' then redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1]) end
local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[2])
local lines = { '' }
if #entries == 0 then
  if redis.call('HEXISTS', KEYS[2], '#resync') == 1 then
    lines[1] = 'r'
  elseif redis.call('EXISTS', KEYS[2]) == 1 then
    lines[1] = 'o'
  end
  return lines[1]
end
for _, entry in ipairs(entries) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'r' then
      lines[#lines + 1] = entry[1]
      lines[#lines + 1] = fields[i + 1]
    end
  end
end
return table.concat(lines, '\n')
