//! RDB and AOF encoding of an LRU tracker.
//!
//! Encoding versions (the type's encver):
//! - `ENC_V1` (vigil 0.1): evicted count, number of keys, then each key oldest first as
//!   name, size (decimal string), last_used ms. Touch order within a millisecond is the order
//!   of the list.

use super::tracker::Tracker;
use crate::callbacks::Persisted;
use crate::stats::{self, LRU_KEYS};
use crate::util::amount::Amount;
use redis_module::raw::{self, RedisModuleIO};

pub const ENC_V1: i32 = 1;
pub const ENC_LATEST: i32 = ENC_V1;

/// Keys per LRU.TOUCHAT command in an AOF rewrite.
const PAIRS_PER_COMMAND: usize = 64;

fn u(rdb: *mut RedisModuleIO) -> Result<u64, String> {
    raw::load_unsigned(rdb).map_err(|e| format!("short read: {e}"))
}

impl Persisted for Tracker {
    const NAME: &'static str = "vigil-lru tracker";

    fn save(&self, rdb: *mut RedisModuleIO) {
        raw::save_unsigned(rdb, self.evicted);
        raw::save_unsigned(rdb, self.len() as u64);
        for e in self.entries() {
            raw::save_slice(rdb, e.name);
            raw::save_string(rdb, &e.size.to_string());
            raw::save_unsigned(rdb, e.last_used);
        }
    }

    fn load(rdb: *mut RedisModuleIO, encver: i32) -> Result<Self, String> {
        if !(ENC_V1..=ENC_LATEST).contains(&encver) {
            return Err(format!(
                "encoding version {encver} is newer than this module knows ({ENC_LATEST}); upgrade the module"
            ));
        }
        let mut t = Tracker::new();
        let evicted = u(rdb)?;
        for _ in 0..u(rdb)? {
            let name = raw::load_string_buffer(rdb).map_err(|e| format!("short read: {e}"))?;
            let size = raw::load_string_buffer(rdb).map_err(|e| format!("short read: {e}"))?;
            let size = Amount::parse(size.as_ref()).map_err(|e| format!("bad size: {e}"))?;
            t.touch(name.as_ref(), size, u(rdb)?);
        }
        t.evicted = evicted;
        Ok(t)
    }

    /// `LRU.TOUCHAT tracker ms key size ...`, oldest first, one command per millisecond
    /// (and at most `PAIRS_PER_COMMAND` keys each).
    fn rewrite(&self, emit: &mut dyn FnMut(&str, &[&[u8]])) {
        let entries: Vec<_> = self.entries().collect();
        let mut start = 0;
        while start < entries.len() {
            let ms = entries[start].last_used;
            let end = entries[start..]
                .iter()
                .take(PAIRS_PER_COMMAND)
                .take_while(|e| e.last_used == ms)
                .count()
                + start;
            let ms_s = ms.to_string();
            let sizes: Vec<String> = entries[start..end]
                .iter()
                .map(|e| e.size.to_string())
                .collect();
            let mut args: Vec<&[u8]> = vec![ms_s.as_bytes()];
            for (e, s) in entries[start..end].iter().zip(&sizes) {
                args.push(e.name);
                args.push(s.as_bytes());
            }
            emit("LRU.TOUCHAT", &args);
            start = end;
        }
    }

    fn memory_usage(&self) -> usize {
        Tracker::memory_usage(self)
    }

    fn free_effort(&self) -> usize {
        self.len().max(1)
    }

    fn track(&self, sign: i64) {
        stats::adjust(&LRU_KEYS, sign);
    }
}
