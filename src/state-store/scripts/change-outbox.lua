--[[
  The change stream's outbox (CHANGE_TOPIC, docs/contracts.md): recorded by the state functions
  themselves, so that a change and its record are written in the same atomic step.

  Recorded only when the view really changed: presence when the user's SHOWN state (USER:STATE, after
  the multi-session priority and `invisible` shown as INVISIBLE_SHOWN_AS) changes, in the user's
  bucket (refresh_shown_state); voice when a seat is taken or ended in GUILD:<guildId>, in the guild's
  bucket (add_to_channel / remove_from_channel: inline on one Redis, apply_follow_up on a cluster).
  Nothing is recorded while RECORDING_ON is false (no CHANGE_TOPIC, or a rebuild replaying: the call's
  <recording> argument, see prelude.lua).

  CHANGE_OUTBOX (stream): one entry per change, field r = the Kafka record's JSON, in the order
  applied; the relay (src/change-stream) publishes then deletes them. Past SETTINGS.changes.limit
  entries, records go to CHANGE_OVERFLOW instead (hash: one field per presence key "p|<userId>" or
  seat "v|<guildId>|<channelId>|<userId>" -> its latest record, and "#resync" asking the relay to
  send a RESYNC first) until the relay has drained it: bounded by the users and seats, whatever the
  length of a Kafka outage.

  version: the bucket's STATE_CLOCK (prelude.lua, next_version), never below the rebuild epoch's time in
  µs: it only grows per key (a key lives in one bucket), across a rebuild (the floor), and across a
  failover unless the new master's clock is behind by more than the failover took.
  Needs prelude.lua; defines the recorders channel-view.lua and sessions.lua call.
]]
local CHANGES = SETTINGS.changes
-- This call's room left in CHANGE_OUTBOX, and whether CHANGE_OVERFLOW is in use: read at its first record.
local room, overflowing
on_call[#on_call + 1] = function() room, overflowing = nil, nil end

local function append_change(field, record)
  if overflowing == nil then
    overflowing = call('EXISTS', K.changeOverflow) == 1
    room = overflowing and 0 or CHANGES.limit - call('XLEN', K.changeOutbox)
  end
  if not overflowing then
    if room > 0 then
      call('XADD', K.changeOutbox, '*', 'r', record)
      room = room - 1
      return
    end
    call('HSET', K.changeOverflow, '#resync', '1')
    overflowing = true
  end
  call('HSET', K.changeOverflow, field, record)
end

-- A state as a JSON string, kept for the few states there are (cjson.encode allocates a buffer each time).
local jsonStates, jsonStateCount = {}, 0
local function json_state(state)
  local text = jsonStates[state]
  if not text then
    text = cjson.encode(state)
    if jsonStateCount < 64 then jsonStates[state], jsonStateCount = text, jsonStateCount + 1 end
  end
  return text
end

local function shown_offline(state)
  return state == 'offline' or state == SETTINGS.invisibleAs
end

--[[
  Called before USER:STATE takes `shown`, with its value when the call knows it (`stored`: false when
  absent); returns it as read (nil when not recording and not known). Recorded by flush_presence once
  the event (apply_events) or the call (save) is done, as ONE change from the state before it to the
  state after it: a RESET ending a user's two sessions in one step is online -> offline, not online
  -> dnd -> offline, since nobody could see the state in between. The cause never tells an invisible
  user from a disconnected one: any change to offline (going invisible included) reads 'disconnect'
  (or the server's own 'reset' / 'lease'), any change from offline (coming back included) 'connect'.
]]
local pending, pendingOrder = {}, {}
on_call[#on_call + 1] = function() pending, pendingOrder = {}, {} end

record_presence = function(userId, shown, stored)
  if not RECORDING_ON then return stored end
  if stored == nil then stored = call('HGET', K.userState, userId) end
  local change = pending[userId]
  if not change then
    -- Every field the record may take, so the table is made at its size once.
    change = { previous = stored or 'offline', shown = false, cause = false }
    pending[userId] = change
    pendingOrder[#pendingOrder + 1] = userId
  end
  if (stored or 'offline') ~= shown then change.shown, change.cause = shown, change_cause end
  return stored
end

local function flush_presence()
  if #pendingOrder == 0 then return end
  for _, userId in ipairs(pendingOrder) do
    local change = pending[userId]
    local shown, previous = change.shown, change.previous
    if shown and shown ~= previous then
      local cause
      if shown_offline(shown) then
        cause = (change.cause == 'reset' or change.cause == 'lease') and change.cause or 'disconnect'
      elseif shown_offline(previous) then
        cause = 'connect'
      else
        cause = 'status'
      end
      append_change('p|' .. userId, '{"type":"PRESENCE","userId":"' .. userId .. '","state":' .. json_state(shown) .. ',"previous":'
        .. json_state(previous) .. ',"cause":"' .. cause .. '","at":' .. now_text() .. ',"version":' .. next_version(RECORDING_FLOOR) .. '}')
    end
  end
  pending, pendingOrder = {}, {}
end

-- Voice causes: an event's kind letter ('J' JOIN, 'L' LEAVE) or the server's own ('grace', 'reset'). On a
-- cluster the view changes in the guild's bucket (apply_follow_up), which reads the cause from the follow-up.
local VOICE_CAUSES = { J = 'join', L = 'leave' }

-- Called when (userId) was added to ('JOIN') or removed from ('LEAVE') the view of a channel.
record_voice = function(guildId, channelId, userId, change)
  if not RECORDING_ON then return end
  local cause = VOICE_CAUSES[change_cause] or change_cause or (change == 'JOIN' and 'join' or 'leave')
  -- A JOIN that ends a seat moved the user (or took the seat over); the LEAVE says so.
  if change_cause == 'J' and change == 'LEAVE' then cause = 'move' end
  append_change('v|' .. guildId .. '|' .. channelId .. '|' .. userId, '{"type":"VOICE","guildId":"' .. guildId .. '","channelId":"'
    .. channelId .. '","userId":"' .. userId .. '","change":"' .. change .. '","cause":"' .. cause .. '","at":' .. now_text() .. ',"version":'
    .. next_version(RECORDING_FLOOR) .. '}')
end
