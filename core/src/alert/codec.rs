//! The persistence encoding of an alert stream (RDB, DUMP/RESTORE, full sync).
//!
//! Encoding versions (the type's encver); the decoder reads each field only from the version
//! that added it and refuses versions it does not know:
//! - `ENC_V1` (vigil 0.1): settings (retention, maxlen, dedup, ratelimit n, ratelimit window),
//!   statistics (added, duplicates, limited, expired, trimmed), then the alerts as ts, seq,
//!   last_seen, count, status, document; then the folded IDs as (alias ts, alias seq, holder
//!   ts, holder seq). Severity, source and fingerprint are derived from the document again.
//!   Loaded into this version, the alerts take revisions 1..n in ID order, the id memory is 0
//!   (the first release's rule: as long as the alert exists) and auto-resolve is off.
//! - `ENC_V2` (vigil 0.2): V1's settings plus autoresolve and id memory; V1's statistics plus
//!   autoresolved; the revision counter and the next silence ID; each alert as in V1 with its
//!   revision after the status; the folded IDs as in V1; then the silences as id, until, the
//!   matchers (min severity as 0 for none or 1 + its rank, then source, type and comment each
//!   as a presence flag and a string, then the labels as a count and name/value strings).
//! - `ENC_V3` (vigil 0.2): V2, then the stream's last ID (the highest it has held or
//!   remembered) as a presence flag, ts and seq. Loaded from V1 or V2, it is the highest ID
//!   held or remembered.

use super::doc::{parse_document, Severity};
use super::filter::Filter;
use super::id::{AlertId, Status, MAX_COUNTED, MAX_MS};
use super::stream::{Settings, Stats, Stream, MAX_SILENCES, MAX_SILENCE_ID};
use crate::codec::{check_version, DecodeError, Sink, Source};

pub const ENC_V1: i32 = 1;
pub const ENC_V2: i32 = 2;
pub const ENC_V3: i32 = 3;
pub const ENC_LATEST: i32 = ENC_V3;

fn put_opt(out: &mut impl Sink, v: Option<&str>) {
    out.put_u64(u64::from(v.is_some()));
    out.put_bytes(v.unwrap_or("").as_bytes());
}

pub fn encode(s: &Stream, out: &mut impl Sink) {
    write(s, &s.stats, out)
}

/// The encoding with the statistics as zeros: what DEBUG DIGEST compares (statistics are not
/// state, and a replica's may differ from its primary's).
pub fn encode_state(s: &Stream, out: &mut impl Sink) {
    write(s, &Stats::default(), out)
}

fn write(s: &Stream, stats: &Stats, out: &mut impl Sink) {
    let st = &s.settings;
    for v in [
        st.retention_ms,
        st.maxlen,
        st.dedup_ms,
        st.ratelimit_n,
        st.ratelimit_window_ms,
        st.autoresolve_ms,
        st.id_memory_ms,
    ] {
        out.put_u64(v);
    }
    for v in [
        stats.added,
        stats.duplicates,
        stats.limited,
        stats.expired,
        stats.trimmed,
        stats.autoresolved,
    ] {
        out.put_u64(v);
    }
    out.put_u64(s.revision());
    out.put_u64(s.next_silence_id());
    out.put_u64(s.len() as u64);
    let mut doc = Vec::with_capacity(1024);
    for (id, a) in s.iter() {
        for v in [
            id.ts,
            id.seq,
            a.last_seen,
            s.count_of(id, a),
            a.status as u64,
            a.rev,
        ] {
            out.put_u64(v);
        }
        s.document_into(&mut doc, a);
        out.put_bytes(&doc);
    }
    out.put_u64(s.remembered_ids() as u64);
    for (alias, holder) in s.aliases() {
        for v in [alias.ts, alias.seq, holder.ts, holder.seq] {
            out.put_u64(v);
        }
    }
    out.put_u64(s.silence_count() as u64);
    for silence in s.silences() {
        out.put_u64(silence.id);
        out.put_u64(silence.until);
        let m = &silence.matchers;
        out.put_u64(m.min_severity.map_or(0, |sev| 1 + sev as u64));
        put_opt(out, m.source.as_deref());
        put_opt(out, m.kind.as_deref());
        put_opt(out, silence.comment.as_deref());
        out.put_u64(m.labels.len() as u64);
        for (n, v) in &m.labels {
            out.put_bytes(n.as_bytes());
            out.put_bytes(v.as_bytes());
        }
    }
    let last = s.last_id();
    out.put_u64(u64::from(last.is_some()));
    let last = last.unwrap_or(AlertId::new(0, 0));
    out.put_u64(last.ts);
    out.put_u64(last.seq);
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

fn text(src: &mut impl Source, what: &str) -> Result<String, DecodeError> {
    String::from_utf8(src.bytes()?)
        .map_err(|_| DecodeError::invalid(format!("{what} is not UTF-8")))
}

/// A presence flag: 0 or 1.
fn flag(src: &mut impl Source, what: &str) -> Result<bool, DecodeError> {
    match src.u64()? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(DecodeError::invalid(format!("{what} flag {v}"))),
    }
}

