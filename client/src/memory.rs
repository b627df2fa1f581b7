//! The bounded memory store: the last resort when the journal cannot be written (disk full,
//! read-only, at its size limit). An `lru::LruCache` keyed by an increasing number, never
//! touched on read, is an insertion-ordered map with a capacity: when full, a new entry pushes
//! out the oldest one, which is handed back so the client can say what it dropped.

use crate::record::Record;
use lru::LruCache;
use std::num::NonZeroUsize;

pub(crate) struct MemoryStore {
    entries: LruCache<u64, Record>,
    next: u64,
}

impl MemoryStore {
    pub fn new(capacity: usize) -> MemoryStore {
        let capacity = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        MemoryStore {
            entries: LruCache::new(capacity),
            next: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keeps a record; returns the oldest one if it had to go to make room.
    pub fn push(&mut self, record: Record) -> Option<Record> {
        let n = self.next;
        self.next += 1;
        self.entries.push(n, record).map(|(_, dropped)| dropped)
    }

    /// Up to `max` of the oldest records, with their numbers, oldest first.
    pub fn oldest(&self, max: usize) -> Vec<(u64, Record)> {
        self.entries
            .iter()
            .rev()
            .take(max)
            .map(|(n, r)| (*n, r.clone()))
            .collect()
    }

    /// Up to `max` records numbered after `after` (from the oldest when None), oldest first.
    pub fn after(&self, after: Option<u64>, max: usize) -> Vec<(u64, Record)> {
        self.entries
            .iter()
            .rev()
            .filter(|(n, _)| after.is_none_or(|a| **n > a))
            .take(max)
            .map(|(n, r)| (*n, r.clone()))
            .collect()
    }

    /// Removes a record Redis answered (if it was not pushed out meanwhile).
    pub fn remove(&mut self, n: u64) -> bool {
        self.entries.pop(&n).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::AlertId;

    #[test]
    fn drops_the_oldest_when_full() {
        let mut m = MemoryStore::new(2);
        let r = |i| Record::add("k", "{}", AlertId::new(i, 0));
        assert!(m.push(r(1)).is_none());
        assert!(m.push(r(2)).is_none());
        assert_eq!(m.push(r(3)), Some(r(1)));
        let oldest = m.oldest(10);
        assert_eq!(
            oldest.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
            vec![r(2), r(3)]
        );
        assert!(m.remove(oldest[0].0));
        assert_eq!(m.len(), 1);
    }
}
