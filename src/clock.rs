//! The one clock: the server's ms time, and the rules for whose clock decides. Commands that
//! arrive from the primary or from the AOF carry the time the primary decided by (`NOW`), and
//! timers act only on a primary.

use crate::error::{err, Error};
use crate::ffi;
use redis_module::{raw, Context};

pub fn now_ms() -> u64 {
    ffi::milliseconds()
}

/// Commands arriving from the primary or from the AOF were validated once already: a
/// different local config must not make a replica refuse them.
pub fn from_primary(ctx: &Context) -> bool {
    ffi::context_flags(ctx)
        & (raw::REDISMODULE_CTX_FLAGS_REPLICATED | raw::REDISMODULE_CTX_FLAGS_LOADING)
        != 0
}

/// The clock a command decides by: NOW from the primary or the AOF as given; from a client,
/// NOW may only move the clock back (a later one would expire alerts that are not old).
pub fn decide_now(ctx: &Context, now: Option<u64>) -> Result<u64, Error> {
    let clock = now_ms();
    match now {
        None => Ok(clock),
        Some(n) if n <= clock || from_primary(ctx) => Ok(n),
        Some(n) => Err(err(format!(
            "ERR NOW {n} is later than the server clock ({clock})"
        ))),
    }
}

/// Whether a timer may act (and replicate) now: on a primary, not loading, and not while
/// clients are paused for writes (CLIENT PAUSE WRITE, FAILOVER), when replicating from a
/// timer would trip Redis's assertion.
pub fn timer_may_write(ctx: &Context) -> bool {
    let flags = ffi::context_flags(ctx);
    let blocked = raw::REDISMODULE_CTX_FLAGS_SLAVE
        | raw::REDISMODULE_CTX_FLAGS_LOADING
        | raw::REDISMODULE_CTX_FLAGS_ASYNC_LOADING;
    flags & blocked == 0 && !ffi::writes_paused()
}
