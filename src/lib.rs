//! Vigil: alert streams, quotas and LRU trackers as native Redis commands.
//! This file holds only the registration; see `commands.rs` for the command table.

pub mod alert;
pub mod args;
pub mod callbacks;
pub mod commands;
pub mod config;
pub mod events;
pub mod ffi;
pub mod guard;
pub mod lru;
pub mod quota;
pub mod stats;
pub mod util;

use callbacks::{ALERT_TYPE, LRU_TYPE, QUOTA_TYPE};
use commands::TABLE;
use redis_module::configuration::ConfigurationFlags;
use redis_module::{redis_module, Context, InfoContext, RedisResult, RedisString, Status};
use stats::info;

// The Redis allocator aborts outside redis-server (unit tests, benches).
#[cfg(not(any(test, feature = "system-alloc")))]
use redis_module::alloc::RedisAlloc as ModuleAlloc;
#[cfg(any(test, feature = "system-alloc"))]
use std::alloc::System as ModuleAlloc;

fn init(ctx: &Context, _args: &[RedisString]) -> Status {
    guard::install_panic_hook();
    if commands::set_command_infos(ctx) == Status::Err {
        return Status::Err;
    }
    callbacks::subscribe_swapdb(ctx);
    alert::sweep::start(ctx);
    Status::Ok
}

redis_module! {
    name: "vigil",
    version: 1,
    allocator: (ModuleAlloc, ModuleAlloc),
    data_types: [ALERT_TYPE, QUOTA_TYPE, LRU_TYPE],
    init: init,
    info: info,
    commands: [
        ["alert.create", commands::alert_create, TABLE[commands::ALERT_CREATE].flags, 1, 1, 1, ""],
        ["alert.alter", commands::alert_alter, TABLE[commands::ALERT_ALTER].flags, 1, 1, 1, ""],
        ["alert.add", commands::alert_add, TABLE[commands::ALERT_ADD].flags, 1, 1, 1, ""],
        ["alert.get", commands::alert_get, TABLE[commands::ALERT_GET].flags, 1, 1, 1, ""],
        ["alert.range", commands::alert_range, TABLE[commands::ALERT_RANGE].flags, 1, 1, 1, ""],
        ["alert.ack", commands::alert_ack, TABLE[commands::ALERT_ACK].flags, 1, 1, 1, ""],
        ["alert.resolve", commands::alert_resolve, TABLE[commands::ALERT_RESOLVE].flags, 1, 1, 1, ""],
        ["alert.del", commands::alert_del, TABLE[commands::ALERT_DEL].flags, 1, 1, 1, ""],
        ["alert.trim", commands::alert_trim, TABLE[commands::ALERT_TRIM].flags, 1, 1, 1, ""],
        ["alert.info", commands::alert_info, TABLE[commands::ALERT_INFO].flags, 1, 1, 1, ""],
        ["alert.import", commands::alert_import, TABLE[commands::ALERT_IMPORT].flags, 1, 1, 1, ""],
        ["quota.set", commands::quota_set, TABLE[commands::QUOTA_SET].flags, 1, 1, 1, ""],
        ["quota.incr", commands::quota_incr, TABLE[commands::QUOTA_INCR].flags, 1, 1, 1, ""],
        ["quota.get", commands::quota_get, TABLE[commands::QUOTA_GET].flags, 1, 1, 1, ""],
        ["quota.reset", commands::quota_reset, TABLE[commands::QUOTA_RESET].flags, 1, 1, 1, ""],
        ["lru.touch", commands::lru_touch, TABLE[commands::LRU_TOUCH].flags, 1, 1, 1, ""],
        ["lru.touchat", commands::lru_touchat, TABLE[commands::LRU_TOUCHAT].flags, 1, 1, 1, ""],
        ["lru.forget", commands::lru_forget, TABLE[commands::LRU_FORGET].flags, 1, 1, 1, ""],
        ["lru.candidates", commands::lru_candidates, TABLE[commands::LRU_CANDIDATES].flags, 1, 1, 1, ""],
        ["lru.evict", commands::lru_evict, TABLE[commands::LRU_EVICT].flags, 1, 1, 1, ""],
        ["lru.info", commands::lru_info, TABLE[commands::LRU_INFO].flags, 1, 1, 1, ""],
    ],
    event_handlers: [
        [@GENERIC @EXPIRED @EVICTED: events::on_key_event],
    ],
    configurations: [
        i64: [
            ["alert-retention-ms", &config::ALERT_RETENTION_MS, config::DEFAULT_RETENTION_MS, 0, i64::MAX, ConfigurationFlags::DEFAULT, None],
            ["alert-max-len", &config::ALERT_MAX_LEN, config::DEFAULT_MAX_LEN, 0, i64::MAX, ConfigurationFlags::DEFAULT, None],
            ["alert-dedup-window-ms", &config::ALERT_DEDUP_WINDOW_MS, config::DEFAULT_DEDUP_WINDOW_MS, 0, i64::MAX, ConfigurationFlags::DEFAULT, None],
            ["max-document-bytes", &config::MAX_DOCUMENT_BYTES, config::DEFAULT_MAX_DOCUMENT_BYTES, 1, config::MAX_MAX_DOCUMENT_BYTES, ConfigurationFlags::DEFAULT, None],
        ],
        string: [],
        bool: [],
        enum: [],
        module_args_as_configuration: true,
    ]
}
