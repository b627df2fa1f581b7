//! Trackers while their slot moves to another node. `redis-cli --cluster reshard` moves a slot
//! key by key with MIGRATE (DUMP here, RESTORE-ASKING there, then a delete here), so a tracker
//! and the keys it tracks — one slot, thanks to the hash tag — travel separately, and for a
//! while some of its keys are on the other node. The rule:
//! - the keys stay tracked: a key that leaves by MIGRATE is not dropped from a tracker of its
//!   slot, and a tracker that arrives by RESTORE-ASKING keeps the keys of its slot that are not
//!   here yet (`crate::events`);
//! - a command that needs such a key — LRU.TOUCH of a key that is not here, any LRU.EVICT (or
//!   QUOTA.INCR ... EVICT) of such a tracker, whose total counts the keys on the other node and
//!   any deleted there meanwhile — answers TRYAGAIN while this node migrates or imports the
//!   slot, having changed nothing, as Redis answers a multi-key command then; cluster clients
//!   retry it;
//! - once the slot has settled here (no longer migrating or importing), the tracker forgets
//!   the keys that still are not here (deleted or expired on the other node meanwhile): the
//!   primary decides and replicates LRU.FORGET.
//!
//! A tracker that arrives by any other road (RESTORE, MOVE, COPY) forgets at once the keys that
//! are not there: a name it kept could later belong to an unrelated key, which LRU.EVICT would
//! then delete.

use crate::error::{err, Error};
use crate::ffi::cluster::{in_cluster, key_slot, slot_moving, slots_in_transit};
use crate::ffi::{self, context_flags, select_db, selected_db};
use crate::keys;
use redis_module::key::KeyFlags;
use redis_module::{raw, Context, RedisString};
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::time::Duration;
use vigil_core::lru::{Plan, Tracker};

/// How often a node with trackers waiting for their slot to settle looks again.
const SETTLE_INTERVAL_MS: u64 = 100;
/// Keys per replicated LRU.FORGET.
const FORGET_PER_COMMAND: usize = 500;

thread_local! {
    // Commands, events and timers all run on the main thread.
    /// (db, tracker) of trackers holding keys that may be on another node.
    static WAITING: RefCell<BTreeSet<(i32, Vec<u8>)>> = const { RefCell::new(BTreeSet::new()) };
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

fn key_string(ctx: &Context, key: &[u8]) -> RedisString {
    keys::name(ctx, key)
}

/// What becomes of one tracked key when a tracker is reconciled with the keyspace.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Keep,
    KeepIfHere,
    Drop,
}

/// Forgets the tracked keys whose fate is `Drop`, or `KeepIfHere` and not in this database;
/// returns their names. Keys are opened without touching their LRU/LFU, and checked with no
/// tracker borrowed (a check may expire a key, whose event opens trackers).
pub fn reconcile(
    ctx: &Context,
    tracker: &RedisString,
    fate: impl Fn(&[u8]) -> Fate,
) -> Vec<Vec<u8>> {
    let candidates: Vec<(Vec<u8>, Fate)> = {
        let k = ctx.open_key_with_flags(tracker, KeyFlags::NOTOUCH);
        match keys::read::<Tracker>(&k) {
            Ok(Some(t)) => t
                .entries()
                .map(|e| (e.name, fate(e.name)))
                .filter(|(_, f)| *f != Fate::Keep)
                .map(|(n, f)| (n.to_vec(), f))
                .collect(),
            _ => return Vec::new(),
        }
    };
    let gone: Vec<Vec<u8>> = candidates
        .into_iter()
        .filter(|(name, f)| *f == Fate::Drop || !ffi::key_exists(ctx, &key_string(ctx, name)))
        .map(|(name, _)| name)
        .collect();
    if gone.is_empty() {
        return gone;
    }
    let k = ctx.open_key_writable_with_flags(tracker, KeyFlags::NOTOUCH);
    if let Ok(Some(t)) = keys::write::<Tracker>(&k) {
        for g in &gone {
            t.forget(g);
        }
    }
    gone
}

/// The tracker holds keys that may be on another node: look again once its slot has settled.
pub fn wait_for_slot(ctx: &Context, db: i32, tracker: &[u8]) {
    WAITING.with(|w| w.borrow_mut().insert((db, tracker.to_vec())));
    arm(ctx);
}

/// After a load or a flush everything was reconciled already.
pub fn clear() {
    WAITING.with(|w| w.borrow_mut().clear());
}

fn arm(ctx: &Context) {
    if !ARMED.with(Cell::get) {
        ARMED.with(|a| a.set(true));
        ctx.create_timer(Duration::from_millis(SETTLE_INTERVAL_MS), tick, ());
    }
}

fn tick(ctx: &Context, _: ()) {
    ARMED.with(|a| a.set(false));
    crate::guard::catch("slot settle", (), || settle(ctx));
    if WAITING.with(|w| !w.borrow().is_empty()) {
        arm(ctx);
    }
}

fn settle(ctx: &Context) {
    let flags = context_flags(ctx);
    if flags & raw::REDISMODULE_CTX_FLAGS_SLAVE != 0 {
        // A replica follows its primary's LRU.FORGET.
        clear();
        return;
    }
    if !crate::clock::timer_may_write(ctx) {
        return;
    }
    // Cannot tell which slots move: wait for the next tick rather than forget keys that may
    // still be on their way.
    let Some(moving) = slots_in_transit(ctx) else {
        return;
    };
    let settled: Vec<(i32, Vec<u8>)> = WAITING.with(|w| {
        let mut w = w.borrow_mut();
        let settled: Vec<_> = w
            .iter()
            .filter(|(_, t)| !moving.contains(&key_slot(t)))
            .cloned()
            .collect();
        for s in &settled {
            w.remove(s);
        }
        settled
    });
    let before = selected_db(ctx);
    for (db, tracker) in settled {
        if select_db(ctx, db) {
            forget_absent(ctx, &key_string(ctx, &tracker));
        }
    }
    select_db(ctx, before);
}

