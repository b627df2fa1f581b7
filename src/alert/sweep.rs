//! The sweep: a timer that visits the alert streams that are due (the registry knows when
//! each next has work) and applies what the server decides on its clock: alerts older than
//! the retention are trimmed (replicated as `ALERT.TRIM key MINTS bound`), silences whose UNTIL
//! passed end (`ALERT.UNSILENCE key id`), and stale alerts auto-resolve (`ALERT.RESOLVE key
//! id ...`). Work per tick is bounded; replicas and paused servers never sweep on their own.

use super::commands::{after_write, next_due, resolve_ids};
use super::{floor, registry};
use crate::argv::Argv;
use crate::clock::{now_ms, timer_may_write};
use crate::ffi;
use crate::keys;
use crate::stats::{self, ALERTS_HELD, ALERTS_SWEPT, ALERTS_TRIMMED};
use redis_module::key::KeyFlags;
use redis_module::{Context, RedisString};
use std::cell::Cell;
use std::time::Duration;
use vigil_core::alert::Stream;

pub const INTERVAL_MS: u64 = 100;
/// Streams looked at per tick.
const STREAMS_PER_TICK: usize = 1000;
/// Alerts trimmed, resolved or re-revisioned per tick, over all streams.
const CHANGES_PER_TICK: usize = 10_000;
/// Tracked keys whose TTL passed looked up per tick (`lru::expiry`); the rest wait a tick.
const TRACKED_EXPIRES_PER_TICK: usize = 2000;
/// Alerts auto-resolved per replicated ALERT.RESOLVE.
const RESOLVES_PER_COMMAND: usize = 500;
/// Ending silences walks the stream once for all of its silences that ended (each document
/// read at most once, the silences indexed by label: `cover::Matchers`); walks end as many
/// as this many alerts allow in a tick, over all streams (at least one walk a tick). 1000
/// label silences ending together on 200000 alerts had taken one tick of 18.7 s, one walk
/// per silence.
const SILENCE_WALK_ALERTS_PER_TICK: usize = 200_000;

thread_local! {
    /// The tick planned: when it comes (server ms) and its number. A tick that is not the
    /// planned one was replaced by an earlier one (`wake_by`) and does nothing, so that one
    /// chain of ticks runs, whatever was replaced.
    static PLANNED: Cell<(u64, u64)> = const { Cell::new((u64::MAX, 0)) };
}

pub fn start(ctx: &Context) {
    plan(ctx, now_ms(), INTERVAL_MS);
}

/// Plans the next tick `ms` after `now`, in place of any planned one.
fn plan(ctx: &Context, now: u64, ms: u64) {
    let number = PLANNED.get().1.wrapping_add(1);
    PLANNED.set((now.saturating_add(ms), number));
    ctx.create_timer(Duration::from_millis(ms), tick, number);
}

/// A stream has work at `due`: the next tick comes then at the latest (a silence made to end
/// before the planned tick). One compare when the planned tick comes first, as it mostly does.
/// Work due already is left to the planned tick: a backlog drains at the tick's pace, and a
/// replica (which never sweeps) plans nothing for it.
pub fn wake_by(ctx: &Context, due: u64) {
    if due < PLANNED.get().0 {
        let now = now_ms();
        if due > now {
            plan(ctx, now, (due - now).min(INTERVAL_MS));
        }
    }
}

