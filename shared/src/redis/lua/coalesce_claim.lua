-- coalesce_claim.lua: find a cached provider answer, or take the lease to compute it.
--
-- KEYS[1] cached answer   KEYS[2] in-flight lease
-- ARGV[1] the caller's token   ARGV[2] lease ms (how long the caller may take; after that a
--         waiting caller takes over, so a dead worker never blocks the others)
--
-- Identical requests across the fleet share one provider call: the first takes the lease and
-- calls; the others poll here until the answer is cached (or the lease lapses and one of them
-- takes over).
--
-- Returns {0, answer}  a cached answer
--         {1, ""}      the caller holds the lease: it calls the provider, then coalesce_finish
--         {-1, ""}     another caller holds the lease: wait and ask again
local v = redis.call('GET', KEYS[1])
if v then
  return {0, v}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, ''}
end
return {-1, ''}
