-- dead_letter.lua: park a job that keeps failing to complete in the dead-letter stream.
--
-- KEYS[1] job hash   KEYS[2] jobs stream   KEYS[3] dead-letter stream
-- ARGV[1] consumer group   ARGV[2] stream entry id   ARGV[3] job id   ARGV[4] now ms
-- ARGV[5] consumer name    ARGV[6] reason            ARGV[7] parked outcome JSON (the `detail`
--         a client reads while the job waits for an operator)
--
-- The dead letter carries the job's request and its history: the JSON list of deliveries
-- `{n, w, t, e}` (delivery, worker, start ms, what became of it). The job stays *pending* for its
-- client (`queued`, its dead-letter field = the dead letter's id, nothing published): replay puts
-- it back on the jobs stream under the same id, so a client still waiting gets its answer.
--
-- Returns {1, dead entry id}  parked; the jobs stream entry is acknowledged and deleted
--         {0, state}          the job had already ended: entry acknowledged and deleted only
--         {-1, ""}            the record is gone (TTL): entry acknowledged and deleted only
local job = redis.call('HMGET', KEYS[1], F.state, F.tenant, F.request_id, F.submitted,
  F.deadline, F.request, F.attempts, F.history, F.idem)
local state = job[1]
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
if not state then
  return {-1, ''}
end
if state ~= S.queued and state ~= S.running then
  return {0, state}
end
local hist = cjson.decode(job[8] or '[]')
for i, d in ipairs(hist) do
  if i < #hist then
    d.e = 'not completed: the worker stopped acknowledging and the entry was reclaimed'
  else
    d.e = ARGV[6]
  end
end
local encoded = '[]'
if #hist > 0 then
  encoded = cjson.encode(hist)
end
local did = redis.call('XADD', KEYS[3], '*', F.id, ARGV[3], F.tenant, job[2],
  F.request_id, job[3] or '', F.submitted, job[4] or '0', F.deadline, job[5] or '0',
  F.request, job[6] or '', F.attempts, job[7] or '0', F.history, encoded, F.reason, ARGV[6],
  F.at, ARGV[4], F.by, ARGV[5], F.entry, ARGV[2], F.idem, job[9] or '')
redis.call('HSET', KEYS[1], F.state, S.queued, F.code, C.JOB_QUEUED, F.dead, did,
  F.outcome, ARGV[7])
return {1, did}
