-- touch.lua: a live worker refreshes the idle time of the entries it is still working on, so
-- they are never reclaimed while it works, however long a job takes; only a worker that stopped
-- touching (it died, or lost Redis) has its entries taken over after the reclaim time.
--
-- KEYS[1] jobs stream
-- ARGV[1] consumer group   ARGV[2] consumer name   ARGV[3..] stream entry ids
--
-- Returns how many entries were refreshed: an entry another consumer owns now (it was reclaimed)
-- or that is no longer pending (its job ended) is left alone.
local n = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    -- JUSTID: the idle time restarts; the delivery count does not grow.
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    n = n + 1
  end
end
return n