fn opt_text(src: &mut impl Source, what: &str) -> Result<Option<String>, DecodeError> {
    let present = flag(src, what)?;
    let t = text(src, what)?;
    Ok(present.then_some(t))
}

pub fn decode(src: &mut impl Source, encver: i32) -> Result<Stream, DecodeError> {
    check_version(encver, ENC_LATEST)?;
    let v2 = encver >= ENC_V2;
    let mut settings = Settings {
        retention_ms: ms(src, "retention")?,
        maxlen: ms(src, "maxlen")?,
        dedup_ms: ms(src, "dedup window")?,
        ratelimit_n: ms(src, "ratelimit count")?,
        ratelimit_window_ms: ms(src, "ratelimit window")?,
        autoresolve_ms: 0,
        id_memory_ms: 0,
    };
    if v2 {
        settings.autoresolve_ms = ms(src, "autoresolve")?;
        settings.id_memory_ms = ms(src, "id memory")?;
    }
    settings
        .check()
        .map_err(|e| DecodeError::invalid(e.to_string()))?;
    let mut stats = Stats {
        added: src.u64()?,
        duplicates: src.u64()?,
        limited: src.u64()?,
        expired: src.u64()?,
        trimmed: src.u64()?,
        autoresolved: 0,
    };
    let (mut revision, mut next_silence) = (0, 1);
    if v2 {
        stats.autoresolved = src.u64()?;
        revision = src.u64()?;
        if revision > MAX_COUNTED {
            return Err(DecodeError::invalid(format!(
                "revision {revision} above {MAX_COUNTED}"
            )));
        }
        next_silence = src.u64()?;
        // As ALERT.CREATE's SILENCEID takes it: up to one past the last ID.
        if next_silence == 0 || next_silence > MAX_SILENCE_ID + 1 {
            return Err(DecodeError::invalid(format!(
                "next silence ID {next_silence} not in 1..={}",
                MAX_SILENCE_ID + 1
            )));
        }
    }
    let mut stream = Stream::new(settings);
    let n = src.count("alert")?;
    let mut previous: Option<AlertId> = None;
    for i in 0..n {
        let id = id(src)?;
        if previous.is_some_and(|p| p >= id) {
            return Err(DecodeError::invalid(format!(
                "alert {id} is out of order or repeated"
            )));
        }
        previous = Some(id);
        let last_seen = ms(src, "last_seen")?;
        let count = src.u64()?;
        if count == 0 || count > MAX_COUNTED {
            return Err(DecodeError::invalid(format!(
                "alert {id} has count {count}, outside 1..{MAX_COUNTED}"
            )));
        }
        let status = Status::from_u64(src.u64()?)
            .ok_or_else(|| DecodeError::invalid(format!("alert {id} has an unknown status")))?;
        let rev = if v2 {
            let rev = src.u64()?;
            if rev == 0 || rev > revision {
                return Err(DecodeError::invalid(format!(
                    "alert {id} has revision {rev}, outside the stream's 1..{revision}"
                )));
            }
            rev
        } else {
            i as u64 + 1
        };
        src.bytes_with(|doc| {
            let doc = parse_document(doc, 0)
                .map_err(|e| DecodeError::invalid(format!("alert {id}: {e}")))?;
            stream
                .import(id, doc, status, count, last_seen, &[], Some(rev))
                .map_err(|e| DecodeError::invalid(format!("alert {id}: {e}")))
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
    if v2 {
        let n = src.count("silence")?;
        if n > MAX_SILENCES {
            return Err(DecodeError::invalid(format!("{n} silences")));
        }
        for _ in 0..n {
            let sid = src.u64()?;
            if sid == 0 || sid >= next_silence {
                return Err(DecodeError::invalid(format!("silence ID {sid}")));
            }
            let until = ms(src, "silence until")?;
            let min_severity = match src.u64()? {
                0 => None,
                v @ 1..=5 => Some(Severity::from_u8((v - 1) as u8)),
                v => return Err(DecodeError::invalid(format!("silence severity {v}"))),
            };
            let source = opt_text(src, "silence source")?;
            let kind = opt_text(src, "silence type")?;
            let comment = opt_text(src, "silence comment")?;
            let nl = src.count("silence label")?;
            let mut labels = Vec::new();
            for _ in 0..nl {
                labels.push((text(src, "label name")?, text(src, "label value")?));
            }
            let matchers = Filter {
                min_severity,
                source,
                kind,
                status: None,
                labels,
            };
            if matchers.is_empty() {
                return Err(DecodeError::invalid(format!(
                    "silence {sid} has no matcher"
                )));
            }
            stream
                .silence(until, matchers, comment, Some(sid))
                .map_err(|e| DecodeError::invalid(e.to_string()))?;
        }
    }
    if encver >= ENC_V3 {
        let present = flag(src, "last ID")?;
        let last = id(src)?;
        if present {
            stream.note_id(last);
        }
    }
    stream.stats = stats;
    stream.restore_counters(revision, next_silence);
    if v2 && stream.revision() != revision {
        return Err(DecodeError::invalid(
            "revision counter below an alert's revision",
        ));
    }
    stream.rebuild_indexes();
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::doc::parse_document;
    use crate::codec::{SliceSource, VecSink};

    fn sample() -> Stream {
        let mut s = Stream::new(Settings {
            dedup_ms: 1000,
            autoresolve_ms: 5000,
            id_memory_ms: 60_000,
            ..Settings::default()
        });
        fn d(t: &str) -> crate::alert::Document<'_> {
            parse_document(t.as_bytes(), 0).unwrap()
        }
        s.add(d(r#"{"source":"a"}"#), Some(10), None, 10).unwrap();
        s.add(d(r#"{"source":"a"}"#), None, Some(AlertId::new(20, 3)), 20)
            .unwrap();
        s.add(
            d(r#"{"source":"b","labels":{"x":"1"}}"#),
            Some(30),
            None,
            30,
        )
        .unwrap();
        s.ack(&AlertId::new(30, 0));
        let m = Filter {
            source: Some("b".into()),
            ..Filter::default()
        };
        s.silence(1000, m, Some("maintenance".into()), None)
            .unwrap();
        s
    }

    #[test]
    fn round_trip_keeps_revisions_silences_and_folded_ids() {
        let s = sample();
        let mut out = VecSink::default();
        encode(&s, &mut out);
        let back = decode(&mut SliceSource::new(&out.0), ENC_LATEST).unwrap();
        let mut again = VecSink::default();
        encode(&back, &mut again);
        assert_eq!(out.0, again.0);
        assert_eq!(back.revision(), s.revision());
        assert_eq!(back.silence_count(), 1);
        assert_eq!(back.remembered_ids(), 1);
        assert_eq!(back.last_id(), s.last_id());
        // The last ID outlives the alert that had it.
        let mut s = sample();
        assert!(s.remove(&AlertId::new(30, 0)));
        let mut out = VecSink::default();
        encode(&s, &mut out);
        let back = decode(&mut SliceSource::new(&out.0), ENC_LATEST).unwrap();
        assert_eq!(back.last_id(), Some(AlertId::new(30, 0)));
        // From V2, it is the highest ID held or remembered.
        let mut v2 = out.0.clone();
        v2.truncate(v2.len() - 3 * 8);
        let back = decode(&mut SliceSource::new(&v2), ENC_V2).unwrap();
        assert_eq!(back.last_id(), Some(AlertId::new(20, 3)));
    }

    #[test]
    fn every_cut_short_payload_is_refused() {
        let mut out = VecSink::default();
        encode(&sample(), &mut out);
        for cut in 0..out.0.len() {
            assert!(
                decode(&mut SliceSource::new(&out.0[..cut]), ENC_LATEST).is_err(),
                "cut at {cut}"
            );
        }
    }
}
