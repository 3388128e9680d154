--[[
  RESET of a chat server, one bounded step: the instance restarted, so every session it owned that
  started before the reset is gone. Called repeatedly with the returned cursor until it returns
  "0", so millions of sessions end in many short scripts instead of one that blocks Redis.
  Sessions that started at or after the reset (the restarted instance's new ones, which may be
  applied before the RESET since they travel on other partitions) are kept. Seats are not ended
  here: the grace period ends them if the user has no session left (docs/rules.md).
  Arguments (after <recording>, see prelude.lua): 1 serverId, 2 resetAtMs, 3 SSCAN cursor, 4 step.
  On a cluster SERVER_SESSIONS:<serverId> and SERVER_RESETS are one per bucket: a RESET runs in
  every bucket, each with its own cursor.
  Returns { next cursor, sessions ended in this step, follow-ups (follow-ups.lua) }.
]]
state_function('reset_server_sessions', function()
  local serverId, resetAt = arg(1), tonumber_(arg(2))
  change_cause = 'reset'
  -- Remembered so that a CONNECT of this server from before the reset, applied after it, ends at once.
  chatResets.raise(serverId, resetAt)
  local scan = call('SSCAN', K.serverSessions .. serverId, arg(3), 'COUNT', arg(4))
  local ended = 0
  for _, member in ipairs(scan[2]) do
    local userId, sessionId = match(member, '^(%d+):(.+)$')
    local since = tonumber_(call('HGET', K.session .. member, 'since') or '0')
    if userId and since < resetAt then
      local outcome = end_session(userId, sessionId)
      if outcome == APPLIED then ended = ended + 1 end
    end
  end
  save()
  return { scan[1], ended, follow_ups(true) }
end)
