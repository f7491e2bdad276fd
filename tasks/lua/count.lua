-- Count numbers: each one still pending in the ledger is removed from it and added to the
-- open window in the same step, so a second delivery of the same number finds nothing to
-- count. A number no longer pending but already generated is a duplicate and is dropped.
--
-- KEYS: run, cursors, pending, pending_since, window, totals
-- ARGV: run_id, {id, value}...
-- Returns {status, counted, value_sum, duplicates, {mismatched positions}, {unknown positions}}
-- with status 1 = applied, -1 = not the active run, -2 = run closed (nothing counted).
-- Positions are 1-based pair positions in ARGV.
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return {-1, 0, 0, 0, {}, {}} end
if redis.call('HGET', KEYS[1], 'closed') == '1' then return {-2, 0, 0, 0, {}, {}} end
local shard_size = tonumber(redis.call('HGET', KEYS[1], 'shard_size'))

local counted, value_sum, duplicates = 0, 0, 0
local mismatched, unknown = {}, {}
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  local entry = redis.call('HGET', KEYS[3], id)
  if entry then
    local value = tonumber(string.match(entry, '^(%d+),'))
    if value == tonumber(ARGV[i + 1]) then
      redis.call('HDEL', KEYS[3], id)
      redis.call('ZREM', KEYS[4], id)
      counted = counted + 1
      value_sum = value_sum + value
    else
      table.insert(mismatched, i / 2)
    end
  else
    local generator, tick = string.match(id, '^(%d+):(%d+)$')
    local shard = tostring(math.floor(tonumber(generator) / shard_size))
    local cursor = tonumber(redis.call('HGET', KEYS[2], shard) or '0')
    if tonumber(tick) < cursor then
      duplicates = duplicates + 1
    else
      table.insert(unknown, i / 2)
    end
  end
end

if counted > 0 then
  redis.call('HINCRBY', KEYS[5], 'sum', value_sum)
  redis.call('HINCRBY', KEYS[5], 'count', counted)
  redis.call('HINCRBY', KEYS[6], 'counted_sum', value_sum)
  redis.call('HINCRBY', KEYS[6], 'counted_count', counted)
end
if duplicates > 0 then
  redis.call('HINCRBY', KEYS[6], 'duplicates_dropped', duplicates)
end
return {1, counted, value_sum, duplicates, mismatched, unknown}
