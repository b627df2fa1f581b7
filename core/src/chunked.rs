//! A sorted map stored as a B-tree index over small sorted chunks.
//!
//! Why not `BTreeMap`: its leaves are about half full when keys arrive in order (the common
//! case for time-ordered alerts and access times), which costs ~110 bytes per 64-byte entry.
//! Here a chunk that fills up by appends is closed and a new one opened, so in-order inserts
//! pack chunks completely; out-of-order inserts split a chunk in two. Every operation is
//! O(log n + CHUNK).
//!
//! Invariant: the index key of a chunk is <= every key in it and > every key of the previous
//! chunk. Removing a chunk's first element keeps it; only an insert below the smallest index key
//! re-keys (the first chunk).

use std::collections::{BTreeMap, VecDeque};

/// Entries per chunk, at most: large enough that the index is small, small enough that an
/// insert in the middle of a chunk moves at most a few KiB. Chunks of large entries hold
/// fewer (`ChunkedMap::CHUNK`), so that a full chunk fits a 4 KiB allocation instead of
/// spilling into the next size class (64 alerts of 72 bytes would take 5 KiB for 4.5).
pub const MAX_CHUNK: usize = 64;

#[derive(Debug, Clone)]
pub struct ChunkedMap<K: Ord + Copy, V> {
    index: BTreeMap<K, VecDeque<(K, V)>>,
    len: usize,
}

impl<K: Ord + Copy, V> Default for ChunkedMap<K, V> {
    fn default() -> Self {
        Self {
            index: BTreeMap::new(),
            len: 0,
        }
    }
}

impl<K: Ord + Copy, V> ChunkedMap<K, V> {
    /// Entries per chunk for this entry size (see [`MAX_CHUNK`]).
    pub const CHUNK: usize = {
        let entry = std::mem::size_of::<(K, V)>();
        let fit = match 4096usize.checked_div(entry) {
            Some(n) => n,
            None => MAX_CHUNK,
        };
        if fit >= MAX_CHUNK {
            MAX_CHUNK
        } else if fit < 8 {
            8
        } else {
            fit
        }
    };

    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Key of the chunk that holds (or would hold) `key`.
    fn chunk_key_for(&self, key: &K) -> Option<K> {
        self.index
            .range(..=*key)
            .next_back()
            .map(|(k, _)| *k)
            .or_else(|| self.index.keys().next().copied())
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        let (_, chunk) = self.index.range(..=*key).next_back()?;
        let pos = chunk.binary_search_by(|e| e.0.cmp(key)).ok()?;
        Some(&chunk[pos].1)
    }

    /// A [`Finger`] over the map: lookups of keys that come in order.
    pub fn finger(&self) -> Finger<'_, K, V> {
        Finger {
            map: self,
            chunk: None,
            at: 0,
        }
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let (_, chunk) = self.index.range_mut(..=*key).next_back()?;
        let pos = chunk.binary_search_by(|e| e.0.cmp(key)).ok()?;
        Some(&mut chunk[pos].1)
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Inserts a new entry; returns false (and drops nothing) if the key is already present.
    pub fn insert(&mut self, key: K, value: V) -> Result<(), V> {
        // Fastest case: past every key, with room in the last chunk.
        if let Some((_, last)) = self.index.iter_mut().next_back() {
            if last.len() < Self::CHUNK && last.back().is_some_and(|(k, _)| *k < key) {
                last.push_back((key, value));
                self.len += 1;
                return Ok(());
            }
        }
        let Some(ck) = self.chunk_key_for(&key) else {
            let mut chunk = VecDeque::with_capacity(Self::CHUNK);
            chunk.push_back((key, value));
            self.index.insert(key, chunk);
            self.len += 1;
            return Ok(());
        };
        // Common case: room in the chunk and no re-keying; edit it in place.
        if key >= ck {
            if let Some(chunk) = self.index.get_mut(&ck) {
                match chunk.binary_search_by(|e| e.0.cmp(&key)) {
                    Ok(_) => return Err(value),
                    Err(pos) if chunk.len() < Self::CHUNK => {
                        chunk.insert(pos, (key, value));
                        self.len += 1;
                        return Ok(());
                    }
                    Err(_) => {}
                }
            }
        }
        let mut chunk = self.index.remove(&ck).unwrap_or_default();
        let pos = match chunk.binary_search_by(|e| e.0.cmp(&key)) {
            Ok(_) => {
                self.index.insert(ck, chunk);
                return Err(value);
            }
            Err(pos) => pos,
        };
        self.len += 1;
        if chunk.len() < Self::CHUNK {
            chunk.insert(pos, (key, value));
            let new_key = if key < ck { key } else { ck };
            self.index.insert(new_key, chunk);
            return Ok(());
        }
        if pos == chunk.len() {
            // Appending past a full chunk: open a new one rather than splitting, so in-order
            // inserts leave full chunks behind.
            self.index.insert(ck, chunk);
            let mut fresh = VecDeque::with_capacity(Self::CHUNK);
            fresh.push_back((key, value));
            self.index.insert(key, fresh);
            return Ok(());
        }
        let mut upper = VecDeque::with_capacity(Self::CHUNK);
        upper.extend(chunk.drain(Self::CHUNK / 2..));
        if pos <= chunk.len() {
            chunk.insert(pos, (key, value));
        } else {
            upper.insert(pos - chunk.len(), (key, value));
        }
        let lower_key = if key < ck { key } else { ck };
        let upper_key = upper[0].0;
        self.index.insert(lower_key, chunk);
        self.index.insert(upper_key, upper);
        Ok(())
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        // The smallest entry (MAXLEN and retention trims, LRU evictions, the lists of the
        // alerts they remove): no search.
        if self.first().is_some_and(|(k, _)| k == key) {
            return self.pop_first().map(|(_, v)| v);
        }
        // One descent of the index (a second only when the chunk empties).
        let (ck, chunk) = self.index.range_mut(..=*key).next_back()?;
        let ck = *ck;
        let pos = chunk.binary_search_by(|e| e.0.cmp(key)).ok()?;
        let (_, value) = chunk.remove(pos)?;
        let tidy = Self::needs_tidying(chunk);
        self.len -= 1;
        if tidy {
            self.after_removal(ck);
        }
        Some(value)
    }

