-- Record a shard's numbers for ticks [expected_cursor, new_cursor) in the ledger of pending
-- numbers, and advance the shard's cursor, in one step. The cursor is compared and set, so
-- two generate tasks racing for the same ticks cannot both record them: a tick exists once.
--
-- Each tick's lateness against its due time goes into a histogram of whole milliseconds.
--
-- KEYS: run, cursors, pending, pending_since, totals, tick_error_ms
-- ARGV: run_id, shard, expected_cursor, new_cursor, published_at, value_sum,
--       tick_count, {lateness_ms} x tick_count, numbers
-- numbers is one string, a line "id entry" per number: one argument rather than two per
-- number, because encoding thousands of arguments costs the client more than the script.
-- Returns the number of numbers recorded, or a negative code:
--   -1 not the active run, -2 run closed, -3 cursor moved (lost the race), -4 past end_tick.
local run_id = redis.call('HGET', KEYS[1], 'id')
if run_id ~= ARGV[1] then return -1 end
if redis.call('HGET', KEYS[1], 'closed') == '1' then return -2 end
local cursor = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if cursor ~= tonumber(ARGV[3]) then return -3 end
local end_tick = tonumber(redis.call('HGET', KEYS[1], 'end_tick'))
if tonumber(ARGV[4]) > end_tick then return -4 end

local tick_count = tonumber(ARGV[7])
for i = 8, 7 + tick_count do
  redis.call('HINCRBY', KEYS[6], ARGV[i], 1)
end
local recorded = 0
for id, entry in string.gmatch(ARGV[8 + tick_count], '([^ \n]+) ([^\n]+)') do
  redis.call('HSET', KEYS[3], id, entry)
  redis.call('ZADD', KEYS[4], ARGV[5], id)
  recorded = recorded + 1
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
redis.call('HINCRBY', KEYS[5], 'generated_count', recorded)
redis.call('HINCRBY', KEYS[5], 'generated_sum', ARGV[6])
return recorded
