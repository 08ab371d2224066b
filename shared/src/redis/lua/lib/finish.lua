-- lib/finish.lua: the terminal write of a job, the one place a job ends. Included by every
-- script that ends a job (complete, cancel, start's expiry, dead_purge, sweep); `F.`, `C.`, `S.` and
-- `R.` names are substituted when the scripts are loaded (shared/src/redis/scripts.rs).
--
-- finish(job, open, records, id, state, code, outcome, now, ttl, record, extra):
--   stores the terminal state, code, outcome and finish time (plus the field/value pairs in
--   `extra`), sets the record's TTL (`ttl`; with an Idempotency-Key, until its deadline plus `ttl`
--   if that is later: as long as the key lives), appends a `finished` event to the records stream when
--   `record` is '1', and takes the job out of its tenant's open jobs. The id is published by
--   publish_done(channel), once per script call, with every job this call ended.
--
-- A job submitted with webhooks to notify (its `webhooks` field is set) also gets a `finished`
-- event (the whole job hash) on the webhook outbox, in the same call: no job ends without its
-- notification. Every script that includes this fragment passes the outbox as its LAST key.
local ended = {}
local ended_jobs = {}
-- The fields a completion message carries: what a client reads of the job (JobRecord).
local DONE_FIELDS = {F.id, F.tenant, F.request_id, F.request, F.state, F.code, F.submitted,
  F.deadline, F.started, F.finished, F.attempts, F.outcome}
local notify_stream = KEYS[#KEYS]
local function finish(job, open, records, id, state, code, outcome, now, ttl, record, extra)
  redis.call('HSET', job, F.state, state, F.code, code, F.outcome, outcome, F.finished, now,
    unpack(extra or {}))
  -- A job with an Idempotency-Key is kept at least as long as the key (set at submit for the
  -- deadline plus the TTL), so a replay of the key always finds the job it names.
  local keep = tonumber(ttl)
  local kept = redis.call('HMGET', job, F.idem, F.deadline)
  if kept[1] and kept[1] ~= '' then
    local t = redis.call('TIME')
    local left = (tonumber(kept[2]) or 0) + keep
      - (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
    keep = math.max(keep, left)
  end
  redis.call('PEXPIRE', job, keep)
  if record == '1' then
    redis.call('XADD', records, '*', F.event, R.finished, unpack(redis.call('HGETALL', job)))
  end
  local wh = redis.call('HGET', job, F.webhooks)
  if wh and wh ~= '' then
    redis.call('XADD', notify_stream, '*', F.event, R.finished, unpack(redis.call('HGETALL', job)))
  end
  redis.call('ZREM', open, id)
  ended[#ended + 1] = id
  local values = redis.call('HMGET', job, unpack(DONE_FIELDS))
  local flat = {}
  for i = 1, #DONE_FIELDS do
    if values[i] then
      flat[#flat + 1] = DONE_FIELDS[i]
      flat[#flat + 1] = values[i]
    end
  end
  ended_jobs[#ended_jobs + 1] = cjson.encode(flat)
end
local function publish_done(done)
  if #ended > 0 then
    local cmd, channel = string.match(done, '^(%u+) (.+)$')
    -- ' \n': a reader of an older release, which splits the whole message on spaces, still finds
    -- every id (and no id in the rest).
    redis.call(cmd, channel, table.concat(ended, ' ') .. ' \n' .. table.concat(ended_jobs, '\n'))
  end
end
