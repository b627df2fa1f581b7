//! The change feed's and the silences' types: filters and matchers, cursors, and what
//! `ALERT.READ`, `ALERT.SILENCES` and `ALERT.GROUPS` answer. [`Feed`](crate::Feed), which
//! follows a stream's changes from a stored cursor, is a call over the client
//! (`calls/feed.rs`).

use crate::error::Error;
use crate::types::{Alert, Severity, Status, Store};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use vigil_core::alert as core;

/// The filters of ALERT.RANGE, ALERT.READ and ALERT.GROUPS, combined with AND:
/// `Filters::new().min_severity(Severity::High).label("env", "prod")`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub min_severity: Option<Severity>,
    pub source: Option<String>,
    /// The `type` filter.
    pub kind: Option<String>,
    pub status: Option<Status>,
    /// `LABEL name=value` (all must match).
    pub labels: Vec<(String, String)>,
}

impl Filters {
    pub fn new() -> Filters {
        Filters::default()
    }

    pub fn min_severity(mut self, sev: Severity) -> Self {
        self.min_severity = Some(sev);
        self
    }

    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    pub fn status(mut self, status: Status) -> Self {
        self.status = Some(status);
        self
    }

    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.push((name.into(), value.into()));
        self
    }

    pub(crate) fn to_core(&self) -> core::Filter {
        core::Filter {
            min_severity: self.min_severity.map(Severity::to_core),
            source: self.source.clone(),
            kind: self.kind.clone(),
            status: self.status.map(Status::to_core),
            labels: self.labels.clone(),
        }
    }

    pub(crate) fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(sev) = self.min_severity {
            args.extend(["MINSEVERITY".into(), sev.as_str().into()]);
        }
        if let Some(src) = &self.source {
            args.extend(["SOURCE".into(), src.clone()]);
        }
        if let Some(kind) = &self.kind {
            args.extend(["TYPE".into(), kind.clone()]);
        }
        if let Some(st) = self.status {
            args.extend(["STATUS".into(), st.as_str().into()]);
        }
        for (name, value) in &self.labels {
            args.extend(["LABEL".into(), format!("{name}={value}")]);
        }
        args
    }
}

/// What a silence matches (all of it): the filters of ALERT.RANGE but the status. At least
/// one is required.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Matchers {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "severity_text"
    )]
    pub min_severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The `type` matcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<(String, String)>,
}

mod severity_text {
    use crate::types::Severity;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Severity>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(sev) => s.serialize_str(sev.as_str()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Severity>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        match text {
            None => Ok(None),
            Some(t) => Severity::parse(&t)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid severity '{t}'"))),
        }
    }
}

impl Matchers {
    pub fn new() -> Matchers {
        Matchers::default()
    }

    pub fn min_severity(mut self, sev: Severity) -> Self {
        self.min_severity = Some(sev);
        self
    }

    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.push((name.into(), value.into()));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.min_severity.is_none()
            && self.source.is_none()
            && self.kind.is_none()
            && self.labels.is_empty()
    }

    pub(crate) fn to_core(&self) -> core::Filter {
        core::Filter {
            min_severity: self.min_severity.map(Severity::to_core),
            source: self.source.clone(),
            kind: self.kind.clone(),
            status: None,
            labels: self.labels.clone(),
        }
    }

    pub(crate) fn from_core(f: &core::Filter) -> Matchers {
        Matchers {
            min_severity: f.min_severity.map(Severity::from_core),
            source: f.source.clone(),
            kind: f.kind.clone(),
            labels: f.labels.clone(),
        }
    }

    pub(crate) fn args(&self) -> Vec<String> {
        Filters {
            min_severity: self.min_severity,
            source: self.source.clone(),
            kind: self.kind.clone(),
            status: None,
            labels: self.labels.clone(),
        }
        .args()
    }
}

/// A position in a stream's change feed, to persist as text (`to_string()`, then `parse()`)
/// and compare only for equality.
///
/// A cursor Redis gave is Redis's (`"1796213261453001"`). While the client answers reads from
/// its fallback store, that store's changes have positions of their own: the cursor then
/// keeps both, the Redis position the reader had reached and the local one
/// (`"1796213261453001~1796213300000004"`). A read answered by Redis again uses the Redis part,
/// so the changes the fallback store showed come again once they are replayed (in their state
/// in Redis), and nothing Redis holds is skipped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// `0`, `$` or a revision Redis gave.
    redis: String,
    /// A revision of the fallback store's stream.
    local: Option<u64>,
}

impl Cursor {
    /// `0`: every alert the stream holds.
    pub fn start() -> Cursor {
        Cursor {
            redis: "0".into(),
            local: None,
        }
    }

    /// `$`: only the changes made after the read.
    pub fn now() -> Cursor {
        Cursor {
            redis: "$".into(),
            local: None,
        }
    }

    /// The position in Redis, as ALERT.READ takes it.
    pub fn redis_part(&self) -> &str {
        &self.redis
    }

    /// The position in the fallback store's changes, if it has one.
    pub fn local_part(&self) -> Option<u64> {
        self.local
    }

    pub(crate) fn redis(redis: String) -> Cursor {
        Cursor { redis, local: None }
    }

