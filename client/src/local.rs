//! What the fallback stores hold, as alert streams: the same validation, dedup, rate limit,
//! retention and MAXLEN rules as the module (SPEC "ALERT.ADD", steps 1 to 5), so that reads in
//! fallback mode answer as Redis would have for the alerts the client holds.
//!
//! Outcomes given here are provisional: the client does not know what Redis holds. The replay
//! sends every write to Redis, which gives the final outcome.

use crate::types::*;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The server's default stream settings (`vigil.*` configs), used for streams the client has
/// not seen settings for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSettings {
    pub retention_ms: u64,
    pub maxlen: u64,
    pub dedup_ms: u64,
    pub ratelimit_n: u64,
    pub ratelimit_window_ms: u64,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            retention_ms: 2_592_000_000,
            maxlen: 10_000,
            dedup_ms: 300_000,
            ratelimit_n: 0,
            ratelimit_window_ms: 0,
        }
    }
}

impl StreamSettings {
    pub(crate) fn from_info(info: &AlertInfo) -> StreamSettings {
        StreamSettings {
            retention_ms: info.retention,
            maxlen: info.maxlen,
            dedup_ms: info.dedup,
            ratelimit_n: info.ratelimit_n,
            ratelimit_window_ms: info.ratelimit_window,
        }
    }

    pub(crate) fn apply(&mut self, o: &StreamOptions) {
        if let Some(v) = o.retention_ms {
            self.retention_ms = v;
        }
        if let Some(v) = o.maxlen {
            self.maxlen = v;
        }
        if let Some(v) = o.dedup_ms {
            self.dedup_ms = v;
        }
        if let Some((n, w)) = o.ratelimit {
            self.ratelimit_n = n;
            self.ratelimit_window_ms = w;
        }
    }
}

/// The dedup key, as the module computes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Fingerprint {
    /// The default (FNV-1a of source, type, labels) or an explicit 16-hex-digit one.
    Hash(u64),
    /// Any other explicit fingerprint.
    Explicit(String),
}

/// A validated document and the fields the module reads.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    json: String,
    severity: Severity,
    source: String,
    kind: String,
    labels: BTreeMap<String, String>,
    /// None: `"fingerprint": ""`, never deduplicated.
    fingerprint: Option<Fingerprint>,
}

const RESERVED: [&str; 5] = ["id", "ts", "status", "count", "last_seen"];

/// Checks a document as the module does; the error reads as the server's would.
pub(crate) fn parse_document(text: &str, max_bytes: usize) -> Result<Doc, String> {
    if max_bytes > 0 && text.len() > max_bytes {
        return Err(format!(
            "ERR document is {} bytes, larger than vigil.max-document-bytes ({max_bytes})",
            text.len()
        ));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("ERR invalid document: {e}"))?;
    let Value::Object(obj) = value else {
        return Err("ERR invalid document: expected a JSON object".into());
    };
    if let Some(name) = RESERVED.iter().find(|n| obj.contains_key(**n)) {
        return Err(format!(
            "ERR invalid document: field '{name}' is set by the server and may not be sent"
        ));
    }
    let string = |name: &str| -> Result<Option<String>, String> {
        match obj.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!(
                "ERR invalid document: field '{name}' must be a string"
            )),
        }
    };
    let severity = match string("severity")? {
        None => Severity::Info,
        Some(s) => Severity::parse(&s).ok_or_else(|| {
            format!("ERR invalid severity '{s}', expected critical|high|medium|low|info")
        })?,
    };
    let source = string("source")?.unwrap_or_default();
    let kind = string("type")?.unwrap_or_default();
    let labels = match obj.get("labels") {
        None => BTreeMap::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
            .collect::<Option<_>>()
            .ok_or("ERR invalid document: field 'labels' must be an object of string values")?,
        Some(_) => {
            return Err(
                "ERR invalid document: field 'labels' must be an object of string values".into(),
            )
        }
    };
    let fingerprint = match string("fingerprint")? {
        Some(t) if t.is_empty() => None,
        Some(t) => Some(explicit_fingerprint(t)),
        None => Some(Fingerprint::Hash(default_fingerprint(
            &source, &kind, &labels,
        ))),
    };
    Ok(Doc {
        json: minify(text),
        severity,
        source,
        kind,
        labels,
        fingerprint,
    })
}

