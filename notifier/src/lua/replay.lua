-- replay.lua: put a dead letter back among the due deliveries.
--
-- KEYS[1] the due deliveries {p}:notify:due   KEYS[2] the dead letters {p}:notify:dead
-- ARGV[1] the dead letter's entry id   ARGV[2] the delivery to schedule   ARGV[3] now ms
--
-- Returns 1 when replayed, 0 when the dead letter was gone (replayed or purged already).
if redis.call('XDEL', KEYS[2], ARGV[1]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
return 1
