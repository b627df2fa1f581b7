//! A sorted sequence of fixed-size items of u64s, ordered by their first u64, kept as blocks of
//! small deltas: the compact form of the filter index's lists (an alert ID each) and of the
//! revision index (a revision and an ID each).
//!
//! Why: those indexes hold one entry per alert each, and as 8- or 16-byte entries they took
//! 40 of an alert's ~400 bytes. IDs that follow one another in a list differ by little (the
//! same millisecond and the next sequence number, or a few milliseconds later), and so do
//! successive revisions, so each entry is written as the difference to the one before it:
//! 1 to 3 bytes. Inverted indexes of search engines store their postings the same way.
//!
//! Layout: a B-tree over blocks, keyed as `ChunkedMap`'s chunks are (a block's key is <= its
//! first item's and > every item of the block before, so removing a block's first item does
//! not re-key it). A block holds its first and last items whole and the others coded, each
//! against the item before it, in at most [`BLOCK_BYTES`] bytes (jemalloc's 256-byte class).
//! Appending past a block's last item (the common case: alerts arrive in order, revisions
//! only grow) codes one item at the end, or opens a new block when the bytes are full;
//! removing a block's first item (trims remove from the front) promotes the second, which
//! leaves the codes after it as they are. Any other insert or removal decodes the block
//! (at most a few hundred items), edits it and codes it again: O(log n + block).
//!
//! A value is coded in two parts, its high 48 bits (an ID's ms timestamp) and its low 16 (an
//! ID's sequence number), against the same value of the previous item: a tag varint, then
//! maybe a second varint. Tag bit 0 clear: same high part, the tag's other bits the zigzag
//! difference of the low parts. Set: the tag's other bits the zigzag difference of the high
//! parts, then the low part as a varint. So the next sequence number in the same millisecond
//! takes 1 byte, a later millisecond with a small sequence number 2.

use crate::memsize::alloc_size;
use std::collections::BTreeMap;
use std::mem::size_of;

/// Coded bytes a block holds at most (its first item not counted).
pub const BLOCK_BYTES: usize = 256;

/// An item: N u64s, ordered by the first.
pub type Item<const N: usize> = [u64; N];

#[derive(Debug, Clone)]
struct Block<const N: usize> {
    first: Item<N>,
    last: Item<N>,
    /// Items, the first included.
    count: u32,
    /// The items after the first, each coded against the one before.
    bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct DeltaSeq<const N: usize> {
    blocks: BTreeMap<u64, Block<N>>,
    len: usize,
}

impl<const N: usize> Default for DeltaSeq<N> {
    fn default() -> Self {
        DeltaSeq {
            blocks: BTreeMap::new(),
            len: 0,
        }
    }
}

/// The codes of one item, before they go to a block: at most 11 bytes a value, and an item
/// has at most two (`Block::push`).
struct Codes {
    bytes: [u8; 24],
    len: usize,
}

impl Codes {
    fn new() -> Self {
        Codes {
            bytes: [0; 24],
            len: 0,
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len.min(self.bytes.len())]
    }
}

fn put_varint(out: &mut Codes, mut v: u64) {
    while v >= 0x80 {
        if let Some(b) = out.bytes.get_mut(out.len) {
            *b = (v as u8) | 0x80;
        }
        out.len += 1;
        v >>= 7;
    }
    if let Some(b) = out.bytes.get_mut(out.len) {
        *b = v as u8;
    }
    out.len += 1;
}

/// A varint at `*at`, moving `*at` past it; None past the end (never for bytes `put_varint`
/// wrote).
#[inline]
fn get_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
        if b < 0x80 {
            return Some(v);
        }
        shift += 7;
    }
}

fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

fn put_value(out: &mut Codes, prev: u64, v: u64) {
    let (ph, vh) = (prev >> 16, v >> 16);
    if ph == vh {
        let d = i64::from(v as u16) - i64::from(prev as u16);
        put_varint(out, zigzag(d) << 1);
    } else {
        // Both below 2^48: the difference fits, and its zigzag shifted by one too.
        put_varint(out, zigzag(vh as i64 - ph as i64) << 1 | 1);
        put_varint(out, v & 0xffff);
    }
}

