//! The defaults of the `vigil.*` configs that decide how a new stream behaves, in one place:
//! the module starts its configs from them, and `vigil-client`'s fallback stores assume them
//! for streams whose settings the client has not seen.

use super::Settings;

/// `vigil.alert-retention-ms`: 30 days.
pub const RETENTION_MS: u64 = 2_592_000_000;
/// `vigil.alert-max-len`.
pub const MAX_LEN: u64 = 10_000;
/// `vigil.alert-dedup-window-ms`: 5 minutes.
pub const DEDUP_WINDOW_MS: u64 = 300_000;
/// `vigil.max-document-bytes`.
pub const MAX_DOCUMENT_BYTES: usize = 65_536;
/// `vigil.alert-autoresolve-ms`: off.
pub const AUTORESOLVE_MS: u64 = 0;
/// `vigil.alert-id-memory-ms`: a day.
pub const ID_MEMORY_MS: u64 = 86_400_000;

/// The settings of a stream created with the default configs and no options.
pub const SETTINGS: Settings = Settings {
    retention_ms: RETENTION_MS,
    maxlen: MAX_LEN,
    dedup_ms: DEDUP_WINDOW_MS,
    ratelimit_n: 0,
    ratelimit_window_ms: 0,
    autoresolve_ms: AUTORESOLVE_MS,
    id_memory_ms: ID_MEMORY_MS,
};
