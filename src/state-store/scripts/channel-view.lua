--[[
  GUILD:<guildId> field <channelId> holds a JSON array of userId strings, in the order they sat down
  (the contract), e.g. ["1","2"]. It is the view of the voice registers (voice.lua), edited only inside
  scripts, so concurrent JOINs never overwrite each other. Edits are plain string operations on that
  text (a member is found as its quoted id), so their cost does not grow with a big channel's
  decoding. A script reads each channel once and writes it back once (save).
  A value in another spelling (spaces, numbers: other JSON writers) is parsed and rewritten in ours;
  on a single Redis its members are adopted as seats (adopt_seat: the registers then back them, so
  a LEAVE ends them). One that is not JSON at all (JDK-serialized bytes) is replaced; the original's
  are adopted at start-up (original-adoption.ts).
]]
local channels = {}
on_call[#on_call + 1] = function() channels = {} end
local adopt_seat -- defined with the voice registers (voice.lua)
local function canonical(raw)
  return find(raw, '^%["[%d",]*"%]$') ~= nil and find(raw, '""', 1, true) == nil
end

local function channel(guildId, channelId)
  local id = guildId .. ':' .. channelId
  local entry = channels[id]
  if not entry then
    local raw = call('HGET', K.guild .. guildId, channelId)
    local dirty, foreign = false, nil
    if raw and raw ~= '[]' and not canonical(raw) then
      local ok, decoded = pcall(cjson.decode, raw)
      local members = {}
      if ok and type(decoded) == 'table' then
        for _, m in ipairs(decoded) do
          local text = type(m) == 'number' and format('%.0f', m) or tostring(m)
          if find(text, '^%d+$') then members[#members + 1] = text end
        end
      end
      foreign = members
      raw = #members > 0 and ('["' .. concat(members, '","') .. '"]') or nil
      dirty = true
    end
    if raw == '[]' then raw = nil end
    entry = { key = K.guild .. guildId, field = channelId, raw = raw, dirty = dirty }
    channels[id] = entry
    if INLINE and foreign then
      for _, userId in ipairs(foreign) do adopt_seat(userId, guildId, channelId) end
    end
  end
  return entry
end

local function add_to_channel(guildId, channelId, userId)
  local entry = channel(guildId, channelId)
  local member = '"' .. userId .. '"'
  if not entry.raw then
    entry.raw = '[' .. member .. ']'
  elseif find(entry.raw, member, 1, true) then
    return false
  else
    entry.raw = sub(entry.raw, 1, -2) .. ',' .. member .. ']'
  end
  entry.dirty = true
  record_voice(guildId, channelId, userId, 'JOIN')
  return true
end

local function remove_from_channel(guildId, channelId, userId)
  local entry = channel(guildId, channelId)
  if not entry.raw then return false end
  local first, last = find(entry.raw, '"' .. userId .. '"', 1, true)
  if not first then return false end
  local before, after = sub(entry.raw, 1, first - 1), sub(entry.raw, last + 1)
  if sub(after, 1, 1) == ',' then
    after = sub(after, 2)
  elseif sub(before, -1) == ',' then
    before = sub(before, 1, -2)
  end
  entry.raw = before .. after
  if entry.raw == '[]' then entry.raw = nil end
  entry.dirty = true
  record_voice(guildId, channelId, userId, 'LEAVE')
  return true
end

-- Records the call's presence changes, writes back every channel it changed (an emptied channel is removed: the contract),
-- clears inherited expiries on the contract keys it wrote, and moves the counters.
local function save()
  flush_presence()
  for _, entry in pairs(channels) do
    if entry.dirty then
      if entry.raw then
        call('HSET', entry.key, entry.field, entry.raw)
      else
        call('HDEL', entry.key, entry.field)
      end
      touched[entry.key] = true
      entry.dirty = false
    end
  end
  for key in pairs(touched) do call('PERSIST', key) end
  touched = {}
  for counter, delta in pairs(counterMoves) do
    if delta ~= 0 then call('HINCRBY', K.counters, counter, int_text(delta)) end
  end
  counterMoves = {}
end
