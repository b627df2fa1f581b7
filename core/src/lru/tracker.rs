//! An LRU tracker: for keys of one namespace, each key's size and last use, ordered oldest
//! first, and the total size. Time is an argument; no Redis API here.
//!
//! Memory per tracked key: the name once (in the slab), a 48-byte slab entry, a 24-byte entry
//! in the age order (packed chunks) and a 4-byte slot in the name table: about 85 bytes plus
//! the name.

use crate::amount::{Amount, MAX_UNITS};
use crate::chunked::ChunkedMap;
use crate::memsize::{alloc_size, worth_shrinking};
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use std::hash::BuildHasher;
use std::mem::size_of;

/// One key's new size, as LRU.TOUCH names it: what [`Tracker::total_after`] and
/// [`Tracker::touch_all`] read of each change, so that a caller passes its own records
/// rather than copying them into pairs.
pub trait Change {
    fn name(&self) -> &[u8];
    fn size(&self) -> Amount;
}

impl Change for (&[u8], Amount) {
    fn name(&self) -> &[u8] {
        self.0
    }
    fn size(&self) -> Amount {
        self.1
    }
}

/// Up to this many changes, a key named twice is found by comparing names, with no table
/// built (one TOUCH names one key most often).
const FEW_CHANGES: usize = 16;

/// The changes that name their key for the last time, in order: a key named twice counts
/// once, by its last size, at its last place.
fn last_mentions<C: Change>(changes: &[C]) -> impl Iterator<Item = &C> {
    // Past FEW_CHANGES, each name's last index, from a table (a later entry overwrites).
    let last_at: Option<HashMap<&[u8], usize>> = (changes.len() > FEW_CHANGES).then(|| {
        changes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name(), i))
            .collect()
    });
    changes
        .iter()
        .enumerate()
        .filter(move |(i, c)| match &last_at {
            Some(last_at) => last_at.get(c.name()) == Some(i),
            None => !changes[i + 1..].iter().any(|l| l.name() == c.name()),
        })
        .map(|(_, c)| c)
}

#[derive(Debug, Clone)]
struct Tracked {
    name: Box<[u8]>,
    size: Amount,
    last_used: u64,
    /// Order among keys used in the same millisecond: touch order.
    seq: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Tracker {
    slab: Vec<Option<Tracked>>,
    free: Vec<u32>,
    by_name: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// (last_used, seq) -> slab index, oldest first.
    by_age: ChunkedMap<(u64, u64), u32>,
    total: Amount,
    next_seq: u64,
    /// Keys evicted by LRU.EVICT over the tracker's life, at most `MAX_EVICTED`.
    evicted: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerError {
    TotalOutOfRange,
}

impl std::fmt::Display for TrackerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrackerError::TotalOutOfRange => {
                write!(f, "ERR the tracker's total size would pass 10^18")
            }
        }
    }
}

/// A key an eviction takes, with its size.
pub type Evicted = (Box<[u8]>, Amount);

/// The keys an eviction would take (`Tracker::plan`), and the sizes they free.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// (slab index, (last_used, seq)): the age tells a slot reused since the plan.
    picked: Vec<(u32, (u64, u64))>,
    freed: Amount,
}

impl Plan {
    pub fn freed(&self) -> Amount {
        self.freed
    }

    pub fn len(&self) -> usize {
        self.picked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.picked.is_empty()
    }
}

/// One tracked key as CANDIDATES and persistence see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: &'a [u8],
    pub size: Amount,
    pub last_used: u64,
}

impl Tracker {
    /// The largest count of evicted keys a tracker keeps: 2^63-1, the largest that a reply,
    /// LRU.EVICTED and so an AOF rewrite carry.
    pub const MAX_EVICTED: u64 = i64::MAX as u64;

    /// Keys evicted by LRU.EVICT over the tracker's life (LRU.INFO `evicted`).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Adds `n` evicted keys to the count, which stops at `MAX_EVICTED`.
    pub fn count_evicted(&mut self, n: u64) {
        self.evicted = self.evicted.saturating_add(n).min(Self::MAX_EVICTED);
    }

