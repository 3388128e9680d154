--[[
  Follow-ups in a guild's bucket (cluster). GUILD_VERSIONS:<guildId> keeps, per seat
  ("<channelId>|<userId>") and per membership ("o|<userId>"), the version of the state last applied;
  an older or equal version changes nothing, so follow-ups may arrive late, twice or out of order
  (two consumers applying one user's events) and the newest state wins. Versions saying "absent"
  are listed in GUILD_VERSIONS_GONE and pruned an hour later (prune-versions.lua), long after any
  older follow-up could still arrive.
  "V" guildId channelId userId seated version [cause]; "O" guildId userId online version; "E" sessionId userId version.
  A seat's cause is what changed it in the user's bucket (an event's kind letter, 'grace', 'reset'), for the change stream.
]]
local function apply_follow_up(text)
  local e = cjson.decode(text)
  local kind = e[1]
  if kind == 'E' then return end_claim(e[2], e[3]) end
  local guildId, field, present, version = e[2], nil, nil, nil
  if kind == 'V' then
    field, present, version = e[3] .. '|' .. e[4], e[5] == 1, e[6]
  elseif kind == 'O' then
    field, present, version = 'o|' .. e[3], e[4] == 1, e[5]
  else
    error('unknown follow-up ' .. tostring(kind))
  end
  local versionsKey = K.guildVersions .. guildId
  local known = call('HGET', versionsKey, field)
  if known and tonumber_(known) >= tonumber_(version) then return known == version and DUPLICATE or STALE end
  call('HSET', versionsKey, field, version)
  if not present then call('ZADD', K.versionsGone, version, guildId .. '|' .. field) end
  if kind == 'V' then
    change_cause = e[7]
    if present then add_to_channel(guildId, e[3], e[4]) else remove_from_channel(guildId, e[3], e[4]) end
  elseif present then
    call('SADD', K.guildOnline .. guildId, e[3])
  else
    call('SREM', K.guildOnline .. guildId, e[3])
  end
  return APPLIED
end

--[[
  Cluster: the follow-ups of this call, each the CURRENT state of something it touched, with a
  version from the bucket's clock: max(now in µs, last version + 1), so versions only grow, across
  calls, and across a failover too unless the new master's clock is behind by more than the failover
  took. Returns { all follow-ups, those also kept in the bucket's outbox } as JSON texts.
  The outbox (score: version) holds what nothing else would send again if the client died before
  applying it: everything when `durable` (sweeps, RESETs, the HTTP session route, whose callers do
  not redeliver), else only the pinned ones. The client removes them once applied; leftovers are
  applied by any instance a few seconds later. A Kafka record needs none: its offset is committed
  only once its follow-ups are applied, and applied again it sends them again.
  Empty on a single Redis.
]]
local function follow_ups(durable)
  local all, kept = {}, {}
  if INLINE or #touches == 0 then return { all, kept } end
  for _, e in ipairs(touches) do
    local v = next_version(0)
    local entry
    if e.kind == 'V' then
      entry = { 'V', e.g, e.c, e.u, seat_state(e.u, e.g, e.c) and 1 or 0, v, e.why }
    elseif e.kind == 'O' then
      entry = { 'O', e.g, e.u, tonumber_(call('HGET', K.userGuilds .. e.u, e.g) or '0') > 0 and 1 or 0, v }
    else
      entry = { 'E', e.s, e.u, v }
    end
    local text = cjson.encode(entry)
    all[#all + 1] = text
    if durable or e.pinned then
      call('ZADD', K.outbox, v, text)
      kept[#kept + 1] = text
    end
  end
  touches, touch_index = {}, {}
  return { all, kept }
end
