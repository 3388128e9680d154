--[[
  What this call touched in other buckets (cluster only; see prelude.lua). Each is recorded once per
  call; follow_ups() turns them into versioned current states at the end. Those recorded while
  `pinned` (the sessions a CONNECT ends to stay within MAX_SESSIONS_PER_USER, which a redelivery
  of that CONNECT would not end again) always go to the outbox.
]]
local pinned = false
local touches, touch_index = {}, {}
on_call[#on_call + 1] = function()
  pinned, touches, touch_index = false, {}, {}
end
local function touch(id, entry)
  local known = touch_index[id]
  if known then
    known.pinned = known.pinned or pinned
    known.why = entry.why
    return
  end
  entry.pinned = pinned
  touch_index[id] = entry
  touches[#touches + 1] = entry
end

local function touch_seat(userId, guildId, channelId)
  -- why: what changed the seat (change_cause), so that the guild's bucket records the same cause as one Redis does.
  touch('V|' .. userId .. '|' .. guildId .. '|' .. channelId, { kind = 'V', u = userId, g = guildId, c = channelId, why = change_cause })
end

local function touch_membership(userId, guildId)
  touch('O|' .. userId .. '|' .. guildId, { kind = 'O', u = userId, g = guildId })
end

local function touch_session_end(sessionId, userId)
  touch('E|' .. userId .. '|' .. sessionId, { kind = 'E', u = userId, s = sessionId })
end
