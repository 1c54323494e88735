-- Claim a periodic task's slot, enqueue its tick and audit it, all or nothing.
-- KEYS: last-slot hash, queue list, queue messages hash, ticks stream, task state hash
-- ARGV: task, expected last slot ('' if none), slot, message id, message, tick JSON,
--       stream maxlen, missed count, enqueue (1) or only advance (0, a paused task)
local refused = wrong_type({'hash', 'list', 'hash', 'stream', 'hash'})
if refused then return refused end
local last = redis.call('HGET', KEYS[1], ARGV[1])
if (last or '') ~= ARGV[2] then return 0 end
if ARGV[9] == '1' then
  redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
  redis.call('RPUSH', KEYS[2], ARGV[4])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', 'data', ARGV[6])
  redis.call('HSET', KEYS[5], 'last_tick', ARGV[6])
  redis.call('HINCRBY', KEYS[5], 'emitted', 1)
  if tonumber(ARGV[8]) > 0 then redis.call('HINCRBY', KEYS[5], 'missed', ARGV[8]) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
