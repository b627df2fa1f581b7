//! The dedup index: for each fingerprint key, the unresolved alerts that carry it.
//!
//! Most fingerprints have one live alert (duplicates fold into it), so the table holds
//! `(key, id)` directly. A fingerprint that recurs (new alerts outside the window, never
//! resolved) gets a set ordered by `last_seen`, so finding the alert within the window stays
//! O(log k) instead of a scan of all k. The table entry then holds a sentinel ID whose `seq`
//! names the set (`ts == u64::MAX` is never a real alert time).

use super::id::AlertId;
use crate::memsize::{alloc_size, shrink_slots, worth_shrinking};
use hashbrown::{DefaultHashBuilder, HashTable};
use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::mem::size_of;

const MANY: u64 = u64::MAX;

type Set = BTreeSet<(u64, AlertId)>;

#[derive(Debug, Clone, Default)]
pub struct DedupIndex {
    table: HashTable<(u64, AlertId)>,
    sets: Vec<Option<Set>>,
    free: Vec<u64>,
    hasher: DefaultHashBuilder,
}

impl DedupIndex {
    fn hash(&self, key: u64) -> u64 {
        self.hasher.hash_one(key)
    }

    fn set_mut(&mut self, slot: u64) -> Option<&mut Set> {
        self.sets.get_mut(slot as usize).and_then(Option::as_mut)
    }

    /// Indexes `id` (with `last_seen`) under `key`; `last_seen_of` tells the last_seen of an
    /// alert already indexed alone under the key, when a second one arrives.
    pub fn insert(
        &mut self,
        key: u64,
        id: AlertId,
        last_seen: u64,
        last_seen_of: impl Fn(&AlertId) -> u64,
    ) {
        let h = self.hash(key);
        let held = match self.table.find(h, |(k, _)| *k == key) {
            None => {
                let hasher = &self.hasher;
                self.table
                    .insert_unique(h, (key, id), |(k, _)| hasher.hash_one(*k));
                return;
            }
            Some((_, held)) => *held,
        };
        if held.ts == MANY {
            if let Some(set) = self.set_mut(held.seq) {
                set.insert((last_seen, id));
            }
            return;
        }
        let set: Set = [(last_seen_of(&held), held), (last_seen, id)].into();
        let slot = match self.free.pop() {
            Some(s) => {
                self.sets[s as usize] = Some(set);
                s
            }
            None => {
                self.sets.push(Some(set));
                (self.sets.len() - 1) as u64
            }
        };
        if let Some((_, entry)) = self.table.find_mut(h, |(k, _)| *k == key) {
            *entry = AlertId::new(MANY, slot);
        }
    }

    pub fn remove(&mut self, key: u64, id: &AlertId, last_seen: u64) {
        let h = self.hash(key);
        let Ok(entry) = self.table.find_entry(h, |(k, _)| *k == key) else {
            return;
        };
        let held = entry.get().1;
        if held.ts != MANY {
            if held == *id {
                entry.remove();
                self.shrink();
            }
            return;
        }
        let slot = held.seq;
        let Some(set) = self.set_mut(slot) else {
            return;
        };
        set.remove(&(last_seen, *id));
        if set.len() > 1 {
            return;
        }
        // Back to a single alert (or none).
        let last = set.iter().next().map(|(_, id)| *id);
        self.sets[slot as usize] = None;
        self.free.push(slot);
        if let Ok(entry) = self.table.find_entry(h, |(k, _)| *k == key) {
            match last {
                Some(last) => *entry.into_mut() = (key, last),
                None => {
                    entry.remove();
                }
            }
        }
        self.shrink();
    }

    /// Gives back the room of removed entries once far below capacity (see
    /// `memsize::worth_shrinking`): the table, and the slots of sets no longer used at the end.
    fn shrink(&mut self) {
        if worth_shrinking(self.table.len(), self.table.capacity()) {
            let hasher = &self.hasher;
            self.table
                .shrink_to(self.table.len() * 2, |(k, _)| hasher.hash_one(*k));
        }
        shrink_slots(&mut self.sets, &mut self.free);
    }

