-- start.lua: a worker takes a batch of delivered entries (one round trip for the whole read).
--
-- KEYS[1]     jobs stream
-- KEYS[2]     records stream
-- KEYS[3..n]  job hashes, one per delivered entry
-- ARGV[1] consumer group   ARGV[2] now ms   ARGV[3] consumer name   ARGV[4] record TTL ms
-- ARGV[5] "done" channel   ARGV[6] expired outcome JSON   ARGV[7] "1" to record expiries
-- ARGV[8..]  stream entry ids, aligned with KEYS[3..]
--
-- Per job, in order:
--   n >= 1  the job is now running; n is its delivery count (attempts), and `{n, w, t}` (delivery,
--           consumer, now ms) is appended to the JSON list in the hash's `hist` field
--   0       it had already ended (completed elsewhere or cancelled): entry acknowledged and deleted
--   -1      its record is gone (TTL): entry acknowledged and deleted
--   -2      its deadline had passed: it is now `expired` (stored, published, acknowledged)
local out = {}
local now = tonumber(ARGV[2])
-- One delivery's entry of the history, appended to the JSON text without decoding it.
local who = cjson.encode(ARGV[3])
for i = 3, #KEYS do
  local eid = ARGV[i + 5]
  local job = redis.call('HMGET', KEYS[i], 'state', 'dl', 'id', 'att', 'hist')
  local state = job[1]
  if not state then
    redis.call('XACK', KEYS[1], ARGV[1], eid)
    redis.call('XDEL', KEYS[1], eid)
    out[#out + 1] = -1
  elseif state ~= 'queued' and state ~= 'running' then
    redis.call('XACK', KEYS[1], ARGV[1], eid)
    redis.call('XDEL', KEYS[1], eid)
    out[#out + 1] = 0
  elseif now >= tonumber(job[2]) then
    redis.call('HSET', KEYS[i], 'state', 'expired', 'code', 'JOB_EXPIRED', 'fin', ARGV[2],
      'out', ARGV[6], 'wrk', ARGV[3])
    redis.call('PEXPIRE', KEYS[i], ARGV[4])
    if ARGV[7] == '1' then
      redis.call('XADD', KEYS[2], '*', 'ev', 'finished', unpack(redis.call('HGETALL', KEYS[i])))
    end
    redis.call('PUBLISH', ARGV[5], job[3])
    redis.call('XACK', KEYS[1], ARGV[1], eid)
    redis.call('XDEL', KEYS[1], eid)
    out[#out + 1] = -2
  else
    local n = (tonumber(job[4]) or 0) + 1
    -- The delivery history a dead letter carries: who took the job, when, which delivery.
    local item = '{"n":' .. n .. ',"w":' .. who .. ',"t":' .. ARGV[2] .. '}'
    local hist = job[5]
    if hist and #hist > 2 then
      hist = string.sub(hist, 1, -2) .. ',' .. item .. ']'
    else
      hist = '[' .. item .. ']'
    end
    if state == 'queued' then
      redis.call('HSET', KEYS[i], 'state', 'running', 'code', 'JOB_RUNNING', 'st', ARGV[2],
        'wrk', ARGV[3], 'att', n, 'hist', hist)
    else
      redis.call('HSET', KEYS[i], 'wrk', ARGV[3], 'att', n, 'hist', hist)
    end
    out[#out + 1] = n
  end
end
return out
