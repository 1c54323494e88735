-- Which startup epoch a starting ticker belongs to, decided and registered in one step.
-- A ticker that finds no other live ticker heartbeat opens a new epoch (INCR); one that finds
-- another joins the current epoch. The starting ticker is put in the heartbeat index in the same
-- script, so of two tickers starting together the second always sees the first: one epoch, one
-- startup tick. The Redis clock decides what is alive, as for every heartbeat.
-- KEYS: ticker heartbeat index (zset: id -> expiry ms), epoch counter (string)
-- ARGV: this ticker's process id, its heartbeat TTL in ms
-- Returns {epoch, 1 if this ticker opened it else 0}.
local refused = wrong_type({'zset', 'string'})
if refused then return refused end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
local others = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%d', now), '+inf')) do
  if id ~= ARGV[1] then others = others + 1 end
end
local epoch = redis.call('GET', KEYS[2])
local opened = 0
if others == 0 or not epoch then
  epoch = redis.call('INCR', KEYS[2])
  opened = 1
end
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[2])), ARGV[1])
return {tostring(epoch), opened}