#[inline]
fn get_value(bytes: &[u8], at: &mut usize, prev: u64) -> Option<u64> {
    let tag = get_varint(bytes, at)?;
    let (hi, lo) = if tag & 1 == 0 {
        let lo = i64::from(prev as u16).wrapping_add(unzigzag(tag >> 1));
        (prev >> 16, lo as u64 & 0xffff)
    } else {
        let hi = ((prev >> 16) as i64).wrapping_add(unzigzag(tag >> 1)) as u64;
        (hi & 0xffff_ffff_ffff, get_varint(bytes, at)? & 0xffff)
    };
    Some(hi << 16 | lo)
}

fn put_item<const N: usize>(out: &mut Codes, prev: &Item<N>, item: &Item<N>) {
    for k in 0..N {
        put_value(out, prev[k], item[k]);
    }
}

#[inline]
fn get_item<const N: usize>(bytes: &[u8], at: &mut usize, prev: &Item<N>) -> Option<Item<N>> {
    let mut item = [0u64; N];
    for k in 0..N {
        item[k] = get_value(bytes, at, prev[k])?;
    }
    Some(item)
}

impl<const N: usize> Block<N> {
    fn new(first: Item<N>) -> Self {
        Block {
            first,
            last: first,
            count: 1,
            bytes: Vec::new(),
        }
    }

    /// Codes `item` after the last; false (nothing changed) when the bytes would pass
    /// BLOCK_BYTES.
    fn push(&mut self, item: &Item<N>) -> bool {
        const { assert!(N <= 2, "Codes holds the codes of two values") };
        let mut codes = Codes::new();
        put_item(&mut codes, &self.last, item);
        let len = self.bytes.len();
        if len + codes.len > BLOCK_BYTES {
            return false;
        }
        if len + codes.len > self.bytes.capacity() {
            // Room for a full block at once: one allocation of jemalloc's 256-byte class.
            self.bytes.reserve_exact(BLOCK_BYTES - len);
        }
        // One to a few bytes: pushed, not copied (a call to memcpy costs more).
        for &b in codes.as_slice() {
            self.bytes.push(b);
        }
        self.last = *item;
        self.count += 1;
        true
    }

    fn items(&self) -> Vec<Item<N>> {
        let mut out = Vec::with_capacity(self.count as usize);
        self.decode_into(&mut out);
        out
    }

    fn decode_into(&self, out: &mut Vec<Item<N>>) {
        out.push(self.first);
        let mut prev = self.first;
        let mut at = 0;
        while at < self.bytes.len() {
            let Some(item) = get_item(&self.bytes, &mut at, &prev) else {
                break;
            };
            out.push(item);
            prev = item;
        }
    }

    /// Codes `items` (sorted, not empty) into blocks of at most BLOCK_BYTES each.
    fn pack(items: &[Item<N>]) -> Vec<Block<N>> {
        let mut out: Vec<Block<N>> = Vec::new();
        for item in items {
            let taken = match out.last_mut() {
                Some(b) => b.push(item),
                None => false,
            };
            if !taken {
                out.push(Block::new(*item));
            }
        }
        for b in &mut out {
            b.bytes.shrink_to_fit();
        }
        out
    }

    fn heap_bytes(&self) -> usize {
        alloc_size(self.bytes.capacity())
    }
}

