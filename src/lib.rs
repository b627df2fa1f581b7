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

fn init(ctx: &Context, args: &[RedisString]) -> Status {
    // First, before anything is registered or started: a bad argument stops the load.
    let args: Vec<&[u8]> = args.iter().map(RedisString::as_slice).collect();
    match config::module_args(&args) {
        // After redis.conf's `vigil.*` lines were applied: an argument wins, as a
        // command-line option wins over the config file.
        Ok(values) => vigil_core::knobs::apply(&values),
        Err(e) => {
            ctx.log_warning(&format!("vigil: {e}"));
            return Status::Err;
        }
    }
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
    // A promoted replica may hold fewer changes than its old primary gave readers.
    ffi::listeners::subscribe(ctx, alert::floor::new_epoch);
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
            [config::RETENTION.name, config::RETENTION.value, config::RETENTION.default, config::RETENTION.min, config::RETENTION.max, ConfigurationFlags::DEFAULT, None],
            [config::MAX_LEN.name, config::MAX_LEN.value, config::MAX_LEN.default, config::MAX_LEN.min, config::MAX_LEN.max, ConfigurationFlags::DEFAULT, None],
            [config::DEDUP_WINDOW.name, config::DEDUP_WINDOW.value, config::DEDUP_WINDOW.default, config::DEDUP_WINDOW.min, config::DEDUP_WINDOW.max, ConfigurationFlags::DEFAULT, None],
            [config::AUTORESOLVE.name, config::AUTORESOLVE.value, config::AUTORESOLVE.default, config::AUTORESOLVE.min, config::AUTORESOLVE.max, ConfigurationFlags::DEFAULT, None],
            [config::ID_MEMORY.name, config::ID_MEMORY.value, config::ID_MEMORY.default, config::ID_MEMORY.min, config::ID_MEMORY.max, ConfigurationFlags::DEFAULT, None],
            [config::DOCUMENT_BYTES.name, config::DOCUMENT_BYTES.value, config::DOCUMENT_BYTES.default, config::DOCUMENT_BYTES.min, config::DOCUMENT_BYTES.max, ConfigurationFlags::DEFAULT, None],
        ],
        string: [],
        bool: [],
        enum: [],
        // Read and checked by init (config::module_args), not taken unchecked.
        module_args_as_configuration: false,
    ]
}
