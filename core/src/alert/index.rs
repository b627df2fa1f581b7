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
//! severity's for a high or critical one), plus about 80 bytes per distinct value. Sources and
//! types are interned per stream, so the alert holds their IDs.

use super::doc::Severity;
use super::id::AlertId;
use crate::chunked::ChunkedMap;
use crate::memsize::{self, alloc_size, worth_shrinking};
use hashbrown::HashMap;
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

#[derive(Debug, Clone, Default)]
pub struct FilterIndex {
    lists: HashMap<Token, List>,
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
    pub fn insert(&mut self, token: Token, id: AlertId) {
        match self.lists.get_mut(&token) {
            Some(list) => list.insert(id),
            None => {
                self.lists.insert(token, List::Small(vec![id]));
            }
        }
    }

    pub fn remove(&mut self, token: Token, id: &AlertId) {
        if let Some(list) = self.lists.get_mut(&token) {
            list.remove(id);
            if list.is_empty() {
                self.lists.remove(&token);
                memsize::shrink_map(&mut self.lists);
            }
        }
    }

    pub fn list(&self, token: Token) -> Option<&List> {
        self.lists.get(&token)
    }

    pub fn clear(&mut self) {
        self.lists = HashMap::new();
    }

    pub fn heap_bytes(&self) -> usize {
        let lists: usize = self.lists.values().map(List::heap_bytes).sum();
        let table = if self.lists.capacity() == 0 {
            0
        } else {
            let buckets = (self.lists.capacity() * 8 / 7).next_power_of_two();
            alloc_size(buckets * (size_of::<(Token, List)>() + 1) + 16)
        };
        lists + table
    }
}
