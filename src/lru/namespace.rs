//! Tracker namespaces, and the index from a namespace to the trackers that hold it, per
//! database, so that a keyspace event on a key finds its trackers.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

/// The namespace of a tracker key: up to and including the `}` that closes its hash tag (as
/// Redis Cluster defines it: the first `{`, then the first `}` after it, not empty), else up
/// to and including its last `:`, else none.
pub fn namespace(tracker: &[u8]) -> Option<&[u8]> {
    if let Some(open) = tracker.iter().position(|b| *b == b'{') {
        if let Some(len) = tracker[open + 1..].iter().position(|b| *b == b'}') {
            if len > 0 {
                return Some(&tracker[..open + 1 + len + 1]);
            }
        }
    }
    let colon = tracker.iter().rposition(|b| *b == b':')?;
    Some(&tracker[..=colon])
}

/// Prefixes of `key` that could be a tracker's namespace (they end in `}` or `:`).
pub fn candidate_namespaces(key: &[u8]) -> impl Iterator<Item = &[u8]> {
    key.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'}' || **b == b':')
        .map(move |(i, _)| &key[..=i])
}

/// One database's trackers.
#[derive(Default)]
struct Db {
    /// namespace -> tracker keys.
    by_namespace: HashMap<Vec<u8>, BTreeSet<Vec<u8>>>,
    /// tracker key -> its namespace.
    trackers: HashMap<Vec<u8>, Vec<u8>>,
}

/// Per database; looked up with borrowed keys, so a keyspace event allocates nothing.
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

/// The trackers whose namespace `key` lies in (a copy: callers open keys, which may re-enter).
pub fn trackers_for(db: i32, key: &[u8]) -> Vec<Vec<u8>> {
    INDEX.with(|i| {
        let i = i.borrow();
        let Some(d) = i.dbs.get(&db) else {
            return Vec::new();
        };
        candidate_namespaces(key)
            .filter_map(|ns| d.by_namespace.get(ns))
            .flat_map(|set| set.iter().cloned())
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        let ns = |s: &str| namespace(s.as_bytes()).map(|n| String::from_utf8_lossy(n).into_owned());
        assert_eq!(ns("tenant:{acme}:lru").as_deref(), Some("tenant:{acme}"));
        assert_eq!(ns("{acme}lru").as_deref(), Some("{acme}"));
        assert_eq!(ns("cache:lru").as_deref(), Some("cache:"));
        assert_eq!(ns("a:b:c").as_deref(), Some("a:b:"));
        assert_eq!(
            ns("a{}:lru").as_deref(),
            Some("a{}:"),
            "an empty {{}} is no hash tag"
        );
        assert_eq!(ns("x{a}{b}").as_deref(), Some("x{a}"));
        assert_eq!(ns("x{ab").as_deref(), None);
        assert_eq!(ns("plain").as_deref(), None);
        assert_eq!(ns("{}").as_deref(), None);
    }

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
        clear();
    }
}
