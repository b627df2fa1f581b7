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
//! Memory: a 16-byte entry per alert in its source's list and in its type's list (and in its
//! severity's for a high or critical one), plus about 80 bytes per distinct value (a 32-byte
//! slot, its list's own allocation). Sources and
//! types are interned per stream, so the alert holds their IDs.

use super::doc::Severity;
use super::id::AlertId;
use crate::chunked::ChunkedMap;
use crate::memsize::{alloc_size, worth_shrinking};
use std::mem::size_of;

/// Lists up to this long are a sorted vector; longer ones a chunked map.
const SMALL: usize = 32;

/// The alerts holding one value, in ID order.
#[derive(Debug, Clone)]
pub enum List {
    Small(Vec<AlertId>),
    Large(ChunkedMap<AlertId, ()>),
}

impl List {
    pub fn len(&self) -> usize {
        match self {
            List::Small(v) => v.len(),
            List::Large(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, id: &AlertId) -> bool {
        match self {
            List::Small(v) => v.binary_search(id).is_ok(),
            List::Large(m) => m.contains_key(id),
        }
    }

    fn insert(&mut self, id: AlertId) {
        match self {
            List::Small(v) => {
                if let Err(pos) = v.binary_search(&id) {
                    v.insert(pos, id);
                }
                if v.len() > SMALL {
                    let mut m = ChunkedMap::new();
                    for id in v.drain(..) {
                        let _ = m.insert(id, ());
                    }
                    *self = List::Large(m);
                }
            }
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
            List::Large(m) => {
                m.remove(id);
            }
        }
    }

    /// The IDs from `start` up, unboxed (the rate limit's hot path).
    pub fn ids_from(&self, start: AlertId) -> impl Iterator<Item = AlertId> + '_ {
        let (small, large) = match self {
            List::Small(v) => {
                let from = v.partition_point(|id| *id < start);
                (Some(v[from..].iter().copied()), None)
            }
            List::Large(m) => (None, Some(m.iter_from(&start).map(|(id, _)| *id))),
        };
        small
            .into_iter()
            .flatten()
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
            List::Large(m) => m.heap_bytes(),
        }
    }
}

/// The lists, by token: sources and types by their interned IDs (small integers, reused),
/// severities by rank. Indexed by position, not hashed: an add and a trim each update three
/// lists, and three hash look-ups were most of the index's cost.
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
