//! The last line of defence at the FFI boundary: a panic becomes an error reply (or a no-op in
//! a callback) and a log line, instead of killing redis-server with every tenant's data.

use crate::stats;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Logs panics through the Redis log (installed once at load).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        redis_module::logging::log_warning(format!("vigil: internal error (panic): {info}"));
    }));
}

/// Runs `f` unless it panics; returns `fallback` if it does.
pub fn catch<T>(what: &str, fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            stats::add(&stats::PANICS, 1);
            redis_module::logging::log_warning(format!("vigil: {what} failed with a panic"));
            fallback
        }
    }
}
