-- Put before each tick script by ticker/emit.py. Redis does not roll a script back when a
-- command in it fails, so each script first checks that every key it writes has the right
-- type (or none) and writes nothing otherwise; and it writes the claim last. Once a script
-- has written, Redis lets it finish even when out of memory, so a script that passes its
-- checks runs to the end.
local function wrong_type(kinds)
  for i, kind in ipairs(kinds) do
    local t = redis.call('TYPE', KEYS[i])['ok']
    if t ~= 'none' and t ~= kind then
      return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' is a ' .. t .. ', not a ' .. kind .. '; tick not emitted')
    end
  end
  return nil
end
