-- ALERT.RANGE as a Lua script, on the layout of alert_add.lua. Filters run on the server: the
-- script walks the ids ZSET in batches from one end, reads the packed meta of each batch with
-- one HMGET, keeps the matching ids, and reads only their documents.
--
-- KEYS: ids (ZSET), docs (HASH), meta (HASH)
-- ARGV: start, end, then options: REV, COUNT n, MINSEVERITY sev, SOURCE src, STATUS st,
--       TYPE t, LABEL name=value (TYPE and LABEL decode the document)
-- Reply: the alerts as JSON strings, as ALERT.RANGE renders them.

local ids, docs, meta = KEYS[1], KEYS[2], KEYS[3]
local SEV = { info = 0, low = 1, medium = 2, high = 3, critical = 4 }
local STATUS = { active = 0, acked = 1, resolved = 2 }
local STATUS_NAME = { [0] = 'active', [1] = 'acked', [2] = 'resolved' }

-- A bound as a score: '-', '+', a ms timestamp (all of that ms) or a full id.
local function bound(s, is_start)
  if s == '-' then return '-inf' end
  if s == '+' then return '+inf' end
  local t, seq = string.match(s, '^(%d+)-(%d+)$')
  if t then return string.format('%d', tonumber(t) * 1024 + tonumber(seq)) end
  if not string.match(s, '^%d+$') then
    error({ err = "ERR invalid range bound '" .. s .. "': expected a ms timestamp, an ID, - or +" })
  end
  local base = tonumber(s) * 1024
  if is_start then return string.format('%d', base) end
  return string.format('%d', base + 1023)
end

local lo, hi = bound(ARGV[1], true), bound(ARGV[2], false)
local rev, count, min_sev, source, status, kind = false, nil, nil, nil, nil, nil
local labels = {}
local i = 3
while i <= #ARGV do
  local opt = string.upper(ARGV[i])
  local v = ARGV[i + 1]
  if opt == 'REV' then
    rev = true
    i = i + 1
  else
    if v == nil then return redis.error_reply('ERR ' .. opt .. ' needs a value') end
    if opt == 'COUNT' then
      count = tonumber(v)
    elseif opt == 'MINSEVERITY' then
      min_sev = SEV[string.lower(v)]
      if min_sev == nil then
        return redis.error_reply("ERR invalid severity '" .. v .. "', expected critical|high|medium|low|info")
      end
    elseif opt == 'SOURCE' then
      source = v
    elseif opt == 'STATUS' then
      status = STATUS[string.lower(v)]
    elseif opt == 'TYPE' then
      kind = v
    elseif opt == 'LABEL' then
      local name, value = string.match(v, '^([^=]*)=(.*)$')
      if not name then return redis.error_reply("ERR invalid LABEL '" .. v .. "': expected name=value") end
      labels[#labels + 1] = { name, value }
    else
      return redis.error_reply("ERR unknown option '" .. ARGV[i] .. "'")
    end
    i = i + 2
  end
end
if count == 0 then return {} end
local needs_doc = kind ~= nil or #labels > 0

local out = {}
local batch = 256
if count and count * 2 < batch then batch = math.max(16, count * 2) end
local from = rev and hi or lo
while true do
  local page
  if rev then
    page = redis.call('ZREVRANGEBYSCORE', ids, from, lo, 'WITHSCORES', 'LIMIT', 0, batch)
  else
    page = redis.call('ZRANGEBYSCORE', ids, from, hi, 'WITHSCORES', 'LIMIT', 0, batch)
  end
  local n = #page / 2
  if n == 0 then break end
  local list = {}
  for j = 1, n do list[j] = page[2 * j - 1] end
  local metas = redis.call('HMGET', meta, unpack(list))
  local hits, hit_meta = {}, {}
  for j = 1, n do
    local sev, st, cnt, last_seen, src = cmsgpack.unpack(metas[j])
    if (min_sev == nil or sev >= min_sev) and (status == nil or st == status)
        and (source == nil or src == source) then
      hits[#hits + 1] = list[j]
      hit_meta[#hit_meta + 1] = { st, cnt, last_seen }
    end
  end
  if #hits > 0 then
    local texts = redis.call('HMGET', docs, unpack(hits))
    for j = 1, #hits do
      local text = texts[j]
      local keep = true
      if needs_doc then
        local d = cjson.decode(text)
        if kind ~= nil and (d.type or '') ~= kind then keep = false end
        for _, l in ipairs(labels) do
          if type(d.labels) ~= 'table' or d.labels[l[1]] ~= l[2] then keep = false end
        end
      end
      if keep then
        local m = hit_meta[j]
        local id = hits[j]
        local body = string.sub(text, 1, -2)
        local sep = ','
        if string.match(body, '^%s*{%s*$') then sep = '' end
        out[#out + 1] = body .. sep .. '"id":"' .. id .. '","ts":' .. string.match(id, '^%d+')
          .. ',"status":"' .. STATUS_NAME[m[1]] .. '","count":' .. string.format('%d', m[2])
          .. ',"last_seen":' .. string.format('%d', m[3]) .. '}'
        if count and #out >= count then return out end
      end
    end
  end
  if n < batch then break end
  from = '(' .. page[2 * n]
end
return out
