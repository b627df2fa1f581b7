//! Blocking on a key (`RedisModule_BlockClientOnKeys`, in Redis 7.0): a command that has
//! nothing to answer yet parks its client until a write signals the key ready
//! (`RedisModule_SignalKeyAsReady`) or the timeout passes. A wake-up is a hint, not a promise:
//! the `ready` function looks again and may keep the client blocked.

use crate::guard::catch;
use redis_module::{raw, Context, RedisResult, RedisString};
use std::os::raw::{c_int, c_void};

/// `ready(ctx, state)`: Some(reply) to answer now, None to keep waiting.
pub type Ready<T> = fn(&Context, &T) -> Option<RedisResult>;

struct Blocked<T> {
    state: T,
    ready: Ready<T>,
}

/// Whether the client may block here (not inside MULTI/EXEC, a script or another context
/// that denies blocking).
pub fn may_block(ctx: &Context) -> bool {
    let flags = super::context_flags(ctx);
    flags
        & (raw::REDISMODULE_CTX_FLAGS_MULTI
            | raw::REDISMODULE_CTX_FLAGS_LUA
            | raw::REDISMODULE_CTX_FLAGS_DENY_BLOCKING)
        == 0
}

/// Blocks the calling client on `key` for `timeout_ms` (0: no limit). False if the server
/// cannot block it (the caller then answers as on a timeout).
pub fn block_on_key<T: 'static>(
    ctx: &Context,
    key: &RedisString,
    timeout_ms: u64,
    state: T,
    ready: Ready<T>,
) -> bool {
    let Some(block) = (unsafe { raw::RedisModule_BlockClientOnKeys }) else {
        return false;
    };
    let privdata = Box::into_raw(Box::new(Blocked { state, ready })).cast::<c_void>();
    let mut keys = [key.inner];
    // SAFETY: the callbacks are monomorphic for T and cast the private data back to the
    // Blocked<T> boxed here; Redis hands it to `free_state` exactly once. The key array is
    // read during the call only.
    let bc = unsafe {
        block(
            ctx.get_raw(),
            Some(on_ready::<T>),
            Some(on_timeout),
            Some(free_state::<T>),
            timeout_ms.min(i64::MAX as u64) as i64,
            keys.as_mut_ptr(),
            1,
            privdata,
        )
    };
    if bc.is_null() {
        // SAFETY: not handed over to Redis: still ours.
        drop(unsafe { Box::from_raw(privdata.cast::<Blocked<T>>()) });
        return false;
    }
    true
}

/// Wakes the clients blocked on `key` (they look again). Cheap when none is.
pub fn signal_ready(ctx: &Context, key: &RedisString) {
    if let Some(f) = unsafe { raw::RedisModule_SignalKeyAsReady } {
        // SAFETY: the context and the key string are live; Redis copies what it keeps.
        unsafe { f(ctx.get_raw(), key.inner) };
    }
}

extern "C" fn on_ready<T: 'static>(
    ctx: *mut raw::RedisModuleCtx,
    _argv: *mut *mut raw::RedisModuleString,
    _argc: c_int,
) -> c_int {
    let context = Context::new(ctx);
    let Some(get) = (unsafe { raw::RedisModule_GetBlockedClientPrivateData }) else {
        return raw::REDISMODULE_ERR as c_int;
    };
    // SAFETY: the private data of a client blocked by `block_on_key::<T>` is a Blocked<T>,
    // alive until `free_state` runs after the client is unblocked.
    let blocked = unsafe { &*get(ctx).cast::<Blocked<T>>() };
    let answer = catch("blocked reply", None, || {
        (blocked.ready)(&context, &blocked.state)
    });
    match answer {
        Some(reply) => {
            context.reply(reply);
            raw::REDISMODULE_OK as c_int
        }
        // Keep waiting.
        None => raw::REDISMODULE_ERR as c_int,
    }
}

extern "C" fn on_timeout(
    ctx: *mut raw::RedisModuleCtx,
    _argv: *mut *mut raw::RedisModuleString,
    _argc: c_int,
) -> c_int {
    // Nil as XREAD's: the null array.
    super::reply_null_array(&Context::new(ctx));
    raw::REDISMODULE_OK as c_int
}

extern "C" fn free_state<T: 'static>(_ctx: *mut raw::RedisModuleCtx, privdata: *mut c_void) {
    if privdata.is_null() {
        return;
    }
    // SAFETY: boxed by `block_on_key::<T>`; Redis frees the private data once.
    drop(unsafe { Box::from_raw(privdata.cast::<Blocked<T>>()) });
}