    pub fn new() -> Tracker {
        Tracker::default()
    }

    pub fn len(&self) -> usize {
        self.by_age.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_age.is_empty()
    }

    pub fn total(&self) -> Amount {
        self.total
    }

    pub fn oldest_ms(&self) -> Option<u64> {
        self.by_age.first().map(|((ms, _), _)| *ms)
    }

    fn find(&self, name: &[u8]) -> Option<u32> {
        let h = self.hasher.hash_one(name);
        self.by_name
            .find(h, |i| {
                self.slab[*i as usize]
                    .as_ref()
                    .is_some_and(|t| &*t.name == name)
            })
            .copied()
    }

    pub fn contains(&self, name: &[u8]) -> bool {
        self.find(name).is_some()
    }

    pub fn size_of(&self, name: &[u8]) -> Option<Amount> {
        self.find(name)
            .and_then(|i| self.slab[i as usize].as_ref())
            .map(|t| t.size)
    }

    /// The total if `changes` (key, new size) were applied, the last size of a key named
    /// twice winning; None when it would pass the amount range (10^18). Summed exactly, so
    /// the order of the changes does not matter.
    pub fn total_after<C: Change>(&self, changes: &[C]) -> Option<Amount> {
        // At most 2^32 keys of at most 10^24 units each: far inside i128.
        let mut units = self.total.units();
        for c in last_mentions(changes) {
            units -= self.size_of(c.name()).map_or(0, Amount::units);
            units += c.size().units();
        }
        (0..=MAX_UNITS)
            .contains(&units)
            .then(|| Amount::from_units(units))
    }

    /// Marks `name` used at `now` with `size`; true if it was not tracked before. Refused,
    /// with nothing changed, when the total would pass the amount range (10^18).
    pub fn touch(&mut self, name: &[u8], size: Amount, now: u64) -> Result<bool, TrackerError> {
        self.touch_all(&[(name, size)], now).map(|added| added == 1)
    }

    /// Marks each key used at `now` with its size, in order (a key named twice counts once,
    /// at its last place with its last size); returns how many were not tracked before.
    /// Refused, with nothing changed, when the total would pass the amount range (10^18): a
    /// total is never saturated, which would leave it below what the keys hold. Judged on
    /// the final total, so a call that shrinks one key and grows another fits whatever their
    /// order.
    pub fn touch_all<C: Change>(&mut self, changes: &[C], now: u64) -> Result<usize, TrackerError> {
        let total = self
            .total_after(changes)
            .ok_or(TrackerError::TotalOutOfRange)?;
        let mut added = 0;
        for c in last_mentions(changes) {
            if self.place(c.name(), c.size(), now) {
                added += 1;
            }
        }
        self.total = total;
        Ok(added)
    }

