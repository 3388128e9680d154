--[[
  Cluster only: applies follow-ups in their bucket (a guild's view and online set, a session id's
  claims), each only if newer than what that bucket last applied for the same seat or membership
  (follow-ups.lua, apply_follow_up). Idempotent: the same follow-up applied twice, or an older one applied
  after a newer one, changes nothing.
  Arguments (after <recording>, see prelude.lua): 1 a JSON array of follow-ups (the JSON texts
  the steps before returned).
  Returns { applied, unchanged (duplicate or older) }.
]]
state_function('apply_follow_ups', function()
  local applied, unchanged = 0, 0
  for _, text in ipairs(cjson.decode(arg(1))) do
    if apply_follow_up(text) == APPLIED then applied = applied + 1 else unchanged = unchanged + 1 end
  end
  save()
  return { applied, unchanged }
end)
