//! The typed values the commands take and return. They are the client's own public types (a
//! stable surface over the wire format); what they mean — how an ID, a severity, a status or
//! an amount is read and written — is decided by `vigil_core`, as in the module.

use crate::error::Error;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use vigil_core::alert as core;

/// An alert's ID, `<ts>-<seq>`, ordered by (ts, seq) as the server orders alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlertId {
    /// The alert's time, in ms since the Unix epoch.
    pub ts: u64,
    /// Tells apart alerts of the same millisecond.
    pub seq: u64,
}

impl AlertId {
    /// The lowest ID.
    pub const MIN: AlertId = AlertId { ts: 0, seq: 0 };
    /// The highest ID.
    pub const MAX: AlertId = AlertId {
        ts: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ts: u64, seq: u64) -> AlertId {
        AlertId { ts, seq }
    }

    /// An ID at `ts` with a random 63-bit sequence part. Two clients writing to one stream then
    /// make the same ID with a probability of 2^-63 per pair of alerts of the same millisecond;
    /// a counter could not promise that (the server gives `last seq + 1` to alerts sent without
    /// an ID, which a counter would run into).
    ///
    /// The bits come from the operating system for each ID, not from a generator seeded once
    /// per thread: processes forked from one that had drawn IDs (a pre-fork server's workers,
    /// `multiprocessing`) inherited its generator and drew the same "random" parts, so their
    /// alerts of one millisecond took one ID and all but the first were lost as `exists`.
    pub fn random(ts: u64) -> AlertId {
        use rand::RngCore;
        let mut bits = [0u8; 8];
        let seq = match rand::rngs::OsRng.try_fill_bytes(&mut bits) {
            Ok(()) => u64::from_le_bytes(bits),
            // No OS randomness (it never fails on Linux once booted): the thread's generator,
            // told apart per process.
            Err(_) => rand::random::<u64>() ^ u64::from(std::process::id()).rotate_left(40),
        };
        AlertId { ts, seq: seq >> 1 }
    }

    pub(crate) fn to_core(self) -> core::AlertId {
        core::AlertId::new(self.ts, self.seq)
    }

    pub(crate) fn from_core(id: core::AlertId) -> AlertId {
        AlertId::new(id.ts, id.seq)
    }
}

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ts, self.seq)
    }
}

impl FromStr for AlertId {
    type Err = Error;
    /// A full `<ts>-<seq>`, as the server reads one (`ts` at most `i64::MAX`).
    fn from_str(s: &str) -> Result<AlertId, Error> {
        core::AlertId::parse(s)
            .map(AlertId::from_core)
            .ok_or_else(|| Error::Protocol(format!("invalid alert ID '{s}'")))
    }
}

/// Alert severity, ordered `Info < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Severity {
    #[default]
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Case-insensitive, as the server reads it.
    pub fn parse(s: &str) -> Option<Severity> {
        core::Severity::parse(s).map(Severity::from_core)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub(crate) fn to_core(self) -> core::Severity {
        match self {
            Severity::Info => core::Severity::Info,
            Severity::Low => core::Severity::Low,
            Severity::Medium => core::Severity::Medium,
            Severity::High => core::Severity::High,
            Severity::Critical => core::Severity::Critical,
        }
    }

    pub(crate) fn from_core(sev: core::Severity) -> Severity {
        match sev {
            core::Severity::Info => Severity::Info,
            core::Severity::Low => Severity::Low,
            core::Severity::Medium => Severity::Medium,
            core::Severity::High => Severity::High,
            core::Severity::Critical => Severity::Critical,
        }
    }
}

/// An alert's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Status {
    #[default]
    Active,
    Acked,
    Resolved,
}

impl Status {
    /// Case-insensitive, as the server reads it.
    pub fn parse(s: &str) -> Option<Status> {
        core::Status::parse(s).map(Status::from_core)
    }

    pub fn as_str(&self) -> &'static str {
        self.to_core().as_str()
    }

    pub(crate) fn to_core(self) -> core::Status {
        match self {
            Status::Active => core::Status::Active,
            Status::Acked => core::Status::Acked,
            Status::Resolved => core::Status::Resolved,
        }
    }

    pub(crate) fn from_core(st: core::Status) -> Status {
        match st {
            core::Status::Active => Status::Active,
            core::Status::Acked => Status::Acked,
            core::Status::Resolved => Status::Resolved,
        }
    }
}

