//! Redis Cluster: whether the server runs in a cluster, which command is running now, which
//! slots this node is migrating or importing, and the slot of a key.
//!
//! Keyspace events do not say which command raised them, and in an event handler
//! `RedisModule_GetCurrentCommandName` has nothing to say (the handler's context has a client of
//! its own, with no command). Yet a key that leaves by MIGRATE is not gone: it is on its way to
//! the node that imports its slot. So in a cluster a command filter notes, before each command
//! runs, whether it is MIGRATE (the source deletes each key the target acknowledged, raising
//! `del`) or RESTORE-ASKING (what MIGRATE sends the target in a cluster, raising `restore`).

use crate::ffi::context_flags;
use redis_module::{raw, Context, RedisValue};
use std::os::raw::c_int;
use std::sync::atomic::{AtomicU8, Ordering};

/// The command running now, as far as keys moving between nodes are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Running {
    Other,
    /// MIGRATE, on the node the keys leave.
    Migrate,
    /// RESTORE-ASKING, on the node the keys arrive at (and its replicas).
    RestoreAsking,
}

/// Set by the filter before every command; commands, events and the filter all run on the
/// main thread, so relaxed ordering is enough.
static RUNNING: AtomicU8 = AtomicU8::new(0);

pub fn running() -> Running {
    match RUNNING.load(Ordering::Relaxed) {
        1 => Running::Migrate,
        2 => Running::RestoreAsking,
        _ => Running::Other,
    }
}

fn classify(name: &[u8]) -> Running {
    // The length first: almost every command is decided by one comparison.
    match name.len() {
        7 if name.eq_ignore_ascii_case(b"migrate") => Running::Migrate,
        14 if name.eq_ignore_ascii_case(b"restore-asking") => Running::RestoreAsking,
        _ => Running::Other,
    }
}

/// Whether the server runs with `cluster-enabled yes`.
pub fn in_cluster(ctx: &Context) -> bool {
    context_flags(ctx) & raw::REDISMODULE_CTX_FLAGS_CLUSTER != 0
}

/// In a cluster, registers the filter that notes which command runs; elsewhere nothing (no
/// command moves slots there, and every command would pay for the filter). The module's own
/// `RedisModule_Call`s are not filtered (NOSELF): they run inside a command already noted.
pub fn watch_commands(ctx: &Context) {
    if !in_cluster(ctx) {
        return;
    }
    let Some(register) = (unsafe { raw::RedisModule_RegisterCommandFilter }) else {
        return;
    };
    // SAFETY: called at load with the module's context; the callback is a plain function that
    // lives as long as the module, and only reads the filter context it is given.
    let filter = unsafe {
        register(
            ctx.get_raw(),
            Some(on_command),
            raw::REDISMODULE_CMDFILTER_NOSELF as c_int,
        )
    };
    if filter.is_null() {
        redis_module::logging::log_warning(
            "vigil: no command filter: keys that leave by MIGRATE will leave their trackers",
        );
    }
}

unsafe extern "C" fn on_command(fctx: *mut raw::RedisModuleCommandFilterCtx) {
    let Some(arg) = (unsafe { raw::RedisModule_CommandFilterArgGet }) else {
        return;
    };
    // SAFETY: `fctx` is live for the duration of the callback; position 0 is the command name
    // (null if the command has no arguments at all).
    let name = unsafe { arg(fctx, 0) };
    let running = if name.is_null() {
        Running::Other
    } else {
        // SAFETY: `name` is a live string of the client's argv (an sds, as Redis itself reads
        // it to look the command up); the slice is used before the callback returns.
        classify(unsafe { super::bytes_of(name) })
    };
    RUNNING.store(running as u8, Ordering::Relaxed);
}

/// The slots this node is migrating away or importing now: the `[slot->-id]` and
/// `[slot-<-id]` marks on the `myself` line of `CLUSTER NODES` (the module API has no other
/// way to ask in Redis 7.0). Empty outside a cluster and on replicas (which hold no such
/// state); None when `CLUSTER NODES` did not answer as expected, so that no caller takes
/// "cannot tell" for "nothing moves" (a tracker would then forget keys still on their way).
pub fn slots_in_transit(ctx: &Context) -> Option<Vec<u16>> {
    if !in_cluster(ctx) {
        return Some(Vec::new());
    }
    let text = match ctx.call("CLUSTER", &["NODES"][..]) {
        Ok(RedisValue::StringBuffer(b)) => String::from_utf8_lossy(&b).into_owned(),
        Ok(RedisValue::BulkString(s)) | Ok(RedisValue::SimpleString(s)) => s,
        _ => return None,
    };
    parse_in_transit(&text)
}

