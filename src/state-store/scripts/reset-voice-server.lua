--[[
  RESET of a signaling server (optional: only servers that send serverId with their JOINs), one
  bounded step: the server restarted, so no seat its JOINs took before the reset is real any more.
  The reset time is remembered (VOICE_RESETS); a seat is real only while its JOIN is at or after its
  server's latest RESET (see seated() in voice.lua), whatever order the records come in. This step
  takes the seats that stopped being real out of the channel views. Both times are that server's clock.
  Arguments (after <recording>, see prelude.lua): 1 serverId, 2 resetAtMs, 3 SSCAN cursor, 4 step.
  On a cluster VOICE_SERVER_SEATS:<serverId> and VOICE_RESETS are one per bucket: a RESET runs in
  every bucket, each with its own cursor.
  Returns { next cursor, seats ended in this step, follow-ups (follow-ups.lua) }.
]]
state_function('reset_voice_server', function()
  local serverId, resetAt = arg(1), tonumber_(arg(2))
  change_cause = 'reset'
  voiceResets.raise(serverId, resetAt)
  local seatsKey = K.voiceServerSeats .. serverId
  local scan = call('SSCAN', seatsKey, arg(3), 'COUNT', arg(4))
  local ended = 0
  for _, member in ipairs(scan[2]) do
    local userId, scope = match(member, '^(%d+)|(.+)$')
    local voiceKey = userId and (K.userVoice .. userId)
    local join = userId and parse_join(call('HGET', voiceKey, 'J|' .. scope))
    if not join or join.server ~= serverId then
      call('SREM', seatsKey, member) -- the seat moved on to another JOIN
    elseif not seated(voiceKey, join) then
      -- In the view (a member of the set) but no longer real, by this reset or a LEAVE applied while
      -- the reset was on its way (a step ago, or before this RESET record): it ends now.
      unsit(userId, join)
      count_seats(userId, voiceKey, -1)
      ended = ended + 1
    end
  end
  save()
  return { scan[1], ended, follow_ups(true) }
end)
