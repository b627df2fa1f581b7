//! The command table: names, flags, arity and key specs in one place, the wrappers the
//! `redis_module!` registration points at, and the `RedisModule_SetCommandInfo` call that gives
//! each command its exact key-spec flags (first/last/step alone marks every key `RW`).

use crate::alert::commands as alert;
use crate::lru::commands as lru;
use crate::quota::commands as quota;
use redis_module::{raw, Context, RedisResult, RedisString, Status};
use std::ffi::CString;
use std::os::raw::c_int;

pub struct CommandSpec {
    pub name: &'static str,
    pub flags: &'static str,
    /// Redis arity: N exactly, -N at least N (the name counts).
    pub arity: i32,
    /// REDISMODULE_CMD_KEY_* flags of the first key.
    pub key_flags: u32,
    pub summary: &'static str,
    pub complexity: &'static str,
}

const RO: u32 = raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS;
const RW_INSERT: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_INSERT;
const RW_UPDATE: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_UPDATE;
const RW_DELETE: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_DELETE;

macro_rules! command_table {
    ($($idx:ident $wrapper:ident => $handler:path, $name:literal, $flags:literal, $arity:literal,
       $keys:expr, $summary:literal, $complexity:literal;)*) => {
        pub const TABLE: &[CommandSpec] = &[$(CommandSpec {
            name: $name,
            flags: $flags,
            arity: $arity,
            key_flags: $keys,
            summary: $summary,
            complexity: $complexity,
        }),*];
        command_table!(@idx 0usize, $($idx)*);
        $(
            pub fn $wrapper(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
                crate::guard::run(ctx, $idx, args, $handler)
            }
        )*
    };
    (@idx $n:expr, $first:ident $($rest:ident)*) => {
        pub const $first: usize = $n;
        command_table!(@idx $n + 1usize, $($rest)*);
    };
    (@idx $n:expr,) => {};
}

command_table! {
    ALERT_CREATE alert_create => alert::create, "alert.create", "write deny-oom fast", -2, RW_INSERT,
        "Creates an empty alert stream with its settings", "O(1)";
    ALERT_ALTER alert_alter => alert::alter, "alert.alter", "write", -2, RW_UPDATE,
        "Changes the settings of an alert stream; trims at once", "O(1), plus O(k) for k alerts trimmed";
    ALERT_ADD alert_add => alert::add, "alert.add", "write deny-oom fast", -3, RW_UPDATE,
        "Adds an alert with dedup, rate limit and trimming", "O(log N)";
    ALERT_GET alert_get => alert::get, "alert.get", "readonly fast", -3, RO,
        "Returns alerts by ID", "O(log N) per ID";
    ALERT_RANGE alert_range => alert::range, "alert.range", "readonly", -4, RO,
        "Returns alerts in an ID or time range, filtered", "O(log N + M) for M alerts visited";
    ALERT_ACK alert_ack => alert::ack, "alert.ack", "write fast", -3, RW_UPDATE,
        "Marks alerts acked", "O(log N) per ID";
    ALERT_RESOLVE alert_resolve => alert::resolve, "alert.resolve", "write fast", -3, RW_UPDATE,
        "Marks alerts resolved", "O(log N) per ID";
    ALERT_DEL alert_del => alert::del, "alert.del", "write fast", -3, RW_DELETE,
        "Removes alerts by ID", "O(log N) per ID";
    ALERT_TRIM alert_trim => alert::trim, "alert.trim", "write", 4, RW_DELETE,
        "Removes the oldest alerts by count or timestamp", "O(log N + k) for k alerts removed";
    ALERT_INFO alert_info => alert::info, "alert.info", "readonly", 2, RO,
        "Returns the settings and counters of a stream", "O(N/64)";
    ALERT_IMPORT alert_import => alert::import, "alert.import", "write deny-oom", -4, RW_INSERT,
        "Restores one alert exactly (used by AOF rewrite)", "O(log N)";
    QUOTA_SET quota_set => quota::set, "quota.set", "write deny-oom fast", -4, RW_UPDATE,
        "Creates or reconfigures a quota", "O(1)";
    QUOTA_INCR quota_incr => quota::incr, "quota.incr", "write deny-oom fast", -3, RW_UPDATE,
        "Checks and adds an amount to a quota's usage, atomically", "O(1)";
    QUOTA_GET quota_get => quota::get, "quota.get", "readonly fast", 2, RO,
        "Returns a quota's usage, limit, remaining and reset time", "O(1)";
    QUOTA_RESET quota_reset => quota::reset, "quota.reset", "write fast", 2, RW_UPDATE,
        "Sets a quota's usage to 0, keeping its limit", "O(1)";
    LRU_TOUCH lru_touch => lru::touch, "lru.touch", "write deny-oom fast", -4, RW_UPDATE,
        "Marks keys of the tracker's namespace used now, with their sizes", "O(log N) per key";
    LRU_TOUCHAT lru_touchat => lru::touch_at, "lru.touchat", "write deny-oom fast", -5, RW_UPDATE,
        "LRU.TOUCH at an explicit time (replication, AOF rewrite)", "O(log N) per key";
    LRU_FORGET lru_forget => lru::forget, "lru.forget", "write fast", -3, RW_UPDATE,
        "Stops tracking keys (they are not deleted)", "O(log N) per key";
    LRU_CANDIDATES lru_candidates => lru::candidates, "lru.candidates", "readonly", 3, RO,
        "Returns the least recently used keys, oldest first", "O(log N + count)";
    LRU_EVICT lru_evict => lru::evict, "lru.evict", "write getkeys-api", -3, RW_UPDATE,
        "Deletes least recently used keys until the total is at most the target", "O(k log N) for k keys evicted";
    LRU_INFO lru_info => lru::info, "lru.info", "readonly", 2, RO,
        "Returns a tracker's key count, total size, oldest use and evictions", "O(N)";
}