/// When the next tick comes: every 100 ms, or sooner when a stream has work due before that
/// (a silence's UNTIL; retention and auto-resolve fall on the 100 ms marks, `next_due`). Work
/// already due and left over (the tick's budget spent, or no sweeping on a replica or while
/// writes are paused) waits the whole interval, as before. A write that makes work due
/// sooner than the planned tick plans an earlier one (`wake_by`).
fn next_tick(now: u64) -> u64 {
    let due = match (registry::next_due(), crate::lru::expiry::next_due()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match due {
        Some(due) if due > now => (due - now).clamp(1, INTERVAL_MS),
        _ => INTERVAL_MS,
    }
}

fn tick(ctx: &Context, number: u64) {
    if PLANNED.get().1 != number {
        return;
    }
    let started = std::time::Instant::now();
    crate::guard::catch("sweep", (), || sweep(ctx));
    // The tick blocks the server as a command does: the latency monitor shows its longest
    // (event `vigil-sweep`).
    ffi::latency_sample(c"vigil-sweep", started.elapsed().as_millis() as u64);
    let now = now_ms();
    plan(ctx, now, next_tick(now));
}

fn sweep(ctx: &Context) {
    // Never on a replica's clock; and while writes are paused the work waits for a later tick.
    if !timer_may_write(ctx) {
        return;
    }
    let now = now_ms();
    let mut budget = CHANGES_PER_TICK;
    let mut walk_left = SILENCE_WALK_ALERTS_PER_TICK;
    let before = ffi::selected_db(ctx);
    for (db, name) in registry::due(now, STREAMS_PER_TICK) {
        if budget == 0 {
            break;
        }
        if !ffi::select_db(ctx, db) {
            registry::remove(db, &name);
            continue;
        }
        let name = keys::name(ctx, &name);
        match sweep_one(ctx, &name, now, budget, &mut walk_left) {
            Some(done) => budget = budget.saturating_sub(done),
            // No longer a stream (deleted, overwritten, flushed): forget it.
            None => registry::remove(db, name.as_slice()),
        }
    }
    ffi::select_db(ctx, before);
    // Tracked keys whose TTL passed: looked up, so that Redis deletes them now.
    crate::lru::expiry::expire_due(ctx, now, TRACKED_EXPIRES_PER_TICK);
}

/// Does what is due on one stream; None when the key holds no stream. `walk_left` is what
/// is left of the tick's alerts for ending silences (`SILENCE_WALK_ALERTS_PER_TICK`).
fn sweep_one(
    ctx: &Context,
    name: &RedisString,
    now: u64,
    budget: usize,
    walk_left: &mut usize,
) -> Option<usize> {
    let mut done = 0;
    // Looked at read-only first: a stream opened for writing counts as modified (WATCH) and
    // as used (maxmemory LRU/LFU), so only one with work due is.
    let (trim, ended, resolve) = {
        let key = ctx.open_key_with_flags(name, KeyFlags::NOTOUCH);
        let stream = keys::read::<Stream>(&key).ok()??;
        (
            stream.sweep_bound(now, budget).is_some(),
            stream.next_silence_end().is_some_and(|t| t <= now),
            stream.next_autoresolve().is_some_and(|t| t <= now),
        )
    };
    if !(trim || ended || resolve) {
        let key = ctx.open_key_with_flags(name, KeyFlags::NOTOUCH);
        if let Ok(Some(stream)) = keys::read::<Stream>(&key) {
            registry::schedule(ffi::selected_db(ctx), name.as_slice(), next_due(stream));
        }
        return Some(0);
    }
    // Retention, then the silences whose UNTIL passed.
    {
        let key = ctx.open_key_writable(name);
        let stream = keys::write::<Stream>(&key).ok()??;
        if let Some(bound) = stream.sweep_bound(now, budget) {
            let removed = stream.trim_before(bound, usize::MAX);
            if removed > 0 {
                Argv::new(c"ALERT.TRIM")
                    .opt("MINTS", bound)
                    .replicate(ctx, name.as_slice());
                ffi::notify(ctx, c"alert.expire", name);
                stats::add(&ALERTS_TRIMMED, removed);
                stats::add(&ALERTS_SWEPT, removed);
                stats::adjust(&ALERTS_HELD, -(removed as i64));
                done += removed as usize;
            }
        }
        // Silences whose UNTIL passed: all of them in one walk of the stream, when the
        // tick's walks have room for its alerts (the first walk of a tick in any case); else
        // at the next tick (they are due, so the stream is).
        let revision_before = stream.revision();
        let ended = stream.ended_silences(now);
        let walk = stream.len();
        let fresh = *walk_left == SILENCE_WALK_ALERTS_PER_TICK;
        if !ended.is_empty() && done < budget && (fresh || walk <= *walk_left) {
            let armed = floor::arm(ctx, stream);
            let (_, n) = stream.unsilence_all(&ended);
            floor::settle(ctx, name, stream, armed);
            let mut argv = Argv::new(c"ALERT.UNSILENCE");
            for id in &ended {
                argv.num(*id);
            }
            argv.replicate(ctx, name.as_slice());
            done += ended.len() + n as usize;
            *walk_left = walk_left.saturating_sub(walk.max(1));
        }
        after_write(ctx, name, stream, revision_before);
    }
    // Auto-resolve, in batches of IDs.
    let due = {
        let key = ctx.open_key_with_flags(name, KeyFlags::NOTOUCH);
        let stream = keys::read::<Stream>(&key).ok()??;
        stream.autoresolve_due(now, budget.saturating_sub(done))
    };
    for batch in due.chunks(RESOLVES_PER_COMMAND) {
        let n = resolve_ids(ctx, name, batch).unwrap_or(0);
        done += n as usize;
        let key = ctx.open_key_writable(name);
        if let Ok(Some(stream)) = keys::write::<Stream>(&key) {
            stream.stats.autoresolved += n;
        }
    }
    // When it is due next.
    let key = ctx.open_key_with_flags(name, KeyFlags::NOTOUCH);
    if let Ok(Some(stream)) = keys::read::<Stream>(&key) {
        registry::schedule(ffi::selected_db(ctx), name.as_slice(), next_due(stream));
    }
    Some(done)
}