    /// `id`'s last_seen moved from `old` to `new`.
    pub fn touch(&mut self, key: u64, id: &AlertId, old: u64, new: u64) {
        if old == new {
            return;
        }
        let h = self.hash(key);
        let Some(&(_, held)) = self.table.find(h, |(k, _)| *k == key) else {
            return;
        };
        if held.ts == MANY {
            if let Some(set) = self.set_mut(held.seq) {
                if set.remove(&(old, *id)) {
                    set.insert((new, *id));
                }
            }
        }
    }

    /// The first alert under `key`, latest `last_seen` first among those with last_seen in
    /// [lo, hi], that `accept` takes. (A lone alert is offered whatever its last_seen.)
    pub fn find(
        &self,
        key: u64,
        lo: u64,
        hi: u64,
        mut accept: impl FnMut(&AlertId) -> bool,
    ) -> Option<AlertId> {
        let &(_, held) = self.table.find(self.hash(key), |(k, _)| *k == key)?;
        if held.ts != MANY {
            return accept(&held).then_some(held);
        }
        let set = self.sets.get(held.seq as usize)?.as_ref()?;
        set.range((lo, AlertId::MIN)..=(hi, AlertId::MAX))
            .rev()
            .map(|(_, id)| *id)
            .find(|id| accept(id))
    }

    pub fn clear(&mut self) {
        *self = DedupIndex {
            hasher: self.hasher,
            ..DedupIndex::default()
        };
    }

    pub fn heap_bytes(&self) -> usize {
        let table = if self.table.capacity() == 0 {
            0
        } else {
            let buckets = (self.table.capacity() * 8 / 7).next_power_of_two();
            alloc_size(buckets * (size_of::<(u64, AlertId)>() + 1) + 16)
        };
        let sets: usize = self
            .sets
            .iter()
            .flatten()
            .map(|s| s.len() * size_of::<(u64, AlertId)>() * 3 / 2 + 64)
            .sum();
        table + sets + alloc_size(self.sets.capacity() * size_of::<Option<Set>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn memory_comes_back_when_alerts_go() {
        let mut idx = DedupIndex::default();
        let empty = idx.heap_bytes();
        let ls = |_: &AlertId| 0;
        for key in 0..100_000u64 {
            idx.insert(key, AlertId::new(key, 0), 0, ls);
            // Every tenth fingerprint recurs: a set.
            if key % 10 == 0 {
                idx.insert(key, AlertId::new(key, 1), 0, ls);
            }
        }
        let full = idx.heap_bytes();
        for key in (0..100_000u64).rev() {
            idx.remove(key, &AlertId::new(key, 0), 0);
            if key % 10 == 0 {
                idx.remove(key, &AlertId::new(key, 1), 0);
            }
            if key == 100 {
                assert!(
                    idx.heap_bytes() * 100 < full,
                    "{} of {full}",
                    idx.heap_bytes()
                );
            }
        }
        assert_eq!(idx.heap_bytes(), empty);
    }

    #[test]
    fn single_then_many_then_single() {
        let mut idx = DedupIndex::default();
        let seen: HashMap<AlertId, u64> = (0..5).map(|i| (AlertId::new(i, 0), i * 100)).collect();
        let ls = |id: &AlertId| seen[id];
        for i in 0..5 {
            let id = AlertId::new(i, 0);
            idx.insert(7, id, ls(&id), ls);
        }
        // Latest last_seen within [150, 350] first.
        assert_eq!(idx.find(7, 150, 350, |_| true), Some(AlertId::new(3, 0)));
        assert_eq!(
            idx.find(7, 150, 350, |id| id.ts != 3),
            Some(AlertId::new(2, 0))
        );
        assert_eq!(idx.find(7, 1000, 2000, |_| true), None);
        assert_eq!(idx.find(8, 0, 2000, |_| true), None);
        idx.touch(7, &AlertId::new(0, 0), 0, 1500);
        assert_eq!(idx.find(7, 1000, 2000, |_| true), Some(AlertId::new(0, 0)));
        for i in 1..5 {
            idx.remove(7, &AlertId::new(i, 0), ls(&AlertId::new(i, 0)));
        }
        // One left: stored alone again, offered whatever its last_seen.
        assert_eq!(idx.find(7, 0, 0, |_| true), Some(AlertId::new(0, 0)));
        assert_eq!(
            (idx.sets.len(), idx.free.len()),
            (0, 0),
            "the set's slot given back"
        );
        idx.remove(7, &AlertId::new(0, 0), 1500);
        assert_eq!(idx.find(7, 0, u64::MAX, |_| true), None);
    }
}
