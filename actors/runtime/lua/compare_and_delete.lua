-- Release what we hold: delete each key whose value is still our token, so a holder whose
-- claim expired never frees the claim someone else has taken since.
-- KEYS: any number of keys. ARGV: our token. Returns how many keys were deleted.
local deleted = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    deleted = deleted + redis.call('DEL', key)
  end
end
return deleted
