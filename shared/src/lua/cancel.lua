-- cancel.lua: cancel a job that no worker has started.
--
-- KEYS[1] job hash
-- ARGV[1] tenant   ARGV[2] now ms   ARGV[3] record TTL ms   ARGV[4] "done" channel   ARGV[5] job id
-- ARGV[6] outcome JSON
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
redis.call('PUBLISH', ARGV[4], ARGV[5])
return {1, 'cancelled'}