    /// Puts `name` at the young end with `size` (the caller sets the total); true if it was
    /// not tracked before.
    fn place(&mut self, name: &[u8], size: Amount, now: u64) -> bool {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(i) = self.find(name) {
            if let Some(t) = self.slab[i as usize].as_mut() {
                self.by_age.remove(&(t.last_used, t.seq));
                t.size = size;
                t.last_used = now;
                t.seq = seq;
                let _ = self.by_age.insert((now, seq), i);
            }
            return false;
        }
        let tracked = Tracked {
            name: name.into(),
            size,
            last_used: now,
            seq,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some(tracked);
                i
            }
            None => {
                self.slab.push(Some(tracked));
                (self.slab.len() - 1) as u32
            }
        };
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.by_name.insert_unique(hasher.hash_one(name), i, |j| {
            hasher.hash_one(slab[*j as usize].as_ref().map_or(&[][..], |t| &t.name[..]))
        });
        let _ = self.by_age.insert((now, seq), i);
        true
    }

    /// Stops tracking `name`; its size if it was tracked.
    pub fn forget(&mut self, name: &[u8]) -> Option<Amount> {
        let i = self.find(name)?;
        let size = self.remove_index(i).map(|t| t.size);
        self.shrink();
        size
    }

    fn remove_index(&mut self, i: u32) -> Option<Tracked> {
        self.remove_hashed(i, None)
    }

    /// `remove_index`, given the hash of the key's name when the caller has it.
    fn remove_hashed(&mut self, i: u32, hash: Option<u64>) -> Option<Tracked> {
        let t = self.slab.get_mut(i as usize)?.take()?;
        let h = hash.unwrap_or_else(|| self.hasher.hash_one(&t.name[..]));
        if let Ok(e) = self.by_name.find_entry(h, |j| *j == i) {
            e.remove();
        }
        self.by_age.remove(&(t.last_used, t.seq));
        self.free.push(i);
        // The total is the sum of the sizes tracked, so it holds this one: a difference that
        // does not fit would be a broken tracker, counted again rather than clamped.
        self.total = match self.total.checked_sub(t.size) {
            Some(rest) if !rest.is_negative() => rest,
            _ => self.recount(),
        };
        if self.by_age.is_empty() {
            // Nothing tracked: give everything back (indexes held by a caller are all gone).
            self.shrink();
        }
        Some(t)
    }

    /// The sum of the sizes tracked.
    fn recount(&self) -> Amount {
        self.slab
            .iter()
            .flatten()
            .try_fold(Amount::ZERO, |sum, t| sum.checked_add(t.size))
            .unwrap_or(Amount::ZERO)
    }

    /// Gives memory back once the tracker holds far fewer keys than it has room for (a
    /// tracker emptied by FORGET or EVICT kept all of it): the slab is compacted, the name
    /// table shrinks (the age order gives its chunks back as it goes). Amortised O(1) per
    /// removal: it acts when the keys have fallen to a quarter of the room, and leaves room for
    /// twice the keys. Slab indexes change, so it runs after a removal is complete (`forget`,
    /// `take`, `retain`), never while indexes are held (a `Plan` holds some).
    pub fn shrink(&mut self) {
        let live = self.by_age.len();
        if live == 0 {
            self.slab = Vec::new();
            self.free = Vec::new();
            self.by_name = HashTable::new();
            self.by_age = ChunkedMap::new();
            self.total = Amount::ZERO;
            return;
        }
        if worth_shrinking(live, self.slab.len()) {
            self.compact();
        }
        let hasher = &self.hasher;
        let slab = &self.slab;
        if worth_shrinking(live, self.by_name.capacity()) {
            self.by_name.shrink_to(live * 2, |j| {
                hasher.hash_one(slab[*j as usize].as_ref().map_or(&[][..], |t| &t.name[..]))
            });
        }
    }

    /// Moves the tracked keys to the front of a slab of their own size (indexes change: the
    /// name table and the age order are rebuilt with the new ones).
    fn compact(&mut self) {
        let mut old = std::mem::take(&mut self.slab);
        let mut slab: Vec<Option<Tracked>> = Vec::with_capacity(self.by_age.len() * 2);
        for i in self.by_age.values_mut() {
            if let Some(t) = old.get_mut(*i as usize).and_then(Option::take) {
                *i = slab.len() as u32;
                slab.push(Some(t));
            }
        }
        drop(old);
        self.slab = slab;
        self.free = Vec::new();
        let (slab, hasher) = (&self.slab, &self.hasher);
        let mut by_name = HashTable::with_capacity(slab.len());
        for (i, t) in slab.iter().enumerate() {
            if let Some(t) = t {
                by_name.insert_unique(hasher.hash_one(&t.name[..]), i as u32, |j: &u32| {
                    hasher.hash_one(slab[*j as usize].as_ref().map_or(&[][..], |t| &t.name[..]))
                });
            }
        }
        self.by_name = by_name;
    }

    /// The `count` least recently used keys, oldest first.
    pub fn candidates(&self, count: usize) -> Vec<Entry<'_>> {
        self.by_age
            .iter()
            .take(count)
            .filter_map(|(_, i)| self.slab[*i as usize].as_ref())
            .map(|t| Entry {
                name: &t.name,
                size: t.size,
                last_used: t.last_used,
            })
            .collect()
    }

    /// All entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        self.by_age
            .iter()
            .filter_map(|(_, i)| self.slab[*i as usize].as_ref())
            .map(|t| Entry {
                name: &t.name,
                size: t.size,
                last_used: t.last_used,
            })
    }

    /// The keys an eviction would take, least recently used first, passing over keys `spare`
    /// keeps, until `enough(freed so far)` holds or `max` keys were taken. Changes nothing, so
    /// a caller can decide before it evicts (QUOTA.INCR ... EVICT evicts only when the amount
    /// then fits; DRYRUN only plans); `take` then evicts what was planned.
    pub fn plan(
        &self,
        max: usize,
        spare: impl Fn(&[u8]) -> bool,
        enough: impl Fn(Amount) -> bool,
    ) -> Plan {
        // Room for a usual eviction at once (growing from nothing took three allocations
        // for ten keys).
        let mut plan = Plan {
            picked: Vec::with_capacity(max.min(self.len()).min(16)),
            freed: Amount::ZERO,
        };
        for (age, i) in self.by_age.iter() {
            if plan.picked.len() >= max || enough(plan.freed) {
                break;
            }
            let Some(t) = self.slab[*i as usize].as_ref() else {
                continue;
            };
            if spare(&t.name) {
                continue;
            }
            // Sizes of keys the tracker holds: their sum is within its total, never past 10^18.
            plan.freed = Amount::from_units(plan.freed.units() + t.size.units());
            plan.picked.push((*i, *age));
        }
        plan
    }

    /// The keys `plan` would take, in eviction order.
    pub fn planned<'a>(&'a self, plan: &'a Plan) -> impl Iterator<Item = &'a [u8]> + 'a {
        plan.picked.iter().filter_map(|(i, age)| {
            self.slab
                .get(*i as usize)?
                .as_ref()
                .filter(|t| (t.last_used, t.seq) == *age)
                .map(|t| &t.name[..])
        })
    }

    /// Drops the keys of `plan` (counted as evicted) and hands them over, in eviction order,
    /// for the caller to delete. A key the tracker changed since the plan stays.
    pub fn take(&mut self, plan: Plan) -> Vec<Evicted> {
        // Each removal's look-up in the name table misses the cache twice (its control bytes,
        // then its slot), one key after the other. Looking them all up first, in a loop small
        // enough for the processor to have several in flight, overlaps those misses; the
        // removals then find the lines cached (about half the time of an eviction of 10 keys
        // of 2M tracked).
        // The hashes of the first 16 names are kept for the removals.
        let mut hashes = [None; 16];
        for (n, (i, _)) in plan.picked.iter().enumerate() {
            if let Some(t) = self.slab.get(*i as usize).and_then(Option::as_ref) {
                let h = self.hasher.hash_one(&t.name[..]);
                if let Some(slot) = hashes.get_mut(n) {
                    *slot = Some(h);
                }
                std::hint::black_box(self.by_name.find(h, |j| j == i));
            }
        }
        let mut taken = Vec::with_capacity(plan.picked.len());
        for (n, (i, age)) in plan.picked.into_iter().enumerate() {
            let current = self.slab.get(i as usize).and_then(Option::as_ref);
            if current.is_some_and(|t| (t.last_used, t.seq) == age) {
                if let Some(t) = self.remove_hashed(i, hashes.get(n).copied().flatten()) {
                    taken.push((t.name, t.size));
                }
            }
        }
        self.count_evicted(taken.len() as u64);
        // The plan's slab indexes are spent: the room can go.
        self.shrink();
        taken
    }

    /// LRU.EVICT's plan: the least recently used keys until the total is at most `target` or
    /// `max` keys, passing over keys `spare` keeps.
    pub fn plan_to(&self, target: Amount, max: usize, spare: impl Fn(&[u8]) -> bool) -> Plan {
        let total = self.total;
        self.plan(max, spare, |freed| {
            total.checked_sub(freed).is_none_or(|left| left <= target)
        })
    }

    /// LRU.EVICT: drops the keys of `plan_to`; (name, size) in eviction order.
    pub fn evict(
        &mut self,
        target: Amount,
        max: usize,
        spare: impl Fn(&[u8]) -> bool,
    ) -> Vec<Evicted> {
        let plan = self.plan_to(target, max, spare);
        self.take(plan)
    }

    /// Drops every key for which `keep` is false; returns how many.
    pub fn retain(&mut self, keep: impl Fn(&[u8]) -> bool) -> usize {
        let drop: Vec<u32> = self
            .slab
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().filter(|t| !keep(&t.name)).map(|_| i as u32))
            .collect();
        for i in &drop {
            self.remove_index(*i);
        }
        self.shrink();
        drop.len()
    }

    pub fn memory_usage(&self) -> usize {
        let names: usize = self
            .slab
            .iter()
            .flatten()
            .map(|t| alloc_size(t.name.len()))
            .sum();
        let table = if self.by_name.capacity() == 0 {
            0
        } else {
            alloc_size((self.by_name.capacity() * 8 / 7).next_power_of_two() * 5 + 16)
        };
        alloc_size(size_of::<Tracker>())
            + names
            + alloc_size(self.slab.capacity() * size_of::<Option<Tracked>>())
            + alloc_size(self.free.capacity() * 4)
            + table
            + self.by_age.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Amount {
        Amount::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn touch_forget_and_total() {
        let mut t = Tracker::new();
        assert_eq!(t.touch(b"k1", a("10"), 100), Ok(true));
        assert_eq!(t.touch(b"k2", a("2.5"), 101), Ok(true));
        assert_eq!(
            t.touch(b"k1", a("1"), 102),
            Ok(false),
            "re-touch replaces the size"
        );
        assert_eq!(t.total(), a("3.5"));
        let names: Vec<&[u8]> = t.candidates(10).iter().map(|e| e.name).collect();
        assert_eq!(names, [&b"k2"[..], b"k1"]);
        assert_eq!(t.forget(b"k2"), Some(a("2.5")));
        assert_eq!(t.forget(b"k2"), None);
        assert_eq!(t.total(), a("1"));
        assert_eq!(t.oldest_ms(), Some(102));
    }

    #[test]
    fn evict_oldest_until_target() {
        let mut t = Tracker::new();
        for i in 0..10u64 {
            t.touch(format!("k{i}").as_bytes(), a("1"), 100 + i / 3)
                .unwrap();
        }
        let out = t.evict(a("6"), 1000, |n| n == b"k1");
        let names: Vec<String> = out
            .iter()
            .map(|(n, _)| String::from_utf8_lossy(n).into())
            .collect();
        assert_eq!(
            names,
            ["k0", "k2", "k3", "k4"],
            "oldest first, same-ms in touch order, k1 kept"
        );
        assert_eq!(t.total(), a("6"));
        assert_eq!(t.evict(a("0"), 2, |_| false).len(), 2, "MAX bounds it");
        assert_eq!(t.evicted, 6);
    }

    /// Hostile-probe row 8: the total saturated at 10^18 (two keys of 6e17, then one resized to
    /// 1, left a total of 1 with 6e17 tracked, and EVICT stopped early).
    #[test]
    fn totals_past_the_amount_range_are_refused_never_saturated() {
        let mut t = Tracker::new();
        let big = a("600000000000000000");
        assert_eq!(t.touch(b"k1", big, 1), Ok(true));
        assert_eq!(t.touch(b"k2", big, 2), Err(TrackerError::TotalOutOfRange));
        assert_eq!((t.len(), t.total()), (1, big), "nothing changed");
        assert_eq!(t.touch(b"k1", a("1"), 3), Ok(false));
        assert_eq!(t.touch(b"k2", big, 4), Ok(true));
        assert_eq!(t.total(), a("600000000000000001"));
        // A resize that fits although the new size alone would not with the old one.
        assert_eq!(t.touch(b"k2", a("999999999999999999"), 5), Ok(false));
        assert_eq!(t.total(), a("1000000000000000000"));
        assert_eq!(
            t.touch(b"k1", a("2"), 6),
            Err(TrackerError::TotalOutOfRange)
        );
        // A key named twice counts by its last size; a shrink and a growth in one call are
        // judged on where they end, whatever their order.
        let big = a("999999999999999999");
        assert_eq!(
            t.touch_all(&[(&b"k2"[..], a("1")), (b"k1", big), (b"k2", a("1"))], 7),
            Ok(0)
        );
        assert_eq!(t.total(), a("1000000000000000000"));
        let order: Vec<&[u8]> = t.entries().map(|e| e.name).collect();
        assert_eq!(order, [&b"k1"[..], b"k2"], "at the last place named");
        let out = t.evict(a("0"), 10, |_| false);
        assert_eq!(out.len(), 2);
        assert_eq!(t.total(), Amount::ZERO);
    }

    /// Past FEW_CHANGES a table finds the keys named twice: both ways agree on the total,
    /// the count of new keys and the order, a key counting once at its last place.
    #[test]
    fn many_changes_count_a_key_once_as_few_do() {
        let names: Vec<Vec<u8>> = (0..40)
            .map(|i| format!("k{}", i % 25).into_bytes())
            .collect();
        let changes: Vec<(&[u8], Amount)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_slice(), Amount::from_units(i as i128 + 1)))
            .collect();
        let mut many = Tracker::new();
        assert_eq!(many.touch_all(&changes, 1), Ok(25));
        let mut few = Tracker::new();
        let mut added = 0;
        for chunk in changes.chunks(1) {
            // One at a time: the last size and place of each key win.
            added += few.touch_all(chunk, 1).unwrap_or(0);
        }
        assert_eq!(added, 25);
        assert_eq!(many.total(), few.total());
        assert_eq!(many.total_after(&changes), few.total_after(&changes));
        let order = |t: &Tracker| {
            t.entries()
                .map(|e| (e.name.to_vec(), e.size))
                .collect::<Vec<_>>()
        };
        assert_eq!(order(&many), order(&few));
        // k0..k14 were named twice: their last sizes are 26..40.
        assert_eq!(many.size_of(b"k0"), Some(Amount::from_units(26)));
        assert_eq!(many.size_of(b"k24"), Some(Amount::from_units(25)));
    }

    /// Hostile-probe row 11: a tracker emptied by FORGET of 100k keys kept 7.6 MB.
    #[test]
    fn memory_comes_back_when_keys_go() {
        let mut t = Tracker::new();
        let empty = t.memory_usage();
        let names: Vec<String> = (0..100_000)
            .map(|i| format!("t:{{a}}:key:{i:08}"))
            .collect();
        for (i, n) in names.iter().enumerate() {
            t.touch(n.as_bytes(), a("1"), i as u64 / 10).unwrap();
        }
        let full = t.memory_usage();
        // Forgotten in an order unrelated to their age, down to 100.
        for n in names.iter().skip(100).rev() {
            t.forget(n.as_bytes()).unwrap();
        }
        assert_eq!(t.len(), 100);
        assert!(
            t.memory_usage() * 100 < full,
            "{} bytes for 100 keys, {full} for 100k",
            t.memory_usage()
        );
        // The 100 left are intact after the compaction, and new keys go in as before.
        assert_eq!(t.total(), a("100"));
        for n in names.iter().take(100) {
            assert_eq!(t.size_of(n.as_bytes()), Some(a("1")));
        }
        let order: Vec<&[u8]> = t.entries().map(|e| e.name).collect();
        let want: Vec<&[u8]> = names.iter().take(100).map(|n| n.as_bytes()).collect();
        assert_eq!(order, want);
        t.touch(b"t:{a}:new", a("5"), 1_000_000).unwrap();
        assert_eq!(t.candidates(1)[0].name, names[0].as_bytes());
        for n in names.iter().take(100) {
            t.forget(n.as_bytes()).unwrap();
        }
        t.forget(b"t:{a}:new").unwrap();
        assert_eq!(
            t.memory_usage(),
            empty,
            "an emptied tracker holds what a new one does"
        );
        // EVICT and retain give back too.
        for (i, n) in names.iter().enumerate() {
            t.touch(n.as_bytes(), a("1"), i as u64).unwrap();
        }
        t.evict(a("10"), usize::MAX, |_| false);
        assert!(t.memory_usage() * 100 < full, "{}", t.memory_usage());
        for (i, n) in names.iter().enumerate() {
            t.touch(n.as_bytes(), a("1"), i as u64).unwrap();
        }
        t.retain(|n| n.ends_with(b"7"));
        assert_eq!(t.len(), 10_000);
        assert!(t.memory_usage() * 5 < full, "{}", t.memory_usage());
    }

    #[test]
    fn plan_changes_nothing_and_stops_when_enough() {
        let mut t = Tracker::new();
        for (i, size) in ["4", "0", "3", "5"].iter().enumerate() {
            t.touch(format!("k{i}").as_bytes(), a(size), 100 + i as u64)
                .unwrap();
        }
        let before = (t.total(), t.len());
        let names = |t: &Tracker, p: &Plan| -> Vec<String> {
            t.planned(p)
                .map(|n| String::from_utf8_lossy(n).into())
                .collect()
        };
        // Enough once 6 are freed: k0 (4), k1 (0), k2 (3); k1 is spared in the second plan.
        let p = t.plan(10, |_| false, |freed| freed >= a("6"));
        assert_eq!(
            (names(&t, &p), p.freed()),
            (vec!["k0".into(), "k1".into(), "k2".into()], a("7"))
        );
        let p = t.plan(10, |n| n == b"k1", |freed| freed >= a("6"));
        assert_eq!(names(&t, &p), ["k0", "k2"]);
        assert_eq!(names(&t, &t.plan(1, |_| false, |_| false)), ["k0"], "max");
        assert!(t.plan(10, |_| false, |_| true).is_empty(), "enough at once");
        assert_eq!((t.total(), t.len(), t.evicted), (before.0, before.1, 0));
        // A key touched since the plan stays.
        t.touch(b"k2", a("3"), 200).unwrap();
        let taken = t.take(p);
        assert_eq!(taken, [(b"k0".to_vec().into_boxed_slice(), a("4"))]);
        assert_eq!((t.total(), t.len(), t.evicted), (a("8"), 3, 1));
    }

    #[test]
    fn matches_a_model_under_random_operations() {
        use std::collections::BTreeMap;
        let mut t = Tracker::new();
        let mut model: BTreeMap<Vec<u8>, (Amount, u64, u64)> = BTreeMap::new();
        let mut x: u64 = 88172645463325252;
        let mut seq = 0;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let name = format!("k{}", x % 300).into_bytes();
            let size = Amount::from_units((x % 1000) as i128 * 1000);
            match x % 5 {
                0 => {
                    assert_eq!(t.forget(&name), model.remove(&name).map(|v| v.0));
                }
                _ => {
                    let now = step / 7;
                    assert_eq!(t.touch(&name, size, now), Ok(!model.contains_key(&name)));
                    model.insert(name, (size, now, seq));
                    seq += 1;
                }
            }
        }
        let mut want: Vec<_> = model
            .iter()
            .map(|(k, v)| (v.1, v.2, k.clone(), v.0))
            .collect();
        want.sort();
        let got: Vec<_> = t.entries().map(|e| (e.name.to_vec(), e.size)).collect();
        let want: Vec<_> = want.into_iter().map(|(_, _, k, s)| (k, s)).collect();
        assert_eq!(got, want);
        let total = model
            .values()
            .fold(Amount::ZERO, |s, v| s.checked_add(v.0).unwrap());
        assert_eq!(t.total(), total);
    }
}
