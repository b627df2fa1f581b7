//! Keyspace and server events: they keep LRU trackers true to the keyspace (a tracked key that
//! leaves by any road — DEL, UNLINK, expiry, maxmemory eviction, RENAME or MOVE away, FLUSHDB —
//! leaves its trackers at once), and keep the two indexes of where things are — trackers by
//! namespace, alert streams for the sweep — following keys that are renamed, moved, copied,
//! restored, swapped, flushed or loaded; and a quota that arrives under a name keeps its ALERTS
//! stream only if the stream lies in its namespace.
//!
//! Keys that move between cluster nodes are the exception: a key that leaves by MIGRATE stays
//! in the trackers of its slot, and a tracker that arrives by RESTORE-ASKING keeps the keys of
//! its slot that are not here yet (the rule is in `lru/transit.rs`). A tracker that arrives by
//! any other road forgets the keys that are not there.
//!
//! Handlers run inside the event, so they never create or delete keys: they only edit the
//! trackers' own in-memory values (and an arriving quota's thresholds), and open keys without
//! touching their LRU/LFU (an arriving key keeps the idle time RESTORE ... IDLETIME gave it).
//! The same events fire on replicas and during AOF replay (the primary's DELs reach them), so
//! nothing here replicates.

use crate::alert::registry;
use crate::ffi::cluster::{in_cluster, key_slot, running, Running};
use crate::ffi::scan::Scanner;
use crate::ffi::types::is;
use crate::ffi::{context_flags, select_db, selected_db};
use crate::guard::catch;
use crate::keys;
use crate::lru::index;
use crate::lru::transit::{self, reconcile, Fate};
use redis_module::key::KeyFlags;
use redis_module::server_events::{FlushSubevent, LoadingSubevent};
use redis_module::{raw, Context, RedisString};
use redis_module_macros::{flush_event_handler, loading_event_handler};
use vigil_core::alert::Stream;
use vigil_core::lru::{hash_tag, namespace, Tracker};
use vigil_core::quota::Quota;

fn key_string(ctx: &Context, key: &[u8]) -> RedisString {
    keys::name(ctx, key)
}

/// Keyspace events of the generic, expired and evicted classes (subscribed at load, see
/// `lib.rs`).
pub fn on_key_event(ctx: &Context, event: &[u8], key: &[u8]) {
    catch("keyspace event", (), || handle(ctx, event, key));
}

fn handle(ctx: &Context, event: &[u8], key: &[u8]) {
    let db = selected_db(ctx);
    // An AOF with an RDB preamble: its trackers were decoded without their names, and the
    // commands after the preamble (a DEL of a tracked key) must find them in the index.
    if index::scan_due() {
        scan_keyspace(ctx, false);
    }
    match event {
        b"del" | b"expired" | b"evicted" | b"rename_from" | b"move_from" => {
            registry::remove(db, key);
            crate::lru::expiry::gone(db, key);
            // Every DEL and expiry in the server comes through here: without trackers, stop;
            // nor for an eviction's own deletes when no other tracker can hold the key.
            if index::is_empty() || (event == b"del" && index::evicting_alone(db, key)) {
                return;
            }
            if index::is_tracker(db, key) {
                index::remove_tracker(db, key);
            }
            let trackers = index::trackers_for(db, key);
            if trackers.is_empty() {
                return;
            }
            // MIGRATE deletes each key the target acknowledged: in a cluster the key is on its
            // way to the node that imports its slot, and its tracker follows it there.
            let migrating = event == b"del" && running() == Running::Migrate && in_cluster(ctx);
            // Without the tracker that evicts the key itself: it dropped the key already.
            for tracker in trackers {
                if migrating && key_slot(&tracker) == key_slot(key) {
                    transit::wait_for_slot(ctx, db, &tracker);
                } else {
                    forget_in(ctx, db, &tracker, key);
                }
            }
        }
        b"rename_to" | b"move_to" | b"copy_to" | b"restore" => {
            arrived(ctx, db, event, key);
            // It may bring its TTL with it.
            note_ttl(ctx, db, key);
        }
        // A key given a TTL, or rid of it.
        b"expire" | b"persist" => note_ttl(ctx, db, key),
        _ => {}
    }
}

