-- A startup task's tick, once per release (or per ticker epoch when no release id is given).
-- The claim is a string key that expires after the bound the caller gives (a release that runs
-- longer than that and restarts a ticker gets one more startup tick; the startup task is safe to
-- run again). A claim in the releases hash, where earlier versions kept them, still counts.
-- KEYS: claim key, queue list, queue messages hash, ticks stream, task state hash, legacy releases hash
-- ARGV: legacy release field, message id, message, tick JSON, stream maxlen, claim TTL in seconds
local refused = wrong_type({'string', 'list', 'hash', 'stream', 'hash', 'hash'})
if refused then return refused end
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('HEXISTS', KEYS[6], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'data', ARGV[4])
redis.call('HSET', KEYS[5], 'last_tick', ARGV[4])
redis.call('HINCRBY', KEYS[5], 'emitted', 1)
redis.call('SET', KEYS[1], ARGV[4], 'EX', ARGV[6])
return 1
