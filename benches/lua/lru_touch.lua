-- LRU.TOUCH as a Lua script: a ZSET of access times, a HASH of sizes and a running total.
--
-- KEYS[1] times  ZSET    tracked key -> last use (ms); its name gives the namespace, as
--                        LRU.TOUCH derives it (hash tag, else up to the last ':')
-- KEYS[2] sizes  HASH    tracked key -> size
-- KEYS[3] total  STRING  sum of the sizes (INCRBYFLOAT)
-- KEYS[4..]      the keys touched
-- ARGV: now ("-": the server clock), then one size per touched key
-- Reply: the number of keys newly tracked. Keys that do not exist are skipped; a key outside
-- the namespace is an error and nothing is recorded.

local times, sizes, total = KEYS[1], KEYS[2], KEYS[3]
local now
if ARGV[1] == '-' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end

local ns
local open = string.find(times, '{', 1, true)
if open then
  local close = string.find(times, '}', open + 1, true)
  if close and close > open + 1 then ns = string.sub(times, 1, close) end
end
if not ns then ns = string.match(times, '^(.*:)') end
if not ns then return redis.error_reply("ERR tracker key '" .. times .. "' has no namespace") end

for i = 4, #KEYS do
  if string.sub(KEYS[i], 1, #ns) ~= ns then
    return redis.error_reply("ERR key '" .. KEYS[i] .. "' is outside the tracker's namespace '" .. ns .. "'")
  end
  if tonumber(ARGV[i - 2]) == nil or tonumber(ARGV[i - 2]) < 0 then
    return redis.error_reply("ERR invalid size '" .. ARGV[i - 2] .. "': expected an amount >= 0")
  end
end

local added, delta = 0, 0
for i = 4, #KEYS do
  local key, size = KEYS[i], ARGV[i - 2]
  if key ~= times and key ~= sizes and key ~= total and redis.call('EXISTS', key) == 1 then
    local old = redis.call('HGET', sizes, key)
    if old then delta = delta - tonumber(old) else added = added + 1 end
    delta = delta + tonumber(size)
    redis.call('ZADD', times, now, key)
    redis.call('HSET', sizes, key, size)
  end
end
if delta ~= 0 then redis.call('INCRBYFLOAT', total, delta) end
return added