impl<const N: usize> DeltaSeq<N> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The block that holds `key` if any item does: the last block keyed at or below it.
    fn block_of(&self, key: u64) -> Option<(u64, &Block<N>)> {
        self.blocks.range(..=key).next_back().map(|(k, b)| (*k, b))
    }

    /// The item whose first value is `key`.
    pub fn get(&self, key: u64) -> Option<Item<N>> {
        let (_, b) = self.block_of(key)?;
        if key > b.last[0] {
            return None;
        }
        let mut prev = b.first;
        if prev[0] == key {
            return Some(prev);
        }
        let mut at = 0;
        while at < b.bytes.len() {
            let item = get_item(&b.bytes, &mut at, &prev)?;
            if item[0] >= key {
                return (item[0] == key).then_some(item);
            }
            prev = item;
        }
        None
    }

    pub fn contains(&self, key: u64) -> bool {
        self.get(key).is_some()
    }

    /// Adds `item`; false (nothing changed) when an item has its first value.
    pub fn insert(&mut self, item: Item<N>) -> bool {
        let key = item[0];
        // Fastest case: past every item, with room in the last block.
        if let Some((_, last)) = self.blocks.iter_mut().next_back() {
            if key > last.last[0] && last.push(&item) {
                self.len += 1;
                return true;
            }
        }
        let Some((bk, b)) = self.blocks.range_mut(..=key).next_back() else {
            // Below every block's key (or no block yet).
            return self.insert_first(item);
        };
        let bk = *bk;
        if key > b.last[0] {
            // Past this block's last item and below the next block's key: it goes at the end
            // of this block.
            if b.push(&item) {
                self.len += 1;
                return true;
            }
            // The block is full: a block of its own, keyed by itself (above the full block's
            // items, below the next block's key).
            self.blocks.insert(key, Block::new(item));
            self.len += 1;
            return true;
        }
        let mut items = b.items();
        let Err(pos) = items.binary_search_by(|x| x[0].cmp(&key)) else {
            return false;
        };
        items.insert(pos, item);
        self.replace(bk, &items);
        self.len += 1;
        true
    }

    /// An item below every block's key: the first block takes it at its front and is keyed
    /// by it (a block of its own when there is none).
    fn insert_first(&mut self, item: Item<N>) -> bool {
        let first = self.blocks.first_key_value().map(|(k, b)| (*k, b.items()));
        match first {
            Some((k, mut items)) => {
                items.insert(0, item);
                self.blocks.remove(&k);
                for b in Block::pack(&items) {
                    self.blocks.insert(b.first[0], b);
                }
            }
            None => {
                self.blocks.insert(item[0], Block::new(item));
            }
        }
        self.len += 1;
        true
    }

    /// Replaces the block keyed `bk` by blocks of `items` (sorted, not empty): the first keeps
    /// `bk`, the others are keyed by their first items.
    fn replace(&mut self, bk: u64, items: &[Item<N>]) {
        let mut blocks = Block::pack(items).into_iter();
        if let Some(b) = blocks.next() {
            self.blocks.insert(bk, b);
        }
        for b in blocks {
            self.blocks.insert(b.first[0], b);
        }
    }

    /// Removes the item whose first value is `key`.
    pub fn remove(&mut self, key: u64) -> Option<Item<N>> {
        // Common case (trims): the first item of the first block.
        let first = self.blocks.iter_mut().next();
        let (bk, b) = match first {
            Some((bk, b)) if key <= b.last[0] => (bk, b),
            _ => self.blocks.range_mut(..=key).next_back()?,
        };
        let bk = *bk;
        if key > b.last[0] || key < b.first[0] {
            return None;
        }
        if key == b.first[0] {
            let removed = b.first;
            if b.count == 1 {
                self.blocks.remove(&bk);
            } else {
                // The second item becomes the first; the codes after it stay as they are.
                let mut at = 0;
                let second = get_item(&b.bytes, &mut at, &b.first)?;
                b.bytes.drain(..at);
                b.first = second;
                b.count -= 1;
                if b.bytes.is_empty() {
                    b.bytes = Vec::new();
                }
            }
            self.len -= 1;
            return Some(removed);
        }
        let mut items = b.items();
        let pos = items.binary_search_by(|x| x[0].cmp(&key)).ok()?;
        let removed = items.remove(pos);
        // A block left small takes in its successor when both fit one block.
        let next = self
            .blocks
            .range(bk + 1..)
            .next()
            .filter(|(_, n)| n.bytes.len() + 4 * items.len() < BLOCK_BYTES)
            .map(|(k, _)| *k);
        if let Some(nk) = next {
            if let Some(n) = self.blocks.remove(&nk) {
                n.decode_into(&mut items);
            }
        }
        self.replace(bk, &items);
        self.len -= 1;
        Some(removed)
    }

    /// The items from the first at or above `start`, in order.
    pub fn iter_from(&self, start: u64) -> Iter<'_, N> {
        let mut blocks = match self.block_of(start) {
            Some((k, _)) => self.blocks.range(k..),
            None => self.blocks.range(..),
        };
        let current = blocks.next().map(|(_, b)| b);
        let mut it = Iter {
            blocks,
            current,
            prev: [0; N],
            at: None,
        };
        // Skip to `start` within the first block.
        while it.peek_key().is_some_and(|k| k < start) {
            it.next();
        }
        it
    }

    /// The items from the last at or below `end` down, in reverse order.
    pub fn iter_rev_from(&self, end: u64) -> impl Iterator<Item = Item<N>> + '_ {
        self.blocks
            .range(..=end)
            .rev()
            .flat_map(|(_, b)| b.items().into_iter().rev())
            .skip_while(move |item| item[0] > end)
    }

    pub fn heap_bytes(&self) -> usize {
        // B-tree nodes run about 2/3 full: 1.5 x the (key, block) pair (a small tree: one
        // whole leaf).
        crate::memsize::btree_bytes(self.blocks.len(), size_of::<(u64, Block<N>)>())
            + self.blocks.values().map(Block::heap_bytes).sum::<usize>()
    }
}

