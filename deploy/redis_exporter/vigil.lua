-- Vigil's `INFO vigil` section as metrics, for redis_exporter's --script flag
-- (prometheus-redis-exporter 1.45 in Debian bookworm, oliver006/redis_exporter upstream).
--
-- The exporter runs this with EVAL on every scrape and reads the reply as field/value pairs
-- (like HGETALL): each pair becomes one sample `redis_script_values{key="<field>"} <value>`.
-- That is the whole format: no metric name, type or label of the script's own. So the script
-- names each value after the metric it is meant to be, and Prometheus's metric_relabel_configs
-- (deploy/prometheus/prometheus.yml) turn the key into the metric name and the command into a
-- `cmd` label. See docs/monitoring.md.
--
--   INFO field                  key (raw exporter)               after relabeling
--   vigil_alerts_held           vigil_alerts_held                vigil_alerts_held
--   vigil_alerts_added          vigil_alerts_added_total         vigil_alerts_added_total
--   vigil_alert_add_calls       vigil_alert_add_calls_total      vigil_command_calls_total{cmd="alert.add"}
--   vigil_alert_add_errors      vigil_alert_add_errors_total     vigil_command_errors_total{cmd="alert.add"}
--   (any vigil field present)   vigil_module_loaded 1, else 0    vigil_module_loaded
--
-- Every numeric `vigil_*` field is exported, so new INFO fields appear without a change here;
-- the fields listed in `gauges` are levels, every other one is a counter and gets `_total`.

local gauges = {
  vigil_alert_keys = true,
  vigil_alerts_held = true,
  vigil_quota_keys = true,
  vigil_lru_keys = true,
}

local reply = {}
local fields = 0
-- INFO is allowed in scripts; a server without the module answers an empty section.
local info = redis.call('INFO', 'vigil')
for line in string.gmatch(info, '[^\r\n]+') do
  local field, value = string.match(line, '^(vigil_[a-z0-9_]+):(%-?[0-9]+%.?[0-9]*)$')
  if field then
    if not gauges[field] then
      field = field .. '_total'
    end
    -- Values must be strings: the exporter reads the reply with redigo's StringMap and parses
    -- each value as a float (one non-number would fail the whole script, hence the pattern).
    reply[#reply + 1] = field
    reply[#reply + 1] = value
    fields = fields + 1
  end
end
reply[#reply + 1] = 'vigil_module_loaded'
reply[#reply + 1] = fields > 0 and '1' or '0'
return reply
