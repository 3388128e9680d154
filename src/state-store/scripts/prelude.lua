--[[
  The state library's prelude: what every state function shares. The library is these files in the
  order state-scripts.ts (LIBRARY_FILES) lists them, loaded once into Redis with FUNCTION LOAD; the
  rules it implements are stated in docs/rules.md, these files say how they sit in Redis.

  Compiled in at load (state-scripts.ts, before this file): LAYOUT, the key names from redis-keys.ts
  (the one place that defines them); SETTINGS (ttl and ttlText, lease, grace, maxSessions, rank, invisibleAs,
  scope, inline, changes = { enabled, limit }); FUNCTION_PREFIX, the library's own prefix for its
  function names (it carries a hash of the text, so instances with other settings sharing a Redis
  load libraries of their own).

  A call: FCALL <function> 1 <the bucket's STATE_COUNTERS> <recording> <the function's own args…>.
  Every key a call touches carries the same prefix as that key: nothing on a single Redis (today's
  names), the bucket's hash tag `{tag}` on Redis Cluster, so one call touches one hash slot and is
  routed by it. The other keys follow from the data (the channels a user sits in, the sessions a
  RESET ends), so they cannot all be declared up front; Redis refuses a function's key of another
  slot on a cluster, so a layout mistake fails loudly instead of working on one node and not on
  another. <recording>: the change stream's recording, which moves at run time (a rebuild turns it
  off while it replays): "off", or on with the versions' floor in µs (change-outbox.lua).

  A function library's module-level values live as long as the library: everything a call changes
  is reset when the next call starts (begin_call and each file's on_call), even after an error.

  SETTINGS.inline (a single Redis): everything an event changes is within this call's reach and is
  changed here, atomically. Otherwise (a cluster) the effects of an event on other buckets - a
  guild's view, a guild's online set, a session id's owner - are FOLLOW-UPS: the call records which
  (user, guild, channel) seats, (user, guild) memberships and (session, user) ends it touched and,
  at its end, returns the CURRENT state of each with a version from the bucket's clock (strictly
  increasing), also kept in the bucket's outbox until the client confirms it applied them;
  apply-follow-ups.lua applies them in their own buckets, the newest version winning. Why that
  converges after a crash, a redelivery or a failover: docs/cluster.md.
]]
local INLINE = SETTINGS.inline

--[[
  The run-time functions the hot paths use, as upvalues: a global (redis, string, tonumber) is a
  table lookup at each use, twice for redis.call. Taken by the library's first call (begin_call),
  since a library being loaded sees other globals than its calls do (no string, no redis.call).
]]
local call, find, sub, match, gmatch, byte, format, concat, tonumber_
local function take_runtime()
  call, find, sub, match, gmatch, byte = redis.call, string.find, string.sub, string.match, string.gmatch, string.byte
  format, concat, tonumber_ = string.format, table.concat, tonumber
end

-- Outcomes of one event (see state-store.ts): the state changed; the same thing was
-- known already (redelivery); older than what is known (changes nothing).
local APPLIED, DUPLICATE, STALE = 1, 0, 2

-- This call's: key names with the bucket's prefix (K), arguments, change-stream recording.
local K, ARGS, RECORDING_ON, RECORDING_FLOOR
local function arg(i) return ARGS[1 + i] end

