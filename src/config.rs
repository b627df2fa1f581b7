//! Module configs (`CONFIG GET/SET vigil.*`, or loadmodule arguments).

use std::sync::atomic::{AtomicI64, Ordering};
use vigil_core::alert::{defaults, Settings};
use vigil_core::knobs;

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

pub use vigil_core::knobs::Knob;

pub static RETENTION: Knob = Knob::new(
    "alert-retention-ms",
    &ALERT_RETENTION_MS,
    DEFAULT_RETENTION_MS,
);
pub static MAX_LEN: Knob = Knob::new("alert-max-len", &ALERT_MAX_LEN, DEFAULT_MAX_LEN);
pub static DEDUP_WINDOW: Knob = Knob::new(
    "alert-dedup-window-ms",
    &ALERT_DEDUP_WINDOW_MS,
    DEFAULT_DEDUP_WINDOW_MS,
);
pub static AUTORESOLVE: Knob = Knob::new(
    "alert-autoresolve-ms",
    &ALERT_AUTORESOLVE_MS,
    DEFAULT_AUTORESOLVE_MS,
);
pub static ID_MEMORY: Knob = Knob::new(
    "alert-id-memory-ms",
    &ALERT_ID_MEMORY_MS,
    DEFAULT_ID_MEMORY_MS,
);
pub static DOCUMENT_BYTES: Knob = Knob {
    min: 1,
    max: MAX_MAX_DOCUMENT_BYTES,
    ..Knob::new(
        "max-document-bytes",
        &MAX_DOCUMENT_BYTES,
        DEFAULT_MAX_DOCUMENT_BYTES,
    )
};

pub static KNOBS: [&Knob; 6] = [
    &RETENTION,
    &MAX_LEN,
    &DEDUP_WINDOW,
    &AUTORESOLVE,
    &ID_MEMORY,
    &DOCUMENT_BYTES,
];

/// Reads the module's loadmodule arguments as CONFIG SET checks a value: pairs of a config's
/// name (without the `vigil.` prefix) and an integer in its range, each name once. A bad one
/// must stop the load, not start the server with a limit switched off (the redis-module
/// crate's own reading took any integer, unchecked, and named neither argument nor value when
/// one was not a number).
pub fn module_args(args: &[&[u8]]) -> Result<Vec<(&'static Knob, i64)>, String> {
    knobs::pairs(args, &KNOBS)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(args: &[&str]) -> Result<Vec<(&'static str, i64)>, String> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        Ok(module_args(&args)?
            .into_iter()
            .map(|(k, v)| (k.name, v))
            .collect())
    }

    #[test]
    fn module_args_are_checked_as_config_set_checks_them() {
        assert_eq!(check(&[]).unwrap(), []);
        assert_eq!(
            check(&["alert-max-len", "0", "max-document-bytes", "536870912"]).unwrap(),
            [("alert-max-len", 0), ("max-document-bytes", 536870912)]
        );
        assert_eq!(
            check(&["alert-retention-ms", "9223372036854775807"]).unwrap(),
            [("alert-retention-ms", i64::MAX)]
        );
        for (args, says) in [
            (&["alert-max-len", "-1"][..], "between 0 and"),
            (&["max-document-bytes", "0"], "between 1 and 536870912"),
            (&["max-document-bytes", "536870913"], "between 1 and"),
            (&["alert-dedup-window-ms", "+5"], "integer"),
            (&["alert-dedup-window-ms", "1.5"], "integer"),
            (
                &["alert-max-len", "abc"],
                "alert-max-len 'abc': must be an integer",
            ),
            (&["alert-dedup-window-ms", ""], "integer"),
            (&["alert-dedup-window-ms", "-"], "integer"),
            (&["alert-dedup-window-ms", " 5"], "integer"),
            (&["alert-id-memory-ms", "99999999999999999999"], "integer"),
            (&["alert-max-len"], "no value"),
            (&["alert-max-len", "1", "alert-max-len", "2"], "twice"),
            (
                &["bogus-name", "5"],
                "unknown loadmodule argument 'bogus-name'",
            ),
            (&["vigil.alert-max-len", "5"], "without the 'vigil.' prefix"),
            (&["ALERT-MAX-LEN", "5"], "unknown"),
        ] {
            let e = check(args).unwrap_err();
            assert!(e.contains(says), "{args:?}: {e}");
        }
        // Invalid UTF-8 is shown, not a panic.
        let e = module_args(&[b"\xff\xfe", b"1"]).err();
        assert!(e.is_some_and(|e| e.contains("unknown")));
    }
}
