//! Where the alert streams are: (database, key) of every stream, so that the retention sweep
//! visits streams instead of walking the whole keyspace. Streams enter when a command creates
//! one, when one arrives under a key (RENAME, MOVE, COPY, RESTORE) and when a load ends (one
//! scan); entries whose key no longer holds a stream are dropped when the sweep finds them so.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

#[derive(Default)]
struct Registry {
    dbs: HashMap<i32, BTreeSet<Vec<u8>>>,
    /// The last (db, key) the sweep visited; it goes on after it.
    cursor: Option<(i32, Vec<u8>)>,
}

thread_local! {
    // Commands, events and the sweep timer all run on the main thread.
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

pub fn add(db: i32, key: &[u8]) {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        let set = r.dbs.entry(db).or_default();
        if !set.contains(key) {
            set.insert(key.to_vec());
        }
    });
}

pub fn remove(db: i32, key: &[u8]) {
    REGISTRY.with(|r| {
        if let Some(set) = r.borrow_mut().dbs.get_mut(&db) {
            set.remove(key);
        }
    });
}

pub fn clear() {
    REGISTRY.with(|r| *r.borrow_mut() = Registry::default());
}

/// SWAPDB a b.
pub fn swap(a: i32, b: i32) {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        let da = r.dbs.remove(&a);
        let db = r.dbs.remove(&b);
        if let Some(d) = da {
            r.dbs.insert(b, d);
        }
        if let Some(d) = db {
            r.dbs.insert(a, d);
        }
    });
}

/// Up to `n` streams after the cursor, wrapping around once; moves the cursor past them.
pub fn next_batch(n: usize) -> Vec<(i32, Vec<u8>)> {
    use std::ops::Bound::{Excluded, Included, Unbounded};
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        let mut dbs: Vec<i32> = r.dbs.keys().copied().collect();
        dbs.sort_unstable();
        let (cdb, ckey) = r.cursor.clone().unwrap_or((i32::MIN, Vec::new()));
        let mut out: Vec<(i32, Vec<u8>)> = Vec::new();
        // After the cursor: the rest of its database, then the databases after it; then, from
        // the start, up to and including the cursor.
        let ranges = dbs
            .iter()
            .filter(|db| **db >= cdb)
            .map(|db| {
                (
                    *db,
                    if *db == cdb {
                        Excluded(ckey.as_slice())
                    } else {
                        Unbounded
                    },
                    Unbounded,
                )
            })
            .chain(dbs.iter().filter(|db| **db <= cdb).map(|db| {
                (
                    *db,
                    Unbounded,
                    if *db == cdb {
                        Included(ckey.as_slice())
                    } else {
                        Unbounded
                    },
                )
            }));
        for (db, lo, hi) in ranges {
            let Some(set) = r.dbs.get(&db) else { continue };
            for key in set.range::<[u8], _>((lo, hi)) {
                if out.len() >= n {
                    break;
                }
                out.push((db, key.clone()));
            }
            if out.len() >= n {
                break;
            }
        }
        r.cursor = out.last().cloned();
        out
    })
}

pub fn len() -> usize {
    REGISTRY.with(|r| r.borrow().dbs.values().map(BTreeSet::len).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_rotate_over_every_stream() {
        clear();
        for db in [0, 3] {
            for k in ["a", "b", "c"] {
                add(db, k.as_bytes());
            }
        }
        let first = next_batch(4);
        let second = next_batch(4);
        assert_eq!(first.len(), 4);
        assert_eq!(second.len(), 4, "wraps around");
        let mut seen: Vec<_> = first.iter().chain(&second).cloned().collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 6, "every stream within two batches");
        remove(3, b"b");
        swap(0, 3);
        assert_eq!(len(), 5);
        clear();
    }
}
