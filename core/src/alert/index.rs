//! The filter index: for each value of a filterable field (a source, a type, a high or
//! critical severity), the IDs of the alerts that hold it, in ID order. A filtered RANGE or
//! GROUPS walks the shortest list its filters name instead of every alert of the range, so
//! that a SOURCE or TYPE matching one alert in ten thousand costs O(log n + matches), not a
//! walk of the stream.
//!
//! Label pairs are not indexed: labels such as a host name often take a value per alert,
//! and a list per value would cost more than the alert. A LABEL filter is checked on the
//! alerts the other filters leave (or on the range when it is the only filter).
//!
//! Memory: an entry per alert in its source's list and in its type's list (and in its
//! severity's for a high or critical one), each ID coded as its difference to the one before
//! (`DeltaSeq`: 1 to 3 bytes; whole 16-byte IDs in a list that holds an ID whose seq passed
//! 2^16), plus about 80 bytes per distinct value (a 40-byte slot, its list's own allocation).
//! Sources and types are interned per stream, so the alert holds their IDs.

use super::doc::Severity;
use super::id::AlertId;
use crate::chunked::ChunkedMap;
use crate::deltas::DeltaSeq;
use crate::memsize::{alloc_size, worth_shrinking};
use std::mem::size_of;

/// Lists up to this long are a sorted vector; longer ones a chunked map.
const SMALL: usize = 32;

/// `AlertId::pack`: 8 bytes an ID.
fn pack(id: &AlertId) -> Option<u64> {
    id.pack()
}

fn unpack(p: u64) -> AlertId {
    AlertId::unpack(p)
}

/// The least packed ID at or above `id` (None: there is none).
fn packed_at_least(id: &AlertId) -> Option<u64> {
    if id.ts >= 1 << 48 {
        None
    } else if id.seq >= 1 << 16 {
        (id.ts + 1 < 1 << 48).then_some((id.ts + 1) << 16)
    } else {
        Some(id.ts << 16 | id.seq)
    }
}

/// The greatest packed ID at or below `id`.
fn packed_at_most(id: &AlertId) -> u64 {
    if id.ts >= 1 << 48 {
        u64::MAX
    } else {
        id.ts << 16 | id.seq.min(0xffff)
    }
}

/// The alerts holding one value, in ID order.
#[derive(Debug, Clone)]
pub enum List {
    Small(Vec<AlertId>),
    /// Longer lists whose IDs all pack: each coded against the one before, 1 to 3 bytes
    /// an entry (`DeltaSeq`).
    Packed(DeltaSeq<1>),
    /// Longer lists with an ID that does not pack: 16 bytes an entry.
    Large(ChunkedMap<AlertId, ()>),
}

