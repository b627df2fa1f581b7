//! Counters behind the `INFO vigil` section. Atomics: lazy free runs `free` off the main thread.

use crate::commands::TABLE;
use redis_module::InfoContext;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

const N: usize = TABLE.len();
static CALLS: [AtomicU64; N] = [const { AtomicU64::new(0) }; N];
static ERRORS: [AtomicU64; N] = [const { AtomicU64::new(0) }; N];

pub static ALERT_KEYS: AtomicI64 = AtomicI64::new(0);
pub static ALERTS_HELD: AtomicI64 = AtomicI64::new(0);
pub static ALERTS_ADDED: AtomicU64 = AtomicU64::new(0);
pub static ALERTS_DEDUPLICATED: AtomicU64 = AtomicU64::new(0);
pub static ALERTS_LIMITED: AtomicU64 = AtomicU64::new(0);
pub static ALERTS_EXPIRED: AtomicU64 = AtomicU64::new(0);
pub static ALERTS_TRIMMED: AtomicU64 = AtomicU64::new(0);
pub static ALERTS_SWEPT: AtomicU64 = AtomicU64::new(0);
pub static QUOTA_KEYS: AtomicI64 = AtomicI64::new(0);
pub static QUOTA_INCRS: AtomicU64 = AtomicU64::new(0);
pub static QUOTA_REFUSALS: AtomicU64 = AtomicU64::new(0);
pub static LRU_KEYS: AtomicI64 = AtomicI64::new(0);
pub static LRU_EVICTIONS: AtomicU64 = AtomicU64::new(0);
pub static PANICS: AtomicU64 = AtomicU64::new(0);

pub fn count_call(cmd: usize) {
    CALLS[cmd].fetch_add(1, Relaxed);
}

pub fn count_error(cmd: usize) {
    ERRORS[cmd].fetch_add(1, Relaxed);
}

pub fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Relaxed);
    }
}

pub fn adjust(counter: &AtomicI64, delta: i64) {
    counter.fetch_add(delta, Relaxed);
}

// The builder API cannot name the section after the module on Redis 7.0.
#[allow(deprecated)]
/// Fills the `vigil` INFO section (Redis prefixes each field with `vigil_`).
pub fn info(ctx: &InfoContext, _for_crash_report: bool) {
    ctx.add_info_section(None);
    let gauges: [(&str, i64); 4] = [
        ("alert_keys", ALERT_KEYS.load(Relaxed)),
        ("alerts_held", ALERTS_HELD.load(Relaxed)),
        ("quota_keys", QUOTA_KEYS.load(Relaxed)),
        ("lru_keys", LRU_KEYS.load(Relaxed)),
    ];
    for (name, v) in gauges {
        ctx.add_info_field_long_long(name, v);
    }
    let counters: [(&str, &AtomicU64); 10] = [
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
        ctx.add_info_field_long_long(name, v.load(Relaxed) as i64);
    }
    for (i, cmd) in TABLE.iter().enumerate() {
        let field = cmd.name.replace('.', "_");
        ctx.add_info_field_long_long(&format!("{field}_calls"), CALLS[i].load(Relaxed) as i64);
        ctx.add_info_field_long_long(&format!("{field}_errors"), ERRORS[i].load(Relaxed) as i64);
    }
}
