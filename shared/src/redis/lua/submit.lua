-- submit.lua: accept a route job; at most one job per (tenant, Idempotency-Key).
--
-- KEYS[1]  job hash                 {p}:job:<id>
-- KEYS[2]  jobs stream              {p}:jobs
-- KEYS[3]  records stream           {p}:records   (the outbox the recorder drains into PostgreSQL)
-- KEYS[4]  the tenant's open jobs    {p}:open:<tenant>   (sorted set: job id scored by deadline ms)
-- KEYS[5]  the partition's deadlines {p}:deadlines   (sorted set: job id scored by deadline ms; sweep.lua)
-- KEYS[6]  idempotency key          {p}:idem:<tenant>:<sha256(key)>   (only when the client sent one)
-- KEYS[#KEYS] the tenant's webhook endpoints {p}:webhooks:<tenant> (set; only when ARGV[13] is "?")
-- ARGV[1]  job id          ARGV[2] tenant        ARGV[3] request id     ARGV[4] request JSON
-- ARGV[5]  fingerprint     ARGV[6] submitted ms  ARGV[7] deadline ms    ARGV[8] record TTL ms
--          (ARGV[6] and ARGV[7] on the gateway's clock: only their difference, the client's
--          patience, is used; the job is submitted at Redis' TIME, and its deadline is that
--          plus the patience, so every deadline check is on one clock)
-- ARGV[9]  max backlog (stream length at which new work is refused; 0 = no cap)
-- ARGV[10] the Idempotency-Key as sent ("" when none)
-- ARGV[11] "1" to append an `accepted` record to the records stream, "0" when no recorder runs
-- ARGV[12] the most unfinished jobs this tenant may have (0 = no cap)
-- ARGV[13] the webhooks to notify when the job ends ("" none, "*" all of the tenant's, or ids;
--          "?": all of the tenant's if it has any, judged here from its set, the last key, so
--          the gateway needs no round trip of its own when the set shares the job's slot)
-- ARGV[14] the gateway's trace context for the worker ("" or absent when not traced)
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
local webhooks = ARGV[13] or ''
local nkeys = #KEYS
if webhooks == '?' then
  nkeys = nkeys - 1
end
local idem = nil
if nkeys == 6 then
  idem = KEYS[6]
end
if idem then
  local prev = redis.call('GET', idem)
  if prev then
    local sep = string.find(prev, ' ', 1, true)
    local pid = string.sub(prev, 1, sep - 1)
    if string.sub(prev, sep + 1) == ARGV[5] then
      return {0, pid}
    end
    return {-1, pid}
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local sub_ms = string.format('%d', now)
local dl_ms = string.format('%d', now + tonumber(ARGV[7]) - tonumber(ARGV[6]))
local open_cap = tonumber(ARGV[12])
if open_cap > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', sub_ms)
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
-- The job is stored once, in its hash: the stream entry only names it (start.lua hands the
-- worker the rest from the hash).
local eid = redis.call('XADD', KEYS[2], '*', F.id, ARGV[1], F.tenant, ARGV[2])
redis.call('HSET', KEYS[1], F.id, ARGV[1], F.tenant, ARGV[2], F.request_id, ARGV[3],
  F.request, ARGV[4], F.state, S.queued, F.code, C.JOB_QUEUED, F.submitted, sub_ms,
  F.deadline, dl_ms, F.attempts, 0, F.entry, eid, F.idem, ARGV[10])
if webhooks == '?' then
  if redis.call('SCARD', KEYS[#KEYS]) > 0 then
    webhooks = '*'
  else
    webhooks = ''
  end
end
if webhooks ~= '' then
  redis.call('HSET', KEYS[1], F.webhooks, webhooks)
end
if ARGV[14] and ARGV[14] ~= '' then
  redis.call('HSET', KEYS[1], F.trace, ARGV[14])
end
redis.call('PEXPIRE', KEYS[1], ARGV[8])
-- Every accepted job is in the deadlines set until the sweeper finds it ended (or ends it).
redis.call('ZADD', KEYS[5], dl_ms, ARGV[1])
if open_cap > 0 then
  redis.call('ZADD', KEYS[4], dl_ms, ARGV[1])
  redis.call('PEXPIRE', KEYS[4], ARGV[8])
end
if ARGV[11] == '1' then
  redis.call('XADD', KEYS[3], '*', F.event, R.accepted, unpack(redis.call('HGETALL', KEYS[1])))
end
if idem then
  redis.call('SET', idem, ARGV[1] .. ' ' .. ARGV[5], 'PX', ARGV[8])
end
return {1, ARGV[1]}
