//! The retention sweep: a timer that visits the alert streams (from the registry, a bounded
//! batch per tick) and trims alerts older than their stream's retention, so idle streams expire
//! too. Each trim is replicated as `ALERT.TRIM key MINTS bound`; replicas never sweep on their
//! own clock.

use super::registry;
use crate::argv::Argv;
use crate::clock::{now_ms, timer_may_write};
use crate::ffi;
use crate::keys;
use crate::stats::{self, ALERTS_HELD, ALERTS_SWEPT, ALERTS_TRIMMED};
use redis_module::{Context, RedisString};
use std::ptr::NonNull;
use std::time::Duration;
use vigil_core::alert::Stream;

pub const INTERVAL_MS: u64 = 100;
/// Streams looked at per tick: every stream is visited within streams / 10,000 seconds.
const STREAMS_PER_TICK: usize = 1000;
/// Alerts removed per tick, over all streams.
const TRIMS_PER_TICK: usize = 10_000;

pub fn start(ctx: &Context) {
    ctx.create_timer(Duration::from_millis(INTERVAL_MS), tick, ());
}

fn tick(ctx: &Context, _: ()) {
    crate::guard::catch("retention sweep", (), || sweep(ctx));
    start(ctx);
}

fn sweep(ctx: &Context) {
    // Never on a replica's clock; and while writes are paused the work waits for a later tick.
    if !timer_may_write(ctx) {
        return;
    }
    let now = now_ms();
    let mut budget = TRIMS_PER_TICK;
    for (db, name) in registry::next_batch(STREAMS_PER_TICK) {
        if budget == 0 {
            break;
        }
        if !ffi::select_db(ctx, db) {
            registry::remove(db, &name);
            continue;
        }
        let name = RedisString::create(NonNull::new(ctx.get_raw()), name.as_slice());
        match trim_one(ctx, &name, now, budget) {
            Some(removed) => budget = budget.saturating_sub(removed as usize),
            // No longer a stream (deleted, overwritten, flushed): forget it.
            None => registry::remove(db, name.as_slice()),
        }
    }
}

/// Trims one stream; None when the key holds no stream.
fn trim_one(ctx: &Context, name: &RedisString, now: u64, budget: usize) -> Option<u64> {
    let key = ctx.open_key_writable(name);
    let Ok(Some(stream)) = keys::write::<Stream>(&key) else {
        return None;
    };
    let Some(bound) = stream.sweep_bound(now, budget) else {
        return Some(0);
    };
    let removed = stream.trim_before(bound, usize::MAX);
    if removed > 0 {
        Argv::new(c"ALERT.TRIM")
            .opt("MINTS", bound)
            .replicate(ctx, name.as_slice());
        ffi::notify(ctx, c"alert.expire", name);
        stats::add(&ALERTS_TRIMMED, removed);
        stats::add(&ALERTS_SWEPT, removed);
        stats::adjust(&ALERTS_HELD, -(removed as i64));
    }
    Some(removed)
}
