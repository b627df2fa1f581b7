//! Alert IDs (`<ts>-<seq>`), timestamps and statuses: the small values every part of an alert
//! stream shares.

use std::fmt;

/// Largest timestamp or duration accepted: keeps `ts + window` arithmetic inside u64.
pub const MAX_MS: u64 = i64::MAX as u64;

/// The largest alert count and revision a client sets (a command's COUNT, REVISION or REV):
/// 2^62. Counting on from it by one a change stays below 2^63, what RESP integers and the
/// options' parser hold, for longer than any server runs.
pub const MAX_COUNTER: u64 = 1 << 62;

/// The largest count and revision an RDB payload (a RESTORE) may hold: [`MAX_COUNTER`] and
/// 2^61 changes counted on from it, which no stream reaches; what lies above could count
/// past 2^63.
pub const MAX_COUNTED: u64 = MAX_COUNTER + (MAX_COUNTER >> 1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlertId {
    pub ts: u64,
    pub seq: u64,
}

impl AlertId {
    pub const MIN: AlertId = AlertId { ts: 0, seq: 0 };
    pub const MAX: AlertId = AlertId {
        ts: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ts: u64, seq: u64) -> AlertId {
        AlertId { ts, seq }
    }

    /// The ID in 8 bytes, `ts << 16 | seq`, when its ts is below 2^48 (the year 10889) and its
    /// seq below 2^16 (as good as every ID: seq counts the alerts of one millisecond). Packed
    /// IDs sort as the IDs do.
    pub fn pack(&self) -> Option<u64> {
        (self.ts < 1 << 48 && self.seq < 1 << 16).then_some(self.ts << 16 | self.seq)
    }

    /// The ID a `pack` gave.
    pub fn unpack(p: u64) -> AlertId {
        AlertId::new(p >> 16, p & 0xffff)
    }

    /// Parses a full `<ts>-<seq>` ID.
    pub fn parse(s: &str) -> Option<AlertId> {
        let (ts, seq) = s.split_once('-')?;
        Some(AlertId {
            ts: parse_ms(ts)?,
            seq: parse_u64(seq)?,
        })
    }
}

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ts, self.seq)
    }
}

/// Digits only, any u64.
pub fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A timestamp or duration in ms: digits only, at most `MAX_MS`.
pub fn parse_ms(s: &str) -> Option<u64> {
    parse_u64(s).filter(|v| *v <= MAX_MS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    Active = 0,
    Acked = 1,
    Resolved = 2,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Acked => "acked",
            Status::Resolved => "resolved",
        }
    }

    /// `,"status":"<status>","count":` as rendering writes it between an alert's `ts` and its
    /// count: one piece to append instead of three.
    pub fn rendered_before_count(self) -> &'static [u8] {
        match self {
            Status::Active => b",\"status\":\"active\",\"count\":",
            Status::Acked => b",\"status\":\"acked\",\"count\":",
            Status::Resolved => b",\"status\":\"resolved\",\"count\":",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Status::Active, Status::Acked, Status::Resolved]
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }

    pub fn from_u64(v: u64) -> Option<Status> {
        match v {
            0 => Some(Status::Active),
            1 => Some(Status::Acked),
            2 => Some(Status::Resolved),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rendered_status_is_its_name() {
        for s in [Status::Active, Status::Acked, Status::Resolved] {
            let expected = format!(",\"status\":\"{}\",\"count\":", s.as_str());
            assert_eq!(s.rendered_before_count(), expected.as_bytes());
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }
}
