-- cancel.lua: cancel a job that no worker has started.
--
-- KEYS[1] job hash   KEYS[2] records stream   KEYS[3] the tenant's open jobs (sorted set)
-- ARGV[1] tenant   ARGV[2] now ms   ARGV[3] record TTL ms   ARGV[4] "done" channel   ARGV[5] job id
-- ARGV[6] outcome JSON   ARGV[7] "1" to append a `finished` record
--
-- Returns {1, "cancelled"}  cancelled now (the stream entry stays; the worker that reads it skips it)
--         {0, state}        not cancellable in this state (running or already ended)
--         {-1, ""}          no such job for this tenant
local job = redis.call('HMGET', KEYS[1], 'state', 'tenant')
if not job[1] or job[2] ~= ARGV[1] then
  return {-1, ''}
end
if job[1] ~= 'queued' then
  return {0, job[1]}
end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'code', 'JOB_CANCELLED', 'fin', ARGV[2],
  'out', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[7] == '1' then
  redis.call('XADD', KEYS[2], '*', 'ev', 'finished', unpack(redis.call('HGETALL', KEYS[1])))
end
redis.call('ZREM', KEYS[3], ARGV[5])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return {1, 'cancelled'}
