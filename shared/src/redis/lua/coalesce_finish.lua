-- coalesce_finish.lua: store the answer of a leased provider call and release the lease.
--
-- KEYS[1] cached answer   KEYS[2] in-flight lease
-- ARGV[1] the caller's token   ARGV[2] answer to cache ("" = nothing: a transient failure, so
--         a waiting caller takes the lease and tries itself)   ARGV[3] cache TTL ms
--
-- Returns 1  the lease was ours and is released
--         0  the lease had lapsed or passed to another caller (left alone)
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