/// Items in order (`DeltaSeq::iter_from`).
pub struct Iter<'a, const N: usize> {
    blocks: std::collections::btree_map::Range<'a, u64, Block<N>>,
    current: Option<&'a Block<N>>,
    prev: Item<N>,
    /// Where in `current` the next coded item is; None: its first item is next.
    at: Option<usize>,
}

impl<const N: usize> Iter<'_, N> {
    fn peek_key(&self) -> Option<u64> {
        let b = self.current?;
        match self.at {
            None => Some(b.first[0]),
            Some(at) => {
                let mut at = at;
                get_item(&b.bytes, &mut at, &self.prev).map(|i| i[0])
            }
        }
    }
}

impl<const N: usize> Iterator for Iter<'_, N> {
    type Item = Item<N>;

    fn next(&mut self) -> Option<Item<N>> {
        loop {
            let b = self.current?;
            match self.at {
                None => {
                    self.prev = b.first;
                    self.at = Some(0);
                    return Some(b.first);
                }
                Some(at) if at < b.bytes.len() => {
                    let mut at = at;
                    let item = get_item(&b.bytes, &mut at, &self.prev)?;
                    self.at = Some(at);
                    self.prev = item;
                    return Some(item);
                }
                Some(_) => {
                    self.current = self.blocks.next().map(|(_, b)| b);
                    self.at = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap as Model;

    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn values_code_and_decode() {
        let vals = [
            0,
            1,
            0xffff,
            0x1_0000,
            5 << 16 | 3,
            5 << 16 | 4,
            6 << 16,
            ((1 << 48) - 1) << 16 | 0xffff,
            u64::MAX,
            3,
        ];
        for &p in &vals {
            for &v in &vals {
                let mut out = Codes::new();
                put_value(&mut out, p, v);
                assert!(out.len <= 11);
                let mut at = 0;
                assert_eq!(
                    get_value(out.as_slice(), &mut at, p),
                    Some(v),
                    "{p:#x} -> {v:#x}"
                );
                assert_eq!(at, out.len);
            }
        }
        // The common steps are short.
        let mut out = Codes::new();
        put_value(&mut out, 7 << 16 | 3, 7 << 16 | 4);
        assert_eq!(out.len, 1, "next seq, same ms");
        let mut out = Codes::new();
        put_value(&mut out, 7 << 16 | 3, 9 << 16);
        assert_eq!(out.len, 2, "a later ms");
        // Truncated input is None, not a panic.
        let mut at = 0;
        assert_eq!(get_varint(&[0x80, 0x80], &mut at), None);
        let mut at = 0;
        assert!(get_varint(&[0xff; 20], &mut at).is_none());
    }

    /// Against a BTreeMap model: inserts in order and out of order, duplicates, removals from
    /// the front and the middle, every lookup and walk at every step's bounds.
    fn against_model<const N: usize>(seed: u64, steps: usize, spread: u64) {
        let mut next = xorshift(seed);
        let mut s = DeltaSeq::<N>::new();
        let mut m: Model<u64, Item<N>> = Model::new();
        let mut clock = 1000u64 << 16;
        for step in 0..steps {
            let r = next();
            let key = match r % 10 {
                // In order: the next seq or a later ms.
                0..=5 => {
                    clock += if r & 16 != 0 {
                        1
                    } else {
                        ((r >> 8) % 50) << 16
                    };
                    clock
                }
                // Anywhere below the clock.
                6 | 7 => clock.saturating_sub((r >> 8) % (spread << 16)),
                _ => u64::MAX,
            };
            if key == u64::MAX {
                // Remove: the first, or any.
                let victim = if r & 32 != 0 {
                    m.keys().next().copied()
                } else {
                    m.range((r >> 8) % (clock + 1)..).next().map(|(k, _)| *k)
                };
                if let Some(k) = victim {
                    assert_eq!(s.remove(k), m.remove(&k), "step {step}");
                }
                assert_eq!(s.remove(clock + 12345), None);
                continue;
            }
            let mut item = [key; N];
            for (k, v) in item.iter_mut().enumerate().skip(1) {
                *v = next() % (1 << (16 * k + 8));
            }
            let fresh = !m.contains_key(&key);
            assert_eq!(s.insert(item), fresh, "step {step}");
            if fresh {
                m.insert(key, item);
            }
            assert_eq!(s.len(), m.len());
            if step % 97 == 0 {
                let all: Vec<Item<N>> = s.iter_from(0).collect();
                let want: Vec<Item<N>> = m.values().copied().collect();
                assert_eq!(all, want, "step {step}");
                let k = (r >> 3) % (clock + 2);
                let want: Vec<Item<N>> = m.range(k..).map(|(_, v)| *v).collect();
                assert_eq!(s.iter_from(k).collect::<Vec<_>>(), want);
                let want: Vec<Item<N>> = m.range(..=k).rev().map(|(_, v)| *v).collect();
                assert_eq!(s.iter_rev_from(k).collect::<Vec<_>>(), want);
                for (k, v) in m.iter().take(50) {
                    assert_eq!(s.get(*k), Some(*v));
                    assert!(!s.contains(k + 1) || m.contains_key(&(k + 1)));
                }
                // Block invariants: keys at or below first items, blocks in order, bytes bounded.
                let mut prev_last = None;
                for (k, b) in &s.blocks {
                    assert!(*k <= b.first[0]);
                    assert!(prev_last.is_none_or(|l| l < *k));
                    assert!(b.bytes.len() <= BLOCK_BYTES);
                    assert_eq!(b.items().len(), b.count as usize);
                    assert_eq!(b.items().last(), Some(&b.last));
                    prev_last = Some(b.last[0]);
                }
            }
        }
        assert!(
            s.blocks.len() > 5,
            "{} blocks: the test spans few",
            s.blocks.len()
        );
        // Drained from the front, as trims do.
        while let Some(k) = m.keys().next().copied() {
            assert_eq!(s.remove(k), m.remove(&k));
        }
        assert!(s.is_empty());
        assert_eq!(s.heap_bytes(), 0);
    }

    #[test]
    fn one_value_items_answer_as_a_sorted_set() {
        against_model::<1>(0x2545_f491_4f6c_dd1d, 20_000, 3);
        against_model::<1>(0x9e37_79b9_7f4a_7c15, 20_000, 400);
    }

    #[test]
    fn two_value_items_answer_as_a_sorted_map() {
        against_model::<2>(0x2545_f491_4f6c_dd1d, 20_000, 3);
        against_model::<2>(0x1234_5678_9abc_def1, 20_000, 400);
    }

    #[test]
    fn in_order_ids_take_a_few_bytes_each() {
        let mut s = DeltaSeq::<1>::new();
        let mut id = 1_700_000_000_000u64 << 16;
        for i in 0..100_000u64 {
            id += if i % 4 == 0 { 1 << 16 } else { 1 };
            assert!(s.insert([id]));
        }
        let per = s.heap_bytes() as f64 / 100_000.0;
        assert!(per < 3.0, "{per} bytes an ID");
        let mut r = DeltaSeq::<2>::new();
        for (rev, id) in s.iter_from(0).enumerate() {
            assert!(r.insert([rev as u64 + 1, id[0]]));
        }
        let per = r.heap_bytes() as f64 / 100_000.0;
        assert!(per < 5.0, "{per} bytes a revision");
    }
}