/// An alert as ALERT.GET and ALERT.RANGE return it: the stored document plus the five server
/// fields, with the fields the module reads picked out.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: AlertId,
    pub ts: u64,
    pub status: Status,
    /// Occurrences folded into this alert (1 + duplicates).
    pub count: u64,
    pub last_seen: u64,
    pub severity: Severity,
    pub source: String,
    /// The `type` field.
    pub kind: String,
    pub labels: BTreeMap<String, String>,
    /// The whole document, server fields included. A field whose value `serde_json::Value`
    /// cannot hold (a number beyond f64's range, such as `1e400`, which the server keeps as
    /// sent) holds its JSON text as a string.
    pub document: Map<String, Value>,
    /// The JSON text as the server (or the fallback store) rendered it. Numbers are exact here
    /// (`document` holds big integers as floats).
    pub json: String,
}

impl Alert {
    /// Parses one element of an ALERT.GET / ALERT.RANGE reply.
    pub fn from_json(json: &str) -> Result<Alert, Error> {
        let bad = |what: &str| Error::Protocol(format!("alert {what}: {json}"));
        let document = document_of(json).ok_or_else(|| bad("is not a JSON object"))?;
        let text = |name: &str| document.get(name).and_then(Value::as_str);
        let int = |name: &str| document.get(name).and_then(Value::as_u64);
        let id: AlertId = text("id").ok_or_else(|| bad("has no id"))?.parse()?;
        let labels = match document.get("labels") {
            Some(Value::Object(m)) => m
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect(),
            _ => BTreeMap::new(),
        };
        Ok(Alert {
            id,
            ts: int("ts").unwrap_or(id.ts),
            status: text("status").and_then(Status::parse).unwrap_or_default(),
            count: int("count").unwrap_or(1),
            last_seen: int("last_seen").unwrap_or(id.ts),
            severity: text("severity")
                .and_then(Severity::parse)
                .unwrap_or_default(),
            source: text("source").unwrap_or_default().to_owned(),
            kind: text("type").unwrap_or_default().to_owned(),
            labels,
            json: json.to_owned(),
            document,
        })
    }
}

/// The fields of an alert's JSON; a field `Value` cannot hold keeps its JSON text.
fn document_of(json: &str) -> Option<Map<String, Value>> {
    if let Ok(document) = serde_json::from_str(json) {
        return Some(document);
    }
    let fields: BTreeMap<String, Box<RawValue>> = serde_json::from_str(json).ok()?;
    let value = |raw: Box<RawValue>| {
        serde_json::from_str(raw.get()).unwrap_or_else(|_| Value::String(raw.get().to_owned()))
    };
    Some(fields.into_iter().map(|(k, v)| (k, value(v))).collect())
}

/// What ALERT.ADD did with an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// Stored as a new alert with this ID.
    Added(AlertId),
    /// Folded into the alert `id`, whose count is now `count`.
    Duplicate { id: AlertId, count: u64 },
    /// The explicit ID was seen before (a replay or a retry): nothing changed.
    Exists { id: AlertId, count: u64 },
    /// Refused by the stream's rate limit; the same alert `retry_after_ms` later would pass.
    Limited { retry_after_ms: u64 },
    /// Older than the stream's retention, or than every alert of a full stream.
    Expired,
}

impl AddOutcome {
    pub(crate) fn from_core(o: core::Outcome) -> AddOutcome {
        match o {
            core::Outcome::Added(id) => AddOutcome::Added(AlertId::from_core(id)),
            core::Outcome::Duplicate(id, count) => AddOutcome::Duplicate {
                id: AlertId::from_core(id),
                count,
            },
            core::Outcome::Exists(id, count) => AddOutcome::Exists {
                id: AlertId::from_core(id),
                count,
            },
            core::Outcome::Limited(retry_after_ms) => AddOutcome::Limited { retry_after_ms },
            core::Outcome::Expired => AddOutcome::Expired,
        }
    }

    /// The outcome word of the reply: `added`, `duplicate`, `exists`, `limited`, `expired`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AddOutcome::Added(_) => "added",
            AddOutcome::Duplicate { .. } => "duplicate",
            AddOutcome::Exists { .. } => "exists",
            AddOutcome::Limited { .. } => "limited",
            AddOutcome::Expired => "expired",
        }
    }
}

/// Which store answered a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Store {
    /// Redis with the module: the outcome is final.
    Redis,
    /// The file journal (fsync'ed): the outcome is the journal's view, provisional until
    /// the replay, where Redis gives the final one.
    File,
    /// The bounded memory store: provisional, and lost if the process dies before replay.
    Memory,
}

