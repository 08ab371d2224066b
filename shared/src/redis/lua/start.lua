-- start.lua: a worker takes a batch of delivered entries (one round trip for the whole read).
--
-- KEYS[1]     jobs stream
-- KEYS[2]     records stream
-- KEYS[3..]   per entry, in pairs: the job hash, the tenant's open jobs (sorted set)
-- KEYS[#KEYS] the webhook outbox {p}:notify (lib/finish.lua)
-- ARGV[1] consumer group   ARGV[2] the worker's clock, ms (unused: every time here is Redis' TIME)
-- ARGV[3] consumer name   ARGV[4] record TTL ms
-- ARGV[5] "done": the command and channel (lib/finish.lua)   ARGV[6] expired outcome JSON (never started)
-- ARGV[7] "1" to record expiries   ARGV[8] expired outcome JSON (started before, then its worker was lost)
-- ARGV[9..]  stream entry ids, one per pair of KEYS[3..], in order
--
-- Returns one status per job, in order, then Redis' TIME in ms:
--   {n, request id, submitted ms, deadline ms, request JSON, trace context}
--           the job is now running; n is its delivery count (attempts), and `{n, w, t}` (delivery,
--           consumer, now ms) is appended to the JSON list in the hash's history. The rest is the
--           job as submitted: it is stored once, in the hash (the stream entry only names it)
--   0       it had already ended (completed elsewhere or cancelled): entry acknowledged and deleted
--   -1      its record is gone (TTL): entry acknowledged and deleted
--   {-2, request id}
--           its deadline had passed: it is now `expired` (stored, published, acknowledged), with
--           the detail of ARGV[8] when an earlier delivery had started it (a reclaim), else ARGV[6]
--@include finish
local out = {}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_ms = string.format('%d', now)
-- One delivery's entry of the history, appended to the JSON text without decoding it.
local who = cjson.encode(ARGV[3])
local jobs = (#KEYS - 3) / 2
for i = 0, jobs - 1 do
  local key, open = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local eid = ARGV[9 + i]
  local job = redis.call('HMGET', key, F.state, F.deadline, F.id, F.attempts, F.history,
    F.request_id, F.submitted, F.request, F.trace)
  local state = job[1]
  if not state then
    redis.call('XACK', KEYS[1], ARGV[1], eid)
    redis.call('XDEL', KEYS[1], eid)
    out[#out + 1] = -1
  elseif state ~= S.queued and state ~= S.running then
    redis.call('XACK', KEYS[1], ARGV[1], eid)
    redis.call('XDEL', KEYS[1], eid)
    out[#out + 1] = 0
  elseif now >= tonumber(job[2]) then
    local outcome = ARGV[6]
    if state == S.running or (tonumber(job[4]) or 0) > 0 then
      outcome = ARGV[8]
    end
    finish(key, open, KEYS[2], job[3], S.expired, C.JOB_EXPIRED, outcome, now_ms, ARGV[4], ARGV[7],
      {F.worker, ARGV[3]})
    redis.call('XACK', KEYS[1], ARGV[1], eid)
    redis.call('XDEL', KEYS[1], eid)
    out[#out + 1] = {-2, job[6] or ''}
  else
    local n = (tonumber(job[4]) or 0) + 1
    -- The delivery history a dead letter carries: who took the job, when, which delivery.
    local item = '{"n":' .. n .. ',"w":' .. who .. ',"t":' .. now_ms .. '}'
    local hist = job[5]
    if hist and #hist > 2 then
      hist = string.sub(hist, 1, -2) .. ',' .. item .. ']'
    else
      hist = '[' .. item .. ']'
    end
    if state == S.queued then
      redis.call('HSET', key, F.state, S.running, F.code, C.JOB_RUNNING, F.started, now_ms,
        F.worker, ARGV[3], F.attempts, n, F.history, hist)
    else
      redis.call('HSET', key, F.worker, ARGV[3], F.attempts, n, F.history, hist)
    end
    out[#out + 1] = {n, job[6] or '', job[7] or '0', job[2], job[8] or '', job[9] or ''}
  end
end
publish_done(ARGV[5])
-- Last: Redis' clock now, so the worker measures the job's time to its deadline on it.
out[#out + 1] = now
return out
