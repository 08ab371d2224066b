-- complete.lua: write a job's terminal state exactly once, then tell and acknowledge.
--
-- KEYS[1] job hash   KEYS[2] jobs stream   KEYS[3] records stream
-- KEYS[4] the tenant's open jobs (sorted set; the job leaves it here)
-- ARGV[1] consumer group   ARGV[2] stream entry id   ARGV[3] job id   ARGV[4] terminal state
-- ARGV[5] code             ARGV[6] outcome JSON      ARGV[7] now ms   ARGV[8] record TTL ms
-- ARGV[9] "done" channel        ARGV[10] "1" to append a `finished` record (the whole job)
--
-- Returns 1   stored, published, acknowledged
--         0   the job had already ended (a redelivered duplicate): nothing changed but the ack
--         -1  the record is gone (TTL): entry acknowledged
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[2], ARGV[2])
  return -1
end
if state ~= 'queued' and state ~= 'running' then
  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[2], ARGV[2])
  return 0
end
redis.call('HSET', KEYS[1], 'state', ARGV[4], 'code', ARGV[5], 'out', ARGV[6], 'fin', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
if ARGV[10] == '1' then
  redis.call('XADD', KEYS[3], '*', 'ev', 'finished', unpack(redis.call('HGETALL', KEYS[1])))
end
redis.call('ZREM', KEYS[4], ARGV[3])
redis.call('PUBLISH', ARGV[9], ARGV[3])
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
return 1