impl Store {
    pub fn as_str(&self) -> &'static str {
        match self {
            Store::Redis => "redis",
            Store::File => "file",
            Store::Memory => "memory",
        }
    }
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer to [`crate::Client::add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddReply {
    pub outcome: AddOutcome,
    /// Where the alert went.
    pub store: Store,
    /// The ID this write carried (made by the client unless given): a replay or a retry with it
    /// answers `exists`.
    pub id: AlertId,
}

/// Options of ALERT.ADD beyond the document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddOptions {
    /// The alert's time (default: the client's clock).
    pub ts: Option<u64>,
    /// An explicit ID (default: `<ts>-<random 63-bit seq>`); with `ts` too, they must agree
    /// (else `Error::InvalidInput`, as ALERT.ADD refuses them).
    pub id: Option<AlertId>,
}

/// Settings of ALERT.CREATE / ALERT.ALTER; `None` keeps the default (or the current value).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamOptions {
    pub retention_ms: Option<u64>,
    pub maxlen: Option<u64>,
    pub dedup_ms: Option<u64>,
    /// `(n, window_ms)`; `(0, 0)` disables the rate limit.
    pub ratelimit: Option<(u64, u64)>,
    /// `AUTORESOLVE ms`: alerts not seen for `ms` are resolved by the server (0: off).
    pub autoresolve_ms: Option<u64>,
    /// `IDMEMORY ms`: how long after its ts a folded explicit ID is remembered (0: as long as
    /// its alert exists). Keep it above the longest outage the client should replay exactly
    /// once.
    pub id_memory_ms: Option<u64>,
}

/// ALERT.TRIM's two modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    /// Keep the newest n alerts (0 removes all).
    MaxLen(u64),
    /// Remove alerts with a ts older than this.
    MinTs(u64),
}

/// One end of an ALERT.RANGE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `-`
    Min,
    /// `+`
    Max,
    /// Every alert of that millisecond.
    Ts(u64),
    /// A full ID.
    Id(AlertId),
}

impl Bound {
    pub(crate) fn arg(&self) -> String {
        match self {
            Bound::Min => "-".into(),
            Bound::Max => "+".into(),
            Bound::Ts(t) => t.to_string(),
            Bound::Id(id) => id.to_string(),
        }
    }

    /// The lowest ID this bound admits as a start.
    pub(crate) fn as_start(&self) -> AlertId {
        match self {
            Bound::Min => AlertId::MIN,
            Bound::Max => AlertId::MAX,
            Bound::Ts(t) => AlertId::new(*t, 0),
            Bound::Id(id) => *id,
        }
    }

    /// The highest ID this bound admits as an end.
    pub(crate) fn as_end(&self) -> AlertId {
        match self {
            Bound::Min => AlertId::MIN,
            Bound::Max => AlertId::MAX,
            Bound::Ts(t) => AlertId::new(*t, u64::MAX),
            Bound::Id(id) => *id,
        }
    }
}

/// An ALERT.RANGE query, built step by step:
/// `RangeQuery::all().min_severity(Severity::High).label("host", "db1").count(10)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeQuery {
    pub start: Bound,
    pub end: Bound,
    pub rev: bool,
    pub count: Option<u64>,
    pub min_severity: Option<Severity>,
    pub source: Option<String>,
    pub kind: Option<String>,
    pub status: Option<Status>,
    pub labels: Vec<(String, String)>,
}

impl Default for RangeQuery {
    fn default() -> Self {
        RangeQuery::all()
    }
}

impl RangeQuery {
    /// `- +`: every alert.
    pub fn all() -> RangeQuery {
        RangeQuery::between(Bound::Min, Bound::Max)
    }

    pub fn between(start: Bound, end: Bound) -> RangeQuery {
        RangeQuery {
            start,
            end,
            rev: false,
            count: None,
            min_severity: None,
            source: None,
            kind: None,
            status: None,
            labels: Vec::new(),
        }
    }

    /// Newest first (start and end keep their meaning).
    pub fn rev(mut self) -> Self {
        self.rev = true;
        self
    }

    pub fn count(mut self, n: u64) -> Self {
        self.count = Some(n);
        self
    }

    pub fn min_severity(mut self, sev: Severity) -> Self {
        self.min_severity = Some(sev);
        self
    }

    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The `type` filter.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    pub fn status(mut self, status: Status) -> Self {
        self.status = Some(status);
        self
    }

    /// One more `LABEL name=value` (all must match).
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.push((name.into(), value.into()));
        self
    }

    /// The query as the module's stream answers it.
    pub(crate) fn to_core(&self) -> core::RangeQuery {
        let mut q = core::RangeQuery::all();
        q.start = self.start.as_start().to_core();
        q.end = self.end.as_end().to_core();
        q.rev = self.rev;
        q.count = self.count.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        q.min_severity = self.min_severity.map(Severity::to_core);
        q.source = self.source.clone();
        q.kind = self.kind.clone();
        q.status = self.status.map(Status::to_core);
        q.labels = self.labels.clone();
        q
    }

    pub(crate) fn args(&self) -> Vec<String> {
        let mut args = vec![self.start.arg(), self.end.arg()];
        if self.rev {
            args.push("REV".into());
        }
        if let Some(n) = self.count {
            args.extend(["COUNT".into(), n.to_string()]);
        }
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

/// ALERT.INFO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertInfo {
    pub length: u64,
    pub first_ts: Option<u64>,
    pub last_ts: Option<u64>,
    pub retention: u64,
    pub maxlen: u64,
    pub dedup: u64,
    pub ratelimit_n: u64,
    pub ratelimit_window: u64,
    pub added: u64,
    pub duplicates: u64,
    pub limited: u64,
    pub expired: u64,
    pub trimmed: u64,
    pub memory: u64,
    /// Auto-resolve time, ms (0: off).
    pub autoresolve: u64,
    /// Alerts the server resolved by auto-resolve.
    pub autoresolved: u64,
    /// How long a folded explicit ID is remembered after its ts, ms (0: while its alert is).
    pub id_memory: u64,
    /// Explicit IDs folded into alerts that the stream holds.
    pub remembered_ids: u64,
}

/// A decimal amount with at most 6 fractional digits, held exactly (in millionths), as the
/// server holds quota usage and LRU sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount {
    micros: i128,
}