/// Sets summary, arity and key specs of every command. Works on Redis 7.0 (the API is 7.0+);
/// on older servers it is skipped and the first/last/step key positions still apply.
pub fn set_command_infos(ctx: &Context) -> Status {
    let (Some(get_command), Some(set_info)) = (unsafe { raw::RedisModule_GetCommand }, unsafe {
        raw::RedisModule_SetCommandInfo
    }) else {
        return Status::Ok;
    };
    let version = raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };
    for spec in TABLE {
        let (Ok(name), Ok(summary), Ok(complexity)) = (
            CString::new(spec.name),
            CString::new(spec.summary),
            CString::new(spec.complexity),
        ) else {
            return Status::Err;
        };
        // Key at argv[1]; LRU.EVICT also names a quota after the keyword QUOTA. A zeroed spec
        // ends the list.
        let mut key_specs: [raw::RedisModuleCommandKeySpec; 3] = unsafe { std::mem::zeroed() };
        key_specs[0].flags = u64::from(spec.key_flags);
        key_specs[0].begin_search_type =
            raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
        key_specs[0].bs.index.pos = 1;
        key_specs[0].find_keys_type =
            raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
        key_specs[0].fk.range = raw::RedisModuleCommandKeySpec__bindgen_ty_2__bindgen_ty_1 {
            lastkey: 0,
            keystep: 1,
            limit: 0,
        };
        if spec.name == "lru.evict" {
            key_specs[1].flags = u64::from(RW_UPDATE);
            key_specs[1].begin_search_type =
                raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_KEYWORD;
            key_specs[1].bs.keyword = raw::RedisModuleCommandKeySpec__bindgen_ty_1__bindgen_ty_2 {
                keyword: c"QUOTA".as_ptr(),
                startfrom: 3,
            };
            key_specs[1].find_keys_type =
                raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
            key_specs[1].fk.range = raw::RedisModuleCommandKeySpec__bindgen_ty_2__bindgen_ty_1 {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            };
        }
        let info = raw::RedisModuleCommandInfo {
            version: &version,
            summary: summary.as_ptr(),
            complexity: complexity.as_ptr(),
            since: std::ptr::null(),
            history: std::ptr::null_mut(),
            tips: std::ptr::null(),
            arity: spec.arity as c_int,
            key_specs: key_specs.as_mut_ptr(),
            args: std::ptr::null_mut(),
        };
        let command = unsafe { get_command(ctx.ctx, name.as_ptr()) };
        if command.is_null() || unsafe { set_info(command, &info) } != raw::REDISMODULE_OK as c_int
        {
            ctx.log_warning(&format!(
                "vigil: could not set command info of {}",
                spec.name
            ));
            return Status::Err;
        }
    }
    Status::Ok
}
