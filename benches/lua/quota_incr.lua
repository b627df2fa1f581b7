-- QUOTA.INCR (cumulative quota) as a Lua script: check, then INCRBYFLOAT.
--
-- KEYS[1] usage  STRING  the usage, as INCRBYFLOAT keeps it
-- ARGV: amount, limit ("-1": no limit)
-- Reply: {allowed, usage, limit, remaining, -1}, as QUOTA.INCR key amount LIMIT limit.
-- A positive amount that would take usage above the limit is refused (usage unchanged);
-- negative amounts are always applied, and usage never goes below 0.

local key = KEYS[1]
local amount = tonumber(ARGV[1])
local limit_s = ARGV[2]
if amount == nil then return redis.error_reply("ERR invalid amount '" .. ARGV[1] .. "'") end
local limit = nil
if limit_s ~= '-1' then
  limit = tonumber(limit_s)
  if limit == nil or limit < 0 then return redis.error_reply("ERR invalid LIMIT '" .. limit_s .. "'") end
end

local usage_s = redis.call('GET', key) or '0'
local usage = tonumber(usage_s)
local applied = true
if amount > 0 and limit and usage + amount > limit then
  applied = false
elseif amount ~= 0 then
  usage_s = redis.call('INCRBYFLOAT', key, ARGV[1])
  usage = tonumber(usage_s)
  if usage < 0 then
    redis.call('SET', key, '0')
    usage, usage_s = 0, '0'
  end
end

local allowed = 0
if applied and (limit == nil or usage <= limit) then allowed = 1 end
local remaining = '-1'
if limit then
  if usage >= limit then remaining = '0' else remaining = tostring(limit - usage) end
end
return { allowed, usage_s, limit_s, remaining, -1 }