fn explicit_fingerprint(text: String) -> Fingerprint {
    let hex = text.len() == 16 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match u64::from_str_radix(&text, 16) {
        Ok(h) if hex => Fingerprint::Hash(h),
        _ => Fingerprint::Explicit(text),
    }
}

/// The module's documented default fingerprint: FNV-1a 64 over source, type, then the labels
/// sorted by name, each string prefixed by its length (u64, little endian).
fn default_fingerprint(source: &str, kind: &str, labels: &BTreeMap<String, String>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut write = |s: &str| {
        for b in (s.len() as u64).to_le_bytes().iter().chain(s.as_bytes()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    write(source);
    write(kind);
    for (name, value) in labels {
        write(name);
        write(value);
    }
    h
}

/// The document without whitespace between tokens (strings kept as they are).
fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

#[derive(Debug, Clone)]
struct LocalAlert {
    doc: Doc,
    status: Status,
    count: u64,
    last_seen: u64,
    /// IDs folded into this alert, forgotten with it.
    aliases: Vec<AlertId>,
}

impl LocalAlert {
    fn render(&self, id: &AlertId) -> Alert {
        let body = self.doc.json.strip_suffix('}').unwrap_or(&self.doc.json);
        let sep = if body.len() > 1 { "," } else { "" };
        let json = format!(
            "{body}{sep}\"id\":\"{id}\",\"ts\":{},\"status\":\"{}\",\"count\":{},\"last_seen\":{}}}",
            id.ts,
            self.status.as_str(),
            self.count,
            self.last_seen
        );
        let mut document: Map<String, Value> = serde_json::from_str(&json).unwrap_or_default();
        document.insert("id".into(), Value::String(id.to_string()));
        Alert {
            id: *id,
            ts: id.ts,
            status: self.status,
            count: self.count,
            last_seen: self.last_seen,
            severity: self.doc.severity,
            source: self.doc.source.clone(),
            kind: self.doc.kind.clone(),
            labels: self.doc.labels.clone(),
            document,
            json,
        }
    }

    fn matches(&self, q: &RangeQuery) -> bool {
        q.min_severity.is_none_or(|s| self.doc.severity >= s)
            && q.source.as_ref().is_none_or(|s| *s == self.doc.source)
            && q.kind.as_ref().is_none_or(|k| *k == self.doc.kind)
            && q.status.is_none_or(|s| s == self.status)
            && q.labels
                .iter()
                .all(|(n, v)| self.doc.labels.get(n) == Some(v))
    }
}

/// One stream as the fallback stores hold it.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocalStream {
    pub settings: StreamSettings,
    alerts: BTreeMap<AlertId, LocalAlert>,
    /// IDs folded into an alert as duplicates → that alert.
    aliases: HashMap<AlertId, AlertId>,
    /// Dedup targets by fingerprint (alerts not resolved).
    dedup: HashMap<Fingerprint, BTreeSet<AlertId>>,
    /// Alerts by source, for the rate limit.
    sources: HashMap<String, BTreeSet<AlertId>>,
    pub stats: LocalStats,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LocalStats {
    pub added: u64,
    pub duplicates: u64,
    pub limited: u64,
    pub expired: u64,
    pub trimmed: u64,
}

impl LocalStream {
    pub fn new(settings: StreamSettings) -> LocalStream {
        LocalStream {
            settings,
            ..LocalStream::default()
        }
    }

    /// ALERT.ADD with an explicit ID, steps 1 to 5.
    pub fn add(&mut self, doc: Doc, id: AlertId, now: u64) -> AddOutcome {
        let ts = id.ts;
        if let Some(a) = self.alerts.get(&id) {
            return AddOutcome::Exists { id, count: a.count };
        }
        if let Some(holder) = self.aliases.get(&id) {
            let count = self.alerts.get(holder).map_or(0, |a| a.count);
            return AddOutcome::Exists { id: *holder, count };
        }
        let s = self.settings;
        let too_old = s.retention_ms > 0 && ts < now.saturating_sub(s.retention_ms);
        let behind_full = s.maxlen > 0
            && self.alerts.len() as u64 >= s.maxlen
            && self.alerts.keys().next().is_some_and(|first| id < *first);
        if too_old || behind_full {
            self.stats.expired += 1;
            return AddOutcome::Expired;
        }
        if s.dedup_ms > 0 {
            if let Some(target) = self.dedup_target(&doc, ts) {
                if let Some(a) = self.alerts.get_mut(&target) {
                    a.count += 1;
                    a.last_seen = a.last_seen.max(ts);
                    let count = a.count;
                    a.aliases.push(id);
                    self.aliases.insert(id, target);
                    self.stats.duplicates += 1;
                    return AddOutcome::Duplicate { id: target, count };
                }
            }
        }
        if s.ratelimit_n > 0 {
            if let Some(times) = self.sources.get(&doc.source) {
                let lo = (ts + 1).saturating_sub(s.ratelimit_window_ms);
                let in_window = times
                    .range(AlertId::new(lo, 0)..=AlertId::new(ts, u64::MAX))
                    .count() as u64;
                if in_window >= s.ratelimit_n {
                    self.stats.limited += 1;
                    let retry_after_ms = retry_after(times, ts, &s);
                    return AddOutcome::Limited { retry_after_ms };
                }
            }
        }
        if let Some(fp) = &doc.fingerprint {
            self.dedup.entry(fp.clone()).or_default().insert(id);
        }
        self.sources
            .entry(doc.source.clone())
            .or_default()
            .insert(id);
        self.alerts.insert(
            id,
            LocalAlert {
                doc,
                status: Status::Active,
                count: 1,
                last_seen: ts,
                aliases: Vec::new(),
            },
        );
        self.stats.added += 1;
        if s.maxlen > 0 {
            while self.alerts.len() as u64 > s.maxlen {
                let Some(first) = self.alerts.keys().next().copied() else {
                    break;
                };
                self.remove(&first);
                self.stats.trimmed += 1;
            }
        }
        if s.retention_ms > 0 {
            self.trim_before(now.saturating_sub(s.retention_ms));
        }
        AddOutcome::Added(id)
    }

    fn dedup_target(&self, doc: &Doc, ts: u64) -> Option<AlertId> {
        let candidates = self.dedup.get(doc.fingerprint.as_ref()?)?;
        candidates
            .iter()
            .filter_map(|id| Some((id, self.alerts.get(id)?)))
            .filter(|(_, a)| {
                a.status != Status::Resolved && ts.abs_diff(a.last_seen) <= self.settings.dedup_ms
            })
            .max_by_key(|(id, a)| (a.last_seen, **id))
            .map(|(id, _)| *id)
    }

    fn remove(&mut self, id: &AlertId) -> bool {
        let Some(a) = self.alerts.remove(id) else {
            return false;
        };
        if let Some(fp) = &a.doc.fingerprint {
            if let Some(set) = self.dedup.get_mut(fp) {
                set.remove(id);
            }
        }
        if let Some(set) = self.sources.get_mut(&a.doc.source) {
            set.remove(id);
        }
        for alias in &a.aliases {
            self.aliases.remove(alias);
        }
        true
    }

    fn trim_before(&mut self, floor: u64) -> u64 {
        let old: Vec<AlertId> = self
            .alerts
            .range(..AlertId::new(floor, 0))
            .map(|(id, _)| *id)
            .collect();
        for id in &old {
            self.remove(id);
        }
        self.stats.trimmed += old.len() as u64;
        old.len() as u64
    }

    pub fn ack(&mut self, ids: &[AlertId]) -> u64 {
        let mut changed = 0;
        for id in ids {
            if let Some(a) = self.alerts.get_mut(id) {
                if a.status == Status::Active {
                    a.status = Status::Acked;
                    changed += 1;
                }
            }
        }
        changed
    }

    pub fn resolve(&mut self, ids: &[AlertId]) -> u64 {
        let mut changed = 0;
        for id in ids {
            if let Some(a) = self.alerts.get_mut(id) {
                if a.status != Status::Resolved {
                    a.status = Status::Resolved;
                    changed += 1;
                    if let Some(fp) = &a.doc.fingerprint {
                        if let Some(set) = self.dedup.get_mut(fp) {
                            set.remove(id);
                        }
                    }
                }
            }
        }
        changed
    }

    pub fn del(&mut self, ids: &[AlertId]) -> u64 {
        ids.iter().filter(|id| self.remove(id)).count() as u64
    }

    pub fn get(&self, ids: &[AlertId]) -> Vec<Option<Alert>> {
        ids.iter()
            .map(|id| self.alerts.get(id).map(|a| a.render(id)))
            .collect()
    }

    pub fn range(&self, q: &RangeQuery) -> Vec<Alert> {
        let (lo, hi) = (q.start.as_start(), q.end.as_end());
        if lo > hi {
            return Vec::new();
        }
        let cap = q.count.map_or(usize::MAX, |n| n as usize);
        let iter = self.alerts.range(lo..=hi);
        let pick = |(id, a): (&AlertId, &LocalAlert)| a.matches(q).then(|| a.render(id));
        if q.rev {
            iter.rev().filter_map(pick).take(cap).collect()
        } else {
            iter.filter_map(pick).take(cap).collect()
        }
    }

    pub fn info(&self) -> AlertInfo {
        let s = &self.settings;
        AlertInfo {
            length: self.alerts.len() as u64,
            first_ts: self.alerts.keys().next().map(|id| id.ts),
            last_ts: self.alerts.keys().next_back().map(|id| id.ts),
            retention: s.retention_ms,
            maxlen: s.maxlen,
            dedup: s.dedup_ms,
            ratelimit_n: s.ratelimit_n,
            ratelimit_window: s.ratelimit_window_ms,
            added: self.stats.added,
            duplicates: self.stats.duplicates,
            limited: self.stats.limited,
            expired: self.stats.expired,
            trimmed: self.stats.trimmed,
            memory: 0,
        }
    }
}

/// The least d >= 1 such that an alert of this source at ts + d would not be limited: the count
/// in the window only drops when an alert leaves it, at d = t - ts + window.
fn retry_after(times: &BTreeSet<AlertId>, ts: u64, s: &StreamSettings) -> u64 {
    let w = s.ratelimit_window_ms;
    let lo = (ts + 1).saturating_sub(w);
    let stamps: Vec<u64> = times.range(AlertId::new(lo, 0)..).map(|id| id.ts).collect();
    let count = |d: u64| {
        let hi = ts + d;
        let lo = hi.saturating_sub(w);
        stamps.partition_point(|t| *t <= hi) - stamps.partition_point(|t| *t <= lo)
    };
    let mut candidates: Vec<u64> = std::iter::once(1)
        .chain(stamps.iter().map(|t| t + w - ts))
        .filter(|d| *d >= 1)
        .collect();
    candidates.sort_unstable();
    candidates
        .into_iter()
        .find(|d| (count(*d) as u64) < s.ratelimit_n)
        .unwrap_or(w.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Doc {
        parse_document(s, 65536).unwrap()
    }

    #[test]
    fn validates_like_the_module() {
        for (bad, want) in [
            ("[1]", "expected a JSON object"),
            (r#"{"id":"1-1"}"#, "'id'"),
            (r#"{"severity":"urgent"}"#, "invalid severity 'urgent'"),
            (r#"{"labels":{"a":1}}"#, "'labels' must be"),
            (r#"{"source":3}"#, "'source' must be a string"),
            ("{", "invalid document"),
        ] {
            let err = parse_document(bad, 65536).unwrap_err();
            assert!(
                err.starts_with("ERR ") && err.contains(want),
                "{bad}: {err}"
            );
        }
        assert!(parse_document(r#"{"x":"aaaaaaaaaaaa"}"#, 10).is_err());
    }

    #[test]
    fn default_fingerprint_matches_the_module() {
        // The module renders the default fingerprint of {"source":"s"} as the explicit hex
        // fingerprint that dedups with it; the same FNV-1a here gives the same number.
        let a = doc(r#"{"source":"s","type":"t","labels":{"b":"2","a":"1"}}"#);
        let b = doc(r#"{"labels":{"a":"1","b":"2"},"type":"t","source":"s"}"#);
        assert_eq!(a.fingerprint, b.fingerprint);
        let Some(Fingerprint::Hash(h)) = a.fingerprint else {
            panic!("a hash")
        };
        let c = doc(&format!(r#"{{"fingerprint":"{h:016x}"}}"#));
        assert_eq!(c.fingerprint, Some(Fingerprint::Hash(h)));
    }

    #[test]
    fn dedup_exists_and_rate_limit() {
        let mut s = LocalStream::new(StreamSettings {
            ratelimit_n: 2,
            ratelimit_window_ms: 1000,
            ..StreamSettings::default()
        });
        let now = 1_000_000;
        let a = AlertId::new(now, 7);
        assert_eq!(
            s.add(doc(r#"{"source":"x"}"#), a, now),
            AddOutcome::Added(a)
        );
        let b = AlertId::new(now + 5, 1);
        assert_eq!(
            s.add(doc(r#"{"source":"x"}"#), b, now),
            AddOutcome::Duplicate { id: a, count: 2 }
        );
        // Replays of both IDs: exists.
        assert_eq!(
            s.add(doc(r#"{"source":"x"}"#), b, now),
            AddOutcome::Exists { id: a, count: 2 }
        );
        let c = AlertId::new(now + 10, 1);
        assert_eq!(
            s.add(doc(r#"{"source":"x","type":"2"}"#), c, now),
            AddOutcome::Added(c)
        );
        let d = AlertId::new(now + 20, 1);
        assert_eq!(
            s.add(doc(r#"{"source":"x","type":"3"}"#), d, now),
            AddOutcome::Limited {
                retry_after_ms: 980
            }
        );
        assert_eq!(s.resolve(&[a]), 1);
        let e = AlertId::new(now + 2000, 1);
        assert_eq!(
            s.add(doc(r#"{"source":"x"}"#), e, now),
            AddOutcome::Added(e)
        );
        let old = AlertId::new(1, 1);
        assert_eq!(s.add(doc("{}"), old, now * 10_000), AddOutcome::Expired);
    }

    #[test]
    fn range_filters_and_renders() {
        let mut s = LocalStream::new(StreamSettings::default());
        let now = 5_000;
        for (i, sev) in ["info", "high", "critical"].iter().enumerate() {
            let d = format!(
                r#"{{"severity":"{sev}", "labels":{{"i":"{i}"}},"big":123456789012345678901234}}"#
            );
            s.add(doc(&d), AlertId::new(now + i as u64, 0), now);
        }
        let got = s.range(&RangeQuery::all().min_severity(Severity::High).rev());
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].severity, Severity::Critical);
        assert!(got[0].json.contains("\"big\":123456789012345678901234,"));
        assert_eq!(s.range(&RangeQuery::all().label("i", "1")).len(), 1);
        assert_eq!(
            s.range(&RangeQuery::between(Bound::Ts(now + 1), Bound::Max))
                .len(),
            2
        );
        let empty = s.get(&[AlertId::new(1, 1), AlertId::new(now, 0)]);
        assert!(empty[0].is_none() && empty[1].is_some());
        let info = s.info();
        assert_eq!((info.length, info.first_ts), (3, Some(now)));
    }
}
