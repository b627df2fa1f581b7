//! Keyspace and server events: they keep LRU trackers true to the keyspace (a tracked key that
//! leaves by any road — DEL, UNLINK, expiry, maxmemory eviction, RENAME or MOVE away, FLUSHDB —
//! leaves its trackers at once), and keep the two indexes of where things are — trackers by
//! namespace, alert streams for the sweep — following keys that are renamed, moved, copied,
//! restored, swapped, flushed or loaded.
//!
//! Handlers run inside the event, so they never create or delete keys: they only edit the
//! trackers' own in-memory values. The same events fire on replicas and during AOF replay (the
//! primary's DELs reach them), so nothing here replicates.

use crate::alert::{registry, stream::Stream};
use crate::callbacks::{is_type, Scanner, ALERT_TYPE, LRU_TYPE};
use crate::ffi::selected_db;
use crate::guard::catch;
use crate::lru::commands::is_evicting;
use crate::lru::namespace::{self, namespace};
use crate::lru::tracker::Tracker;
use redis_module::server_events::{FlushSubevent, LoadingSubevent};
use redis_module::{raw, Context, NotifyEvent, RedisString};
use redis_module_macros::{flush_event_handler, loading_event_handler};
use std::ptr::NonNull;

fn key_string(ctx: &Context, key: &[u8]) -> RedisString {
    RedisString::create(NonNull::new(ctx.get_raw()), key)
}

/// Keyspace events of the generic, expired and evicted classes.
pub fn on_key_event(ctx: &Context, _class: NotifyEvent, event: &str, key: &[u8]) {
    catch("keyspace event", (), || handle(ctx, event, key));
}

fn handle(ctx: &Context, event: &str, key: &[u8]) {
    let db = selected_db(ctx);
    match event {
        "del" | "expired" | "evicted" | "rename_from" | "move_from" => {
            registry::remove(db, key);
            // Every DEL and expiry in the server comes through here: without trackers, stop.
            if namespace::is_empty() {
                return;
            }
            if namespace::is_tracker(db, key) {
                namespace::remove_tracker(db, key);
            }
            for tracker in namespace::trackers_for(db, key) {
                if !is_evicting(db, &tracker) {
                    forget_in(ctx, db, &tracker, key);
                }
            }
        }
        "rename_to" | "move_to" | "copy_to" | "restore" => arrived(ctx, db, key),
        _ => {}
    }
}

fn forget_in(ctx: &Context, db: i32, tracker: &[u8], key: &[u8]) {
    let name = key_string(ctx, tracker);
    let k = ctx.open_key_writable(&name);
    match k.get_value::<Tracker>(&LRU_TYPE) {
        Ok(Some(t)) => {
            t.forget(key);
        }
        // Overwritten by another type, or gone: the index was stale.
        _ => namespace::remove_tracker(db, tracker),
    }
}

/// A key arrived under `key` (RENAME, MOVE, COPY, RESTORE): if it is a tracker, index it under
/// its new namespace and drop what lies outside that namespace.
fn arrived(ctx: &Context, db: i32, key: &[u8]) {
    let name = key_string(ctx, key);
    let k = ctx.open_key_writable(&name);
    if matches!(k.get_value::<Stream>(&ALERT_TYPE), Ok(Some(_))) {
        registry::add(db, key);
        return;
    }
    if let Ok(Some(t)) = k.get_value::<Tracker>(&LRU_TYPE) {
        match namespace(key) {
            Some(ns) => {
                t.retain(|tracked| tracked.starts_with(ns) && tracked != key);
                namespace::add_tracker(db, key);
            }
            None => {
                t.retain(|_| false);
            }
        }
    }
}

fn select(ctx: &Context, db: i32) -> bool {
    let status = unsafe { raw::RedisModule_SelectDb.map(|f| f(ctx.get_raw(), db)) };
    status == Some(raw::REDISMODULE_OK as i32)
}

/// After FLUSHDB/FLUSHALL: forget trackers that are gone.
#[flush_event_handler]
fn on_flush(ctx: &Context, sub: FlushSubevent) {
    if let FlushSubevent::Ended = sub {
        catch("flush event", (), || {
            let before = selected_db(ctx);
            for (db, tracker) in namespace::all() {
                if select(ctx, db) {
                    let name = key_string(ctx, &tracker);
                    let k = ctx.open_key(&name);
                    if !matches!(k.get_value::<Tracker>(&LRU_TYPE), Ok(Some(_))) {
                        namespace::remove_tracker(db, &tracker);
                    }
                }
            }
            select(ctx, before);
        });
    }
}

/// After an RDB load (start-up, full sync, DEBUG RELOAD): the index is rebuilt from the
/// keyspace, and tracked keys that did not come back (expired meanwhile) are dropped.
#[loading_event_handler]
fn on_loading(ctx: &Context, sub: LoadingSubevent) {
    match sub {
        LoadingSubevent::RdbStarted
        | LoadingSubevent::ReplStarted
        | LoadingSubevent::AofStarted => namespace::clear(),
        LoadingSubevent::Ended => catch("load event", (), || rebuild(ctx)),
        _ => {}
    }
}

fn rebuild(ctx: &Context) {
    let before = selected_db(ctx);
    let mut db = 0;
    while select(ctx, db) {
        let Some(cursor) = Scanner::new() else {
            break;
        };
        let mut names: Vec<Vec<u8>> = Vec::new();
        while cursor.step(ctx, &mut |name, module_type| {
            if is_type(module_type, &LRU_TYPE) {
                names.push(name.to_vec());
            } else if is_type(module_type, &ALERT_TYPE) {
                registry::add(db, name);
            }
        }) {}
        let trackers: Vec<RedisString> = names
            .iter()
            .map(|n| key_string(ctx, n))
            .filter(|n| matches!(ctx.open_key(n).get_value::<Tracker>(&LRU_TYPE), Ok(Some(_))))
            .collect();
        for name in trackers {
            // Which tracked keys are gone; checked with no tracker borrowed (a check may
            // expire a key, and its event finds no tracker in the index yet).
            let tracked: Vec<Vec<u8>> = {
                let k = ctx.open_key(&name);
                match k.get_value::<Tracker>(&LRU_TYPE) {
                    Ok(Some(t)) => t.entries().map(|e| e.name.to_vec()).collect(),
                    _ => continue,
                }
            };
            let gone: Vec<Vec<u8>> = tracked.into_iter().filter(|k| !exists(ctx, k)).collect();
            let k = ctx.open_key_writable(&name);
            if let Ok(Some(t)) = k.get_value::<Tracker>(&LRU_TYPE) {
                for g in &gone {
                    t.forget(g);
                }
            }
            namespace::add_tracker(db, name.as_slice());
        }
        db += 1;
    }
    select(ctx, before);
}

fn exists(ctx: &Context, key: &[u8]) -> bool {
    let name = key_string(ctx, key);
    match unsafe { raw::RedisModule_KeyExists } {
        Some(f) => unsafe { f(ctx.get_raw(), name.inner) != 0 },
        None => !ctx.open_key(&name).is_null(),
    }
}

/// SWAPDB: trackers change databases with their keys (called from `callbacks::on_swapdb`).
pub fn swapped(a: i32, b: i32) {
    namespace::swap(a, b);
    registry::swap(a, b);
}
