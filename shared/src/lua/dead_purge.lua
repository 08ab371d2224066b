-- dead_purge.lua: give up on a dead letter: delete it and end its job as failed.
--
-- KEYS[1] dead-letter stream   KEYS[2] job hash   KEYS[3] records stream
-- ARGV[1] dead entry id   ARGV[2] now ms   ARGV[3] result TTL ms   ARGV[4] "done" channel
-- ARGV[5] failed outcome JSON   ARGV[6] "1" to append a `finished` record
--
-- A job parked by this dead letter (`dlq` = its id) is still pending for its client; purging
-- ends it `failed` with INTERNAL_ERROR, once, and publishes "done" so waiting clients hear it.
--
-- Returns 1   purged, and the parked job ended failed
--         0   purged; the job had ended or was gone, so nothing else changed
--         -1  no such dead letter
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #entries == 0 then
  return -1
end
redis.call('XDEL', KEYS[1], ARGV[1])
local job = redis.call('HMGET', KEYS[2], 'state', 'dlq', 'id')
if job[1] ~= 'queued' or job[2] ~= ARGV[1] then
  return 0
end
redis.call('HDEL', KEYS[2], 'dlq')
redis.call('HSET', KEYS[2], 'state', 'failed', 'code', 'INTERNAL_ERROR', 'fin', ARGV[2],
  'out', ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if ARGV[6] == '1' then
  redis.call('XADD', KEYS[3], '*', 'ev', 'finished', unpack(redis.call('HGETALL', KEYS[2])))
end
redis.call('PUBLISH', ARGV[4], job[3])
return 1
