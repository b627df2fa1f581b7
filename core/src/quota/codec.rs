//! The persistence encoding of a quota.
//!
//! Encoding versions (the type's encver):
//! - `ENC_V1` (vigil 0.1): limit (a flag, then the amount as a decimal string), window ms (0
//!   for a cumulative quota), usage (decimal string), then the window's buckets as (start ms,
//!   amount).
//! - `ENC_V2` (vigil 0.2): V1, then the thresholds: a flag; with it, the alert stream's key,
//!   the number of thresholds, and each as percentage, state (0 below, 1 reached without an
//!   alert, 2 reached with one) and, in state 2, the alert's ID as ms and seq.

use super::meter::Quota;
use super::thresholds::{State, Thresholds, MAX_PCT};
use crate::alert::{AlertId, MAX_MS};
use crate::amount::Amount;
use crate::codec::{check_version, DecodeError, Sink, Source};

pub const ENC_V1: i32 = 1;
pub const ENC_V2: i32 = 2;
pub const ENC_LATEST: i32 = ENC_V2;

pub fn encode(q: &Quota, out: &mut impl Sink) {
    out.put_u64(u64::from(q.limit.is_some()));
    out.put_bytes(q.limit.unwrap_or_default().to_string().as_bytes());
    out.put_u64(q.window_ms().unwrap_or(0));
    let (usage, buckets) = q.parts();
    out.put_bytes(usage.unwrap_or_default().to_string().as_bytes());
    out.put_u64(buckets.len() as u64);
    for (start, a) in buckets {
        out.put_u64(start);
        out.put_bytes(a.to_string().as_bytes());
    }
    encode_thresholds(q.thresholds.as_ref(), out);
}

fn encode_thresholds(t: Option<&Thresholds>, out: &mut impl Sink) {
    let Some(t) = t else {
        out.put_u64(0);
        return;
    };
    out.put_u64(1);
    out.put_bytes(t.stream());
    out.put_u64(t.len() as u64);
    for th in t.iter() {
        out.put_u64(u64::from(th.pct));
        match th.state {
            State::Below => out.put_u64(0),
            State::Reached(None) => out.put_u64(1),
            State::Reached(Some(id)) => {
                out.put_u64(2);
                out.put_u64(id.ts);
                out.put_u64(id.seq);
            }
        }
    }
}

/// The thresholds of ENC_V2, checked as QUOTA.SET checks them: percentages in 1..=1000,
/// ascending and each once, at least one, known states, IDs in range.
fn decode_thresholds(src: &mut impl Source) -> Result<Option<Thresholds>, DecodeError> {
    match src.u64()? {
        0 => return Ok(None),
        1 => {}
        v => return Err(DecodeError::invalid(format!("thresholds flag {v}"))),
    }
    let stream = src.bytes()?;
    let n = src.count("threshold")?;
    if n == 0 || n > MAX_PCT as usize {
        return Err(DecodeError::invalid(format!("{n} thresholds")));
    }
    let mut pcts = Vec::with_capacity(n);
    let mut states = Vec::new();
    for _ in 0..n {
        let pct = src.u64()?;
        let pct = u32::try_from(pct)
            .ok()
            .filter(|p| (1..=MAX_PCT).contains(p) && pcts.last().is_none_or(|last| p > last))
            .ok_or_else(|| DecodeError::invalid(format!("threshold {pct}")))?;
        pcts.push(pct);
        let state = match src.u64()? {
            0 => State::Below,
            1 => State::Reached(None),
            2 => {
                let (ts, seq) = (src.u64()?, src.u64()?);
                if ts > MAX_MS {
                    return Err(DecodeError::invalid("threshold alert ID out of range"));
                }
                State::Reached(Some(AlertId::new(ts, seq)))
            }
            v => return Err(DecodeError::invalid(format!("threshold state {v}"))),
        };
        states.push((pct, state));
    }
    let mut t = Thresholds::new(stream, &pcts).map_err(|e| DecodeError::invalid(e.to_string()))?;
    t.set_states(&states)
        .map_err(|e| DecodeError::invalid(e.to_string()))?;
    Ok(Some(t))
}

fn amount(src: &mut impl Source, what: &str) -> Result<Amount, DecodeError> {
    src.bytes_with(|b| Amount::parse(b).map_err(|e| DecodeError::invalid(format!("{what}: {e}"))))?
}

