//! How an LRU tracker persists: the `vigil-lru` type (its encoding lives in the core,
//! `vigil_core::lru::codec`), and the commands that rebuild a tracker, shared by replication
//! and AOF rewrite.

use crate::argv::Argv;
use crate::ffi::rdb::RdbIo;
use crate::ffi::types::{methods, Emit, Persisted};
use crate::stats::{self, LRU_KEYS};
use redis_module::native_types::RedisType;
use vigil_core::codec::DecodeError;
use vigil_core::lru::codec::{self, ENC_LATEST};
use vigil_core::lru::Tracker;

pub static LRU_TYPE: RedisType = RedisType::new("vigil-lru", ENC_LATEST, methods::<Tracker>());

/// Keys per LRU.TOUCHAT command in an AOF rewrite.
const PAIRS_PER_COMMAND: usize = 64;

/// `LRU.TOUCHAT tracker ms key size [key size ...]`.
pub fn touchat_argv<'a>(ms: u64, pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Argv {
    let mut argv = Argv::new(c"LRU.TOUCHAT");
    argv.num(ms);
    for (key, size) in pairs {
        argv.arg(key).arg(size);
    }
    argv
}

impl Persisted for Tracker {
    const NAME: &'static str = "vigil-lru tracker";

    fn redis_type() -> &'static RedisType {
        &LRU_TYPE
    }

    fn save(&self, io: &mut RdbIo) {
        codec::encode(self, io)
    }

    fn load(io: &mut RdbIo, encver: i32) -> Result<Self, DecodeError> {
        let tracker = codec::decode(io, encver)?;
        super::index::loaded_unindexed();
        Ok(tracker)
    }

    fn digest(&self, out: &mut RdbIo) {
        codec::encode_state(self, out)
    }

    /// `LRU.TOUCHAT tracker ms key size ...`, oldest first, one command per millisecond
    /// (and at most `PAIRS_PER_COMMAND` keys each).
    fn rewrite(&self, emit: &mut Emit) {
        let entries: Vec<_> = self.entries().collect();
        for run in entries.chunk_by(|a, b| a.last_used == b.last_used) {
            for part in run.chunks(PAIRS_PER_COMMAND) {
                let sizes: Vec<String> = part.iter().map(|e| e.size.to_string()).collect();
                let pairs = part.iter().zip(&sizes).map(|(e, s)| (e.name, s.as_bytes()));
                touchat_argv(part[0].last_used, pairs).emit(emit);
            }
        }
        // The count of evicted keys, and a tracker left empty, which no TOUCHAT makes.
        if self.evicted() > 0 || entries.is_empty() {
            let mut count = Argv::new(c"LRU.EVICTED");
            count.num(self.evicted());
            count.emit(emit);
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
