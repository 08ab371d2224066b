-- complete.lua: write the terminal state of one or more jobs, each exactly once, then tell and
-- acknowledge. A worker completes whatever jobs are ready together, in one round trip.
--
-- KEYS[1]  jobs stream   KEYS[2]  records stream
-- KEYS[3..] per job, in pairs: the job hash, the tenant's open jobs (sorted set; the job leaves it)
-- KEYS[#KEYS] the webhook outbox {p}:notify (lib/finish.lua)
-- ARGV[1] consumer group   ARGV[2] the worker's clock, ms (unused: the finish time is Redis' TIME)   ARGV[3] record TTL ms   ARGV[4] "done": the command and channel (lib/finish.lua)
-- ARGV[5] "1" to append a `finished` record (the whole job)
-- ARGV[6..] per job, five each: stream entry id, job id, terminal state, code, outcome JSON
--
-- The entries are acknowledged and deleted with one XACK and one XDEL, and the ids of the jobs
-- stored here are published as one message: the ids separated by single spaces.
--
-- Returns one status per job, in order:
--   1   stored, published, acknowledged
--   0   the job had already ended (a redelivered duplicate): nothing changed but the ack
--   -1  the record is gone (TTL): entry acknowledged
--@include finish
local t = redis.call('TIME')
local now_ms = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local out = {}
local eids = {}
local jobs = (#KEYS - 3) / 2
for i = 0, jobs - 1 do
  local job, open = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local a = 6 + 5 * i
  local eid, id = ARGV[a], ARGV[a + 1]
  local state = redis.call('HGET', job, F.state)
  if not state then
    out[#out + 1] = -1
  elseif state ~= S.queued and state ~= S.running then
    out[#out + 1] = 0
  else
    finish(job, open, KEYS[2], id, ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], now_ms, ARGV[3], ARGV[5])
    out[#out + 1] = 1
  end
  eids[#eids + 1] = eid
end
publish_done(ARGV[4])
redis.call('XACK', KEYS[1], ARGV[1], unpack(eids))
redis.call('XDEL', KEYS[1], unpack(eids))
return out