    /// Whether a chunk a removal left has something for `after_removal` to do: most do not,
    /// and then the index is not searched again (two descents of the B-tree were a third of
    /// an LRU eviction's removal of a key).
    #[inline]
    fn needs_tidying(chunk: &VecDeque<(K, V)>) -> bool {
        chunk.is_empty()
            || chunk.len() < Self::CHUNK / 8
            || (chunk.len() * 4 < chunk.capacity() && chunk.capacity() > 8)
    }

    /// Gives back what a removal left unused in the chunk keyed `ck`: an empty chunk goes, a
    /// chunk far below its capacity shrinks, and a sparse one takes in its sparse successor,
    /// so that memory follows the entries held whatever the order of removals. O(CHUNK).
    fn after_removal(&mut self, ck: K) {
        let Some(chunk) = self.index.get_mut(&ck) else {
            return;
        };
        if chunk.is_empty() {
            self.index.remove(&ck);
            return;
        }
        if chunk.len() < Self::CHUNK / 8 {
            // Keys of the next chunk are above every key of this one, so this chunk's index
            // key stays below all of them.
            let next = self
                .index
                .range((std::ops::Bound::Excluded(ck), std::ops::Bound::Unbounded))
                .next()
                .filter(|(_, c)| c.len() + Self::CHUNK / 8 <= Self::CHUNK / 2)
                .map(|(k, _)| *k);
            if let Some(nk) = next {
                if let Some(mut taken) = self.index.remove(&nk) {
                    if let Some(chunk) = self.index.get_mut(&ck) {
                        chunk.append(&mut taken);
                    }
                }
            }
        }
        if let Some(chunk) = self.index.get_mut(&ck) {
            if chunk.len() * 4 < chunk.capacity() && chunk.capacity() > 8 {
                chunk.shrink_to(chunk.len() * 2);
            }
        }
    }

    pub fn first(&self) -> Option<(&K, &V)> {
        self.index
            .values()
            .next()
            .and_then(|c| c.front())
            .map(|(k, v)| (k, v))
    }

    pub fn last(&self) -> Option<(&K, &V)> {
        self.index
            .values()
            .next_back()
            .and_then(|c| c.back())
            .map(|(k, v)| (k, v))
    }

    /// Removes and returns the smallest entry.
    pub fn pop_first(&mut self) -> Option<(K, V)> {
        let mut entry = self.index.first_entry()?;
        let ck = *entry.key();
        let chunk = entry.get_mut();
        // A deque: taking the oldest entry (retention and MAXLEN trims, FIFO) moves nothing.
        let item = chunk.pop_front()?;
        let tidy = Self::needs_tidying(chunk);
        self.len -= 1;
        if tidy {
            self.after_removal(ck);
        }
        Some(item)
    }

