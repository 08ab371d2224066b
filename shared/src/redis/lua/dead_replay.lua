-- dead_replay.lua: put a dead letter back on the jobs stream under its job's id.
--
-- KEYS[1] dead-letter stream   KEYS[2] job hash   KEYS[3] jobs stream
-- KEYS[4] the partition's deadlines (sorted set; sweep.lua ends the job if this attempt is lost too)
-- ARGV[1] dead entry id   ARGV[2] now ms   ARGV[3] result TTL ms
--
-- The job gets a fresh deadline of its request's own `deadline_ms` from now (a replay is an
-- operator's new attempt on the client's behalf; the old deadline has usually passed), its
-- delivery count and history restart, and the record is re-created from the dead letter if its
-- TTL removed it. A client polling or waiting on the id then gets the answer.
--
-- Returns {1, new stream entry id}  replayed; the dead letter is deleted
--         {0, state}                the job had ended meanwhile: the dead letter is deleted only
--         {-1, ""}                  no such dead letter
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #entries == 0 then
  return {-1, ''}
end
local d = {}
local flat = entries[1][2]
for i = 1, #flat, 2 do
  d[flat[i]] = flat[i + 1]
end
local state = redis.call('HGET', KEYS[2], F.state)
if state and state ~= S.queued and state ~= S.running then
  redis.call('XDEL', KEYS[1], ARGV[1])
  return {0, state}
end
-- Redis' clock (the one every deadline is on), not the operator's (ARGV[2] is unused).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local patience = tonumber(d[F.deadline]) - tonumber(d[F.submitted])
if patience < 1 then
  patience = 30000
end
local dl = string.format('%d', now + patience)
local eid = redis.call('XADD', KEYS[3], '*', F.id, d[F.id], F.tenant, d[F.tenant])
redis.call('HDEL', KEYS[2], F.dead, F.outcome, F.history, F.started, F.worker, F.finished,
  F.trace)
redis.call('HSET', KEYS[2], F.id, d[F.id], F.tenant, d[F.tenant], F.request_id, d[F.request_id],
  F.request, d[F.request], F.state, S.queued, F.code, C.JOB_QUEUED, F.submitted, d[F.submitted],
  F.deadline, dl, F.attempts, 0, F.entry, eid, F.idem, d[F.idem] or '')
redis.call('PEXPIRE', KEYS[2], patience + tonumber(ARGV[3]))
redis.call('ZADD', KEYS[4], dl, d[F.id])
redis.call('XDEL', KEYS[1], ARGV[1])
return {1, eid}
