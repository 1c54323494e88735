-- Announce a server on provisioner:queue unless it was announced within its cooldown.
-- The cooldown key and the stream entry are written together or not at all: the SET NX decides,
-- and a script runs whole (XADD with a well-typed key cannot fail after the SET succeeded).
--
-- Trimming never drops an entry a consumer group still needs. Once the stream is longer than
-- the limit, it is trimmed (XTRIM MINID) below the oldest entry any group still needs: its
-- oldest pending (delivered, not acknowledged) entry, or else its last delivered one. With no
-- group at all nothing is trimmed: the entries wait for the infra service's group, and
-- `scheduler status` says so.
-- KEYS[1] cooldown key, KEYS[2] stream; ARGV: request id, cooldown ms, length limit, message JSON
local kind = redis.call('TYPE', KEYS[2])['ok']
if kind ~= 'none' and kind ~= 'stream' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[2] .. ' is not a stream; nothing published')
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return false
end
local entry = redis.call('XADD', KEYS[2], '*', 'data', ARGV[4])
if redis.call('XLEN', KEYS[2]) <= tonumber(ARGV[3]) then
  return entry
end

local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return {tonumber(ms), tonumber(seq)}
end
local function older(a, b)
  local x, y = parse(a), parse(b)
  return x[1] < y[1] or (x[1] == y[1] and x[2] < y[2])
end

local floor = nil
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[2])) do
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  local needed = info['last-delivered-id']
  if tonumber(info['pending']) > 0 then
    needed = redis.call('XPENDING', KEYS[2], info['name'])[2]
  end
  if floor == nil or older(needed, floor) then floor = needed end
end
if floor ~= nil then
  redis.call('XTRIM', KEYS[2], 'MINID', floor)
end
return entry