fn parse_in_transit(nodes: &str) -> Option<Vec<u16>> {
    let myself = nodes.lines().find(|l| {
        l.split_whitespace()
            .nth(2)
            .is_some_and(|flags| flags.split(',').any(|f| f == "myself"))
    })?;
    Some(
        myself
            .split_whitespace()
            .filter_map(|f| f.strip_prefix('[')?.strip_suffix(']'))
            .filter_map(|mark| {
                let end = mark.find(['-', '<'])?;
                mark[..end].parse().ok()
            })
            .collect(),
    )
}

/// Whether the slot of `key` and `absent` (one slot) is moving between this node and another,
/// as Redis itself sees it for the command running now: asked with an `EXISTS key absent` run
/// through `RedisModule_Call`, which in a cluster routes its keys as a client's command (with
/// the caller's ASKING), and refuses (EPERM) to run where a client would be redirected. With
/// `absent` missing that is exactly when the slot moves: a migrating slot sends a command that
/// misses a key elsewhere (ASK, or TRYAGAIN with the other key here), an importing one refuses
/// a command of two keys not all here (TRYAGAIN), or sends it to the owner without ASKING.
/// None when the call failed otherwise (the cluster down): the caller cannot tell. One call
/// costs about what a small command costs; `CLUSTER NODES` costs more the larger the cluster.
pub fn slot_moving(ctx: &Context, key: &[u8], absent: &[u8]) -> Option<bool> {
    let (call, free_reply) = unsafe { (raw::RedisModule_Call?, raw::RedisModule_FreeCallReply?) };
    let arg = |b: &[u8]| (b.as_ptr().cast::<std::os::raw::c_char>(), b.len());
    let ((k, kl), (a, al)) = (arg(key), arg(absent));
    // SAFETY: "bb": two pointers and lengths of live byte slices, which Redis copies; no "!":
    // nothing replicates. The reply, when there is one, is freed at once.
    let reply = unsafe {
        call(
            ctx.get_raw(),
            c"EXISTS".as_ptr(),
            c"bb".as_ptr(),
            k,
            kl,
            a,
            al,
        )
    };
    if reply.is_null() {
        let refused =
            std::io::Error::last_os_error().kind() == std::io::ErrorKind::PermissionDenied;
        return refused.then_some(true);
    }
    // SAFETY: a reply RedisModule_Call returned, freed once.
    unsafe { free_reply(reply) };
    Some(false)
}

/// The slot Redis Cluster gives `key`: CRC16 (XMODEM) of its hash tag (the bytes between the
/// first `{` and the first `}` after it, when not empty) or of the whole key, mod 16384. The
/// module API has no call for it before Redis 8.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(vigil_core::lru::hash_tag(key).unwrap_or(key)) % 16384
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_those_of_redis_cluster() {
        // Values from the Redis Cluster specification and CLUSTER KEYSLOT.
        assert_eq!(key_slot(b"foo"), 12182);
        // CRC16-XMODEM("123456789") is 0x31c3, below 16384.
        assert_eq!(key_slot(b"123456789"), 0x31c3);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        assert_eq!(
            key_slot(b"tenant:{acme}:lru"),
            key_slot(b"tenant:{acme}:k1")
        );
    }

    #[test]
    fn commands_are_told_apart_by_name() {
        assert_eq!(classify(b"MIGRATE"), Running::Migrate);
        assert_eq!(classify(b"migrate"), Running::Migrate);
        assert_eq!(classify(b"RESTORE-ASKING"), Running::RestoreAsking);
        assert_eq!(classify(b"RESTORE"), Running::Other);
        assert_eq!(classify(b"migrates"), Running::Other);
        assert_eq!(classify(b""), Running::Other);
    }

    #[test]
    fn transit_marks_are_read_from_the_myself_line() {
        let nodes = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [77->-b2] [93-<-c3]
b2 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922 [5500->-a1]
c3 127.0.0.1:7002@17002 master - 0 0 3 connected 10923-16383
";
        assert_eq!(parse_in_transit(nodes), Some(vec![77, 93]));
        // No `myself` line: cannot tell, which is not "nothing moves".
        assert_eq!(parse_in_transit(""), None);
    }
}