/// A key of a tracker's namespace that has a TTL leaves its trackers when the TTL passes, not
/// when Redis next samples it (`lru::expiry`): notes it (or forgets it, without a TTL).
fn note_ttl(ctx: &Context, db: i32, key: &[u8]) {
    if index::is_empty() || index::trackers_for(db, key).is_empty() {
        return;
    }
    if let Some(due) = crate::lru::expiry::noted(ctx, db, key, crate::clock::now_ms()) {
        crate::alert::sweep::wake_by(ctx, due);
    }
}

fn forget_in(ctx: &Context, db: i32, tracker: &[u8], key: &[u8]) {
    let name = key_string(ctx, tracker);
    let k = ctx.open_key_writable_with_flags(&name, KeyFlags::NOTOUCH);
    match keys::write::<Tracker>(&k) {
        Ok(Some(t)) => {
            // A change of the tracker (the module marks its keys modified itself).
            if t.forget(key).is_some() {
                crate::ffi::changed(ctx, &name);
            }
        }
        // Overwritten by another type, or gone: the index was stale.
        _ => index::remove_tracker(db, tracker),
    }
}

/// A key arrived under `key` (RENAME, MOVE, COPY, RESTORE): a stream joins the sweep's
/// registry; a tracker is indexed under its namespace and reconciled with what is here; a
/// quota keeps its ALERTS stream only if the stream is one of its namespace.
/// Opened read-only without touching its LRU/LFU: most arriving keys are not the module's.
fn arrived(ctx: &Context, db: i32, event: &[u8], key: &[u8]) {
    let name = key_string(ctx, key);
    let (stream, tracker, foreign_alerts) = {
        let k = ctx.open_key_with_flags(&name, KeyFlags::NOTOUCH);
        (
            matches!(keys::read::<Stream>(&k), Ok(Some(_))),
            matches!(keys::read::<Tracker>(&k), Ok(Some(_))),
            match keys::read::<Quota>(&k) {
                Ok(Some(q)) => q
                    .thresholds
                    .as_ref()
                    .is_some_and(|t| !alerts_may_stay(ctx, key, t.stream())),
                _ => false,
            },
        )
    };
    if stream {
        registry::add(db, key);
    } else if tracker {
        tracker_arrived(ctx, db, event, key, &name);
    } else if foreign_alerts {
        drop_thresholds(ctx, key, &name);
    }
}

/// Whether a quota that arrives under `key` keeps its ALERTS stream `stream`: only one of the
/// quota's namespace (as a tracker keeps only its namespace's keys) and, in a cluster, of its
/// slot. QUOTA.SET declared the stream, so ACL and the cluster's slots checked it; nothing
/// checked it against the name the quota arrives under, and by RESTORE it is whatever the
/// payload says. Without this, a user confined to its own keys (`~tenant:{acme}*`) but allowed
/// RESTORE or COPY could have a quota add and resolve alerts in any stream.
///
/// In a cluster, a stream with the quota's hash tag stays too (`quota:{acme}` and
/// `alerts:{acme}`): QUOTA.SET could only name a stream of the quota's slot, and a slot
/// migration (RESTORE-ASKING) moves the two; dropping the thresholds there lost them to
/// resharding. Decided from the names and the cluster flag alone, so the primary, its replicas
/// and an AOF load decide the same.
fn alerts_may_stay(ctx: &Context, key: &[u8], stream: &[u8]) -> bool {
    let cluster = in_cluster(ctx);
    let same_tenant = namespace(key).is_some_and(|ns| stream.starts_with(ns))
        || (cluster && hash_tag(key).is_some_and(|tag| hash_tag(stream) == Some(tag)));
    stream != key && same_tenant && (!cluster || key_slot(stream) == key_slot(key))
}

/// Drops the thresholds of the quota `key` (their alerts stay as they are in the stream).
/// Every replica and AOF load decides the same from the same names, so nothing replicates.
fn drop_thresholds(ctx: &Context, key: &[u8], name: &RedisString) {
    let k = ctx.open_key_writable_with_flags(name, KeyFlags::NOTOUCH);
    if let Ok(Some(q)) = keys::write::<Quota>(&k) {
        q.thresholds = None;
        redis_module::logging::log_warning(format!(
            "vigil: quota '{}' arrived with an ALERTS stream outside its namespace: its thresholds were dropped (QUOTA.SET can name them again)",
            vigil_core::bytes::shown(key)
        ));
    }
}

