-- submit.lua: accept route jobs of one partition, one or many in one call (a gateway batches the
-- submissions that arrive together); at most one job per (tenant, Idempotency-Key).
--
-- KEYS[1]  jobs stream              {p}:jobs
-- KEYS[2]  records stream           {p}:records   (the outbox the recorder drains into PostgreSQL)
-- KEYS[3]  the partition's deadlines {p}:deadlines   (sorted set: job id scored by deadline ms; sweep.lua)
-- then per job, four:
--   job hash                        {p}:job:<id>
--   the tenant's open jobs          {p}:open:<tenant>   (sorted set: job id scored by deadline ms)
--   idempotency key                 {p}:idem:<tenant>:<sha256(key)>   (the job hash again when the
--                                   client sent none)
--   the tenant's webhook endpoints  {p}:webhooks:<tenant> (set; the job hash again unless the job's
--                                   webhooks are "?")
-- ARGV[1]  max backlog (stream length at which new work is refused; 0 = no cap)
-- ARGV[2]  "1" to append an `accepted` record to the records stream, "0" when no recorder runs
-- then per job, thirteen:
--   id, tenant, request id, request JSON, fingerprint, submitted ms, deadline ms, record TTL ms,
--   (the submitted and deadline ms on the gateway's clock: only their difference, the client's
--   patience, is used; the job is submitted at Redis' TIME, and its deadline is that plus the
--   patience, so every deadline check is on one clock)
--   the Idempotency-Key as sent ("" when none), the most unfinished jobs this tenant may have
--   (0 = no cap), the webhooks to notify when the job ends ("" none, "*" all of the tenant's, or
--   ids; "?": all of the tenant's if it has any, judged here from its set, so the gateway needs
--   no round trip of its own when the set shares the job's slot), the gateway's trace context
--   for the worker ("" when not traced), "1" when the submitter waits for the job (its completion
--   message then carries it: lib/finish.lua) or ""
--
-- Returns per job, in order:
--         {1, id}       created
--         {0, id}       the same key with the same request: the original job
--         {-1, id}      the same key with a different request: refused
--         {-2, length}  backlog at the cap: refused
--         {-3, count}   the tenant already has its cap of unfinished jobs: refused
--
-- The jobs of one call are taken in order, each as if submitted alone: two with the same key
-- in one call are a submission and its replay.
--
-- The open-jobs set loses a job when the job ends (lib/finish.lua) or when its deadline passes
-- (trimmed here by score), so a lost worker or an expired job never holds a slot forever.
--
-- Idempotent by job id: the gateway chooses the id, and a second call with it (a retry after a
-- timeout, possibly run after the first when Redis resumes) answers {1, id} again, as the same
-- submission, and changes nothing.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local sub_ms = string.format('%d', now)
local cap = tonumber(ARGV[1])
local record = ARGV[2] == '1'
local out = {}

local function submit(job, open, idem_key, wh_key, a)
  local id, tenant, rid, req, fp = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local ttl, idem, webhooks, trace = ARGV[a + 7], ARGV[a + 8], ARGV[a + 10], ARGV[a + 11]
  local wait = ARGV[a + 12]
  if redis.call('EXISTS', job) == 1 then
    return {1, id}
  end
  if idem ~= '' then
    local prev = redis.call('GET', idem_key)
    if prev then
      local sep = string.find(prev, ' ', 1, true)
      local pid = string.sub(prev, 1, sep - 1)
      if string.sub(prev, sep + 1) == fp then
        return {0, pid}
      end
      return {-1, pid}
    end
  end
  local dl_ms = string.format('%d', now + tonumber(ARGV[a + 6]) - tonumber(ARGV[a + 5]))
  local open_cap = tonumber(ARGV[a + 9])
  if open_cap > 0 then
    redis.call('ZREMRANGEBYSCORE', open, '-inf', sub_ms)
    local n = redis.call('ZCARD', open)
    if n >= open_cap then
      return {-3, tostring(n)}
    end
  end
  if cap > 0 then
    local len = redis.call('XLEN', KEYS[1])
    if len >= cap then
      return {-2, tostring(len)}
    end
  end
  -- The job is stored once, in its hash: the stream entry only names it (start.lua hands the
  -- worker the rest from the hash).
  local eid = redis.call('XADD', KEYS[1], '*', F.id, id, F.tenant, tenant)
  redis.call('HSET', job, F.id, id, F.tenant, tenant, F.request_id, rid, F.request, req,
    F.state, S.queued, F.code, C.JOB_QUEUED, F.submitted, sub_ms, F.deadline, dl_ms,
    F.attempts, 0, F.entry, eid, F.idem, idem)
  if webhooks == '?' then
    if redis.call('SCARD', wh_key) > 0 then
      webhooks = '*'
    else
      webhooks = ''
    end
  end
  if webhooks ~= '' then
    redis.call('HSET', job, F.webhooks, webhooks)
  end
  if trace ~= '' then
    redis.call('HSET', job, F.trace, trace)
  end
  if wait ~= '' then
    redis.call('HSET', job, F.wait, wait)
  end
  redis.call('PEXPIRE', job, ttl)
  -- Every accepted job is in the deadlines set until the sweeper finds it ended (or ends it).
  redis.call('ZADD', KEYS[3], dl_ms, id)
  if open_cap > 0 then
    redis.call('ZADD', open, dl_ms, id)
    redis.call('PEXPIRE', open, ttl)
  end
  if record then
    redis.call('XADD', KEYS[2], '*', F.event, R.accepted, unpack(redis.call('HGETALL', job)))
  end
  if idem ~= '' then
    redis.call('SET', idem_key, id .. ' ' .. fp, 'PX', ttl)
  end
  return {1, id}
end

local jobs = (#KEYS - 3) / 4
for i = 0, jobs - 1 do
  local k = 4 + 4 * i
  out[#out + 1] = submit(KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], 3 + 13 * i)
end
return out