pub fn decode(src: &mut impl Source, encver: i32) -> Result<Quota, DecodeError> {
    check_version(encver, ENC_LATEST)?;
    let has_limit = match src.u64()? {
        0 => false,
        1 => true,
        v => return Err(DecodeError::invalid(format!("limit flag {v}"))),
    };
    let limit = amount(src, "limit")?;
    if limit.is_negative() {
        return Err(DecodeError::invalid("negative limit"));
    }
    let window = src.u64()?;
    if window > crate::alert::MAX_MS {
        return Err(DecodeError::invalid(format!(
            "window {window} is out of range"
        )));
    }
    let usage = amount(src, "usage")?;
    if usage.is_negative() {
        return Err(DecodeError::invalid("negative usage"));
    }
    let n = src.count("bucket")?;
    let mut buckets = Vec::new();
    let mut sum = Amount::ZERO;
    for _ in 0..n {
        let start = src.u64()?;
        let a = amount(src, "bucket amount")?;
        if a.is_negative() || start > crate::alert::MAX_MS {
            return Err(DecodeError::invalid("bucket out of range"));
        }
        sum = sum
            .checked_add(a)
            .ok_or_else(|| DecodeError::invalid("window usage out of range"))?;
        buckets.push((start, a));
    }
    if window == 0 && !buckets.is_empty() {
        return Err(DecodeError::invalid(
            "a cumulative quota with window buckets",
        ));
    }
    if buckets.len() as u64 > 2 * super::meter::BUCKETS + 2 {
        return Err(DecodeError::invalid("more buckets than a window keeps"));
    }
    let mut q = Quota::from_parts(
        has_limit.then_some(limit),
        (window > 0).then_some(window),
        usage,
        buckets,
    );
    if encver >= ENC_V2 {
        q.thresholds = decode_thresholds(src)?;
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{SliceSource, VecSink};

    fn a(s: &str) -> Amount {
        Amount::parse(s.as_bytes()).unwrap()
    }

    fn encoded(q: &Quota) -> Vec<u8> {
        let mut sink = VecSink::default();
        encode(q, &mut sink);
        sink.0
    }

    fn with_thresholds() -> Quota {
        let mut q = Quota::new(Some(a("1000")), None);
        q.incr(a("900"), false, 0).unwrap();
        let mut t = Thresholds::new(b"tenant:{a}:alerts".to_vec(), &[50, 80, 100]).unwrap();
        t.set_states(&[
            (50, State::Reached(Some(AlertId::new(1_700_000_000_000, 3)))),
            (80, State::Reached(None)),
        ])
        .unwrap();
        q.thresholds = Some(t);
        q
    }

    #[test]
    fn round_trip_and_every_cut_is_short() {
        for q in [with_thresholds(), Quota::new(None, Some(1000))] {
            let bytes = encoded(&q);
            assert_eq!(decode(&mut SliceSource::new(&bytes), ENC_V2), Ok(q));
            for cut in 0..bytes.len() {
                let r = decode(&mut SliceSource::new(&bytes[..cut]), ENC_V2);
                assert!(r.is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn version_one_has_no_thresholds() {
        let mut q = with_thresholds();
        let bytes = encoded(&q);
        // A V1 payload is the V2 one without the thresholds' fields.
        let mut v1 = VecSink::default();
        q.thresholds = None;
        encode(&q, &mut v1);
        let v1 = &v1.0[..v1.0.len() - 8];
        assert_eq!(decode(&mut SliceSource::new(v1), ENC_V1), Ok(q));
        assert!(
            decode(&mut SliceSource::new(&bytes), 3).is_err(),
            "unknown version"
        );
    }

    #[test]
    fn hostile_thresholds_are_refused() {
        let base = {
            let mut q = Quota::new(Some(a("10")), None);
            q.thresholds = None;
            let mut b = encoded(&q);
            b.truncate(b.len() - 8);
            b
        };
        let payload = |fields: &[u64], stream: &[u8]| {
            let mut sink = VecSink(base.clone());
            sink.put_u64(1);
            sink.put_bytes(stream);
            for f in fields {
                sink.put_u64(*f);
            }
            sink.0
        };
        let bad: &[(&[u64], &str)] = &[
            (&[0], "no threshold"),
            (&[1, 0, 0], "pct 0"),
            (&[1, 1001, 0], "pct 1001"),
            (&[2, 80, 0, 50, 0], "descending"),
            (&[2, 80, 0, 80, 0], "repeated"),
            (&[1, 80, 3], "unknown state"),
            (&[1, 80, 2, u64::MAX, 0], "ID out of range"),
            (&[1001], "too many"),
        ];
        for (fields, what) in bad {
            let bytes = payload(fields, b"s");
            let r = decode(&mut SliceSource::new(&bytes), ENC_V2);
            assert!(matches!(r, Err(DecodeError::Invalid(_))), "{what}: {r:?}");
        }
        let mut flag = VecSink(base.clone());
        flag.put_u64(7);
        assert!(decode(&mut SliceSource::new(&flag.0), ENC_V2).is_err());
        let ok = payload(&[1, 80, 2, 5, 6], b"s");
        let q = decode(&mut SliceSource::new(&ok), ENC_V2).unwrap();
        let t = q.thresholds.unwrap();
        assert_eq!(
            t.iter().next().unwrap().state,
            State::Reached(Some(AlertId::new(5, 6)))
        );
    }
}
