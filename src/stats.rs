//! Counters behind the `INFO vigil` section (statistics, not state). Atomics: lazy free runs
//! `free` off the main thread. Per-command calls and errors live in the command table.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

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

pub fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Relaxed);
    }
}

pub fn adjust(counter: &AtomicI64, delta: i64) {
    counter.fetch_add(delta, Relaxed);
}

pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Relaxed)
}

pub fn gauge(counter: &AtomicI64) -> i64 {
    counter.load(Relaxed)
}
