//! The eviction LRU.EVICT and QUOTA.INCR ... EVICT share: which keys an eviction charged to a
//! quota passes over, and the delete itself — one DEL with the tracker marked as evicting,
//! replicated as the DEL it is, counted, and raised as `lru.evict`. Which keys go is the
//! core's plan (`Tracker::plan`, `Tracker::evict`); they have left the tracker before they are
//! deleted here.

use super::index;
use crate::ffi::{self, selected_db};
use crate::stats::{self, LRU_EVICTIONS};
use crate::text::Text;
use redis_module::{Context, RedisString};
use vigil_core::amount::Amount;
use vigil_core::lru::Evicted;
use vigil_core::quota::Quota;

/// The keys an eviction charged to the quota `name` (None: to no quota) never takes: the quota
/// itself and the stream its threshold alerts go to (deleted, the stream would come back with
/// the default settings at the next alert). The name is borrowed; only a stream's is copied.
pub fn spared<'a>(quota: Option<(&'a [u8], Option<&Quota>)>) -> impl Fn(&[u8]) -> bool + 'a {
    let name = quota.map(|(name, _)| name);
    let stream: Option<Vec<u8>> = quota
        .and_then(|(_, q)| q?.thresholds.as_ref())
        .map(|t| t.stream().to_vec());
    move |key: &[u8]| name == Some(key) || stream.as_deref() == Some(key)
}

/// The sizes of `evicted`, summed exactly (keys the tracker held: their sum is within its
/// total, never past 10^18; nothing is clamped).
pub fn freed(evicted: &[Evicted]) -> Amount {
    Amount::from_units(evicted.iter().map(|(_, size)| size.units()).sum())
}

/// Deletes `evicted`, which the tracker `tracker` has dropped already: its `del` events must
/// skip that tracker, which the calling command holds borrowed. One DEL of them all (not a
/// command per key), replicated as it is.
pub fn delete(ctx: &Context, tracker: &RedisString, evicted: &[Evicted]) {
    if evicted.is_empty() {
        return;
    }
    index::while_evicting(selected_db(ctx), tracker.as_slice(), || {
        ffi::delete_keys(ctx, evicted.iter().map(|(k, _)| &k[..]));
    });
    // The DEL reaches replicas and the AOF as it is: their tracker drops the keys on its
    // `del` events, and counts them as evicted by this (the tracker's own name and digits on
    // the stack: nothing is built when nobody listens).
    let n = Text::num(evicted.len() as u64);
    ffi::replicate_args(
        ctx,
        c"LRU.EVICTED",
        [ffi::Arg::Sent(tracker), ffi::Arg::Bytes(n.as_bytes())],
    );
    stats::add(&LRU_EVICTIONS, evicted.len() as u64);
    ffi::notify(ctx, c"lru.evict", tracker);
}
