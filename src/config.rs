//! Module configs (`CONFIG GET/SET vigil.*`, or loadmodule arguments).

use std::sync::atomic::{AtomicI64, Ordering};
use vigil_core::alert::Settings;

pub static ALERT_RETENTION_MS: AtomicI64 = AtomicI64::new(DEFAULT_RETENTION_MS);
pub static ALERT_MAX_LEN: AtomicI64 = AtomicI64::new(DEFAULT_MAX_LEN);
pub static ALERT_DEDUP_WINDOW_MS: AtomicI64 = AtomicI64::new(DEFAULT_DEDUP_WINDOW_MS);
pub static MAX_DOCUMENT_BYTES: AtomicI64 = AtomicI64::new(DEFAULT_MAX_DOCUMENT_BYTES);
pub static ALERT_AUTORESOLVE_MS: AtomicI64 = AtomicI64::new(DEFAULT_AUTORESOLVE_MS);
pub static ALERT_ID_MEMORY_MS: AtomicI64 = AtomicI64::new(DEFAULT_ID_MEMORY_MS);

pub const DEFAULT_RETENTION_MS: i64 = 2_592_000_000;
pub const DEFAULT_MAX_LEN: i64 = 10_000;
pub const DEFAULT_DEDUP_WINDOW_MS: i64 = 300_000;
pub const DEFAULT_MAX_DOCUMENT_BYTES: i64 = 65_536;
/// Auto-resolve is off unless asked for.
pub const DEFAULT_AUTORESOLVE_MS: i64 = 0;
/// Folded explicit IDs are remembered for a day after their ADD.
pub const DEFAULT_ID_MEMORY_MS: i64 = 86_400_000;
/// Upper bound of max-document-bytes: Redis's proto-max-bulk-len default.
pub const MAX_MAX_DOCUMENT_BYTES: i64 = 512 * 1024 * 1024;

fn get(v: &AtomicI64) -> u64 {
    v.load(Ordering::Relaxed).max(0) as u64
}

/// Settings of a stream created now without explicit options.
pub fn default_settings() -> Settings {
    Settings {
        retention_ms: get(&ALERT_RETENTION_MS),
        maxlen: get(&ALERT_MAX_LEN),
        dedup_ms: get(&ALERT_DEDUP_WINDOW_MS),
        ratelimit_n: 0,
        ratelimit_window_ms: 0,
        autoresolve_ms: get(&ALERT_AUTORESOLVE_MS),
        id_memory_ms: get(&ALERT_ID_MEMORY_MS),
    }
}

pub fn max_document_bytes() -> usize {
    get(&MAX_DOCUMENT_BYTES) as usize
}
