-- Claim numbers that have been pending longer than the redelivery age, for publishing again.
-- Claiming restamps them, so each is republished at most once per redelivery age.
--
-- KEYS: pending, pending_since
-- ARGV: published_before, now, limit
-- Returns a flat list {id, entry, id, entry, ...}.
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local claimed = {}
for _, id in ipairs(ids) do
  local entry = redis.call('HGET', KEYS[1], id)
  if entry then
    redis.call('ZADD', KEYS[2], ARGV[2], id)
    table.insert(claimed, id)
    table.insert(claimed, entry)
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return claimed