    /// Entries with key >= start, ascending.
    pub fn iter_from<'a>(&'a self, start: &K) -> impl Iterator<Item = (&'a K, &'a V)> + 'a {
        let start = *start;
        let first = self.index.range(..=start).next_back().map(|(k, _)| *k);
        let chunks = match first {
            Some(k) => self.index.range(k..),
            None => self.index.range(..),
        };
        chunks.flat_map(move |(_, c)| {
            let skip = c.partition_point(|e| e.0 < start);
            c.range(skip..).map(|(k, v)| (k, v))
        })
    }

    /// Entries with key <= end, descending.
    pub fn iter_rev_from<'a>(&'a self, end: &K) -> impl Iterator<Item = (&'a K, &'a V)> + 'a {
        let end = *end;
        self.index.range(..=end).rev().flat_map(move |(_, c)| {
            let n = c.partition_point(|e| e.0 <= end);
            c.range(..n).rev().map(|(k, v)| (k, v))
        })
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + '_ {
        self.index
            .values()
            .flat_map(|c| c.iter().map(|(k, v)| (k, v)))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> + '_ {
        self.index
            .values_mut()
            .flat_map(|c| c.iter_mut().map(|(_, v)| v))
    }

    /// Heap bytes held by the chunks and the index (not by what the values point to).
    pub fn heap_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(K, V)>();
        let index_entry = std::mem::size_of::<K>() + std::mem::size_of::<VecDeque<(K, V)>>();
        // B-tree nodes hold up to 11 entries and run about 2/3 full (a small index: one leaf).
        let index =
            (self.index.len() * 8) + super::memsize::btree_bytes(self.index.len(), index_entry);
        let chunks: usize = self
            .index
            .values()
            .map(|c| super::memsize::alloc_size(c.capacity() * entry))
            .sum();
        index + chunks
    }

    pub fn clear(&mut self) {
        self.index.clear();
        self.len = 0;
    }
}

/// Lookups of keys met in order, ascending or descending (the IDs an index of the alerts
/// yields): each starts from the chunk and the place of the one before, and moves a few
/// entries from there; the index is searched only when a key is outside that chunk. A run of
/// keys close together costs a few comparisons each instead of a descent of the B-tree and a
/// binary search (most of what an indexed ALERT.RANGE spent finding its alerts).
pub struct Finger<'a, K: Ord + Copy, V> {
    map: &'a ChunkedMap<K, V>,
    chunk: Option<&'a VecDeque<(K, V)>>,
    /// Where the last lookup ended in `chunk`.
    at: usize,
}

impl<'a, K: Ord + Copy, V> Finger<'a, K, V> {
    /// Entries walked from the last place before a binary search of the chunk instead.
    const STEPS: usize = 8;

