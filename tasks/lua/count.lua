-- Count numbers: each one still pending in the ledger is removed from it and added to the
-- open window in the same step, so a second delivery of the same number finds nothing to
-- count. A number no longer pending but already generated is a duplicate and is dropped.
--
-- The time from generation to counting goes into a histogram of whole milliseconds.
--
-- KEYS: run, cursors, pending, pending_since, window, totals, latency_ms
-- ARGV: run_id, now, numbers
-- numbers is one string, a line "id value" per number (one argument, not two per number).
-- Returns {status, counted, value_sum, duplicates, {mismatched positions}, {unknown positions},
-- still_pending} with status 1 = applied, -1 = not the active run, -2 = run closed: nothing is
-- counted then, and still_pending says how many of the numbers were never counted.
-- Positions are 1-based line numbers.
local numbers = {}
for id, value in string.gmatch(ARGV[3], '([^ \n]+) ([^\n]+)') do
  table.insert(numbers, {id, value})
end
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return {-1, 0, 0, 0, {}, {}, 0} end
if redis.call('HGET', KEYS[1], 'closed') == '1' then
  local still_pending = 0
  for _, number in ipairs(numbers) do
    still_pending = still_pending + redis.call('HEXISTS', KEYS[3], number[1])
  end
  local duplicates = #numbers - still_pending
  if duplicates > 0 then redis.call('HINCRBY', KEYS[6], 'duplicates_dropped', duplicates) end
  return {-2, 0, 0, duplicates, {}, {}, still_pending}
end
local shard_size = tonumber(redis.call('HGET', KEYS[1], 'shard_size'))

local now = tonumber(ARGV[2])
local counted, value_sum, duplicates = 0, 0, 0
local mismatched, unknown, latencies = {}, {}, {}
for position, number in ipairs(numbers) do
  local id = number[1]
  local entry = redis.call('HGET', KEYS[3], id)
  if entry then
    local value, generated_at = string.match(entry, '^(%d+),(.+)$')
    if tonumber(value) == tonumber(number[2]) then
      redis.call('HDEL', KEYS[3], id)
      redis.call('ZREM', KEYS[4], id)
      counted = counted + 1
      value_sum = value_sum + tonumber(value)
      local bucket = math.max(0, math.floor((now - tonumber(generated_at)) * 1000))
      latencies[bucket] = (latencies[bucket] or 0) + 1
    else
      table.insert(mismatched, position)
    end
  else
    local generator, tick = string.match(id, '^(%d+):(%d+)$')
    local shard = tostring(math.floor(tonumber(generator) / shard_size))
    local cursor = tonumber(redis.call('HGET', KEYS[2], shard) or '0')
    if tonumber(tick) < cursor then
      duplicates = duplicates + 1
    else
      table.insert(unknown, position)
    end
  end
end

if counted > 0 then
  redis.call('HINCRBY', KEYS[5], 'sum', value_sum)
  redis.call('HINCRBY', KEYS[5], 'count', counted)
  redis.call('HINCRBY', KEYS[6], 'counted_sum', value_sum)
  redis.call('HINCRBY', KEYS[6], 'counted_count', counted)
end
for bucket, n in pairs(latencies) do
  redis.call('HINCRBY', KEYS[7], bucket, n)
end
if duplicates > 0 then
  redis.call('HINCRBY', KEYS[6], 'duplicates_dropped', duplicates)
end
return {1, counted, value_sum, duplicates, mismatched, unknown, 0}
