-- ALERT.ADD as a Lua script: the baseline the native command is measured against.
--
-- Layout of a stream (all keys share one hash tag, and all are declared):
--   KEYS[1] ids   ZSET  member: alert id "<ts>-<seq>", score: ts * 1024 + seq (exact in a
--                       double up to year 2248; at most 1024 alerts per ms), so that ZSET order
--                       is (ts, seq) order
--   KEYS[2] docs  HASH  id -> the document as sent
--   KEYS[3] meta  HASH  id -> cmsgpack(severity, status, count, last_seen, source, fp)
--   KEYS[4] fps   HASH  fingerprint -> id of the newest alert with it (dedup index)
--   KEYS[5] rate  ZSET  all scores 0; member: source .. "\0" .. %019d ts .. %04d seq, so that
--                       ZLEXCOUNT counts a source's alerts in a time window in O(log n)
-- ARGV: document, retention_ms, maxlen, dedup_ms, ratelimit_n, ratelimit_window_ms,
--       ts ("-": now), now ("-": the server clock)
-- Reply: {outcome, id or nil, n}, as ALERT.ADD (no explicit ID option).
--
-- Steps, as the native command: expired, duplicate, limited, added then trimmed to MAXLEN and
-- retention. Status changes (ACK/RESOLVE) are kept in meta; a resolved alert is no dedup target.

local ids, docs, meta, fps, rate = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local doc = ARGV[1]
local retention = tonumber(ARGV[2])
local maxlen = tonumber(ARGV[3])
local dedup = tonumber(ARGV[4])
local rl_n, rl_w = tonumber(ARGV[5]), tonumber(ARGV[6])

local now
if ARGV[8] == '-' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[8])
end
local ts = now
if ARGV[7] ~= '-' then ts = tonumber(ARGV[7]) end

local SEV = { info = 0, low = 1, medium = 2, high = 3, critical = 4 }

local function rate_member(source, t, seq)
  return source .. '\0' .. string.format('%019d%04d', t, seq)
end

-- Parse and validate the document.
if not string.find(doc, '^%s*{') then
  return redis.error_reply('ERR invalid document: expected a JSON object')
end
local ok, d = pcall(cjson.decode, doc)
if not ok or type(d) ~= 'table' then
  return redis.error_reply('ERR invalid document: malformed JSON')
end
for _, f in ipairs({ 'id', 'ts', 'status', 'count', 'last_seen' }) do
  if d[f] ~= nil then
    return redis.error_reply("ERR invalid document: field '" .. f .. "' is set by the server and may not be sent")
  end
end
local function str_field(name)
  local v = d[name]
  if v == nil then return '' end
  if type(v) ~= 'string' then
    error({ err = "ERR invalid document: field '" .. name .. "' must be a string" })
  end
  return v
end
local sev = 0
if d.severity ~= nil then
  sev = SEV[string.lower(str_field('severity'))]
  if sev == nil then
    return redis.error_reply("ERR invalid severity '" .. d.severity .. "', expected critical|high|medium|low|info")
  end
end
local source = str_field('source')
local kind = str_field('type')
local fp = nil -- nil: never deduplicated
if d.fingerprint ~= nil then
  local text = str_field('fingerprint')
  if text ~= '' then fp = 'x' .. text end
