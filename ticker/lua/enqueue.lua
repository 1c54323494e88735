-- A manual tick: enqueue and audit, no claim.
-- KEYS: queue list, queue messages hash, ticks stream, task state hash
-- ARGV: message id, message, tick JSON, stream maxlen
local refused = wrong_type({'list', 'hash', 'stream', 'hash'})
if refused then return refused end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'data', ARGV[3])
redis.call('HSET', KEYS[4], 'last_tick', ARGV[3])
redis.call('HINCRBY', KEYS[4], 'emitted', 1)
return 1
