-- A startup task's tick, once per release.
-- KEYS: releases hash, queue list, queue messages hash, ticks stream, task state hash
-- ARGV: release key, message id, message, tick JSON, stream maxlen
local refused = wrong_type({'hash', 'list', 'hash', 'stream', 'hash'})
if refused then return refused end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'data', ARGV[4])
redis.call('HSET', KEYS[5], 'last_tick', ARGV[4])
redis.call('HINCRBY', KEYS[5], 'emitted', 1)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
return 1