else
  -- Default fingerprint: source, type and the labels sorted by name.
  local parts = { source, kind }
  if d.labels ~= nil then
    if type(d.labels) ~= 'table' then
      return redis.error_reply("ERR invalid document: field 'labels' must be an object of string values")
    end
    local names = {}
    for k, v in pairs(d.labels) do
      if type(v) ~= 'string' then
        return redis.error_reply("ERR invalid document: field 'labels' must be an object of string values")
      end
      names[#names + 1] = k
    end
    table.sort(names)
    for _, k in ipairs(names) do
      parts[#parts + 1] = k
      parts[#parts + 1] = d.labels[k]
    end
  end
  fp = 'd' .. redis.sha1hex(table.concat(parts, '\0'))
end

-- Removes alerts (ids with their scores) with everything that points at them.
local function forget(list)
  local n = #list
  if n == 0 then return end
  local metas = redis.call('HMGET', meta, unpack(list))
  local members = {}
  for i = 1, n do
    local m = metas[i]
    if m then
      local _, _, _, _, src, afp = cmsgpack.unpack(m)
      local t, seq = string.match(list[i], '^(%d+)-(%d+)$')
      members[#members + 1] = rate_member(src, tonumber(t), tonumber(seq))
      if afp ~= '' and redis.call('HGET', fps, afp) == list[i] then
        redis.call('HDEL', fps, afp)
      end
    end
  end
  redis.call('HDEL', docs, unpack(list))
  redis.call('HDEL', meta, unpack(list))
  redis.call('ZREM', ids, unpack(list))
  if #members > 0 then redis.call('ZREM', rate, unpack(members)) end
end

-- 2. Too old to keep.
local card = redis.call('ZCARD', ids)
if retention > 0 and ts < now - retention then
  return { 'expired', false, 0 }
end
if maxlen > 0 and card >= maxlen then
  local first = redis.call('ZRANGE', ids, 0, 0, 'WITHSCORES')
  if first[2] and ts < math.floor(tonumber(first[2]) / 1024) then
    return { 'expired', false, 0 }
  end
end

-- 3. Dedup against the newest unresolved alert with the same fingerprint.
if dedup > 0 and fp then
  local target = redis.call('HGET', fps, fp)
  if target then
    local m = redis.call('HGET', meta, target)
    if m then
      local a_sev, status, count, last_seen, src, afp = cmsgpack.unpack(m)
      if status ~= 2 and math.abs(ts - last_seen) <= dedup then
        count = count + 1
        if ts > last_seen then last_seen = ts end
        redis.call('HSET', meta, target, cmsgpack.pack(a_sev, status, count, last_seen, src, afp))
        return { 'duplicate', target, count }
      end
    end
  end
end

-- 4. Rate limit: alerts of this source with a ts in (ts - window, ts].
if rl_n > 0 then
  local lo = ts + 1 - rl_w
  if lo < 0 then lo = 0 end
  local prefix = source .. '\0'
  local c = redis.call('ZLEXCOUNT', rate, '[' .. prefix .. string.format('%019d', lo),
    '(' .. prefix .. string.format('%019d', ts + 1))
  if c >= rl_n then
    -- The least d >= 1 such that the same alert at ts + d would not be limited: the count
    -- only drops when an alert leaves the window, at d = t + window - ts.
    local members = redis.call('ZRANGEBYLEX', rate, '[' .. prefix .. string.format('%019d', lo),
      '(' .. source .. '\1')
    local times = {}
    for i, m in ipairs(members) do
      times[i] = tonumber(string.sub(m, #prefix + 1, #prefix + 19))
    end
    local d, up, low, entered, left, ci = 1, 1, 1, 0, 0, 1
    while true do
      while up <= #times and times[up] <= ts + d do
        entered = entered + 1
        up = up + 1
      end
      if ts + d >= rl_w then
        while low <= #times and times[low] <= ts + d - rl_w do
          left = left + 1
          low = low + 1
        end
      end
      if entered - left < rl_n then break end
      local nextd = nil
      while ci <= #times do
        local cand = times[ci] + rl_w - ts
        ci = ci + 1
        if cand > d then
          nextd = cand
          break
        end
      end
      if not nextd then
        d = math.max(d, rl_w)
        break
      end
      d = nextd
    end
    return { 'limited', false, d }
  end
end

-- 5. Store: one past the highest seq used at this ms.
local base = ts * 1024
local seq = 0
local last = redis.call('ZREVRANGEBYSCORE', ids, string.format('%d', base + 1023),
  string.format('%d', base), 'WITHSCORES', 'LIMIT', 0, 1)
if last[2] then seq = tonumber(last[2]) - base + 1 end
if seq >= 1024 then
  return redis.error_reply('ERR the Lua layout holds at most 1024 alerts per millisecond')
end
local id = string.format('%d-%d', ts, seq)
redis.call('ZADD', ids, string.format('%d', base + seq), id)
redis.call('HSET', docs, id, doc)
redis.call('HSET', meta, id, cmsgpack.pack(sev, 0, 1, ts, source, fp or ''))
if dedup > 0 and fp then redis.call('HSET', fps, fp, id) end
if rl_n > 0 then redis.call('ZADD', rate, 0, rate_member(source, ts, seq)) end
card = card + 1

-- Trim to MAXLEN (oldest first), then to retention.
if maxlen > 0 and card > maxlen then
  forget(redis.call('ZRANGE', ids, 0, card - maxlen - 1))
end
if retention > 0 then
  local floor = now - retention
  forget(redis.call('ZRANGEBYSCORE', ids, '-inf', '(' .. string.format('%d', floor * 1024)))
end
return { 'added', id, 1 }
