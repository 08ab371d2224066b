-- claim.lua: take the deliveries that are due, under a lease.
--
-- KEYS[1] the due deliveries {p}:notify:due (sorted set scored by due time, ms)
-- ARGV[1] now ms   ARGV[2] lease ms   ARGV[3] most deliveries to take
--
-- Each delivery taken is pushed out to now + lease: if this notifier dies before it settles it,
-- another takes it again once the lease has passed (at least once, never lost).
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local until_ms = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], until_ms, member)
end
return due
