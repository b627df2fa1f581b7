//! RDB and AOF encoding of a quota.
//!
//! Encoding versions (the type's encver):
//! - `ENC_V1` (vigil 0.1): limit (flag, then the amount as a decimal string), window ms (0 for a
//!   cumulative quota), usage (decimal string), then the window's buckets as (start ms, amount).

use super::meter::Quota;
use crate::callbacks::Persisted;
use crate::stats::{self, QUOTA_KEYS};
use crate::util::amount::Amount;
use redis_module::raw::{self, RedisModuleIO};

pub const ENC_V1: i32 = 1;
pub const ENC_LATEST: i32 = ENC_V1;

fn amount(rdb: *mut RedisModuleIO) -> Result<Amount, String> {
    let buf = raw::load_string_buffer(rdb).map_err(|e| format!("short read: {e}"))?;
    Amount::parse(buf.as_ref()).map_err(|e| format!("bad amount: {e}"))
}

fn u(rdb: *mut RedisModuleIO) -> Result<u64, String> {
    raw::load_unsigned(rdb).map_err(|e| format!("short read: {e}"))
}

impl Persisted for Quota {
    const NAME: &'static str = "vigil-quo quota";

    fn save(&self, rdb: *mut RedisModuleIO) {
        raw::save_unsigned(rdb, u64::from(self.limit.is_some()));
        raw::save_string(rdb, &self.limit.unwrap_or_default().to_string());
        raw::save_unsigned(rdb, self.window_ms().unwrap_or(0));
        let (usage, buckets) = self.parts();
        raw::save_string(rdb, &usage.unwrap_or_default().to_string());
        raw::save_unsigned(rdb, buckets.len() as u64);
        for (start, a) in buckets {
            raw::save_unsigned(rdb, start);
            raw::save_string(rdb, &a.to_string());
        }
    }

    fn load(rdb: *mut RedisModuleIO, encver: i32) -> Result<Self, String> {
        if !(ENC_V1..=ENC_LATEST).contains(&encver) {
            return Err(format!(
                "encoding version {encver} is newer than this module knows ({ENC_LATEST}); upgrade the module"
            ));
        }
        let has_limit = u(rdb)? == 1;
        let limit = amount(rdb)?;
        let window = u(rdb)?;
        let usage = amount(rdb)?;
        let mut buckets = Vec::new();
        for _ in 0..u(rdb)? {
            buckets.push((u(rdb)?, amount(rdb)?));
        }
        Ok(Quota::from_parts(
            has_limit.then_some(limit),
            (window > 0).then_some(window),
            usage,
            buckets,
        ))
    }

    /// `QUOTA.SET` with the configuration, then one forced `QUOTA.INCR` per bucket at its time
    /// (or one for the cumulative usage).
    fn rewrite(&self, emit: &mut dyn FnMut(&str, &[&[u8]])) {
        let limit = self.limit.map_or("-1".to_string(), |l| l.to_string());
        let mut set: Vec<&[u8]> = vec![b"LIMIT", limit.as_bytes()];
        let window = self.window_ms().map(|w| w.to_string());
        if let Some(w) = &window {
            set.extend([b"WINDOW".as_slice(), w.as_bytes()]);
        }
        emit("QUOTA.SET", &set);
        let (usage, buckets) = self.parts();
        if let Some(usage) = usage.filter(|u| u.is_positive()) {
            emit("QUOTA.INCR", &[usage.to_string().as_bytes(), b"FORCE"]);
        }
        for (start, a) in buckets {
            let (a, start) = (a.to_string(), start.to_string());
            emit(
                "QUOTA.INCR",
                &[a.as_bytes(), b"FORCE", b"NOW", start.as_bytes()],
            );
        }
    }

    fn memory_usage(&self) -> usize {
        Quota::memory_usage(self)
    }

    fn track(&self, sign: i64) {
        stats::adjust(&QUOTA_KEYS, sign);
    }
}
