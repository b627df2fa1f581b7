//! The `INFO vigil` section: gauges, counters, and calls and errors per command. Field names
//! are `[a-z0-9_]` (Redis prefixes each with `vigil_`), as exporters expect.

use crate::commands::TABLE;
use crate::stats::{self, *};
use redis_module::InfoContext;

// The builder API cannot name the section after the module on Redis 7.0.
#[allow(deprecated)]
pub fn section(ctx: &InfoContext, _for_crash_report: bool) {
    ctx.add_info_section(None);
    let gauges = [
        ("alert_keys", &ALERT_KEYS),
        ("alerts_held", &ALERTS_HELD),
        ("quota_keys", &QUOTA_KEYS),
        ("lru_keys", &LRU_KEYS),
    ];
    for (name, v) in gauges {
        ctx.add_info_field_long_long(name, stats::gauge(v));
    }
    let counters = [
        ("alerts_added", &ALERTS_ADDED),
        ("alerts_deduplicated", &ALERTS_DEDUPLICATED),
        ("alerts_limited", &ALERTS_LIMITED),
        ("alerts_expired", &ALERTS_EXPIRED),
        ("alerts_trimmed", &ALERTS_TRIMMED),
        ("alerts_swept", &ALERTS_SWEPT),
        ("quota_increments", &QUOTA_INCRS),
        ("quota_refusals", &QUOTA_REFUSALS),
        ("lru_evictions", &LRU_EVICTIONS),
        ("panics", &PANICS),
    ];
    for (name, v) in counters {
        ctx.add_info_field_long_long(name, stats::get(v) as i64);
    }
    for cmd in TABLE.iter() {
        let field = cmd.name.replace('.', "_");
        ctx.add_info_field_long_long(&format!("{field}_calls"), cmd.calls() as i64);
        ctx.add_info_field_long_long(&format!("{field}_errors"), cmd.errors() as i64);
    }
}
