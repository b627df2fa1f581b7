//! The index from a namespace to the trackers that hold it, per database, so that a keyspace
//! event on a key finds its trackers; and the tracker LRU.EVICT is deleting keys for.

use hashbrown::HashMap;
use std::cell::RefCell;
use std::collections::BTreeSet;
use vigil_core::lru::namespace::{candidate_namespaces, namespace};

/// One database's trackers.
#[derive(Default)]
struct Db {
    /// namespace -> tracker keys.
    by_namespace: HashMap<Vec<u8>, BTreeSet<Vec<u8>>>,
    /// tracker key -> its namespace.
    trackers: HashMap<Vec<u8>, Vec<u8>>,
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
        let evicting = e.as_ref().filter(|(d, _)| *d == db).map(|(_, t)| t);
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

/// SWAPDB a b: the trackers of a are now in b and the other way round.
pub fn swap(a: i32, b: i32) {
    INDEX.with(|i| {
        let mut i = i.borrow_mut();
        let da = i.dbs.remove(&a);
        let db = i.dbs.remove(&b);
        if let Some(d) = da {
            i.dbs.insert(b, d);
        }
        if let Some(d) = db {
            i.dbs.insert(a, d);
        }
    });
}

thread_local! {
    /// The tracker a command is deleting keys for: the `del` events those deletes raise must
    /// not reach it (it already dropped the keys, and it is borrowed).
    static EVICTING: RefCell<Option<(i32, Vec<u8>)>> = const { RefCell::new(None) };
}

/// Runs `f` (which deletes keys) with `tracker` marked as the one evicting.
pub fn while_evicting<R>(db: i32, tracker: &[u8], f: impl FnOnce() -> R) -> R {
    EVICTING.with(|e| *e.borrow_mut() = Some((db, tracker.to_vec())));
    let r = f();
    EVICTING.with(|e| *e.borrow_mut() = None);
    r
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
}
