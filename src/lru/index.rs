//! The index from a namespace to the trackers that hold it, per database, so that a keyspace
//! event on a key finds its trackers; and the tracker LRU.EVICT is deleting keys for.

use hashbrown::HashMap;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ops::Bound::{Excluded, Unbounded};
use vigil_core::lru::namespace::{candidate_namespaces, namespace};

/// One database's trackers.
#[derive(Default)]
struct Db {
    /// namespace -> tracker keys.
    by_namespace: HashMap<Vec<u8>, BTreeSet<Vec<u8>>>,
    /// tracker key -> its namespace.
    trackers: HashMap<Vec<u8>, Vec<u8>>,
    /// The namespaces of `by_namespace`, in order: the ones that extend a given namespace.
    sorted: BTreeSet<Vec<u8>>,
}

impl Db {
    /// Whether `tracker` (of namespace `ns`) is the only tracker that can hold keys of `ns`:
    /// no other has `ns`, a namespace `ns` extends (`tenant:` for `tenant:{a}`), or one that
    /// extends `ns` (`cache:x:` for `cache:`). Then no other tracker holds a key of `ns`, and
    /// no key of `ns` is a tracker (a tracker's namespace extends or is every namespace its
    /// key lies in).
    fn alone(&self, tracker: &[u8], ns: &[u8]) -> bool {
        let prefixes_alone = candidate_namespaces(ns)
            .filter_map(|p| self.by_namespace.get(p))
            .all(|set| set.iter().all(|t| t == tracker));
        let extended = self
            .sorted
            .range::<[u8], _>((Excluded(ns), Unbounded))
            .next()
            .is_some_and(|n| n.starts_with(ns));
        prefixes_alone && !extended
    }
}

/// Per database; looked up with borrowed keys, so a keyspace event allocates nothing. Every DEL
/// in the server looks here (once per key): hashbrown's default hasher, not SipHash.
#[derive(Default)]
struct Index {
    dbs: HashMap<i32, Db>,
    count: usize,
}

thread_local! {
    // Commands, keyspace events and server events all run on the main thread.
    static INDEX: RefCell<Index> = RefCell::new(Index::default());
}

pub fn add_tracker(db: i32, tracker: &[u8]) {
    let Some(ns) = namespace(tracker) else {
        return;
    };
    INDEX.with(|i| {
        let mut i = i.borrow_mut();
        let d = i.dbs.entry(db).or_default();
        if d.trackers.insert(tracker.to_vec(), ns.to_vec()).is_none() {
            d.sorted.insert(ns.to_vec());
            d.by_namespace
                .entry(ns.to_vec())
                .or_default()
                .insert(tracker.to_vec());
            i.count += 1;
        }
    });
}

pub fn remove_tracker(db: i32, tracker: &[u8]) {
    INDEX.with(|i| {
        let mut i = i.borrow_mut();
        let Some(d) = i.dbs.get_mut(&db) else {
            return;
        };
        let Some(ns) = d.trackers.remove(tracker) else {
            return;
        };
        if let Some(set) = d.by_namespace.get_mut(&ns) {
            set.remove(tracker);
            if set.is_empty() {
                d.by_namespace.remove(&ns);
                d.sorted.remove(&ns);
            }
        }
        i.count -= 1;
    });
}

/// No tracker anywhere: keyspace events need no look-up at all.
pub fn is_empty() -> bool {
    INDEX.with(|i| i.borrow().count == 0)
}

pub fn is_tracker(db: i32, key: &[u8]) -> bool {
    INDEX.with(|i| {
        i.borrow()
            .dbs
            .get(&db)
            .is_some_and(|d| d.trackers.contains_key(key))
    })
}

