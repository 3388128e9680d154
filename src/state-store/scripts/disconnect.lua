--[[
  DISCONNECT: a session ended. The user goes offline (and leaves voice, and their guilds' online
  sets) only when it was their last live session.
  ARGV (after the layout, see lib.lua): 1 sessionId, 2 userId from the event ('' if absent),
       3 state to record when it was the last session, 4 how long to remember the ended session (s).
  Returns 1 when applied, 0 when the session had already ended (a redelivery).
]]
return end_session(arg(1), arg(3), tonumber(arg(4)), arg(2))
