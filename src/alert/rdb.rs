//! RDB and AOF encoding of a stream.
//!
//! Encoding versions (the type's encver); the loader reads each field only from the version
//! that added it and refuses versions it does not know:
//! - `ENC_V1` (vigil 0.1): settings, statistics, then each alert as ts, seq, last_seen, count,
//!   status, document; then the folded IDs as (alias ts, alias seq, holder ts, holder seq).
//!   Severity, source and fingerprint are derived from the document again on load.

use super::doc::parse_document;
use super::stream::{AlertId, Settings, Stats, Status, Stream};
use crate::callbacks::Persisted;
use crate::stats::{self, ALERTS_HELD, ALERT_KEYS};
use redis_module::raw::{self, RedisModuleIO};

impl Persisted for Stream {
    const NAME: &'static str = "vigil-alr alert stream";

    fn save(&self, rdb: *mut RedisModuleIO) {
        save(rdb, self)
    }

    fn load(rdb: *mut RedisModuleIO, encver: i32) -> Result<Self, String> {
        load(rdb, encver)
    }

    fn rewrite(&self, emit: &mut dyn FnMut(&str, &[&[u8]])) {
        rewrite(self, emit)
    }

    fn memory_usage(&self) -> usize {
        Stream::memory_usage(self)
    }

    fn free_effort(&self) -> usize {
        self.len().max(1)
    }

    fn track(&self, sign: i64) {
        stats::adjust(&ALERT_KEYS, sign);
        stats::adjust(&ALERTS_HELD, sign * self.len() as i64);
    }
}

pub const ENC_V1: i32 = 1;
pub const ENC_LATEST: i32 = ENC_V1;

pub fn save(rdb: *mut RedisModuleIO, s: &Stream) {
    let st = &s.settings;
    for v in [
        st.retention_ms,
        st.maxlen,
        st.dedup_ms,
        st.ratelimit_n,
        st.ratelimit_window_ms,
    ] {
        raw::save_unsigned(rdb, v);
    }
    let stats = &s.stats;
    for v in [
        stats.added,
        stats.duplicates,
        stats.limited,
        stats.expired,
        stats.trimmed,
    ] {
        raw::save_unsigned(rdb, v);
    }
    raw::save_unsigned(rdb, s.len() as u64);
    for (id, a) in s.iter() {
        for v in [id.ts, id.seq, a.last_seen, a.count, a.status as u64] {
            raw::save_unsigned(rdb, v);
        }
        raw::save_string(rdb, &a.doc);
    }
    let aliases: Vec<_> = s.aliases().collect();
    raw::save_unsigned(rdb, aliases.len() as u64);
    for (alias, holder) in aliases {
        for v in [alias.ts, alias.seq, holder.ts, holder.seq] {
            raw::save_unsigned(rdb, v);
        }
    }
}

fn u(rdb: *mut RedisModuleIO) -> Result<u64, String> {
    raw::load_unsigned(rdb).map_err(|e| format!("short read: {e}"))
}

pub fn load(rdb: *mut RedisModuleIO, encver: i32) -> Result<Stream, String> {
    if !(ENC_V1..=ENC_LATEST).contains(&encver) {
        return Err(format!(
            "vigil-alr encoding version {encver} is newer than this module knows ({ENC_LATEST}); upgrade the module"
        ));
    }
    let settings = Settings {
        retention_ms: u(rdb)?,
        maxlen: u(rdb)?,
        dedup_ms: u(rdb)?,
        ratelimit_n: u(rdb)?,
        ratelimit_window_ms: u(rdb)?,
    };
    let stats = Stats {
        added: u(rdb)?,
        duplicates: u(rdb)?,
        limited: u(rdb)?,
        expired: u(rdb)?,
        trimmed: u(rdb)?,
    };
    let mut stream = Stream::new(settings);
    let n = u(rdb)?;
    for _ in 0..n {
        let id = AlertId::new(u(rdb)?, u(rdb)?);
        let last_seen = u(rdb)?;
        let count = u(rdb)?;
        let status = Status::from_u64(u(rdb)?).ok_or("bad alert status")?;
        let buf = raw::load_string_buffer(rdb).map_err(|e| format!("short read: {e}"))?;
        let doc = parse_document(buf.as_ref(), 0).map_err(|e| e.to_string())?;
        stream
            .import(id, doc, status, count, last_seen, &[])
            .map_err(|e| e.to_string())?;
    }
    let mut aliases: Vec<(AlertId, AlertId)> = Vec::new();
    for _ in 0..u(rdb)? {
        let alias = AlertId::new(u(rdb)?, u(rdb)?);
        let holder = AlertId::new(u(rdb)?, u(rdb)?);
        aliases.push((alias, holder));
    }
    stream.restore_aliases(aliases);
    stream.stats = stats;
    stream.rebuild_indexes();
    Ok(stream)
}

/// The commands that rebuild `s`: CREATE with its settings, then one IMPORT per alert.
pub fn rewrite(s: &Stream, emit: &mut dyn FnMut(&str, &[&[u8]])) {
    let st = &s.settings;
    let nums = [
        st.retention_ms,
        st.maxlen,
        st.dedup_ms,
        st.ratelimit_n,
        st.ratelimit_window_ms,
    ]
    .map(|v| v.to_string());
    emit(
        "ALERT.CREATE",
        &[
            b"RETENTION",
            nums[0].as_bytes(),
            b"MAXLEN",
            nums[1].as_bytes(),
            b"DEDUP",
            nums[2].as_bytes(),
            b"RATELIMIT",
            nums[3].as_bytes(),
            nums[4].as_bytes(),
        ],
    );
    let mut aliases: std::collections::HashMap<AlertId, Vec<String>> = Default::default();
    for (alias, holder) in s.aliases() {
        aliases.entry(*holder).or_default().push(alias.to_string());
    }
    for (id, a) in s.iter() {
        let id_s = id.to_string();
        let count = a.count.to_string();
        let last_seen = a.last_seen.to_string();
        let mut args: Vec<&[u8]> = vec![
            id_s.as_bytes(),
            a.doc.as_bytes(),
            b"STATUS",
            a.status.as_str().as_bytes(),
            b"COUNT",
            count.as_bytes(),
            b"LASTSEEN",
            last_seen.as_bytes(),
        ];
        if let Some(list) = aliases.get(id) {
            for alias in list {
                args.push(b"ALIAS");
                args.push(alias.as_bytes());
            }
        }
        emit("ALERT.IMPORT", &args);
    }
}
