--[[
  Lease expiry, one bounded step: ends sessions whose lease (SESSION_TTL_SECONDS) ran out, as a
  DISCONNECT would. Safe to run from every instance at once: each session ends exactly once.
  Arguments (after <recording>, see prelude.lua): 1 step size.
  Per bucket on a cluster (SESSION_LEASES is one per bucket).
  Returns { sessions ended, follow-ups (follow-ups.lua) }.
]]
state_function('expire_sessions', function()
  change_cause = 'lease'
  local due = call('ZRANGEBYSCORE', K.sessionLeases, '-inf', now_text(), 'LIMIT', '0', arg(1))
  local ended = 0
  for _, member in ipairs(due) do
    call('ZREM', K.sessionLeases, member)
    local userId, sessionId = match(member, '^(%d+):(.+)$')
    if userId and end_session(userId, sessionId) == APPLIED then ended = ended + 1 end
  end
  save()
  return { ended, follow_ups(true) }
end)