/// Forgets the tracked keys that are not here, and replicates that as LRU.FORGET.
fn forget_absent(ctx: &Context, tracker: &RedisString) -> usize {
    let gone = reconcile(ctx, tracker, |_| Fate::KeepIfHere);
    for part in gone.chunks(FORGET_PER_COMMAND) {
        let mut args: Vec<&[u8]> = Vec::with_capacity(part.len() + 1);
        args.push(tracker.as_slice());
        args.extend(part.iter().map(Vec::as_slice));
        ffi::replicate(ctx, c"LRU.FORGET", &args);
    }
    gone.len()
}

/// What moves with a tracker's slot, as TRYAGAIN names it.
pub const TRACKED_KEYS: &str = "the tracker's keys";

fn try_again(slot: u16, what: &str) -> Error {
    err(format!(
        "TRYAGAIN slot {slot} is moving between nodes and {what} with it: retry"
    ))
}

/// Keys a command on `key` needs that are not here (LRU.TOUCH's, a quota's ALERTS stream): in
/// a cluster, while this node migrates or imports their slot, they may be on the other node,
/// and the command answers TRYAGAIN naming `what`. A key of `key`'s slot (a hash-tag tracker's,
/// a quota's stream) is asked of Redis's own routing (`slot_moving`); one of another slot (a
/// tracker without a hash tag) of the slots `CLUSTER NODES` says move.
pub fn check_absent<'a>(
    ctx: &Context,
    key: &[u8],
    absent: impl IntoIterator<Item = &'a [u8]>,
    what: &str,
) -> Result<(), Error> {
    let mut absent = absent.into_iter().peekable();
    if absent.peek().is_none() || !in_cluster(ctx) {
        return Ok(());
    }
    let slot = key_slot(key);
    // Each asked once a call: whether `key`'s slot moves (any missing key of it tells), and
    // which slots move by CLUSTER NODES.
    let mut own: Option<bool> = None;
    let mut moving: Option<Option<Vec<u16>>> = None;
    for a in absent {
        let a_slot = key_slot(a);
        // Cannot tell: retry, as while the slot moves.
        let moves = if a_slot == slot {
            *own.get_or_insert_with(|| slot_moving(ctx, key, a).unwrap_or(true))
        } else {
            moving
                .get_or_insert_with(|| slots_in_transit(ctx))
                .as_ref()
                .is_none_or(|m| m.contains(&a_slot))
        };
        if moves {
            return Err(try_again(a_slot, what));
        }
    }
    Ok(())
}

/// An eviction (LRU.EVICT, QUOTA.INCR ... EVICT), before it changes anything, in a cluster:
/// the keys it would delete — `plan` says which, from the tracker as it is — must be here.
/// While their slot moves, TRYAGAIN; once it has settled, keys still not here are forgotten
/// first (replicated as LRU.FORGET), so the eviction deletes what one server would.
pub fn check_evict(
    ctx: &Context,
    tracker: &RedisString,
    plan: impl Fn(&Tracker) -> Plan,
) -> Result<(), Error> {
    if !in_cluster(ctx) || crate::clock::from_primary(ctx) {
        return Ok(());
    }
    // A tracker that may hold keys on the other node counts their sizes in its total, and a
    // key deleted there meanwhile still counts: the plan, which runs until the total is low
    // enough, would pick other keys than one server would. So while its slot moves, TRYAGAIN;
    // once the slot has settled, the keys that did not come back are forgotten first.
    let db = selected_db(ctx);
    let entry = (db, tracker.as_slice().to_vec());
    if WAITING.with(|w| w.borrow().contains(&entry)) {
        let slot = key_slot(tracker.as_slice());
        if slots_in_transit(ctx).is_none_or(|m| m.contains(&slot)) {
            return Err(try_again(slot, TRACKED_KEYS));
        }
        WAITING.with(|w| w.borrow_mut().remove(&entry));
        forget_absent(ctx, tracker);
    }
    // Each round forgets at least one key or ends.
    loop {
        let picks = would_evict(ctx, tracker, &plan);
        let absent: Vec<&Vec<u8>> = picks
            .iter()
            .filter(|k| !ffi::key_exists(ctx, &key_string(ctx, k)))
            .collect();
        if absent.is_empty() {
            return Ok(());
        }
        let moving = slots_in_transit(ctx);
        if let Some(slot) = absent
            .iter()
            .map(|k| key_slot(k))
            .find(|s| moving.as_ref().is_none_or(|m| m.contains(s)))
        {
            return Err(try_again(slot, TRACKED_KEYS));
        }
        if forget_absent(ctx, tracker) == 0 {
            return Ok(());
        }
    }
}

/// The keys `plan` would pick, oldest first, without changing the tracker.
fn would_evict(
    ctx: &Context,
    tracker: &RedisString,
    plan: &impl Fn(&Tracker) -> Plan,
) -> Vec<Vec<u8>> {
    let k = ctx.open_key_with_flags(tracker, KeyFlags::NOTOUCH);
    let Ok(Some(t)) = keys::read::<Tracker>(&k) else {
        return Vec::new();
    };
    let p = plan(t);
    t.planned(&p).map(<[u8]>::to_vec).collect()
}
