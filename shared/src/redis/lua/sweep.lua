-- sweep.lua: end the jobs nobody else will end — past their deadline plus a grace, still
-- queued or running (no live worker, a worker that died with no other to reclaim, a dead letter
-- nobody replayed, a stream entry Redis lost). Ends each through the one terminal write
-- (lib/finish.lua): a worker that completes the same job races this script, and whichever runs
-- first ends it; the other finds it ended and changes nothing.
--
-- KEYS[1] the partition's deadlines (sorted set: job id scored by deadline ms; added at submit
--         and replay, removed here once the job is past its deadline plus the grace)
-- KEYS[2] jobs stream   KEYS[3] records stream
-- KEYS[4..] per job, in pairs: the job hash, the tenant's open jobs (sorted set)
-- KEYS[#KEYS] the webhook outbox {p}:notify (lib/finish.lua)
-- ARGV[1] consumer group   ARGV[2] grace ms   ARGV[3] result TTL ms
-- ARGV[4] "done": the command and channel (lib/finish.lua)   ARGV[5] "1" to append a `finished` record
-- ARGV[6] outcome JSON: never started   ARGV[7] outcome JSON: started, then its worker was lost
-- ARGV[8] outcome JSON: parked in the dead-letter stream
-- ARGV[9..] job ids, one per pair of KEYS[4..], in order
--
-- The clock is Redis' own (TIME), the same for every process. A job whose record says its
-- deadline (plus the grace) is still ahead (a replay gave it a new one) is re-scored, not ended;
-- an ended or vanished job just leaves the set. The ended job's stream entry is acknowledged
-- and deleted, so it no longer counts as backlog and no worker starts it later.
--
-- Returns how many jobs this call ended.
--@include finish
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local grace = tonumber(ARGV[2])
local n = 0
for i = 0, (#KEYS - 4) / 2 - 1 do
  local key, open = KEYS[4 + 2 * i], KEYS[5 + 2 * i]
  local id = ARGV[9 + i]
  local job = redis.call('HMGET', key, F.state, F.deadline, F.attempts, F.dead, F.entry)
  local state = job[1]
  if not state or (state ~= S.queued and state ~= S.running) then
    redis.call('ZREM', KEYS[1], id)
  else
    local dl = tonumber(job[2]) or 0
    if dl + grace > now then
      redis.call('ZADD', KEYS[1], dl, id)
    else
      local outcome = ARGV[6]
      if job[4] then
        outcome = ARGV[8]
      elseif state == S.running or (tonumber(job[3]) or 0) > 0 then
        outcome = ARGV[7]
      end
      finish(key, open, KEYS[3], id, S.expired, C.JOB_EXPIRED, outcome, string.format('%d', now),
        ARGV[3], ARGV[5])
      if job[5] then
        redis.call('XACK', KEYS[2], ARGV[1], job[5])
        redis.call('XDEL', KEYS[2], job[5])
      end
      redis.call('ZREM', KEYS[1], id)
      n = n + 1
    end
  end
end
publish_done(ARGV[4])
return n
