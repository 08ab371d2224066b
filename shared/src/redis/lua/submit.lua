-- submit.lua: accept a route job; at most one job per (tenant, Idempotency-Key).
--
-- KEYS[1]  job hash                 {p}:job:<id>
-- KEYS[2]  jobs stream              {p}:jobs
-- KEYS[3]  records stream           {p}:records   (the outbox the recorder drains into PostgreSQL)
-- KEYS[4]  the tenant's open jobs    {p}:open:<tenant>   (sorted set: job id scored by deadline ms)
-- KEYS[5]  idempotency key          {p}:idem:<tenant>:<sha256(key)>   (only when the client sent one)
-- ARGV[1]  job id          ARGV[2] tenant        ARGV[3] request id     ARGV[4] request JSON
-- ARGV[5]  fingerprint     ARGV[6] submitted ms  ARGV[7] deadline ms    ARGV[8] record TTL ms
-- ARGV[9]  max backlog (stream length at which new work is refused; 0 = no cap)
-- ARGV[10] the Idempotency-Key as sent ("" when none)
-- ARGV[11] "1" to append an `accepted` record to the records stream, "0" when no recorder runs
-- ARGV[12] the most unfinished jobs this tenant may have (0 = no cap)
-- ARGV[13] the gateway's trace context for the worker ("" or absent when not traced)
--
-- Returns {1, id}       created
--         {0, id}       the same key with the same request: the original job
--         {-1, id}      the same key with a different request: refused
--         {-2, length}  backlog at the cap: refused
--         {-3, count}   the tenant already has its cap of unfinished jobs: refused
--
-- The open-jobs set loses a job when the job ends (lib/finish.lua) or when its deadline passes
-- (trimmed here by score), so a lost worker or an expired job never holds a slot forever.
--
-- Idempotent by job id: the gateway chooses the id, and a second call with it (a retry after a
-- timeout, possibly run after the first when Redis resumes) answers {1, id} again, as the same
-- submission, and changes nothing.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {1, ARGV[1]}
end
if #KEYS == 5 then
  local prev = redis.call('GET', KEYS[5])
  if prev then
    local sep = string.find(prev, ' ', 1, true)
    local pid = string.sub(prev, 1, sep - 1)
    if string.sub(prev, sep + 1) == ARGV[5] then
      return {0, pid}
    end
    return {-1, pid}
  end
end
local open_cap = tonumber(ARGV[12])
if open_cap > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[6])
  local open = redis.call('ZCARD', KEYS[4])
  if open >= open_cap then
    return {-3, tostring(open)}
  end
end
local cap = tonumber(ARGV[9])
if cap > 0 then
  local len = redis.call('XLEN', KEYS[2])
  if len >= cap then
    return {-2, tostring(len)}
  end
end
local eid
if ARGV[13] == nil or ARGV[13] == '' then
  eid = redis.call('XADD', KEYS[2], '*', F.id, ARGV[1], F.tenant, ARGV[2],
    F.request_id, ARGV[3], F.submitted, ARGV[6], F.deadline, ARGV[7], F.request, ARGV[4])
else
  eid = redis.call('XADD', KEYS[2], '*', F.id, ARGV[1], F.tenant, ARGV[2],
    F.request_id, ARGV[3], F.submitted, ARGV[6], F.deadline, ARGV[7], F.request, ARGV[4],
    F.trace, ARGV[13])
end
redis.call('HSET', KEYS[1], F.id, ARGV[1], F.tenant, ARGV[2], F.request_id, ARGV[3],
  F.request, ARGV[4], F.state, S.queued, F.code, C.JOB_QUEUED, F.submitted, ARGV[6],
  F.deadline, ARGV[7], F.attempts, 0, F.entry, eid, F.idem, ARGV[10])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
if open_cap > 0 then
  redis.call('ZADD', KEYS[4], ARGV[7], ARGV[1])
  redis.call('PEXPIRE', KEYS[4], ARGV[8])
end
if ARGV[11] == '1' then
  redis.call('XADD', KEYS[3], '*', F.event, R.accepted, unpack(redis.call('HGETALL', KEYS[1])))
end
if #KEYS == 5 then
  redis.call('SET', KEYS[5], ARGV[1] .. ' ' .. ARGV[5], 'PX', ARGV[8])
end
return {1, ARGV[1]}
