-- Take a task's lock and draw the next fencing number, in one step.
-- KEYS: the lock, the fence counter. ARGV: our token, the lock's TTL in ms.
-- Returns the fence number (> 0), or 0 if someone else holds the lock.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
