-- The fencing check: we still hold the lock and nobody took it after us.
-- KEYS: the lock, the fence counter. ARGV: our token, our fence number. Returns 1 or 0.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
return 1
