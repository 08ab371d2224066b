-- lib/finish.lua: the terminal write of a job, the one place a job ends. Included by every
-- script that ends a job (complete, cancel, start's expiry, dead_purge, sweep); `F.`, `C.`, `S.` and
-- `R.` names are substituted when the scripts are loaded (shared/src/redis/scripts.rs).
--
-- finish(job, open, records, id, state, code, outcome, now, ttl, record, extra):
--   stores the terminal state, code, outcome and finish time (plus the field/value pairs in
--   `extra`), sets the record's TTL (`ttl`; with an Idempotency-Key, until its deadline plus `ttl`
--   if that is later: as long as the key lives), appends a `finished` event to the records stream when
--   `record` is '1', and takes the job out of its tenant's open jobs. The id is published by
--   publish_done(channel), once per script call, with every job this call ended: the ids
--   separated by spaces; when a job's submitter waits for it (its `wt` field), then a space, a
--   newline and one line per job in the same order: the job as it ended (a JSON list of field,
--   value…: what a client reads), or an empty line for a job nobody waits for
--   (shared/src/redis/record/done.rs). The waiting gateway answers from it without a read.
--
-- A job submitted with webhooks to notify (its `webhooks` field is set) also gets a `finished`
-- event (the whole job hash) on the webhook outbox, in the same call: no job ends without its
-- notification. Every script that includes this fragment passes the outbox as its LAST key.
local ended = {}
local ended_jobs = {}
local carried = 0
local notify_stream = KEYS[#KEYS]
-- What a completion message carries of a job that this write does not set (with id, state,
-- code, outcome and finish time: what a client reads, JobRecord).
local CARRIED = {F.tenant, F.request_id, F.request, F.submitted, F.deadline, F.started, F.attempts}
local function finish(job, open, records, id, state, code, outcome, now, ttl, record, extra)
  -- What this needs of every job, in one read: its Idempotency-Key, deadline, webhooks and
  -- whether its submitter waits (then the carried fields are read too, below).
  local v = redis.call('HMGET', job, F.idem, F.deadline, F.webhooks, F.wait)
  redis.call('HSET', job, F.state, state, F.code, code, F.outcome, outcome, F.finished, now,
    unpack(extra or {}))
  -- A job with an Idempotency-Key is kept at least as long as the key (set at submit for the
  -- deadline plus the TTL), so a replay of the key always finds the job it names.
  local keep = tonumber(ttl)
  if v[1] and v[1] ~= '' then
    local t = redis.call('TIME')
    local left = (tonumber(v[2]) or 0) + keep
      - (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
    keep = math.max(keep, left)
  end
  redis.call('PEXPIRE', job, keep)
  if record == '1' then
    redis.call('XADD', records, '*', F.event, R.finished, unpack(redis.call('HGETALL', job)))
  end
  if v[3] and v[3] ~= '' then
    redis.call('XADD', notify_stream, '*', F.event, R.finished, unpack(redis.call('HGETALL', job)))
  end
  redis.call('ZREM', open, id)
  ended[#ended + 1] = id
  -- Only a job its submitter waits for is carried (the message goes to every gateway).
  if not v[4] then
    ended_jobs[#ended_jobs + 1] = ''
    return
  end
  carried = carried + 1
  local c = redis.call('HMGET', job, unpack(CARRIED))
  local flat = {F.id, id, F.state, state, F.code, code, F.outcome, outcome, F.finished, now}
  for i = 1, #CARRIED do
    if c[i] then
      flat[#flat + 1] = CARRIED[i]
      flat[#flat + 1] = c[i]
    end
  end
  ended_jobs[#ended_jobs + 1] = cjson.encode(flat)
end
local function publish_done(done)
  if #ended > 0 then
    local cmd, channel = string.match(done, '^(%u+) (.+)$')
    -- ' \n': a reader of an older release, which splits the whole message on spaces, still finds
    -- every id (and no id in the rest).
    if carried > 0 then
      redis.call(cmd, channel, table.concat(ended, ' ') .. ' \n' .. table.concat(ended_jobs, '\n'))
    else
      redis.call(cmd, channel, table.concat(ended, ' '))
    end
  end
end
