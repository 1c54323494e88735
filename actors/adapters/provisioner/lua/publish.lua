-- Announce a server on provisioner:queue unless it was announced within its cooldown.
-- The cooldown key and the stream entry are written together or not at all: the SET NX decides,
-- and a script runs whole (XADD with a well-typed key cannot fail after the SET succeeded).
-- KEYS[1] cooldown key, KEYS[2] stream; ARGV: request id, cooldown ms, approximate maxlen, message JSON
if redis.call('TYPE', KEYS[2])['ok'] ~= 'none' and redis.call('TYPE', KEYS[2])['ok'] ~= 'stream' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[2] .. ' is not a stream; nothing published')
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'data', ARGV[4])
end
return false
