//! Tracked keys leave their trackers when their TTL passes, not when Redis gets round to it.
//!
//! Redis deletes a key whose TTL passed at its next access, or when its active expiry samples
//! it (within about 100 ms when few keys have a TTL, later when many do); until then the key
//! is still in the keyspace and its tracker still counts it, while `EXISTS` already answers 0.
//! So when a key of a tracker's namespace gets a TTL (the `expire` keyspace event: EXPIRE,
//! PEXPIRE, EXPIREAT, SET ... EX, GETEX, SETEX; or it arrives with one: `rename_to`, `copy_to`,
//! `move_to`, `restore`), the module notes when it falls due, and the sweep's timer (on the
//! primary) looks the key up then: Redis deletes it as any lookup of an expired key does,
//! replicates the DEL and raises `expired`, which drops it from its trackers
//! (`crate::events`). PERSIST forgets the note; a key whose TTL moved without an event is
//! looked at again or forgotten at the old time. SWAPDB moves the notes, a flush forgets those
//! of keys no longer there. At the end of a load the tracked keys with a TTL are noted (one
//! look-up per tracked key, skipped for a database without keys with a TTL). A key given its
//! TTL while no tracker of its namespace existed, and tracked later, is left to Redis's own
//! expiry.
//!
//! At most [`MAX_NOTED`] keys are noted at once (the rest are left to Redis's own expiry); a
//! key deleted before its TTL is forgotten with it.

use crate::ffi;
use hashbrown::HashMap;
use redis_module::key::KeyFlags;
use redis_module::{Context, RedisString};
use std::cell::RefCell;
use std::collections::BTreeSet;
use vigil_core::lru::Tracker;

/// Keys noted at most at once.
pub const MAX_NOTED: usize = 100_000;

#[derive(Default)]
struct Noted {
    /// (due ms, db, key), soonest first.
    by_due: BTreeSet<(u64, i32, Vec<u8>)>,
    /// Per database, key -> due ms (looked up by the key's bytes, with no copy, at every
    /// deletion of the server).
    due_of: HashMap<i32, HashMap<Vec<u8>, u64>>,
    /// How many keys `due_of` holds.
    len: usize,
}

impl Noted {
    fn remove(&mut self, db: i32, key: &[u8]) {
        let Some(keys) = self.due_of.get_mut(&db) else {
            return;
        };
        if let Some((key, due)) = keys.remove_entry(key) {
            self.len -= 1;
            if keys.is_empty() {
                self.due_of.remove(&db);
            }
            self.by_due.remove(&(due, db, key));
        }
    }
}

thread_local! {
    static NOTED: RefCell<Noted> = RefCell::new(Noted::default());
}

/// A key of a tracker's namespace was given a TTL (or a new one): notes when it falls due;
/// returns that time.
pub fn noted(ctx: &Context, db: i32, key: &[u8], now: u64) -> Option<u64> {
    note(
        db,
        key,
        now,
        ffi::expires_in(ctx, &crate::keys::name(ctx, key)),
    )
}

/// Notes `key` as falling due `ttl` ms after `now` (forgets it without a TTL).
fn note(db: i32, key: &[u8], now: u64, ttl: Option<u64>) -> Option<u64> {
    NOTED.with(|n| {
        let mut n = n.borrow_mut();
        n.remove(db, key);
        // Redis deletes a key once its clock is past the TTL's millisecond: one more.
        let due = now.saturating_add(ttl?).saturating_add(1);
        if n.len >= MAX_NOTED {
            return None;
        }
        n.by_due.insert((due, db, key.to_vec()));
        n.due_of.entry(db).or_default().insert(key.to_vec(), due);
        n.len += 1;
        Some(due)
    })
}

/// A key of a tracker's namespace left (deleted, expired, renamed away): nothing to do at its
/// TTL any more.
pub fn gone(db: i32, key: &[u8]) {
    NOTED.with(|n| {
        let mut n = n.borrow_mut();
        if n.len > 0 {
            n.remove(db, key);
        }
    })
}

