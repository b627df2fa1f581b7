//! The persistence encoding of an LRU tracker.
//!
//! Encoding versions (the type's encver):
//! - `ENC_V1` (vigil 0.1): evicted count, number of keys, then each key oldest first as
//!   name, size (decimal string), last_used ms. Touch order within a millisecond is the order
//!   of the list.

use super::tracker::Tracker;
use crate::amount::Amount;
use crate::codec::{check_version, DecodeError, Sink, Source};

pub const ENC_V1: i32 = 1;
pub const ENC_LATEST: i32 = ENC_V1;

pub fn encode(t: &Tracker, out: &mut impl Sink) {
    write(t, t.evicted(), out)
}

/// The encoding with the eviction count as 0: what DEBUG DIGEST compares (the count is a
/// statistic; replicas and the AOF receive it as LRU.EVICTED, after the DELs).
pub fn encode_state(t: &Tracker, out: &mut impl Sink) {
    write(t, 0, out)
}

fn write(t: &Tracker, evicted: u64, out: &mut impl Sink) {
    out.put_u64(evicted);
    out.put_u64(t.len() as u64);
    for e in t.entries() {
        out.put_bytes(e.name);
        out.put_bytes(e.size.to_string().as_bytes());
        out.put_u64(e.last_used);
    }
}

pub fn decode(src: &mut impl Source, encver: i32) -> Result<Tracker, DecodeError> {
    check_version(encver, ENC_LATEST)?;
    let mut t = Tracker::new();
    let evicted = src.u64()?;
    let n = src.count("tracked key")?;
    let mut last = 0;
    for _ in 0..n {
        let name = src.bytes()?;
        let size = src.bytes_with(Amount::parse)?;
        let size = size
            .ok()
            .filter(|s| !s.is_negative())
            .ok_or_else(|| DecodeError::invalid("a tracked size is not an amount >= 0"))?;
        let used = src.u64()?;
        if used > crate::alert::MAX_MS || used < last {
            return Err(DecodeError::invalid("tracked keys out of order"));
        }
        last = used;
        if t.contains(&name) {
            return Err(DecodeError::invalid("a tracked key is repeated"));
        }
        t.touch(&name, size, used)
            .map_err(|e| DecodeError::invalid(e.to_string()))?;
    }
    // A count past what the tracker keeps (a crafted payload) is kept at the most.
    t.count_evicted(evicted);
    Ok(t)
}