    pub fn get(&mut self, key: &K) -> Option<&'a V> {
        if let Some(c) = self.chunk {
            if let (Some(first), Some(last)) = (c.front(), c.back()) {
                // Chunks do not overlap: a key held between these two is in this chunk.
                if first.0 <= *key && *key <= last.0 {
                    return self.near(c, key);
                }
            }
        }
        let (_, c) = self.map.index.range(..=*key).next_back()?;
        self.chunk = Some(c);
        match c.binary_search_by(|e| e.0.cmp(key)) {
            Ok(p) => {
                self.at = p;
                c.get(p).map(|e| &e.1)
            }
            Err(p) => {
                self.at = p.min(c.len().saturating_sub(1));
                None
            }
        }
    }

    /// `key` in `c`, from the last place: a few steps toward it, else a binary search.
    fn near(&mut self, c: &'a VecDeque<(K, V)>, key: &K) -> Option<&'a V> {
        let mut at = self.at.min(c.len().saturating_sub(1));
        for _ in 0..Self::STEPS {
            let e = c.get(at)?;
            match e.0.cmp(key) {
                std::cmp::Ordering::Equal => {
                    self.at = at;
                    return Some(&e.1);
                }
                std::cmp::Ordering::Less if at + 1 < c.len() => at += 1,
                std::cmp::Ordering::Greater if at > 0 => at -= 1,
                _ => break,
            }
        }
        let p = c.binary_search_by(|e| e.0.cmp(key)).ok()?;
        self.at = p;
        c.get(p).map(|e| &e.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap as Model;

    fn check(m: &ChunkedMap<u64, u64>, model: &Model<u64, u64>) {
        assert_eq!(m.len(), model.len());
        let got: Vec<_> = m.iter().map(|(k, v)| (*k, *v)).collect();
        let want: Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(got, want);
        assert!(
            m.index.values().all(|c| !c.is_empty()),
            "an empty chunk was kept"
        );
    }

    #[test]
    fn finger_finds_what_get_finds() {
        // Chunks split by out-of-order inserts, keys missing, lookups ascending, descending,
        // sparse and dense: the finger answers as `get` at every step.
        let mut m = ChunkedMap::new();
        let mut x: u64 = 0x2545f4914f6cdd1d;
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let _ = m.insert(x % 20_000, x);
        }
        for stride in [1u64, 2, 3, 7, 40, 300, 5000] {
            let mut f = m.finger();
            for k in (0..20_000u64).step_by(stride as usize) {
                assert_eq!(f.get(&k), m.get(&k), "ascending, stride {stride}, key {k}");
            }
            let mut f = m.finger();
            for k in (0..20_000u64).rev().step_by(stride as usize) {
                assert_eq!(f.get(&k), m.get(&k), "descending, stride {stride}, key {k}");
            }
        }
        // Out of order as well (a finger is only faster in order, never wrong).
        let mut f = m.finger();
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = x % 21_000;
            assert_eq!(f.get(&k), m.get(&k), "key {k}");
        }
        assert_eq!(ChunkedMap::<u64, u64>::new().finger().get(&1), None);
    }

    #[test]
    fn in_order_inserts_fill_chunks() {
        let mut m = ChunkedMap::new();
        for i in 0..1000u64 {
            m.insert(i, i).unwrap();
        }
        let chunk = ChunkedMap::<u64, u64>::CHUNK;
        assert_eq!(chunk, MAX_CHUNK);
        assert_eq!(m.index.len(), 1000usize.div_ceil(chunk));
        assert!(m.index.values().rev().skip(1).all(|c| c.len() == chunk));
    }

    #[test]
    fn chunks_of_large_entries_fit_four_kib() {
        type Big = ChunkedMap<(u64, u64), [u64; 7]>; // 72-byte entries, as an alert's
        assert_eq!(Big::CHUNK, 56);
        let mut m = Big::new();
        for i in 0..1000u64 {
            m.insert((i, 0), [i; 7]).unwrap();
        }
        assert!(m.index.values().all(|c| c.capacity() * 72 <= 4096));
        assert!(m.heap_bytes() < 1000 * 72 * 110 / 100, "{}", m.heap_bytes());
        assert_eq!(ChunkedMap::<u64, [u8; 1000]>::CHUNK, 8);
    }

    #[test]
    fn memory_follows_the_entries_held() {
        let mut m = ChunkedMap::new();
        for i in 0..100_000u64 {
            m.insert(i, i).unwrap();
        }
        let full = m.heap_bytes();
        // Removed in a scattered order, down to one entry in a thousand.
        let mut x: u64 = 0x2545f4914f6cdd1d;
        let mut keys: Vec<u64> = (0..100_000).collect();
        for i in (1..keys.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            keys.swap(i, (x % (i as u64 + 1)) as usize);
        }
        for k in &keys[100..] {
            m.remove(k).unwrap();
        }
        assert_eq!(m.len(), 100);
        assert!(
            m.heap_bytes() * 200 < full,
            "{} bytes left of {full} for 100 entries",
            m.heap_bytes()
        );
        // From the front (trims) as well.
        let mut m = ChunkedMap::new();
        for i in 0..10_000u64 {
            m.insert(i, i).unwrap();
        }
        while m.len() > 10 {
            m.pop_first();
        }
        // What 10 entries hold: a chunk and the index's one leaf (a whole one: 11 slots).
        assert!(m.heap_bytes() < 1536, "{}", m.heap_bytes());
        let got: Vec<u64> = m.iter().map(|(k, _)| *k).collect();
        assert_eq!(got, (9_990..10_000).collect::<Vec<_>>());
    }

    #[test]
    fn matches_btreemap_under_random_operations() {
        let mut m = ChunkedMap::new();
        let mut model = Model::new();
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for step in 0..20000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = x % 3000;
            match x % 7 {
                0 | 1 => {
                    assert_eq!(m.remove(&key), model.remove(&key));
                }
                2 => {
                    assert_eq!(m.pop_first(), model.pop_first());
                }
                _ => {
                    let dup = model.contains_key(&key);
                    assert_eq!(m.insert(key, step).is_err(), dup);
                    model.entry(key).or_insert(step);
                }
            }
            if step % 500 == 0 {
                check(&m, &model);
                let from = x % 3100;
                let a: Vec<_> = m.iter_from(&from).map(|(k, _)| *k).collect();
                let b: Vec<_> = model.range(from..).map(|(k, _)| *k).collect();
                assert_eq!(a, b);
                let a: Vec<_> = m.iter_rev_from(&from).map(|(k, _)| *k).collect();
                let b: Vec<_> = model.range(..=from).rev().map(|(k, _)| *k).collect();
                assert_eq!(a, b);
                assert_eq!(m.get(&from), model.get(&from));
            }
        }
        check(&m, &model);
    }
}
