-- rate_limit.lua: reserve a call slot under a provider's fleet-wide rate limit.
--
-- KEYS[1] limiter state: the theoretical arrival time (GCRA), µs on Redis' clock
-- KEYS[2] Retry-After hold: while it exists, no slot starts before it expires
-- ARGV[1] emission interval, whole µs (1e6 / requests per second)
-- ARGV[2] the longest the caller can wait for its slot, whole µs
--
-- Every worker asks here before each call to the provider, so the whole fleet spends one quota:
-- slots are spaced ARGV[1] apart (no burst), on Redis' clock (workers' clocks never matter). A
-- reservation is made only when the caller can wait for it; a caller that gives up after
-- reserving wastes its slot, which can only lower the rate, never raise it.
--
-- Returns {1, wait µs}  a slot is reserved: make the call after waiting `wait`
--         {0, wait µs}  no slot within the caller's patience; nothing reserved
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local earliest = now
local hold = redis.call('PTTL', KEYS[2])
if hold > 0 then
  earliest = now + hold * 1000
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(tat, earliest)
local wait = slot - now
if wait > tonumber(ARGV[2]) then
  return {0, wait}
end
local next_tat = slot + interval
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX',
  math.floor((next_tat - now) / 1000) + 1000)
return {1, wait}
