//! SWAPDB for the module's per-database tables (the stream registry, the tracker index, the
//! tracked keys' TTL notes): each keeps its entries by database number, and the two with a
//! timer keep a (due, db, key) queue.

use hashbrown::HashMap;
use std::collections::BTreeSet;
use std::hash::BuildHasher;

/// The entries of `a` go to `b`, and those of `b` to `a`.
pub fn swap_entries<V, S: BuildHasher>(map: &mut HashMap<i32, V, S>, a: i32, b: i32) {
    let of_a = map.remove(&a);
    let of_b = map.remove(&b);
    if let Some(v) = of_a {
        map.insert(b, v);
    }
    if let Some(v) = of_b {
        map.insert(a, v);
    }
}

/// A (due, db, key) queue whose keys changed databases with SWAPDB a b.
pub fn swap_queue(queue: &mut BTreeSet<(u64, i32, Vec<u8>)>, a: i32, b: i32) {
    let other = |db: i32| match db {
        _ if db == a => b,
        _ if db == b => a,
        _ => db,
    };
    *queue = std::mem::take(queue)
        .into_iter()
        .map(|(due, db, key)| (due, other(db), key))
        .collect();
}
