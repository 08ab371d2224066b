-- consumer_sweep.lua: remove the consumers of a group that hold nothing and have been idle for
-- a while (processes that died without a clean exit), so group listings do not grow with every
-- restart. A consumer with pending entries is never removed (XGROUP DELCONSUMER would drop its
-- entries, and they could no longer be reclaimed); checked and removed in one atomic step, so
-- nothing can be delivered to it in between. A live consumer removed while idle loses nothing: it
-- is created again when it is next given an entry.
--
-- KEYS[1] stream
-- ARGV[1] consumer group   ARGV[2] least idle time, ms   ARGV[3] the caller's own consumer name
--
-- Returns the names removed.
local removed = {}
local min_idle = tonumber(ARGV[2])
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #c, 2 do
    info[c[i]] = c[i + 1]
  end
  if info['name'] ~= ARGV[3] and info['pending'] == 0 and info['idle'] >= min_idle then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed[#removed + 1] = info['name']
  end
end
return removed
