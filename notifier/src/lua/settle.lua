-- settle.lua: what became of a delivery this notifier had taken.
--
-- KEYS[1] the due deliveries {p}:notify:due   KEYS[2] the dead letters {p}:notify:dead
-- ARGV[1] the delivery as taken (its member)
-- ARGV[2] 'done', 'retry' or 'dead'
-- ARGV[3] retry: the next delivery (attempts counted) · dead: the delivery as parked
-- ARGV[4] retry: its due time, ms · dead: the class of the last result
-- ARGV[5] dead: now ms
--
-- Only the holder of the delivery settles it: when the member is gone (its lease passed and
-- another notifier settled it), nothing changes, so a delivery never forks into two.
-- Returns 1 when settled here, 0 when it was not ours any more.
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then
  return 0
end
if ARGV[2] == 'retry' then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
elseif ARGV[2] == 'dead' then
  redis.call('XADD', KEYS[2], '*', 'delivery', ARGV[3], 'class', ARGV[4], 'at', ARGV[5])
end
return 1
