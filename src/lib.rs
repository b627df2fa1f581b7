//! Vigil: alert streams, quotas and LRU trackers as native Redis commands.
//!
//! The rules live in the `vigil-core` crate (no Redis API); this crate is the glue: the
//! command table (`commands`), one folder per data type with its commands and persistence,
//! keyspace and server events, configs, INFO, and every `unsafe` call in `ffi`. This file
//! holds only the registration.

pub mod alert;
pub mod args;
pub mod argv;
pub mod clock;
pub mod commands;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod events;
pub mod ffi;
pub mod guard;
pub mod info;
pub mod keys;
pub mod lru;
pub mod quota;
pub mod stats;
pub mod swapdb;
pub mod syntax;
pub mod text;

use alert::rdb::ALERT_TYPE;
use info::section;
use lru::rdb::LRU_TYPE;
use quota::rdb::QUOTA_TYPE;
use redis_module::configuration::ConfigurationFlags;
// The macro expands to code that names InfoContext and RedisResult.
use redis_module::{redis_module, Context, InfoContext, RedisResult, RedisString, Status};

// The Redis allocator aborts outside redis-server (unit tests, benches).
#[cfg(not(any(test, feature = "system-alloc")))]
use redis_module::alloc::RedisAlloc as ModuleAlloc;
#[cfg(any(test, feature = "system-alloc"))]
use std::alloc::System as ModuleAlloc;

fn init(ctx: &Context, _args: &[RedisString]) -> Status {
    guard::install_panic_hook();
    ffi::set_module_options(ctx);
    if commands::register(ctx) == Status::Err {
        return Status::Err;
    }
    if !ffi::subscribe_key_events(ctx, events::on_key_event) {
        ctx.log_warning("vigil: could not subscribe to keyspace events");
        return Status::Err;
    }
    ffi::subscribe_swapdb(ctx, events::swapped);
    ffi::listeners::subscribe(ctx);
    ffi::cluster::watch_commands(ctx);
    alert::sweep::start(ctx);
    Status::Ok
}

redis_module! {
    name: "vigil",
    // MODULE LIST's `ver`: the release as major * 10000 + minor * 100 + patch (0.2.0).
    version: 200,
    allocator: (ModuleAlloc, ModuleAlloc),
    data_types: [ALERT_TYPE, QUOTA_TYPE, LRU_TYPE],
    init: init,
    info: section,
    commands: [],
    configurations: [
        i64: [
            ["alert-retention-ms", &config::ALERT_RETENTION_MS, config::DEFAULT_RETENTION_MS, 0, i64::MAX, ConfigurationFlags::DEFAULT, None],
            ["alert-max-len", &config::ALERT_MAX_LEN, config::DEFAULT_MAX_LEN, 0, i64::MAX, ConfigurationFlags::DEFAULT, None],
            ["alert-dedup-window-ms", &config::ALERT_DEDUP_WINDOW_MS, config::DEFAULT_DEDUP_WINDOW_MS, 0, i64::MAX, ConfigurationFlags::DEFAULT, None],
            ["alert-autoresolve-ms", &config::ALERT_AUTORESOLVE_MS, config::DEFAULT_AUTORESOLVE_MS, 0, i64::MAX, ConfigurationFlags::DEFAULT, None],
            ["alert-id-memory-ms", &config::ALERT_ID_MEMORY_MS, config::DEFAULT_ID_MEMORY_MS, 0, i64::MAX, ConfigurationFlags::DEFAULT, None],
            ["max-document-bytes", &config::MAX_DOCUMENT_BYTES, config::DEFAULT_MAX_DOCUMENT_BYTES, 1, config::MAX_MAX_DOCUMENT_BYTES, ConfigurationFlags::DEFAULT, None],
        ],
        string: [],
        bool: [],
        enum: [],
        module_args_as_configuration: true,
    ]
}