impl List {
    pub fn len(&self) -> usize {
        match self {
            List::Small(v) => v.len(),
            List::Packed(m) => m.len(),
            List::Large(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, id: &AlertId) -> bool {
        match self {
            List::Small(v) => v.binary_search(id).is_ok(),
            List::Packed(m) => pack(id).is_some_and(|p| m.contains(p)),
            List::Large(m) => m.contains_key(id),
        }
    }

    /// A list of these IDs (sorted, distinct) past the small size: packed if they all pack.
    fn long(ids: impl Iterator<Item = AlertId> + Clone) -> List {
        if ids.clone().all(|id| pack(&id).is_some()) {
            let mut m = DeltaSeq::new();
            for p in ids.filter_map(|id| pack(&id)) {
                m.insert([p]);
            }
            List::Packed(m)
        } else {
            let mut m = ChunkedMap::new();
            for id in ids {
                let _ = m.insert(id, ());
            }
            List::Large(m)
        }
    }

    fn insert(&mut self, id: AlertId) {
        match self {
            List::Small(v) => {
                if let Err(pos) = v.binary_search(&id) {
                    v.insert(pos, id);
                }
                if v.len() > SMALL {
                    *self = List::long(v.iter().copied());
                }
            }
            List::Packed(m) => match pack(&id) {
                Some(p) => {
                    m.insert([p]);
                }
                None => {
                    let mut wide = ChunkedMap::new();
                    for [p] in m.iter_from(0) {
                        let _ = wide.insert(unpack(p), ());
                    }
                    let _ = wide.insert(id, ());
                    *self = List::Large(wide);
                }
            },
            List::Large(m) => {
                let _ = m.insert(id, ());
            }
        }
    }

    fn remove(&mut self, id: &AlertId) {
        match self {
            List::Small(v) => {
                if let Ok(pos) = v.binary_search(id) {
                    v.remove(pos);
                }
                if worth_shrinking(v.len(), v.capacity()) {
                    v.shrink_to(v.len() * 2);
                }
            }
            List::Packed(m) => {
                if let Some(p) = pack(id) {
                    m.remove(p);
                }
            }
            List::Large(m) => {
                m.remove(id);
            }
        }
    }

    /// The IDs from `start` up, unboxed (the rate limit's hot path).
    pub fn ids_from(&self, start: AlertId) -> impl Iterator<Item = AlertId> + '_ {
        let (small, packed, large) = match self {
            List::Small(v) => {
                let from = v.partition_point(|id| *id < start);
                (Some(v[from..].iter().copied()), None, None)
            }
            List::Packed(m) => {
                let from = packed_at_least(&start).map(|p| m.iter_from(p).map(|[p]| unpack(p)));
                (None, from, None)
            }
            List::Large(m) => (None, None, Some(m.iter_from(&start).map(|(id, _)| *id))),
        };
        small
            .into_iter()
            .flatten()
            .chain(packed.into_iter().flatten())
            .chain(large.into_iter().flatten())
    }

    /// The IDs from `start` up (or from `end` down with `rev`), bounded by the other end.
    pub fn ids<'s>(
        &'s self,
        start: AlertId,
        end: AlertId,
        rev: bool,
    ) -> Box<dyn Iterator<Item = AlertId> + 's> {
        match (self, rev) {
            (List::Small(v), false) => {
                let from = v.partition_point(|id| *id < start);
                Box::new(v[from..].iter().copied().take_while(move |id| *id <= end))
            }
            (List::Small(v), true) => {
                let to = v.partition_point(|id| *id <= end);
                Box::new(
                    v[..to]
                        .iter()
                        .rev()
                        .copied()
                        .take_while(move |id| *id >= start),
                )
            }
            (List::Packed(_), false) => {
                Box::new(self.ids_from(start).take_while(move |id| *id <= end))
            }
            (List::Packed(m), true) => Box::new(
                m.iter_rev_from(packed_at_most(&end))
                    .map(|[p]| unpack(p))
                    .take_while(move |id| *id >= start),
            ),
            (List::Large(m), false) => Box::new(
                m.iter_from(&start)
                    .map(|(id, _)| *id)
                    .take_while(move |id| *id <= end),
            ),
            (List::Large(m), true) => Box::new(
                m.iter_rev_from(&end)
                    .map(|(id, _)| *id)
                    .take_while(move |id| *id >= start),
            ),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            List::Small(v) => alloc_size(v.capacity() * size_of::<AlertId>()),
            List::Packed(m) => m.heap_bytes(),
            List::Large(m) => m.heap_bytes(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct FilterIndex {
    sources: Vec<Option<List>>,
    kinds: Vec<Option<List>>,
    severities: Vec<Option<List>>,
}

/// A field's value in the index: the source or type by its interned ID, a severity by rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Token {
    Source(u32),
    Type(u32),
    Severity(u8),
}

/// Only the rare severities have lists: MINSEVERITY high or critical walks them; lower
/// thresholds match most alerts, and walking the range is as cheap.
pub fn severity_token(sev: Severity) -> Option<Token> {
    (sev >= Severity::High).then_some(Token::Severity(sev as u8))
}

/// The indexed values of one alert.
pub fn tokens_of(source: u32, kind: u32, severity: Severity) -> impl Iterator<Item = Token> {
    [
        Some(Token::Source(source)),
        Some(Token::Type(kind)),
        severity_token(severity),
    ]
    .into_iter()
    .flatten()
}

impl FilterIndex {
    fn slots(&self, token: Token) -> (&Vec<Option<List>>, usize) {
        match token {
            Token::Source(i) => (&self.sources, i as usize),
            Token::Type(i) => (&self.kinds, i as usize),
            Token::Severity(r) => (&self.severities, r as usize),
        }
    }

    fn slots_mut(&mut self, token: Token) -> (&mut Vec<Option<List>>, usize) {
        match token {
            Token::Source(i) => (&mut self.sources, i as usize),
            Token::Type(i) => (&mut self.kinds, i as usize),
            Token::Severity(r) => (&mut self.severities, r as usize),
        }
    }

    pub fn insert(&mut self, token: Token, id: AlertId) {
        let (slots, i) = self.slots_mut(token);
        if slots.len() <= i {
            slots.resize_with(i + 1, || None);
        }
        match &mut slots[i] {
            Some(list) => list.insert(id),
            slot => *slot = Some(List::Small(vec![id])),
        }
    }

    pub fn remove(&mut self, token: Token, id: &AlertId) {
        let (slots, i) = self.slots_mut(token);
        if let Some(slot) = slots.get_mut(i) {
            if let Some(list) = slot {
                list.remove(id);
                if list.is_empty() {
                    *slot = None;
                }
            }
            // The IDs of the last sources or types left: give their slots back.
            while slots.last().is_some_and(Option::is_none) {
                slots.pop();
            }
            if worth_shrinking(slots.len(), slots.capacity()) {
                slots.shrink_to(slots.len() * 2);
            }
        }
    }

    pub fn list(&self, token: Token) -> Option<&List> {
        let (slots, i) = self.slots(token);
        slots.get(i).and_then(Option::as_ref)
    }

    pub fn clear(&mut self) {
        *self = FilterIndex::default();
    }

    pub fn heap_bytes(&self) -> usize {
        [&self.sources, &self.kinds, &self.severities]
            .into_iter()
            .map(|slots| {
                let lists: usize = slots.iter().flatten().map(List::heap_bytes).sum();
                let table = if slots.capacity() == 0 {
                    0
                } else {
                    alloc_size(slots.capacity() * size_of::<Option<List>>())
                };
                lists + table
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// A list against a BTreeSet model, through growth past SMALL, an ID that does not pack
    /// (the list turns Large), and removals; every query at every bound.
    #[test]
    fn lists_answer_as_a_sorted_set() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for wide_at in [None, Some(200)] {
            let mut list = List::Small(Vec::new());
            let mut model = BTreeSet::new();
            for step in 0..600 {
                let r = next();
                let id = if wide_at == Some(step) {
                    AlertId::new(1000 + r % 50, 70_000)
                } else {
                    AlertId::new(1000 + r % 50, (r >> 8) % 4)
                };
                if r % 4 == 0 && wide_at != Some(step) {
                    list.remove(&id);
                    model.remove(&id);
                } else {
                    list.insert(id);
                    model.insert(id);
                }
                assert_eq!(list.len(), model.len());
            }
            // Packed unless an ID that does not pack came (then wide for good).
            let wide = matches!(list, List::Large(_));
            assert_eq!(wide, wide_at.is_some());
            assert!(!matches!(list, List::Small(_)));
            let bounds = [
                AlertId::MIN,
                AlertId::new(1010, 2),
                AlertId::new(1020, 70_000),
                AlertId::new(1030, u64::MAX),
                AlertId::MAX,
            ];
            for start in bounds {
                let want: Vec<AlertId> = model.range(start..).copied().collect();
                assert_eq!(list.ids_from(start).collect::<Vec<_>>(), want);
                for end in bounds.iter().filter(|e| **e >= start) {
                    let want: Vec<AlertId> = model.range(start..=*end).copied().collect();
                    let fwd: Vec<AlertId> = list.ids(start, *end, false).collect();
                    let mut rev: Vec<AlertId> = list.ids(start, *end, true).collect();
                    rev.reverse();
                    assert_eq!((&fwd, &rev), (&want, &want), "{start} {end}");
                }
            }
            for id in model.iter().take(20) {
                assert!(list.contains(id));
            }
            assert!(!list.contains(&AlertId::new(999, 0)));
        }
    }
}