impl Amount {
    pub const ZERO: Amount = Amount { micros: 0 };

    pub fn from_micros(micros: i128) -> Amount {
        Amount { micros }
    }

    pub fn micros(&self) -> i128 {
        self.micros
    }

    pub fn from_int(n: i64) -> Amount {
        Amount {
            micros: i128::from(n) * 1_000_000,
        }
    }
}

impl From<i64> for Amount {
    fn from(n: i64) -> Amount {
        Amount::from_int(n)
    }
}

impl FromStr for Amount {
    type Err = Error;
    /// The server's grammar, `-?[0-9]+(\.[0-9]{1,6})?`, at most 10^18 in magnitude.
    fn from_str(s: &str) -> Result<Amount, Error> {
        let a = vigil_core::amount::Amount::parse(s.as_bytes())
            .map_err(|_| Error::Protocol(format!("invalid amount '{s}'")))?;
        Ok(Amount { micros: a.units() })
    }
}

impl fmt::Display for Amount {
    /// Shortest form: `3`, `1.5`, `0.000001`, `-2.25`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        vigil_core::amount::Amount::from_units(self.micros).fmt(f)
    }
}

/// QUOTA.INCR / QUOTA.GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaReply {
    /// The amount was applied and usage is at most the limit.
    pub allowed: bool,
    pub usage: Amount,
    /// `None`: unlimited.
    pub limit: Option<Amount>,
    /// `None`: unlimited; zero when over.
    pub remaining: Option<Amount>,
    /// Ms until usage in the window next drops (0 when the window is empty); `None` for a
    /// cumulative quota.
    pub reset_ms: Option<u64>,
}

/// Options of QUOTA.INCR.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IncrOptions {
    /// Set the quota's limit first.
    pub limit: Option<Amount>,
    /// Apply the amount even above the limit (reported as over).
    pub force: bool,
}

/// QUOTA.INCR ... EVICT, and every QUOTA.INCR ... DRYRUN: the quota reply and the keys
/// evicted to make room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrEvictReply {
    pub quota: QuotaReply,
    /// The keys evicted (for a dry run: that would be), in eviction order. Empty when the
    /// amount fitted without evicting, when it could not fit even after `MAX` keys (then
    /// nothing is evicted and `quota.allowed` is false), and for a dry run without `evict`.
    pub evicted: Vec<String>,
}

/// The QUOTA.INCR a dry run answers for (`DRYRUN`): the options of
/// [`crate::Client::quota_incr`] (`limit`, `force`) and of [`crate::Client::incr_evict`]
/// (`evict`, `max`, `limit`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DryRunOptions {
    /// Set the quota's limit first.
    pub limit: Option<Amount>,
    /// Apply the amount even above the limit.
    pub force: bool,
    /// `EVICT tracker`: make room by evicting this LRU tracker's least recently used keys.
    pub evict: Option<String>,
    /// `MAX n` (with `evict`): at most this many keys (the server's default is 1000).
    pub max: Option<u64>,
}

