//! The retention sweep: a timer that walks the keyspace a bounded step at a time and trims
//! alerts older than their stream's retention, so idle streams expire too. Each trim is
//! replicated as `ALERT.TRIM key MINTS bound`; replicas never sweep on their own clock.

use super::commands::now_ms;
use super::stream::Stream;
use crate::callbacks::{is_type, Scanner, ALERT_TYPE};
use crate::stats::{self, ALERTS_HELD, ALERTS_SWEPT, ALERTS_TRIMMED};
use redis_module::{raw, Context, ContextFlags, RedisString};
use std::cell::RefCell;
use std::ptr::NonNull;
use std::time::Duration;

pub const INTERVAL_MS: u64 = 100;
/// Keys looked at per tick (about half a millisecond of the main thread): a pass over a
/// keyspace of K keys takes K / 50,000 seconds.
const KEYS_PER_TICK: usize = 5000;
/// Alerts removed per tick, over all streams.
const TRIMS_PER_TICK: usize = 10_000;

struct SweepState {
    db: i32,
    cursor: Scanner,
}

thread_local! {
    // Timers run on the main thread only.
    static STATE: RefCell<Option<SweepState>> = const { RefCell::new(None) };
}

pub fn start(ctx: &Context) {
    ctx.create_timer(Duration::from_millis(INTERVAL_MS), tick, ());
}

fn tick(ctx: &Context, _: ()) {
    crate::guard::catch("retention sweep", (), || sweep(ctx));
    start(ctx);
}

fn select_db(ctx: &Context, db: i32) -> bool {
    let status = unsafe { raw::RedisModule_SelectDb.map(|f| f(ctx.get_raw(), db)) };
    status == Some(raw::REDISMODULE_OK as i32)
}

fn sweep(ctx: &Context) {
    let flags = ctx.get_flags();
    if flags.intersects(ContextFlags::SLAVE | ContextFlags::LOADING | ContextFlags::ASYNC_LOADING) {
        return;
    }
    // No alert stream anywhere: nothing to look for (a server of plain keys pays nothing).
    if stats::ALERT_KEYS.load(std::sync::atomic::Ordering::Relaxed) <= 0 {
        return;
    }
    STATE.with(|cell| {
        let mut guard = cell.borrow_mut();
        if guard.is_none() {
            let Some(cursor) = Scanner::new() else {
                return;
            };
            *guard = Some(SweepState { db: 0, cursor });
        }
        let Some(state) = guard.as_mut() else {
            return;
        };
        let mut names: Vec<(i32, Vec<u8>)> = Vec::new();
        let mut visited = 0usize;
        let mut wrapped = false;
        // Walk databases in turn until the key budget is spent or every database was seen once.
        while visited < KEYS_PER_TICK {
            if !select_db(ctx, state.db) {
                if wrapped || state.db == 0 {
                    break;
                }
                state.db = 0;
                wrapped = true;
                continue;
            }
            let db = state.db;
            let mut finished = false;
            while visited < KEYS_PER_TICK {
                let more = state.cursor.step(ctx, &mut |name, module_type| {
                    visited += 1;
                    if is_type(module_type, &ALERT_TYPE) {
                        names.push((db, name.to_vec()));
                    }
                });
                if !more {
                    finished = true;
                    break;
                }
            }
            if finished {
                state.cursor.restart();
                state.db += 1;
            }
        }
        let now = now_ms();
        let mut budget = TRIMS_PER_TICK;
        for (db, name) in names {
            if budget == 0 || !select_db(ctx, db) {
                break;
            }
            let name = RedisString::create(NonNull::new(ctx.get_raw()), name);
            let removed = trim_one(ctx, &name, now, budget);
            budget = budget.saturating_sub(removed as usize);
        }
    });
}

fn trim_one(ctx: &Context, name: &RedisString, now: u64, budget: usize) -> u64 {
    let key = ctx.open_key_writable(name);
    let Ok(Some(stream)) = key.get_value::<Stream>(&ALERT_TYPE) else {
        return 0;
    };
    let Some(bound) = stream.sweep_bound(now, budget) else {
        return 0;
    };
    let removed = stream.trim_before(bound, usize::MAX);
    if removed > 0 {
        let bound_s = bound.to_string();
        ctx.replicate(
            "ALERT.TRIM",
            &[name.as_slice(), b"MINTS", bound_s.as_bytes()][..],
        );
        crate::ffi::notify(ctx, c"alert.expire", name);
        stats::add(&ALERTS_TRIMMED, removed);
        stats::add(&ALERTS_SWEPT, removed);
        stats::adjust(&ALERTS_HELD, -(removed as i64));
    }
    removed
}
