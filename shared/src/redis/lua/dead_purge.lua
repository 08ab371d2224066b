-- dead_purge.lua: give up on a dead letter: delete it and end its job as failed.
--
-- KEYS[1] dead-letter stream   KEYS[2] job hash   KEYS[3] records stream
-- KEYS[4] the tenant's open jobs (sorted set)   KEYS[5] the webhook outbox {p}:notify (lib/finish.lua)
-- ARGV[1] dead entry id   ARGV[2] now ms   ARGV[3] result TTL ms   ARGV[4] "done": the command and channel (lib/finish.lua)
-- ARGV[5] failed outcome JSON   ARGV[6] "1" to append a `finished` record
--
-- A job parked by this dead letter (its dead-letter field = this id) is still pending for its
-- client; purging ends it `failed` with INTERNAL_ERROR, once, and publishes "done" so waiting
-- clients hear it.
--
-- Returns 1   purged, and the parked job ended failed
--         0   purged; the job had ended or was gone, so nothing else changed
--         -1  no such dead letter
--@include finish
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #entries == 0 then
  return -1
end
redis.call('XDEL', KEYS[1], ARGV[1])
local job = redis.call('HMGET', KEYS[2], F.state, F.dead, F.id)
if job[1] ~= S.queued or job[2] ~= ARGV[1] then
  return 0
end
redis.call('HDEL', KEYS[2], F.dead)
finish(KEYS[2], KEYS[4], KEYS[3], job[3], S.failed, C.INTERNAL_ERROR, ARGV[5], ARGV[2], ARGV[3],
  ARGV[6])
publish_done(ARGV[4])
return 1
