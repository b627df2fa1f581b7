//! Whether anything the module replicates can reach anyone.
//!
//! Redis propagates a write only to the AOF when it is on, and to the replication stream when
//! the server has a replica or a replication backlog (which outlives its replicas, to let them
//! resume); otherwise it drops what it was given (`shouldPropagate` in Redis and Valkey). XADD
//! and a Lua script's writes then cost nothing to replicate. RM_Replicate still looks its
//! command up by name and makes its arguments before Redis drops them: 2.5k of ALERT.ADD's 18k
//! instructions, 3k of an LRU.EVICT's release of its quota. So the module asks first.
//!
//! The AOF and the replica role are in the context's flags, read at each call. The backlog
//! and the replicas are not: they are read from `INFO replication` (`repl_backlog_active`,
//! `connected_slaves`, `role`) once, and again only after something that may have created a
//! backlog or attached a replica, since no backlog is made otherwise:
//!
//! - a fork: a replica's full sync is a fork (to disk or to the socket), and Redis creates
//!   the backlog and lists the replica before forking for it; the replica's stream starts at
//!   the fork, whose snapshot holds everything before it;
//! - a change of role: a replica keeps a backlog for its own replicas, and keeps it when
//!   promoted;
//! - the end of a load: a primary restarted from an RDB that names its replication ID makes
//!   a backlog after loading, so that its replicas may resume.
//!
//! Each of these forgets the answer; the next replication reads INFO again (one fork per
//! BGSAVE: rare). Once a backlog or a replica is seen the answer stays yes for good (a backlog
//! is freed only after `repl-backlog-ttl`, which the module cannot see). Tests: the replicas
//! of `tests/alert_replication.rs` attach after writes and receive every later one; the AOF
//! tests restart from what was written.

use redis_module::{raw, Context};
use std::os::raw::c_void;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

const UNKNOWN: u8 = 0;
const NOBODY: u8 = 1;
const HEARD: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether to replicate a write now: true when the AOF, a replica or the backlog would hear
/// it. When nothing would, the write is still counted as a change, as RM_Replicate counts it:
/// Redis's save points (`save 60 1000`) and `rdb_changes_since_last_save` count changes by
/// what commands replicate, and a module command's own writes count for nothing else. The
/// count is RM_ReplicateVerbatim's: it adds one and hands Redis the command as sent, which
/// Redis drops at once, since nothing listens (a few dozen instructions where RM_Replicate
/// looks its command up and makes its arguments). Test: `tests/alert_persistence.rs`,
/// every write counts toward the save points.
pub fn replicate_or_count(ctx: &Context) -> bool {
    if replication_heard(ctx) {
        return true;
    }
    if let Some(count) = unsafe { raw::RedisModule_ReplicateVerbatim } {
        // SAFETY: a live context. Its client's arguments are what it was called with (none
        // in a timer's or an event's context); Redis propagates them to nobody (the reason
        // this is called) and only adds one to its count of changes.
        unsafe { count(ctx.get_raw()) };
    }
    false
}

/// Whether a write replicated now would reach the AOF, a replica or the backlog.
fn replication_heard(ctx: &Context) -> bool {
    let flags = super::context_flags(ctx);
    if flags & (raw::REDISMODULE_CTX_FLAGS_SLAVE | raw::REDISMODULE_CTX_FLAGS_REPLICATED) != 0 {
        STATE.store(HEARD, Ordering::Relaxed);
        return true;
    }
    if flags & (raw::REDISMODULE_CTX_FLAGS_AOF | raw::REDISMODULE_CTX_FLAGS_LOADING) != 0 {
        return true;
    }
    match STATE.load(Ordering::Relaxed) {
        NOBODY => false,
        HEARD => true,
        _ => {
            let heard = backlog_or_replicas(ctx);
            STATE.store(if heard { HEARD } else { NOBODY }, Ordering::Relaxed);
            heard
        }
    }
}

/// Something may have made a backlog or attached a replica: read INFO again before the next
/// replication (a yes stays).
pub fn forget() {
    let _ = STATE.compare_exchange(NOBODY, UNKNOWN, Ordering::Relaxed, Ordering::Relaxed);
}

/// From `INFO replication`: a backlog, a replica listed (in any state of its sync), or a role
/// other than primary. True when it cannot be read (replicating is always safe).
fn backlog_or_replicas(ctx: &Context) -> bool {
    let (Some(get), Some(free), Some(signed), Some(text)) = (
        unsafe { raw::RedisModule_GetServerInfo },
        unsafe { raw::RedisModule_FreeServerInfo },
        unsafe { raw::RedisModule_ServerInfoGetFieldSigned },
        unsafe { raw::RedisModule_ServerInfoGetFieldC },
    ) else {
        return true;
    };
    // SAFETY: a live context; the info is read only before it is freed, and the C string
    // `role` points into it.
    unsafe {
        let info = get(ctx.get_raw(), c"replication".as_ptr());
        if info.is_null() {
            return true;
        }
        let mut err = 0;
        let mut number = |field: &std::ffi::CStr| -> i64 {
            let v = signed(info, field.as_ptr(), &mut err);
            if err != 0 {
                1
            } else {
                v
            }
        };
        let backlog = number(c"repl_backlog_active");
        let replicas = number(c"connected_slaves");
        let role = text(info, c"role".as_ptr());
        let primary = !role.is_null() && std::ffi::CStr::from_ptr(role).to_bytes() == b"master";
        free(ctx.get_raw(), info);
        backlog != 0 || replicas != 0 || !primary
    }
}

/// What else a change of role calls (the module's one callback for the event is here).
static ON_ROLE_CHANGE: OnceLock<fn()> = OnceLock::new();

/// Subscribes to the fork and role-change events (the end of a load is told by the loading
/// handler, which the crate's macro holds: one callback per event); `on_role_change` runs at
/// each change of role too.
pub fn subscribe(ctx: &Context, on_role_change: fn()) {
    let _ = ON_ROLE_CHANGE.set(on_role_change);
    for id in [
        raw::REDISMODULE_EVENT_FORK_CHILD,
        raw::REDISMODULE_EVENT_REPLICATION_ROLE_CHANGED,
    ] {
        super::subscribe_server_event(ctx, id, on_event);
    }
}

unsafe extern "C" fn on_event(
    _ctx: *mut raw::RedisModuleCtx,
    event: raw::RedisModuleEvent,
    _sub: u64,
    _data: *mut c_void,
) {
    forget();
    if event.id == raw::REDISMODULE_EVENT_REPLICATION_ROLE_CHANGED {
        if let Some(f) = ON_ROLE_CHANGE.get() {
            f();
        }
    }
}
