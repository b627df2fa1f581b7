//! The last line of defence at the FFI boundary: a panic becomes an error reply and a log
//! line instead of killing redis-server with every tenant's data.

use redis_module::{Context, RedisError, RedisResult, RedisString};
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
            crate::stats::add(&crate::stats::PANICS, 1);
            redis_module::logging::log_warning(format!("vigil: {what} failed with a panic"));
            fallback
        }
    }
}

pub type Handler = fn(&Context, Vec<RedisString>) -> RedisResult;

/// Runs a command handler: counts the call and its errors, and turns a panic into an error.
pub fn run(ctx: &Context, cmd: usize, args: Vec<RedisString>, f: Handler) -> RedisResult {
    crate::stats::count_call(cmd);
    let result = catch(
        crate::commands::TABLE[cmd].name,
        Err(RedisError::Str(
            "ERR internal error in vigil (logged); the command may not have been applied",
        )),
        || f(ctx, args),
    );
    match result {
        Err(e) => {
            crate::stats::count_error(cmd);
            Err(printable(e))
        }
        ok => ok,
    }
}

/// Error texts quote what the client sent; the reply path turns each char into one byte and
/// panics on a NUL, and a raw CR/LF would break the protocol. Escape everything but printable
/// ASCII, once, here at the boundary.
fn printable(e: RedisError) -> RedisError {
    match e {
        RedisError::String(s) if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) => {
            let mut out = String::with_capacity(s.len() + 8);
            for c in s.chars() {
                if (' '..='~').contains(&c) {
                    out.push(c);
                } else {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
            }
            RedisError::String(out)
        }
        other => other,
    }
}