/// After a load: notes the keys of `tracker` (in the selected database `db`) that have a TTL,
/// unless the database holds no key with one. One look-up per tracked key.
pub fn note_tracked(ctx: &Context, db: i32, tracker: &RedisString, now: u64) {
    if !ffi::has_volatile_keys(ctx, db) {
        return;
    }
    let names: Vec<Vec<u8>> = {
        let k = ctx.open_key_with_flags(tracker, KeyFlags::NOTOUCH);
        match crate::keys::read::<Tracker>(&k) {
            Ok(Some(t)) => t.entries().map(|e| e.name.to_vec()).collect(),
            _ => return,
        }
    };
    for name in names {
        if NOTED.with(|n| n.borrow().len >= MAX_NOTED) {
            return;
        }
        noted(ctx, db, &name, now);
    }
}

/// SWAPDB: the noted keys change databases with their keys.
pub fn swap(a: i32, b: i32) {
    NOTED.with(|n| {
        let mut n = n.borrow_mut();
        if n.len == 0 {
            return;
        }
        crate::swapdb::swap_entries(&mut n.due_of, a, b);
        crate::swapdb::swap_queue(&mut n.by_due, a, b);
    })
}

/// After a flush: forgets the noted keys that are no longer there (each looked up once), so
/// that they do not hold places until their old TTL.
pub fn flushed(ctx: &Context) {
    let all: Vec<(i32, Vec<Vec<u8>>)> = NOTED.with(|n| {
        let n = n.borrow();
        n.due_of
            .iter()
            .map(|(db, keys)| (*db, keys.keys().cloned().collect()))
            .collect()
    });
    if all.is_empty() {
        return;
    }
    // One SELECT per database, not per key.
    let before = ffi::selected_db(ctx);
    for (db, keys) in all {
        let here = ffi::select_db(ctx, db);
        for key in keys {
            if !here || !ffi::key_exists(ctx, &crate::keys::name(ctx, &key)) {
                gone(db, &key);
            }
        }
    }
    ffi::select_db(ctx, before);
}

/// Forgets every noted key (a load begins: what is noted may no longer be there).
pub fn clear() {
    NOTED.with(|n| *n.borrow_mut() = Noted::default());
}

/// When the next noted key falls due.
pub fn next_due() -> Option<u64> {
    NOTED.with(|n| n.borrow().by_due.first().map(|(due, _, _)| *due))
}

/// Looks up at most `budget` keys that fell due by `now` (on a primary, from the sweep): an
/// expired one is deleted by Redis and leaves its trackers by its `expired` event; one whose
/// TTL moved is noted again. Returns how many were looked up. Leaves the database selected as
/// it was.
pub fn expire_due(ctx: &Context, now: u64, budget: usize) -> usize {
    let due: Vec<(u64, i32, Vec<u8>)> = NOTED.with(|n| {
        let mut n = n.borrow_mut();
        let mut taken = Vec::new();
        while taken.len() < budget {
            match n.by_due.first() {
                Some((d, _, _)) if *d <= now => {}
                _ => break,
            }
            let Some(e) = n.by_due.first().cloned() else {
                break;
            };
            n.remove(e.1, &e.2);
            taken.push(e);
        }
        taken
    });
    if due.is_empty() {
        return 0;
    }
    let before = ffi::selected_db(ctx);
    for (_, db, key) in &due {
        if ffi::select_db(ctx, *db) {
            // The lookup deletes the key if its TTL passed; one still here with a TTL (it was
            // given a later one meanwhile, without an event this module saw) is noted again.
            if let Some(ttl) = ffi::expires_in(ctx, &crate::keys::name(ctx, key)) {
                note(*db, key, now, Some(ttl));
            }
        }
    }
    ffi::select_db(ctx, before);
    due.len()
}