-- Every name of the layout with a bucket's prefix, by anchor key (at most one per bucket).
local names_of_anchor = {}
local function bucket_names(anchor)
  local names = names_of_anchor[anchor]
  if names then return names end
  local P = sub(anchor, 1, #anchor - #LAYOUT.counters)
  if P .. LAYOUT.counters ~= anchor then error('the key must be a bucket\'s ' .. LAYOUT.counters) end
  names = {}
  for name, value in pairs(LAYOUT) do names[name] = P .. value end
  names_of_anchor[anchor] = names
  return names
end

-- What each file keeps for one call, emptied as every call starts.
local on_call = {}

-- The change stream (change-outbox.lua defines the recorders): what caused this call's changes,
-- set by each function (an event's kind letter, or 'reset', 'lease', 'grace').
local record_presence, record_voice, change_cause

-- Keys written by this call that may carry an expiry inherited from the original service
-- (it set a whole-key expiry on USER:STATE and GUILD:*): cleared once per call, at the end.
local touched = {}
-- STATE_COUNTERS moves of this call, written once each by save() (one HINCRBY per counter per call
-- instead of one per change).
local counterMoves = {}
on_call[#on_call + 1] = function()
  touched, counterMoves, change_cause = {}, {}, nil
end

-- The server's time, read once per call: a call is atomic, one instant for all it does.
local seconds, micros
on_call[#on_call + 1] = function() seconds, micros = nil, nil end
local function server_time()
  if not seconds then
    local t = call('TIME')
    seconds, micros = tonumber_(t[1]), tonumber_(t[2])
  end
  return seconds, micros
end

local function now_ms()
  local s, us = server_time()
  return s * 1000 + math.floor(us / 1000)
end

--[[
  Numbers as Redis text. redis.call turns a Lua number argument into text with C's "%.17g", and Lua's
  own number-to-text conversion (`..`) uses "%.14g": C's floating-point formatting, the costliest step
  of a call that does it (a profile of a drain: ~10 % of Redis's time). So no number is handed to
  redis.call: the library passes the text it was given (an event's time), constants given as text
  (TTL_TEXT, compiled in), per-call instants made text once per call (now_text, deadline_text), and other whole
  numbers through int_text ("%d": integer formatting, exact below 2^63).
]]
local function int_text(n) return format('%d', n) end
local TTL_TEXT = SETTINGS.ttlText

local nowText, deadlines
on_call[#on_call + 1] = function() nowText, deadlines = nil, {} end
local function now_text()
  if not nowText then nowText = int_text(now_ms()) end
  return nowText
end

-- now + seconds, as text, once per call for each setting (the lease, the grace period).
local function deadline_text(seconds)
  local text = deadlines[seconds]
  if not text then
    text = int_text(now_ms() + seconds * 1000)
    deadlines[seconds] = text
  end
  return text
end

--[[
  The bucket's clock (STATE_CLOCK): the versions of change records and follow-ups. The next is
  max(now in µs, the last version + 1, floor), so versions only grow, across calls, and across a
  failover too unless the new master's clock is behind by more than the failover took. Read at
  the call's first version, written once as the call ends (end_call), even when it fails.
]]
local clock
on_call[#on_call + 1] = function() clock = nil end
local function next_version(floor)
  if clock then
    clock = clock + 1
  else
    local s, us = server_time()
    clock = math.max(s * 1000000 + us, tonumber_(call('GET', K.clock) or '0') + 1, floor)
  end
  return int_text(clock)
end

local function begin_call(keys, args)
  if call == nil then take_runtime() end
  K = bucket_names(keys[1])
  ARGS = args
  RECORDING_ON = SETTINGS.changes.enabled and args[1] ~= 'off'
  RECORDING_FLOOR = tonumber_(args[1]) or 0
  for i = 1, #on_call do on_call[i]() end
end

local function end_call()
  if clock then call('SET', K.clock, int_text(clock)) end
end

-- Registers a state function: body() runs between begin_call and end_call, with arg(i) its own arguments.
local function state_function(name, body)
  redis.register_function(FUNCTION_PREFIX .. name, function(keys, args)
    begin_call(keys, args)
    local ok, result = pcall(body)
    end_call()
    if not ok then error(result, 0) end
    return result
  end)
end

local function count(counter, delta)
  counterMoves[counter] = (counterMoves[counter] or 0) + delta
end

-- Whether text a sorts before b by their bytes (UTF-8). Lua's own < on strings uses the C
-- library's collation, which follows the locale redis-server was started in: ties must not.
local function bytes_less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = byte(a, i), byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- Decimal ids compare like their numbers when the shorter one is smaller.
local function id_greater(a, b)
  return #a > #b or (#a == #b and bytes_less(b, a))
end

local function split_list(text)
  if not text or text == '' then return {} end
  -- Most lists hold one item.
  if not find(text, ',', 1, true) then return { text } end
  local items = {}
  for item in gmatch(text, '[^,]+') do items[#items + 1] = item end
  return items
end
