--[[
  Adopts what the original (Java/Spring) state service left in Redis, a batch at a time, at the
  switch-over (original-adoption.ts decodes its JDK-serialized entries and sends what they say).
  Single Redis only: the original ran on one. Idempotent: run again, it changes nothing.
  Arguments (after <recording>, see prelude.lua): 1 a JSON array of operations; 2.. binary hash
  fields, which the operations name by their index i from 1 (field i is arg(1 + i): a
  JDK-serialized field cannot travel in JSON):
    ["S", sessionId, userId, state, ttlMs]  its session key <sessionId> -> userId: a live session
                                     (user, session), as a CONNECT at time 0 with the user's state
                                     would make it (any real CONNECT of it is newer), then the key
                                     deleted. Only if the key still holds that user. Without leases
                                     (SESSION_TTL_SECONDS), it ends by itself when the key would
                                     have expired (ttlMs from now), as a lease would: the original
                                     could not resolve its DISCONNECT after that either.
    ["V", guildId, channelId, [userIds], i]  a JDK-serialized seat list: field i of GUILD:<guildId>
                                     removed, each user's seat adopted (follow-ups.lua, adopt_seat).
    ["R", guildId, channelId]        a readable seat list in another spelling: its members adopted (follow-ups.lua, channel).
    ["U", i]                         USER:STATE's JDK-serialized field i removed (its user's state now
                                     comes from their adopted sessions, or is offline).
  Returns how many sessions and seats were adopted.
]]
local function field(i) return arg(1 + i) end

state_function('adopt_original', function()
  local ops = cjson.decode(arg(1))
  local adopted = 0
  for _, op in ipairs(ops) do
    local kind = op[1]
    if kind == 'S' then
      local ok, owner = pcall(redis.call, 'GET', op[2])
      if ok and owner == op[3] then
        local outcome = connect_session(op[3], op[2], op[4], '0', '', '', '')
        call('DEL', op[2])
        if outcome == APPLIED and SETTINGS.lease <= 0 then
          call('ZADD', K.sessionLeases, int_text(now_ms() + tonumber_(op[5])), op[3] .. ':' .. op[2])
        end
        if outcome == APPLIED then adopted = adopted + 1 end
      end
    elseif kind == 'V' then
      call('HDEL', K.guild .. op[2], field(op[5]))
      for _, userId in ipairs(op[4]) do
        adopt_seat(userId, op[2], op[3])
        if seat_state(userId, op[2], op[3]) then adopted = adopted + 1 end
      end
    elseif kind == 'R' then
      channel(op[2], op[3])
    elseif kind == 'U' then
      call('HDEL', K.userState, field(op[2]))
    else
      error('unknown operation ' .. tostring(kind))
    end
  end
  save()
  return adopted
end)
