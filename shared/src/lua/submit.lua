-- submit.lua: accept a route job; at most one job per (tenant, Idempotency-Key).
--
-- KEYS[1]  job hash                 {p}:job:<id>
-- KEYS[2]  jobs stream              {p}:jobs
-- KEYS[3]  idempotency key          {p}:idem:<tenant>:<sha256(key)>   (only when the client sent one)
-- ARGV[1]  job id          ARGV[2] tenant        ARGV[3] request id     ARGV[4] request JSON
-- ARGV[5]  fingerprint     ARGV[6] submitted ms  ARGV[7] deadline ms    ARGV[8] record TTL ms
-- ARGV[9]  max backlog (stream length at which new work is refused; 0 = no cap)
-- ARGV[10] the Idempotency-Key as sent ("" when none)
--
-- Returns {1, id}       created
--         {0, id}       the same key with the same request: the original job
--         {-1, id}      the same key with a different request: refused
--         {-2, length}  backlog at the cap: refused
if #KEYS == 3 then
  local prev = redis.call('GET', KEYS[3])
  if prev then
    local sep = string.find(prev, ' ', 1, true)
    local pid = string.sub(prev, 1, sep - 1)
    if string.sub(prev, sep + 1) == ARGV[5] then
      return {0, pid}
    end
    return {-1, pid}
  end
end
local cap = tonumber(ARGV[9])
if cap > 0 then
  local len = redis.call('XLEN', KEYS[2])
  if len >= cap then
    return {-2, tostring(len)}
  end
end
local eid = redis.call('XADD', KEYS[2], '*', 'id', ARGV[1], 't', ARGV[2], 'rid', ARGV[3],
  'sub', ARGV[6], 'dl', ARGV[7], 'req', ARGV[4])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'tenant', ARGV[2], 'rid', ARGV[3], 'req', ARGV[4],
  'state', 'queued', 'code', 'JOB_QUEUED', 'sub', ARGV[6], 'dl', ARGV[7], 'att', 0, 'eid', eid,
  'idem', ARGV[10])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
if #KEYS == 3 then
  redis.call('SET', KEYS[3], ARGV[1] .. ' ' .. ARGV[5], 'PX', ARGV[8])
end
return {1, ARGV[1]}