    pub(crate) fn local(redis: &str, local: u64) -> Cursor {
        Cursor {
            redis: redis.to_owned(),
            local: Some(local),
        }
    }

    pub(crate) fn is_now(&self) -> bool {
        self.redis == "$"
    }
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor::start()
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.local {
            None => f.write_str(&self.redis),
            Some(l) => write!(f, "{}~{l}", self.redis),
        }
    }
}

impl FromStr for Cursor {
    type Err = Error;
    /// `0`, `$`, a Redis cursor, or `<redis>~<local>` as [`Cursor`]'s `Display` writes it.
    fn from_str(s: &str) -> Result<Cursor, Error> {
        let bad = || Error::InvalidInput(format!("invalid cursor '{s}'"));
        let (redis, local) = match s.split_once('~') {
            Some((r, l)) => (r, Some(l.parse::<u64>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let numeric = !redis.is_empty() && redis.bytes().all(|b| b.is_ascii_digit());
        if !(numeric || redis == "$") || (redis == "$" && local.is_some()) {
            return Err(bad());
        }
        Ok(Cursor {
            redis: redis.to_owned(),
            local,
        })
    }
}

impl From<&str> for Cursor {
    /// Text that is not a cursor reads as `0` (every alert the stream holds: nothing skipped).
    fn from(s: &str) -> Cursor {
        s.parse().unwrap_or_else(|_| Cursor::start())
    }
}

/// Options of ALERT.READ.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// At most this many alerts (the server's default is 100).
    pub count: Option<u64>,
    /// When there is nothing to return, wait up to this long for a change (`BLOCK`; at least
    /// 1 ms). `None`: answer at once.
    pub block: Option<Duration>,
    pub filters: Filters,
    /// Also return alerts that an active silence covers.
    pub with_silenced: bool,
}

impl ReadOptions {
    pub fn new() -> ReadOptions {
        ReadOptions::default()
    }

    pub fn count(mut self, n: u64) -> Self {
        self.count = Some(n);
        self
    }

    pub fn block(mut self, d: Duration) -> Self {
        self.block = Some(d);
        self
    }

    pub fn filters(mut self, f: Filters) -> Self {
        self.filters = f;
        self
    }

    pub fn with_silenced(mut self) -> Self {
        self.with_silenced = true;
        self
    }
}

/// One alert of the feed, in its current state, with the position of its last change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub cursor: Cursor,
    pub alert: Alert,
}

/// What ALERT.READ answered.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadReply {
    /// Where to read on from: past every change returned or left out by the filters.
    pub next: Cursor,
    pub changes: Vec<Change>,
    /// Who answered: Redis, or (in fallback) the store holding the writes made meanwhile.
    pub store: Store,
}

/// ALERT.GROUPS: the field to group by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupBy {
    Severity,
    Source,
    /// The `type` field.
    Type,
    Status,
    /// A label's value (alerts without it form the group `None`).
    Label(String),
}

impl GroupBy {
    pub(crate) fn arg(&self) -> String {
        match self {
            GroupBy::Severity => "severity".into(),
            GroupBy::Source => "source".into(),
            GroupBy::Type => "type".into(),
            GroupBy::Status => "status".into(),
            GroupBy::Label(name) => format!("label:{name}"),
        }
    }

    pub(crate) fn to_core(&self) -> core::GroupBy {
        match self {
            GroupBy::Severity => core::GroupBy::Severity,
            GroupBy::Source => core::GroupBy::Source,
            GroupBy::Type => core::GroupBy::Type,
            GroupBy::Status => core::GroupBy::Status,
            GroupBy::Label(name) => core::GroupBy::Label(name.clone()),
        }
    }
}

/// One group of ALERT.GROUPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `None`: the alerts without the label grouped by.
    pub value: Option<String>,
    pub alerts: u64,
    /// The sum of their `count`.
    pub occurrences: u64,
    pub newest_ts: u64,
}

/// One active silence, as ALERT.SILENCES lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub id: u64,
    pub until: u64,
    pub matchers: Matchers,
    pub comment: Option<String>,
    /// Alerts held now that it matches.
    pub covered: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_as_text() {
        for text in [
            "0",
            "$",
            "1796213261453001",
            "1796213261453001~1796213300000004",
        ] {
            let c: Cursor = text.parse().unwrap();
            assert_eq!(c.to_string(), text);
        }
        let c: Cursor = "17~42".parse().unwrap();
        assert_eq!((c.redis_part(), c.local_part()), ("17", Some(42)));
        for bad in ["", "x", "-1", "1~", "~1", "$~1", "1~x", "1.5"] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad}");
        }
        assert_eq!(Cursor::from("nonsense"), Cursor::start());
    }

    #[test]
    fn matchers_keep_their_journal_form() {
        let m = Matchers::new()
            .min_severity(Severity::High)
            .label("env", "prod");
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(text, r#"{"min_severity":"high","labels":[["env","prod"]]}"#);
        assert_eq!(serde_json::from_str::<Matchers>(&text).unwrap(), m);
        assert_eq!(m.args(), vec!["MINSEVERITY", "high", "LABEL", "env=prod"]);
    }
}
