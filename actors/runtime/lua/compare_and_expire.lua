-- Renew a lock, only while it is still ours.
-- KEYS: the lock. ARGV: our token, the new TTL in ms. Returns 1 if renewed, 0 if not ours.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