/// The trackers whose namespace `key` lies in, but the one evicting (it dropped its keys
/// already): a copy, as callers open keys, which may re-enter. Allocates nothing when there is
/// none, as for each key an eviction deletes.
pub fn trackers_for(db: i32, key: &[u8]) -> Vec<Vec<u8>> {
    EVICTING.with(|e| {
        let e = e.borrow();
        let evicting = (e.active && e.db == db).then_some(&e.tracker);
        INDEX.with(|i| {
            let i = i.borrow();
            let Some(d) = i.dbs.get(&db) else {
                return Vec::new();
            };
            candidate_namespaces(key)
                .filter_map(|ns| d.by_namespace.get(ns))
                .flat_map(|set| set.iter())
                .filter(|t| evicting != Some(*t))
                .cloned()
                .collect()
        })
    })
}

/// Every indexed tracker: (db, key).
pub fn all() -> Vec<(i32, Vec<u8>)> {
    INDEX.with(|i| {
        i.borrow()
            .dbs
            .iter()
            .flat_map(|(db, d)| d.trackers.keys().map(move |t| (*db, t.clone())))
            .collect()
    })
}

pub fn clear() {
    INDEX.with(|i| *i.borrow_mut() = Index::default());
}

thread_local! {
    // During a load: trackers decoded from an RDB payload (the preamble of an AOF) name no
    // key, so they are not in the index until a keyspace scan finds them; the commands after
    // the preamble (a DEL of a tracked key) need them there. (scan pending, tracker decoded)
    static PREAMBLE: std::cell::Cell<(bool, bool)> = const { std::cell::Cell::new((false, false)) };
}

/// A load starts: the first keyspace event after a tracker was decoded scans the keyspace.
pub fn begin_load() {
    PREAMBLE.with(|p| p.set((true, false)));
}

/// A load ended (its own scan follows).
pub fn end_load() {
    PREAMBLE.with(|p| p.set((false, false)));
}

/// A tracker was decoded from an RDB payload (a load, or a RESTORE).
pub fn loaded_unindexed() {
    PREAMBLE.with(|p| p.set((p.get().0, true)));
}

/// Whether the keyspace must be scanned for trackers now: once per load, at the first
/// keyspace event after a tracker was decoded (a RESTORE'd tracker indexes itself; this scan
/// is for the preamble's).
pub fn scan_due() -> bool {
    PREAMBLE.with(|p| {
        let due = p.get() == (true, true);
        if due {
            p.set((false, false));
        }
        due
    })
}

/// SWAPDB a b: the trackers of a are now in b and the other way round.
pub fn swap(a: i32, b: i32) {
    INDEX.with(|i| {
        crate::swapdb::swap_entries(&mut i.borrow_mut().dbs, a, b);
    });
}

/// The tracker a command is deleting keys for (buffers kept between evictions: marking one
/// allocates nothing).
#[derive(Default)]
struct Evicting {
    active: bool,
    db: i32,
    tracker: Vec<u8>,
    /// Its namespace, when no other tracker can hold its keys (`Db::alone`); else empty.
    alone_in: Vec<u8>,
}

thread_local! {
    /// The tracker a command is deleting keys for: the `del` events those deletes raise must
    /// not reach it (it already dropped the keys, and it is borrowed).
    static EVICTING: RefCell<Evicting> = RefCell::new(Evicting::default());
}

/// Runs `f` (which deletes keys) with `tracker` marked as the one evicting.
pub fn while_evicting<R>(db: i32, tracker: &[u8], f: impl FnOnce() -> R) -> R {
    let alone_in = namespace(tracker)
        .filter(|ns| INDEX.with(|i| i.borrow().dbs.get(&db).is_none_or(|d| d.alone(tracker, ns))));
    EVICTING.with(|e| {
        let mut e = e.borrow_mut();
        e.active = true;
        e.db = db;
        e.tracker.clear();
        e.tracker.extend_from_slice(tracker);
        e.alone_in.clear();
        e.alone_in.extend_from_slice(alone_in.unwrap_or_default());
    });
    // Unmarked even if `f` panics (the guard at the command's boundary catches it): a mark
    // left behind would hide later deletes from the trackers.
    struct Unmark;
    impl Drop for Unmark {
        fn drop(&mut self) {
            EVICTING.with(|e| e.borrow_mut().active = false);
        }
    }
    let _unmark = Unmark;
    f()
}

