//! Revisions after a server comes back with fewer changes than a reader saw.
//!
//! A revision counts a stream's changes. A replica promoted without the writes nobody waited
//! for, or a server given an older file (a restart, a RESTORE), counts the lost changes again;
//! a reader's cursor from before would then read on past as many of the new ones. So the first
//! change a primary makes to a stream after its data was loaded (start-up, full sync, DEBUG
//! RELOAD, a RESTORE or a migration of the key) or after the server's role changed counts on
//! from the clock in microseconds, as a new stream's first change does, and at least
//! [`LOST_COVERED`] past the stream's revision: above every cursor the lost changes gave out,
//! also for a stream whose revision is past the clock (it changed faster than once a µs, or a
//! client set it there) and for a new primary whose clock runs behind the old one's. The
//! primary replicates that floor before the change (`ALERT.ALTER key REVISION n`), so
//! replicas and the AOF count alike.

use crate::argv::Argv;
use crate::clock::{from_primary, now_ms};
use redis_module::{Context, RedisString};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use vigil_core::alert::Stream;

/// Moves on at the end of every load and at every change of role; a stream whose `epoch` is
/// not this one has not changed on this primary since.
static EPOCH: AtomicU32 = AtomicU32::new(1);

/// How many lost changes a floor covers whatever the clock says: 2^32 (71 minutes of the clock
/// in µs). A stream whose revision a client set near the end of the range (2^62) has room
/// for 2^30 such floors.
pub const LOST_COVERED: u64 = 1 << 32;

/// No floor goes past this: the revisions counted on from it stay within an integer reply.
const MAX_FLOOR: u64 = (i64::MAX as u64) - LOST_COVERED;

/// A load ended (or failed) or the server's role changed.
pub fn new_epoch() {
    // Past u32::MAX (four billion loads and role changes) it wraps to 0, which a loaded
    // stream holds: skipped.
    if EPOCH.fetch_add(1, Relaxed) == u32::MAX {
        EPOCH.store(1, Relaxed);
    }
}

/// Marks a stream made now as counting from the clock already (a new stream's revision starts
/// there).
pub fn fresh(stream: &mut Stream) {
    stream.epoch = EPOCH.load(Relaxed);
}

/// Before a command changes the alerts of `stream`: sets the floor when this is its first
/// change since a load or a change of role, on a primary, and returns it. One load and
/// compare otherwise. Every `arm` is followed by [`settle`] before the command replicates
/// anything.
#[inline]
pub fn arm(ctx: &Context, stream: &mut Stream) -> Option<u64> {
    let epoch = EPOCH.load(Relaxed);
    if stream.epoch == epoch {
        return None;
    }
    stream.epoch = epoch;
    // What the primary or the AOF sends was counted by the primary: it sends the floor.
    if from_primary(ctx) {
        return None;
    }
    let floor = now_ms()
        .saturating_mul(1000)
        .max(stream.revision().saturating_add(LOST_COVERED))
        .min(MAX_FLOOR);
    stream.set_floor(floor).then_some(floor)
}

/// After the change, before the command replicates it: replicates the floor when a change
/// used it. A floor no change used is dropped, and the stream's next change sets it again.
pub fn settle(ctx: &Context, name: &RedisString, stream: &mut Stream, armed: Option<u64>) {
    let Some(floor) = armed else {
        return;
    };
    if stream.take_floor() {
        Argv::new(c"ALERT.ALTER")
            .opt("REVISION", floor)
            .replicate(ctx, name.as_slice());
    } else {
        stream.epoch = 0;
    }
}
