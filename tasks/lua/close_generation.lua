-- Stop generation at a tick: no shard may record a tick at or past end_tick from now on.
-- end_tick never drops below a tick some shard has already recorded, so what exists stays.
--
-- KEYS: run, cursors
-- ARGV: run_id, end_tick, stop_at
-- Returns the end_tick in force, or -1 when the run is not the active one.
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return -1 end
local end_tick = tonumber(ARGV[2])
local current = tonumber(redis.call('HGET', KEYS[1], 'end_tick'))
if current < end_tick then end_tick = current end
for _, cursor in ipairs(redis.call('HVALS', KEYS[2])) do
  if tonumber(cursor) > end_tick then end_tick = tonumber(cursor) end
end
redis.call('HSET', KEYS[1], 'end_tick', end_tick, 'state', 'stopping')
if not redis.call('HGET', KEYS[1], 'stop_at') then
  redis.call('HSET', KEYS[1], 'stop_at', ARGV[3])
end
return end_tick
