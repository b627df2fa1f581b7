//! The persistence encoding of an alert stream (RDB, DUMP/RESTORE, full sync).
//!
//! Encoding versions (the type's encver); the decoder reads each field only from the version
//! that added it and refuses versions it does not know:
//! - `ENC_V1` (vigil 0.1): settings (retention, maxlen, dedup, ratelimit n, ratelimit window),
//!   statistics (added, duplicates, limited, expired, trimmed), then the alerts as ts, seq,
//!   last_seen, count, status, document; then the folded IDs as (alias ts, alias seq, holder
//!   ts, holder seq). Severity, source and fingerprint are derived from the document again.

use super::doc::parse_document;
use super::id::{AlertId, Status, MAX_MS};
use super::stream::{Settings, Stats, Stream};
use crate::codec::{check_version, DecodeError, Sink, Source};

pub const ENC_V1: i32 = 1;
pub const ENC_LATEST: i32 = ENC_V1;

pub fn encode(s: &Stream, out: &mut impl Sink) {
    let st = &s.settings;
    for v in [
        st.retention_ms,
        st.maxlen,
        st.dedup_ms,
        st.ratelimit_n,
        st.ratelimit_window_ms,
    ] {
        out.put_u64(v);
    }
    let stats = &s.stats;
    for v in [
        stats.added,
        stats.duplicates,
        stats.limited,
        stats.expired,
        stats.trimmed,
    ] {
        out.put_u64(v);
    }
    out.put_u64(s.len() as u64);
    for (id, a) in s.iter() {
        for v in [id.ts, id.seq, a.last_seen, a.count, a.status as u64] {
            out.put_u64(v);
        }
        out.put_bytes(a.doc.as_bytes());
    }
    let aliases: Vec<_> = s.aliases().collect();
    out.put_u64(aliases.len() as u64);
    for (alias, holder) in aliases {
        for v in [alias.ts, alias.seq, holder.ts, holder.seq] {
            out.put_u64(v);
        }
    }
}

/// A timestamp or duration: at most `MAX_MS`, as the commands accept.
fn ms(src: &mut impl Source, what: &str) -> Result<u64, DecodeError> {
    let v = src.u64()?;
    if v > MAX_MS {
        return Err(DecodeError::invalid(format!("{what} {v} is out of range")));
    }
    Ok(v)
}

fn id(src: &mut impl Source) -> Result<AlertId, DecodeError> {
    let ts = ms(src, "alert ts")?;
    Ok(AlertId::new(ts, src.u64()?))
}

pub fn decode(src: &mut impl Source, encver: i32) -> Result<Stream, DecodeError> {
    check_version(encver, ENC_LATEST)?;
    let settings = Settings {
        retention_ms: ms(src, "retention")?,
        maxlen: ms(src, "maxlen")?,
        dedup_ms: ms(src, "dedup window")?,
        ratelimit_n: ms(src, "ratelimit count")?,
        ratelimit_window_ms: ms(src, "ratelimit window")?,
    };
    settings
        .check()
        .map_err(|e| DecodeError::invalid(e.to_string()))?;
    let stats = Stats {
        added: src.u64()?,
        duplicates: src.u64()?,
        limited: src.u64()?,
        expired: src.u64()?,
        trimmed: src.u64()?,
    };
    let mut stream = Stream::new(settings);
    let n = src.count("alert")?;
    let mut previous: Option<AlertId> = None;
    for _ in 0..n {
        let id = id(src)?;
        if previous.is_some_and(|p| p >= id) {
            return Err(DecodeError::invalid(format!(
                "alert {id} is out of order or repeated"
            )));
        }
        previous = Some(id);
        let last_seen = ms(src, "last_seen")?;
        let count = src.u64()?;
        if count == 0 {
            return Err(DecodeError::invalid(format!("alert {id} has count 0")));
        }
        let status = Status::from_u64(src.u64()?)
            .ok_or_else(|| DecodeError::invalid(format!("alert {id} has an unknown status")))?;
        src.bytes_with(|doc| {
            let doc = parse_document(doc, 0)
                .map_err(|e| DecodeError::invalid(format!("alert {id}: {e}")))?;
            stream
                .import(id, doc, status, count, last_seen, &[])
                .map_err(|e| DecodeError::invalid(e.to_string()))
        })??;
    }
    let n = src.count("folded ID")?;
    let mut aliases: Vec<(AlertId, AlertId)> = Vec::new();
    for _ in 0..n {
        let alias = id(src)?;
        let holder = id(src)?;
        if stream.get(&alias).is_some() {
            return Err(DecodeError::invalid(format!(
                "folded ID {alias} is also an alert"
            )));
        }
        if stream.get(&holder).is_none() {
            return Err(DecodeError::invalid(format!(
                "folded ID {alias} points at {holder}, which the stream does not hold"
            )));
        }
        aliases.push((alias, holder));
    }
    aliases.sort();
    if aliases.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(DecodeError::invalid("a folded ID is repeated"));
    }
    stream.restore_aliases(aliases);
    stream.stats = stats;
    stream.rebuild_indexes();
    Ok(stream)
}
