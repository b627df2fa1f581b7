//! Where the alert streams are, and when each next has work for the sweep: (database, key) of
//! every stream with the time its next retention trim, auto-resolve or silence end falls due.
//! The sweep opens only streams that are due, so an idle stream is never touched (a stream
//! opened for writing counts as modified for WATCH and as used for maxmemory LRU/LFU).
//!
//! Streams enter when a command creates one, when one arrives under a key (RENAME, MOVE,
//! COPY, RESTORE) and when a load ends (one scan), due at once; every command that changes a
//! stream tells its next due time; entries whose key no longer holds a stream are dropped when
//! the sweep finds them so.

use hashbrown::HashMap;
use std::cell::RefCell;
use std::collections::BTreeSet;

/// Looked up on every write to a stream and every key deleted in the server: hashbrown's
/// default hasher, not SipHash.
#[derive(Default)]
struct Registry {
    /// db -> key -> due time (u64::MAX: nothing to do).
    dbs: HashMap<i32, HashMap<Vec<u8>, u64>>,
    /// (due, db, key) of the streams with something to do.
    queue: BTreeSet<(u64, i32, Vec<u8>)>,
}

thread_local! {
    // Commands, events and the sweep timer all run on the main thread.
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

const NEVER: u64 = u64::MAX;

impl Registry {
    fn set(&mut self, db: i32, key: &[u8], due: u64) {
        let keys = self.dbs.entry(db).or_default();
        let old = match keys.get_mut(key) {
            Some(d) if *d == due => return,
            Some(d) => std::mem::replace(d, due),
            None => {
                keys.insert(key.to_vec(), due);
                NEVER
            }
        };
        if old != NEVER {
            self.queue.remove(&(old, db, key.to_vec()));
        }
        if due != NEVER {
            self.queue.insert((due, db, key.to_vec()));
        }
    }
}

/// A stream is under `key`: due for a look at once.
pub fn add(db: i32, key: &[u8]) {
    REGISTRY.with(|r| r.borrow_mut().set(db, key, 0));
}

/// The stream under `key` next has work at `due` (None: nothing scheduled).
pub fn schedule(db: i32, key: &[u8], due: Option<u64>) {
    REGISTRY.with(|r| r.borrow_mut().set(db, key, due.unwrap_or(NEVER)));
}

/// After a write: the stream under `key` has work at `due` at the latest. A due time already
/// earlier stays: the sweep then looks at the stream early, finds nothing and schedules the
/// exact time. Each add that trims moves the exact time a little later; leaving it saves a
/// queue update (and two copies of the key) per add.
pub fn schedule_by(db: i32, key: &[u8], due: Option<u64>) {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        let due = due.unwrap_or(NEVER);
        let earlier = r
            .dbs
            .get(&db)
            .and_then(|keys| keys.get(key))
            .is_some_and(|d| *d <= due);
        if !earlier {
            r.set(db, key, due);
        }
    });
}

pub fn remove(db: i32, key: &[u8]) {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        let Some(keys) = r.dbs.get_mut(&db) else {
            return;
        };
        if let Some(due) = keys.remove(key) {
            if due != NEVER {
                r.queue.remove(&(due, db, key.to_vec()));
            }
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
        crate::swapdb::swap_entries(&mut r.dbs, a, b);
        crate::swapdb::swap_queue(&mut r.queue, a, b);
    });
}

/// Up to `n` streams due at `now`, earliest first.
pub fn due(now: u64, n: usize) -> Vec<(i32, Vec<u8>)> {
    REGISTRY.with(|r| {
        r.borrow()
            .queue
            .iter()
            .take_while(|(due, _, _)| *due <= now)
            .take(n)
            .map(|(_, db, key)| (*db, key.clone()))
            .collect()
    })
}

/// The earliest time any stream has work (None: none has any scheduled).
pub fn next_due() -> Option<u64> {
    REGISTRY.with(|r| r.borrow().queue.first().map(|(due, _, _)| *due))
}

pub fn len() -> usize {
    REGISTRY.with(|r| r.borrow().dbs.values().map(HashMap::len).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_due_streams_come_out() {
        clear();
        add(0, b"a");
        add(3, b"b");
        schedule(0, b"a", Some(500));
        schedule(3, b"b", None);
        add(0, b"c");
        schedule_by(0, b"a", Some(900));
        assert_eq!(
            due(600, 10),
            vec![(0, b"c".to_vec()), (0, b"a".to_vec())],
            "kept earlier"
        );
        schedule_by(0, b"a", Some(400));
        assert_eq!(
            due(450, 10),
            vec![(0, b"c".to_vec()), (0, b"a".to_vec())],
            "moved earlier"
        );
        schedule(0, b"a", Some(500));
        assert_eq!(due(100, 10), vec![(0, b"c".to_vec())]);
        schedule(0, b"c", Some(200));
        assert_eq!(due(100, 10), vec![]);
        assert_eq!(due(600, 10), vec![(0, b"c".to_vec()), (0, b"a".to_vec())]);
        assert_eq!(due(600, 1).len(), 1, "bounded");
        swap(0, 3);
        assert_eq!(due(600, 10), vec![(3, b"c".to_vec()), (3, b"a".to_vec())]);
        remove(3, b"a");
        assert_eq!(len(), 2);
        assert_eq!(due(600, 10), vec![(3, b"c".to_vec())]);
        clear();
    }
}
