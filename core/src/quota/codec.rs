//! The persistence encoding of a quota.
//!
//! Encoding versions (the type's encver):
//! - `ENC_V1` (vigil 0.1): limit (a flag, then the amount as a decimal string), window ms (0
//!   for a cumulative quota), usage (decimal string), then the window's buckets as (start ms,
//!   amount).

use super::meter::Quota;
use crate::amount::Amount;
use crate::codec::{check_version, DecodeError, Sink, Source};

pub const ENC_V1: i32 = 1;
pub const ENC_LATEST: i32 = ENC_V1;

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
    Ok(Quota::from_parts(
        has_limit.then_some(limit),
        (window > 0).then_some(window),
        usage,
        buckets,
    ))
}
