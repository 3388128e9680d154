--[[
  The voice grace period, one bounded step: users whose grace ran out (no live chat session for
  VOICE_GRACE_SECONDS, on this server's clock) lose their seats, each as a LEAVE of that channel
  at its JOIN's own time (docs/rules.md). A user who got a session meanwhile keeps them. Safe to run
  from every instance at once.
  Arguments (after <recording>, see prelude.lua): 1 step size.
  Per bucket on a cluster (VOICE_GRACE is one per bucket).
  Returns { users whose grace ran out, seats ended, follow-ups (follow-ups.lua) }.
]]
state_function('expire_voice_grace', function()
  change_cause = 'grace'
  local due = call('ZRANGEBYSCORE', K.voiceGrace, '-inf', now_text(), 'LIMIT', '0', arg(1))
  local seats = 0
  for _, userId in ipairs(due) do
    call('ZREM', K.voiceGrace, userId)
    if not has_live_session(userId) then seats = seats + end_all_seats(userId) end
  end
  save()
  return { #due, seats, follow_ups(true) }
end)
