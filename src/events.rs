//! Keyspace and server events: they keep LRU trackers true to the keyspace (a tracked key that
//! leaves by any road — DEL, UNLINK, expiry, maxmemory eviction, RENAME or MOVE away, FLUSHDB —
//! leaves its trackers at once), and keep the two indexes of where things are — trackers by
//! namespace, alert streams for the sweep — following keys that are renamed, moved, copied,
//! restored, swapped, flushed or loaded.
//!
//! Handlers run inside the event, so they never create or delete keys: they only edit the
//! trackers' own in-memory values. The same events fire on replicas and during AOF replay (the
//! primary's DELs reach them), so nothing here replicates.

use crate::alert::registry;
use crate::ffi::scan::Scanner;
use crate::ffi::types::is;
use crate::ffi::{self, select_db, selected_db};
use crate::guard::catch;
use crate::keys;
use crate::lru::index::{self, is_evicting};
use redis_module::server_events::{FlushSubevent, LoadingSubevent};
use redis_module::{Context, NotifyEvent, RedisString};
use redis_module_macros::{flush_event_handler, loading_event_handler};
use std::ptr::NonNull;
use vigil_core::alert::Stream;
use vigil_core::lru::{namespace, Tracker};

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
            if index::is_empty() {
                return;
            }
            if index::is_tracker(db, key) {
                index::remove_tracker(db, key);
            }
            for tracker in index::trackers_for(db, key) {
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
    match keys::write::<Tracker>(&k) {
        Ok(Some(t)) => {
            t.forget(key);
        }
        // Overwritten by another type, or gone: the index was stale.
        _ => index::remove_tracker(db, tracker),
    }
}

/// A key arrived under `key` (RENAME, MOVE, COPY, RESTORE): if it is a tracker, index it under
/// its new namespace and drop what lies outside that namespace.
fn arrived(ctx: &Context, db: i32, key: &[u8]) {
    let name = key_string(ctx, key);
    let k = ctx.open_key_writable(&name);
    if matches!(keys::write::<Stream>(&k), Ok(Some(_))) {
        registry::add(db, key);
        return;
    }
    if let Ok(Some(t)) = keys::write::<Tracker>(&k) {
        match namespace(key) {
            Some(ns) => {
                t.retain(|tracked| tracked.starts_with(ns) && tracked != key);
                index::add_tracker(db, key);
            }
            None => {
                t.retain(|_| false);
            }
        }
    }
}

/// After FLUSHDB/FLUSHALL: forget trackers that are gone.
#[flush_event_handler]
fn on_flush(ctx: &Context, sub: FlushSubevent) {
    if let FlushSubevent::Ended = sub {
        catch("flush event", (), || {
            let before = selected_db(ctx);
            for (db, tracker) in index::all() {
                if select_db(ctx, db) {
                    let name = key_string(ctx, &tracker);
                    let k = ctx.open_key(&name);
                    if !matches!(keys::read::<Tracker>(&k), Ok(Some(_))) {
                        index::remove_tracker(db, &tracker);
                    }
                }
            }
            select_db(ctx, before);
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
        | LoadingSubevent::AofStarted => index::clear(),
        LoadingSubevent::Ended => catch("load event", (), || rebuild(ctx)),
        _ => {}
    }
}

fn rebuild(ctx: &Context) {
    let before = selected_db(ctx);
    let mut db = 0;
    while select_db(ctx, db) {
        let Some(cursor) = Scanner::new() else {
            break;
        };
        let mut names: Vec<Vec<u8>> = Vec::new();
        while cursor.step(ctx, &mut |name, module_type| {
            if is::<Tracker>(module_type) {
                names.push(name.to_vec());
            } else if is::<Stream>(module_type) {
                registry::add(db, name);
            }
        }) {}
        let trackers: Vec<RedisString> = names
            .iter()
            .map(|n| key_string(ctx, n))
            .filter(|n| matches!(keys::read::<Tracker>(&ctx.open_key(n)), Ok(Some(_))))
            .collect();
        for name in trackers {
            // Which tracked keys are gone; checked with no tracker borrowed (a check may
            // expire a key, and its event finds no tracker in the index yet).
            let tracked: Vec<Vec<u8>> = {
                let k = ctx.open_key(&name);
                match keys::read::<Tracker>(&k) {
                    Ok(Some(t)) => t.entries().map(|e| e.name.to_vec()).collect(),
                    _ => continue,
                }
            };
            let gone: Vec<Vec<u8>> = tracked.into_iter().filter(|k| !exists(ctx, k)).collect();
            let k = ctx.open_key_writable(&name);
            if let Ok(Some(t)) = keys::write::<Tracker>(&k) {
                for g in &gone {
                    t.forget(g);
                }
            }
            index::add_tracker(db, name.as_slice());
        }
        db += 1;
    }
    select_db(ctx, before);
}

fn exists(ctx: &Context, key: &[u8]) -> bool {
    ffi::key_exists(ctx, &key_string(ctx, key))
}

/// SWAPDB: trackers change databases with their keys (subscribed at load, see `lib.rs`).
pub fn swapped(a: i32, b: i32) {
    index::swap(a, b);
    registry::swap(a, b);
}
