-- tenant_rate.lua: count one request in a tenant's current one-second window.
--
-- KEYS[1] the window counter   {p}:rl:<tenant>:<unix second>
-- ARGV[1] window TTL ms (two windows, so a counter never outlives its use)
--
-- Returns the number of requests counted in this window, this one included.
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