/// Whether `key` is one the evicting tracker deletes with no other tracker able to hold it
/// (nor it being a tracker): its `del` event has nothing to do for trackers. One comparison
/// per key, the eviction's own deletes being most of the events while it runs.
pub fn evicting_alone(db: i32, key: &[u8]) -> bool {
    EVICTING.with(|e| {
        let e = e.borrow();
        e.active && e.db == db && !e.alone_in.is_empty() && key.starts_with(&e.alone_in)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_finds_trackers_by_key() {
        clear();
        add_tracker(0, b"tenant:{a}:lru");
        add_tracker(0, b"tenant:{a}:lru2");
        add_tracker(1, b"cache:lru");
        assert_eq!(trackers_for(0, b"tenant:{a}:x").len(), 2);
        assert!(trackers_for(0, b"tenant:{b}:x").is_empty());
        assert!(trackers_for(0, b"cache:x").is_empty(), "other db");
        assert_eq!(trackers_for(1, b"cache:x"), [b"cache:lru".to_vec()]);
        swap(0, 1);
        assert_eq!(trackers_for(0, b"cache:x").len(), 1);
        remove_tracker(0, b"cache:lru");
        assert!(trackers_for(0, b"cache:x").is_empty());
        assert!(is_tracker(1, b"tenant:{a}:lru"));
        let others = while_evicting(1, b"tenant:{a}:lru", || trackers_for(1, b"tenant:{a}:x"));
        assert_eq!(
            others,
            [b"tenant:{a}:lru2".to_vec()],
            "not the one evicting"
        );
        clear();
    }

    #[test]
    fn an_eviction_knows_when_no_other_tracker_can_hold_its_keys() {
        clear();
        let alone =
            |tracker: &[u8], key: &[u8]| while_evicting(0, tracker, || evicting_alone(0, key));
        add_tracker(0, b"tenant:{a}:lru");
        add_tracker(0, b"tenant:{b}:lru");
        add_tracker(1, b"tenant:lru");
        assert!(alone(b"tenant:{a}:lru", b"tenant:{a}:x"));
        assert!(
            !alone(b"tenant:{a}:lru", b"tenant:{b}:x"),
            "not its namespace"
        );
        assert!(!evicting_alone(0, b"tenant:{a}:x"), "only while evicting");
        add_tracker(0, b"tenant:{a}:lru2");
        assert!(
            !alone(b"tenant:{a}:lru", b"tenant:{a}:x"),
            "a second tracker"
        );
        remove_tracker(0, b"tenant:{a}:lru2");
        assert!(alone(b"tenant:{a}:lru", b"tenant:{a}:x"));
        add_tracker(0, b"tenant:lru");
        assert!(
            !alone(b"tenant:{a}:lru", b"tenant:{a}:x"),
            "a wider namespace"
        );
        remove_tracker(0, b"tenant:lru");
        add_tracker(0, b"cache:lru");
        assert!(alone(b"cache:lru", b"cache:x"));
        add_tracker(0, b"cache:x:lru");
        assert!(!alone(b"cache:lru", b"cache:x:1"), "a narrower namespace");
        remove_tracker(0, b"cache:x:lru");
        add_tracker(0, b"cache:{t}:lru");
        assert!(!alone(b"cache:lru", b"cache:{t}:1"), "a hash tag inside it");
        add_tracker(0, b"cachex:lru");
        remove_tracker(0, b"cache:{t}:lru");
        assert!(
            alone(b"cache:lru", b"cache:x"),
            "a namespace that only shares letters"
        );
        clear();
    }
}
