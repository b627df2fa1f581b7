//! The dedup index: for each fingerprint key, the unresolved alerts that carry it.
//!
//! Most fingerprints have one live alert (duplicates fold into it), so the table holds
//! `(key, id)` directly, the ID packed in 8 bytes (`AlertId::pack`): 16 bytes an entry. A
//! fingerprint that recurs (new alerts outside the window, never resolved) gets a set ordered
//! by `last_seen`, so finding the alert within the window stays O(log k) instead of a scan of
//! all k; the table entry then holds the set's slot with the top bit set. A lone alert whose
//! ID does not pack (only explicit IDs can be such) gets a set of one.

use super::id::AlertId;
use crate::memsize::{alloc_size, shrink_slots, worth_shrinking};
use hashbrown::{DefaultHashBuilder, HashTable};
use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::mem::size_of;

/// The top bit of a held value: the rest is a slot of `sets`, not a packed ID.
const SET: u64 = 1 << 63;

/// An ID as the table holds it alone, when it packs below the set bit.
fn packed(id: &AlertId) -> Option<u64> {
    id.pack().filter(|p| p & SET == 0)
}

type Set = BTreeSet<(u64, AlertId)>;

#[derive(Debug, Clone, Default)]
pub struct DedupIndex {
    table: HashTable<(u64, u64)>,
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
                let value = match packed(&id) {
                    Some(p) => p,
                    None => SET | self.new_set([(last_seen, id)].into()),
                };
                let hasher = &self.hasher;
                self.table
                    .insert_unique(h, (key, value), |(k, _)| hasher.hash_one(*k));
                return;
            }
            Some((_, held)) => *held,
        };
        if held & SET != 0 {
            if let Some(set) = self.set_mut(held & !SET) {
                set.insert((last_seen, id));
            }
            return;
        }
        let alone = AlertId::unpack(held);
        let slot = self.new_set([(last_seen_of(&alone), alone), (last_seen, id)].into());
        if let Some((_, entry)) = self.table.find_mut(h, |(k, _)| *k == key) {
            *entry = SET | slot;
        }
    }

    fn new_set(&mut self, set: Set) -> u64 {
        match self.free.pop() {
            Some(s) => {
                self.sets[s as usize] = Some(set);
                s
            }
            None => {
                self.sets.push(Some(set));
                (self.sets.len() - 1) as u64
            }
        }
    }

    pub fn remove(&mut self, key: u64, id: &AlertId, last_seen: u64) {
        let h = self.hash(key);
        let Ok(entry) = self.table.find_entry(h, |(k, _)| *k == key) else {
            return;
        };
        let held = entry.get().1;
        if held & SET == 0 {
            if Some(held) == packed(id) {
                entry.remove();
                self.shrink();
            }
            return;
        }
        let slot = held & !SET;
        let Some(set) = self.set_mut(slot) else {
            return;
        };
        set.remove(&(last_seen, *id));
        // Back to a single alert held alone (or none); a lone ID that does not pack keeps
        // its set of one.
        let last = match set.len() {
            0 => None,
            1 => match set.iter().next().and_then(|(_, id)| packed(id)) {
                Some(p) => Some(p),
                None => return,
            },
            _ => return,
        };
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
        if held & SET != 0 {
            if let Some(set) = self.set_mut(held & !SET) {
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
        if held & SET == 0 {
            let alone = AlertId::unpack(held);
            return accept(&alone).then_some(alone);
        }
        let set = self.sets.get((held & !SET) as usize)?.as_ref()?;
        if set.len() == 1 {
            // A lone alert (its ID does not pack): offered whatever its last_seen.
            let alone = set.iter().next().map(|(_, id)| *id)?;
            return accept(&alone).then_some(alone);
        }
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
            alloc_size(buckets * (size_of::<(u64, u64)>() + 1) + 16)
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

    #[test]
    fn ids_that_do_not_pack_are_held_in_a_set() {
        let mut idx = DedupIndex::default();
        let ls = |_: &AlertId| 50;
        let wide = AlertId::new(3, 1 << 20);
        let far = AlertId::new(u64::MAX - 1, 0);
        idx.insert(1, wide, 50, ls);
        // Alone, it is offered whatever its last_seen, as a packed one is.
        assert_eq!(idx.find(1, 1000, 2000, |_| true), Some(wide));
        idx.insert(1, AlertId::new(4, 0), 60, ls);
        assert_eq!(idx.find(1, 55, 70, |_| true), Some(AlertId::new(4, 0)));
        idx.remove(1, &AlertId::new(4, 0), 60);
        assert_eq!(idx.find(1, 1000, 2000, |_| true), Some(wide));
        idx.remove(1, &wide, 50);
        assert_eq!(idx.find(1, 0, u64::MAX, |_| true), None);
        assert_eq!(idx.sets.iter().flatten().count(), 0);
        // A packed alert alone, then one that does not pack: a set of two, then of one.
        idx.insert(2, AlertId::new(5, 0), 10, ls);
        idx.insert(2, far, 20, ls);
        idx.remove(2, &AlertId::new(5, 0), 50);
        assert_eq!(idx.find(2, 0, 0, |_| true), Some(far));
        idx.remove(2, &far, 20);
        assert_eq!(idx.find(2, 0, u64::MAX, |_| true), None);
        assert_eq!(idx.table.len(), 0);
    }
}