/// What a tracker that arrives keeps:
/// - only keys of its own namespace (a RENAME may change it), never itself;
/// - by RENAME, every such key: the database, and so which keys exist, did not change;
/// - by RESTORE-ASKING (a slot migration, in a cluster), the keys of its slot whether here or
///   not: they are on their way (see `lru/transit.rs`), and the tracker forgets the ones still
///   missing once the slot has settled;
/// - by RESTORE during an AOF replay, every such key: the AOF does not tell RESTORE-ASKING from
///   RESTORE, so the end of the load forgets the keys that are not there (`scan_keyspace`);
/// - by RESTORE, MOVE or COPY otherwise, only the keys that exist here: a name it kept could
///   later belong to an unrelated key, which LRU.EVICT would then delete.
fn tracker_arrived(ctx: &Context, db: i32, event: &[u8], key: &[u8], name: &RedisString) {
    let Some(ns) = namespace(key) else {
        reconcile(ctx, name, |_| Fate::Drop);
        return;
    };
    let by_migration =
        event == b"restore" && running() == Running::RestoreAsking && in_cluster(ctx);
    let loading = context_flags(ctx) & raw::REDISMODULE_CTX_FLAGS_LOADING != 0;
    let check_here = match event {
        b"rename_to" => false,
        b"restore" => !loading,
        _ => true,
    };
    let slot = key_slot(key);
    reconcile(ctx, name, |tracked| {
        if !tracked.starts_with(ns) || tracked == key {
            Fate::Drop
        } else if !check_here || (by_migration && key_slot(tracked) == slot) {
            Fate::Keep
        } else {
            Fate::KeepIfHere
        }
    });
    index::add_tracker(db, key);
    if by_migration {
        transit::wait_for_slot(ctx, db, key);
    }
}

/// After FLUSHDB/FLUSHALL: forget trackers that are gone.
#[flush_event_handler]
fn on_flush(ctx: &Context, sub: FlushSubevent) {
    if let FlushSubevent::Ended = sub {
        catch("flush event", (), || {
            let before = selected_db(ctx);
            crate::lru::expiry::flushed(ctx);
            for (db, tracker) in index::all() {
                if select_db(ctx, db) {
                    let name = key_string(ctx, &tracker);
                    let k = ctx.open_key_with_flags(&name, KeyFlags::NOTOUCH);
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
/// keyspace, and tracked keys that did not come back (expired meanwhile) are dropped. Also
/// after a load that failed: a replica with `repl-diskless-load swapdb` then keeps serving
/// the dataset it had, whose trackers must be found again.
#[loading_event_handler]
fn on_loading(ctx: &Context, sub: LoadingSubevent) {
    match sub {
        LoadingSubevent::RdbStarted
        | LoadingSubevent::ReplStarted
        | LoadingSubevent::AofStarted => {
            index::clear();
            index::begin_load();
            transit::clear();
            crate::lru::expiry::clear();
        }
        LoadingSubevent::Ended | LoadingSubevent::Failed => {
            // A primary loaded from an RDB may make a replication backlog next.
            crate::ffi::listeners::forget();
            // What was loaded may hold fewer changes than a reader saw.
            crate::alert::floor::new_epoch();
            index::end_load();
            catch("load event", (), || scan_keyspace(ctx, true))
        }
    }
}

/// Indexes every tracker and registers every stream of the keyspace; with `reconcile_all`, drops
/// the tracked keys that are not there (at the end of a load).
fn scan_keyspace(ctx: &Context, reconcile_all: bool) {
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
        for name in names {
            let name = key_string(ctx, &name);
            if reconcile_all {
                // Tracked keys that did not come back (expired meanwhile, or never arrived).
                reconcile(ctx, &name, |_| Fate::KeepIfHere);
                // Those with a TTL leave their trackers at it (`lru::expiry`).
                crate::lru::expiry::note_tracked(ctx, db, &name, crate::clock::now_ms());
            }
            let k = ctx.open_key_with_flags(&name, KeyFlags::NOTOUCH);
            if matches!(keys::read::<Tracker>(&k), Ok(Some(_))) {
                index::add_tracker(db, name.as_slice());
            }
        }
        db += 1;
    }
    select_db(ctx, before);
}

/// SWAPDB: trackers change databases with their keys (subscribed at load, see `lib.rs`).
pub fn swapped(a: i32, b: i32) {
    index::swap(a, b);
    registry::swap(a, b);
    crate::lru::expiry::swap(a, b);
}