/// QUOTA.SET: `QuotaSettings::new(Amount::from(1000)).window(ms).alerts(stream, [80, 100])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaSettings {
    /// `-1`: unlimited.
    pub limit: Amount,
    /// A rate quota over the last `window_ms`; `None`: cumulative.
    pub window_ms: Option<u64>,
    /// Threshold alerts; `None` leaves the quota without any (QUOTA.SET replaces the whole
    /// configuration).
    pub alerts: Option<QuotaAlerts>,
}

impl QuotaSettings {
    pub fn new(limit: Amount) -> QuotaSettings {
        QuotaSettings {
            limit,
            window_ms: None,
            alerts: None,
        }
    }

    pub fn window(mut self, ms: u64) -> Self {
        self.window_ms = Some(ms);
        self
    }

    pub fn alerts(mut self, stream: impl Into<String>, at: impl IntoIterator<Item = u16>) -> Self {
        self.alerts = Some(QuotaAlerts {
            stream: stream.into(),
            at: at.into_iter().collect(),
        });
        self
    }
}

/// `ALERTS stream AT pct [pct ...]`: when a write to the quota takes usage from below `pct`%
/// of the limit to at or above it, a `quota_threshold` alert goes to `stream` (in the quota's
/// slot), resolved when a later write takes usage back below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaAlerts {
    pub stream: String,
    /// Percentages of the limit, from 1 to 1000.
    pub at: Vec<u16>,
}

/// One element of LRU.CANDIDATES.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LruCandidate {
    pub key: String,
    pub size: Amount,
    pub last_used_ms: u64,
}

/// LRU.EVICT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvictReply {
    pub evicted: u64,
    pub freed: Amount,
    pub total: Amount,
    /// The keys deleted, in eviction order.
    pub keys: Vec<String>,
}

/// Options of LRU.EVICT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvictOptions {
    /// A quota whose usage drops by the sizes evicted, atomically with the deletes.
    pub quota: Option<String>,
    /// At most this many keys (the server's default is 1000).
    pub max: Option<u64>,
}

/// LRU.INFO.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LruInfo {
    pub keys: u64,
    pub total: Amount,
    pub oldest_ms: Option<u64>,
    pub evicted: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip_in_shortest_form() {
        for (text, shown) in [
            ("3", "3"),
            ("1.5", "1.5"),
            ("0.000001", "0.000001"),
            ("007", "7"),
            ("-0", "0"),
            ("-2.250", "-2.25"),
            ("1000000000000000.5", "1000000000000000.5"),
        ] {
            let a: Amount = text.parse().unwrap();
            assert_eq!(a.to_string(), shown, "{text}");
        }
        for bad in ["+5", ".5", "5.", "1e3", "NaN", " 1", "1.1234567", "", "-"] {
            assert!(bad.parse::<Amount>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_parse_and_order() {
        let a: AlertId = "1700000000000-5".parse().unwrap();
        assert_eq!(a, AlertId::new(1_700_000_000_000, 5));
        assert!(AlertId::new(1, 9) < AlertId::new(2, 0));
        for bad in ["1", "1-", "-1", "a-1", "1-2-3", "1-+2"] {
            assert!(bad.parse::<AlertId>().is_err(), "{bad}");
        }
        let r = AlertId::random(5);
        assert!(r.seq < 1 << 63);
        assert_ne!(AlertId::random(5), AlertId::random(5));
    }

    #[test]
    fn alerts_parse_from_json() {
        let a = Alert::from_json(
            r#"{"severity":"HIGH","source":"db","labels":{"h":"a"},"n":1,"id":"5-1","ts":5,"status":"acked","count":3,"last_seen":9}"#,
        )
        .unwrap();
        assert_eq!(a.id, AlertId::new(5, 1));
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.status, Status::Acked);
        assert_eq!((a.count, a.last_seen), (3, 9));
        assert_eq!(a.labels.get("h").map(String::as_str), Some("a"));
        // The server keeps numbers as sent, also those beyond f64.
        let json = r#"{"x":1e400,"y":[1,-2e999],"n":1,"id":"5-1","ts":5,"status":"active","count":1,"last_seen":5}"#;
        let a = Alert::from_json(json).unwrap();
        assert_eq!(a.document["x"], Value::String("1e400".into()));
        assert_eq!(a.document["y"], Value::String("[1,-2e999]".into()));
        assert_eq!(
            (a.document["n"].as_u64(), a.id),
            (Some(1), AlertId::new(5, 1))
        );
        assert!(Alert::from_json("[1]").is_err());
    }
}
