--[[
  Cluster only, one bounded step: forgets versions that say "absent" (a user no longer in a seat or
  no longer online in a guild) once they are older than ARGV 1 seconds. They only matter while an
  older follow-up for the same seat could still arrive (two consumers' steps interleaving, an
  outbox drained late): seconds. Without this, GUILD_VERSIONS:<guildId> would keep every user who
  ever sat in the guild.
  Arguments (after <recording>, see prelude.lua): 1 age in seconds, 2 step size.
  Returns how many versions it forgot.
]]
state_function('prune_versions', function()
  local t = call('TIME')
  local cutoff = tonumber_(t[1]) * 1000000 + tonumber_(t[2]) - tonumber_(arg(1)) * 1000000
  local due = call('ZRANGEBYSCORE', K.versionsGone, '-inf', format('%.0f', cutoff), 'WITHSCORES', 'LIMIT', 0, tonumber_(arg(2)))
  local forgotten = 0
  for i = 1, #due, 2 do
    local guildId, field = match(due[i], '^(%d+)|(.+)$')
    if guildId then
      local versionsKey = K.guildVersions .. guildId
      local known = call('HGET', versionsKey, field)
      -- Still the same "absent" version (a newer one, present or not, is kept).
      if known and tonumber_(known) == tonumber_(due[i + 1]) then
        call('HDEL', versionsKey, field)
        forgotten = forgotten + 1
      end
    end
    call('ZREM', K.versionsGone, due[i])
  end
  return forgotten
end)
