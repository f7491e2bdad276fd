-- Close the open window: record it, print-ready, and open the next one, in one step.
-- Each flush request carries an id; a request seen before is a no-op, so a redelivered
-- flush cannot close a window twice. A scheduled flush that comes less than half a window
-- after the open window began is also a no-op: it is a duplicate tick, not a new window.
-- The final flush closes the run: nothing is counted or flushed after it. It drops an empty
-- sliver of a window left when the run stops just after a scheduled flush.
--
-- KEYS: run, window, windows, flushes
-- ARGV: flush_id, now, final ('1' or '0')
-- Returns the closed window's JSON record, or false when nothing was closed.
if not redis.call('HGET', KEYS[1], 'id') then return false end
if redis.call('HGET', KEYS[1], 'closed') == '1' then return false end
local window = redis.call('HMGET', KEYS[2], 'index', 'opened_at', 'sum', 'count')
local opened_at = tonumber(window[2])
local now = tonumber(ARGV[2])
local final = ARGV[3] == '1'
if not final then
  local window_s = tonumber(redis.call('HGET', KEYS[1], 'window_s'))
  if now < opened_at + window_s / 2 then return false end
end
if redis.call('SADD', KEYS[4], ARGV[1]) == 0 then return false end
if final and tonumber(window[4]) == 0 and tonumber(window[1]) > 0 then
  -- A run that stops just after a scheduled flush leaves an empty sliver: not a window.
  local window_s = tonumber(redis.call('HGET', KEYS[1], 'window_s'))
  if now < opened_at + window_s / 2 then
    redis.call('HSET', KEYS[1], 'closed', '1')
    return false
  end
end

local record = cjson.encode({
  index = tonumber(window[1]),
  opened_at = opened_at,
  closed_at = now,
  sum = tonumber(window[3]),
  count = tonumber(window[4]),
})
redis.call('RPUSH', KEYS[3], record)
redis.call('HSET', KEYS[2], 'index', tonumber(window[1]) + 1, 'opened_at', ARGV[2],
  'sum', 0, 'count', 0)
if final then redis.call('HSET', KEYS[1], 'closed', '1') end
return record
