//! The revision index: the revision of each alert's last change, mapped to the alert, for
//! ALERT.READ's walk in revision order.
//!
//! Memory: about 3 bytes an alert (the revision and the ID packed in 8 bytes, `AlertId::pack`,
//! each coded as its difference to the entry before, `DeltaSeq`), in blocks that in-order
//! changes fill. A stream that holds an ID that does not pack (a seq past 2^16 or a ts past
//! the year 10889, which only explicit IDs give) keeps the ID whole, 24 bytes an alert, from
//! then on.

use super::id::AlertId;
use crate::chunked::ChunkedMap;
use crate::deltas::DeltaSeq;

#[derive(Debug, Clone)]
pub enum RevIndex {
    /// (revision, packed ID), each coded against the one before (`DeltaSeq`).
    Packed(DeltaSeq<2>),
    Wide(ChunkedMap<u64, AlertId>),
}

impl Default for RevIndex {
    fn default() -> Self {
        RevIndex::Packed(DeltaSeq::new())
    }
}

impl RevIndex {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        match self {
            RevIndex::Packed(m) => m.len(),
            RevIndex::Wide(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Maps `rev` to `id`; false (and nothing changed) when `rev` is already taken.
    pub fn insert(&mut self, rev: u64, id: AlertId) -> bool {
        match self {
            RevIndex::Packed(m) => match id.pack() {
                Some(p) => m.insert([rev, p]),
                None => {
                    if m.contains(rev) {
                        return false;
                    }
                    let mut wide = ChunkedMap::new();
                    for [r, p] in m.iter_from(0) {
                        let _ = wide.insert(r, AlertId::unpack(p));
                    }
                    let _ = wide.insert(rev, id);
                    *self = RevIndex::Wide(wide);
                    true
                }
            },
            RevIndex::Wide(m) => m.insert(rev, id).is_ok(),
        }
    }

    pub fn remove(&mut self, rev: &u64) -> Option<AlertId> {
        match self {
            RevIndex::Packed(m) => m.remove(*rev).map(|[_, p]| AlertId::unpack(p)),
            RevIndex::Wide(m) => m.remove(rev),
        }
    }

    pub fn contains_key(&self, rev: &u64) -> bool {
        match self {
            RevIndex::Packed(m) => m.contains(*rev),
            RevIndex::Wide(m) => m.contains_key(rev),
        }
    }

    /// (revision, ID) from revision `start` on, in revision order.
    pub fn iter_from<'a>(&'a self, start: &u64) -> Box<dyn Iterator<Item = (u64, AlertId)> + 'a> {
        match self {
            RevIndex::Packed(m) => {
                Box::new(m.iter_from(*start).map(|[r, p]| (r, AlertId::unpack(p))))
            }
            RevIndex::Wide(m) => Box::new(m.iter_from(start).map(|(r, id)| (*r, *id))),
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            RevIndex::Packed(m) => m.heap_bytes(),
            RevIndex::Wide(m) => m.heap_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_ids_until_one_does_not_pack() {
        let mut r = RevIndex::new();
        for i in 1..=200u64 {
            assert!(r.insert(i, AlertId::new(1000 + i, i % 3)));
        }
        assert!(!r.insert(5, AlertId::new(1, 1)), "revision 5 is taken");
        assert!(matches!(r, RevIndex::Packed(_)));
        let packed = r.heap_bytes();
        assert_eq!(r.remove(&7), Some(AlertId::new(1007, 1)));
        assert!(!r.contains_key(&7));
        let big = AlertId::new(5, 1 << 20);
        assert!(r.insert(300, big));
        assert!(matches!(r, RevIndex::Wide(_)));
        assert!(r.heap_bytes() > packed);
        assert_eq!(r.len(), 200);
        let walked: Vec<(u64, AlertId)> = r.iter_from(&199).collect();
        assert_eq!(
            walked,
            vec![
                (199, AlertId::new(1199, 1)),
                (200, AlertId::new(1200, 2)),
                (300, big)
            ]
        );
        assert_eq!(r.remove(&300), Some(big));
        assert_eq!(r.iter_from(&0).count(), 199);
    }
}
