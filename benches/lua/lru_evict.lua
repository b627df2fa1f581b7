-- LRU.EVICT as a Lua script, on the layout of lru_touch.lua: deletes the least recently used
-- keys until the total is at most the target or MAX keys went, and lowers a quota's usage
-- (a STRING kept by INCRBYFLOAT, as quota_incr.lua keeps it) by the sizes freed.
--
-- KEYS[1] times (ZSET), KEYS[2] sizes (HASH), KEYS[3] total (STRING), KEYS[4] quota (optional)
-- ARGV: target, max
-- Reply: {evicted, freed, total, {key ...}}, as LRU.EVICT.

local times, sizes, total_key, quota = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local target, max = tonumber(ARGV[1]), tonumber(ARGV[2])
local total_s = redis.call('GET', total_key) or '0'
local total = tonumber(total_s)

local evicted, freed, pos = {}, 0, 0
while total > target and #evicted < max do
  local page = redis.call('ZRANGE', times, pos, pos + (max - #evicted) - 1)
  if #page == 0 then break end
  local page_sizes = redis.call('HMGET', sizes, unpack(page))
  for i, key in ipairs(page) do
    if total <= target or #evicted >= max then break end
    pos = pos + 1
    if key ~= quota then
      local size = tonumber(page_sizes[i] or '0')
      evicted[#evicted + 1] = key
      freed = freed + size
      total = total - size
    end
  end
end
if #evicted == 0 then return { 0, '0', total_s, {} } end

redis.call('DEL', unpack(evicted))
redis.call('ZREM', times, unpack(evicted))
redis.call('HDEL', sizes, unpack(evicted))
total_s = redis.call('INCRBYFLOAT', total_key, -freed)
if quota and redis.call('EXISTS', quota) == 1 then
  local usage = tonumber(redis.call('INCRBYFLOAT', quota, -freed))
  if usage < 0 then redis.call('SET', quota, '0') end
end
return { #evicted, tostring(freed), total_s, evicted }
