//! Module configs (`CONFIG GET/SET vigil.*`, or loadmodule arguments).

use std::sync::atomic::{AtomicI64, Ordering};
use vigil_core::alert::{defaults, Settings};

pub static ALERT_RETENTION_MS: AtomicI64 = AtomicI64::new(DEFAULT_RETENTION_MS);
pub static ALERT_MAX_LEN: AtomicI64 = AtomicI64::new(DEFAULT_MAX_LEN);
pub static ALERT_DEDUP_WINDOW_MS: AtomicI64 = AtomicI64::new(DEFAULT_DEDUP_WINDOW_MS);
pub static MAX_DOCUMENT_BYTES: AtomicI64 = AtomicI64::new(DEFAULT_MAX_DOCUMENT_BYTES);
pub static ALERT_AUTORESOLVE_MS: AtomicI64 = AtomicI64::new(DEFAULT_AUTORESOLVE_MS);
pub static ALERT_ID_MEMORY_MS: AtomicI64 = AtomicI64::new(DEFAULT_ID_MEMORY_MS);

// The defaults live in the core, where vigil-client's fallback stores read them too.
pub const DEFAULT_RETENTION_MS: i64 = defaults::RETENTION_MS as i64;
pub const DEFAULT_MAX_LEN: i64 = defaults::MAX_LEN as i64;
pub const DEFAULT_DEDUP_WINDOW_MS: i64 = defaults::DEDUP_WINDOW_MS as i64;
pub const DEFAULT_MAX_DOCUMENT_BYTES: i64 = defaults::MAX_DOCUMENT_BYTES as i64;
pub const DEFAULT_AUTORESOLVE_MS: i64 = defaults::AUTORESOLVE_MS as i64;
pub const DEFAULT_ID_MEMORY_MS: i64 = defaults::ID_MEMORY_MS as i64;
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
