-- Claim numbers that have been pending longer than the redelivery age, for publishing again.
-- Claiming restamps them with a backoff: a number is published again after the redelivery
-- age or after its own age, whichever is longer (at ages R, 2R, 4R, ...), so a long outage
-- costs a few republications per number, not one per redelivery age.
--
-- KEYS: pending, pending_since
-- ARGV: published_before (now - redeliver_after), now, limit, redeliver_after
-- Returns a flat list {id, entry, id, entry, ...}.
local now = tonumber(ARGV[2])
local redeliver_after = tonumber(ARGV[4])
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local claimed = {}
for _, id in ipairs(ids) do
  local entry = redis.call('HGET', KEYS[1], id)
  if entry then
    local age = now - tonumber(string.match(entry, ',(.+)$'))
    redis.call('ZADD', KEYS[2], now + math.max(0, age - redeliver_after), id)
    table.insert(claimed, id)
    table.insert(claimed, entry)
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return claimed
