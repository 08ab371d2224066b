-- cancel.lua: cancel a job that no worker has started.
--
-- KEYS[1] job hash   KEYS[2] records stream   KEYS[3] the tenant's open jobs (sorted set)
-- KEYS[4] the webhook outbox {p}:notify (lib/finish.lua)
-- ARGV[1] tenant   ARGV[2] now ms   ARGV[3] record TTL ms   ARGV[4] "done": the command and channel (lib/finish.lua)   ARGV[5] job id
-- ARGV[6] outcome JSON   ARGV[7] "1" to append a `finished` record
--
-- Returns {1, "cancelled"}  cancelled now (the stream entry stays; the worker that reads it skips it)
--         {0, state}        not cancellable in this state (running or already ended)
--         {-1, ""}          no such job for this tenant
--@include finish
local job = redis.call('HMGET', KEYS[1], F.state, F.tenant)
if not job[1] or job[2] ~= ARGV[1] then
  return {-1, ''}
end
if job[1] ~= S.queued then
  return {0, job[1]}
end
finish(KEYS[1], KEYS[3], KEYS[2], ARGV[5], S.cancelled, C.JOB_CANCELLED, ARGV[6], ARGV[2], ARGV[3],
  ARGV[7])
publish_done(ARGV[4])
return {1, S.cancelled}
