//! What the bridge tells Alertmanager: one Vigil alert as one element of
//! `POST /api/v2/alerts`, and the POST itself.
//!
//! Alertmanager identifies an alert by its label set, so the labels are the ones that never
//! change over an alert's life (its document's labels and known fields, the stream key and the
//! alert's ID), and what changes (status, count, last seen) goes into annotations: a duplicate
//! folded into the alert or an ACK updates the same Alertmanager alert.

use super::http::Endpoint;
use crate::types::{Alert, Status};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// The fields the module reads or sets: they become labels or `vigil_*` annotations, never
/// plain annotations.
const KNOWN_FIELDS: [&str; 9] = [
    "severity",
    "source",
    "type",
    "labels",
    "id",
    "ts",
    "status",
    "count",
    "last_seen",
];

/// What an `acked` alert is in Alertmanager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acked {
    /// Still firing (someone is on it; the problem is not gone), with
    /// `vigil_status: acked`. The default.
    #[default]
    Firing,
    /// Ended in Alertmanager, as a resolved alert is.
    Resolved,
}

impl Acked {
    pub fn parse(s: &str) -> Option<Acked> {
        match s.to_ascii_lowercase().as_str() {
            "firing" => Some(Acked::Firing),
            "resolved" => Some(Acked::Resolved),
            _ => None,
        }
    }

    /// Whether an alert in this status is firing in Alertmanager.
    pub fn is_firing(self, status: Status) -> bool {
        match status {
            Status::Active => true,
            Status::Acked => self == Acked::Firing,
            Status::Resolved => false,
        }
    }
}

/// The time span an alert is posted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Firing at `now_ms` until `until_ms` (`endsAt` in the future): Alertmanager ends it
    /// then unless it is posted again, so a bridge that stops does not leave alerts firing for
    /// ever.
    Firing { now_ms: u64, until_ms: u64 },
    /// Ended at `at_ms` (`endsAt` in the past).
    Ended { at_ms: u64 },
}

/// Alertmanager's label names (and annotation names) are `[a-zA-Z_][a-zA-Z0-9_]*`; a Vigil
/// label name may be any string. Every other character becomes `_`, and a leading digit gets a
/// `_` in front (`k8s.io/app` → `k8s_io_app`, `2fa` → `_2fa`).
pub fn label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Adds `entries` (name, value) to `out` under names made valid ([`label_name`]), losing none:
/// a name already in `out` (the bridge's own) or made the same as another (`a.b` and `a-b`
/// are both `a_b`) is given the first free `_2`, `_3`... after it. Names already valid are
/// placed first, then the others, each group in the order of their original names, so that
/// the same document always gives the same names (`a_b` keeps `a_b`, then `a-b` is `a_b_2`
/// and `a.b` is `a_b_3`).
pub fn add_unique<'a>(
    out: &mut BTreeMap<String, String>,
    entries: impl IntoIterator<Item = (&'a str, String)>,
) {
    let mut entries: Vec<(&str, String)> = entries.into_iter().collect();
    entries.sort_by(|a, b| {
        let changed = |name: &str| label_name(name) != name;
        (changed(a.0), a.0).cmp(&(changed(b.0), b.0))
    });
    for (name, value) in entries {
        let base = label_name(name);
        let mut candidate = base.clone();
        let mut n = 2u64;
        while out.contains_key(&candidate) {
            candidate = format!("{base}_{n}");
            n += 1;
        }
        out.insert(candidate, value);
    }
}

/// Percent-encodes everything but `[A-Za-z0-9._~-]` (a key in a URL path or a file name).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Milliseconds since the Unix epoch as RFC 3339 in UTC, with milliseconds.
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // The civil date of a day count (Howard Hinnant's days_from_civil, inverted).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// The `generatorURL` of an alert: `<base>/<key>/<id>`, the key percent-encoded. Stable for
/// the alert's life (Alertmanager links it as the alert's source).
pub fn generator_url(base: &str, key: &str, alert: &Alert) -> String {
    format!(
        "{}/{}/{}",
        base.trim_end_matches('/'),
        percent_encode(key),
        alert.id
    )
}

/// One element of `POST /api/v2/alerts` for `alert` of the stream `key`:
///
/// - labels: `alertname` (the `type`, or `vigil` without one), `severity`, `source` (when
///   not empty), `vigil_key` and `vigil_id`, then the document's `labels` (names made valid,
///   empty values left out), under a suffixed name when theirs is taken ([`add_unique`]): a
///   document label `source` is kept as `source` when the alert has no `source`, as
///   `source_2` when it has one;
/// - annotations: `vigil_status`, `vigil_count` and `vigil_last_seen`, then every other field
///   of the document (strings as they are, other values as their JSON text), named as the
///   labels are, and `summary` (made up when the document has none);
/// - `startsAt` the alert's `ts`, `endsAt` from `span` (never before `startsAt`, which
///   Alertmanager refuses); an alert whose `ts` is ahead of the bridge's clock (a sender's
///   clock ahead) starts now if firing, when it ends if ended: so that it ends at the end of
///   its span, not at its `ts` (a firing one would outlive a stopped bridge until then).
pub fn alert_json(key: &str, alert: &Alert, span: Span, generator_base: &str) -> Value {
    let alertname = if alert.kind.is_empty() {
        "vigil"
    } else {
        alert.kind.as_str()
    };
    let mut labels = BTreeMap::new();
    labels.insert("alertname".to_owned(), alertname.to_owned());
    labels.insert("severity".into(), alert.severity.as_str().to_owned());
    // Without a top-level source, a document label `source` is the source.
    if !alert.source.is_empty() {
        labels.insert("source".into(), alert.source.clone());
    }
    labels.insert("vigil_key".into(), key.to_owned());
    labels.insert("vigil_id".into(), alert.id.to_string());
    let document_labels = alert
        .labels
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name.as_str(), value.clone()));
    add_unique(&mut labels, document_labels);

    let mut annotations = BTreeMap::new();
    for name in ["vigil_status", "vigil_count", "vigil_last_seen"] {
        // Taken now, filled below: the bridge's own.
        annotations.insert(name.to_owned(), String::new());
    }
    let fields = other_fields(alert);
    add_unique(
        &mut annotations,
        fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.clone())),
    );
    annotations.entry("summary".to_owned()).or_insert_with(|| {
        if alert.source.is_empty() {
            format!("{} {alertname}", alert.severity.as_str())
        } else {
            format!(
                "{} {alertname} from {}",
                alert.severity.as_str(),
                alert.source
            )
        }
    });
    annotations.insert("vigil_status".into(), alert.status.as_str().to_owned());
    annotations.insert("vigil_count".into(), alert.count.to_string());
    annotations.insert("vigil_last_seen".into(), rfc3339(alert.last_seen));

    let (starts, ends) = match span {
        // Firing now: it started no later than now, whatever its ts says.
        Span::Firing { now_ms, until_ms } => (alert.ts.min(now_ms), until_ms.max(now_ms)),
        Span::Ended { at_ms } => (alert.ts.min(at_ms), at_ms),
    };
    json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(starts),
        "endsAt": rfc3339(ends),
        "generatorURL": generator_url(generator_base, key, alert),
    })
}

/// The document's fields other than the known ones, as annotation text: strings as they are,
/// other values as their JSON text as the server rendered it (numbers exactly as sent).
fn other_fields(alert: &Alert) -> Vec<(String, String)> {
    let text = |raw: &RawValue| match serde_json::from_str::<String>(raw.get()) {
        Ok(s) => s,
        Err(_) => raw.get().to_owned(),
    };
    if let Ok(fields) = serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(&alert.json) {
        return fields
            .into_iter()
            .filter(|(name, _)| !KNOWN_FIELDS.contains(&name.as_str()))
            .map(|(name, raw)| {
                let value = text(&raw);
                (name, value)
            })
            .collect();
    }
    // Not expected (the server renders valid JSON): the parsed document instead.
    let document: &Map<String, Value> = &alert.document;
    document
        .iter()
        .filter(|(name, _)| !KNOWN_FIELDS.contains(&name.as_str()))
        .map(|(name, value)| match value {
            Value::String(s) => (name.clone(), s.clone()),
            other => (name.clone(), other.to_string()),
        })
        .collect()
}

/// Why a POST did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostError {
    /// Alertmanager refused the alerts themselves (400 or 422): sending them again would
    /// fail again.
    Refused { status: u16, body: String },
    /// Anything that may pass later: no connection, a timeout, a 5xx, any other 4xx (401,
    /// 403, 404, 408, 429...).
    Failed(String),
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostError::Refused { status, body } => write!(f, "refused ({status}): {}", body.trim()),
            PostError::Failed(why) => f.write_str(why),
        }
    }
}

/// Alertmanager's API at one base URL.
#[derive(Debug, Clone)]
pub struct Alertmanager {
    endpoint: Endpoint,
    timeout: Duration,
}

impl Alertmanager {
    pub fn new(url: &str, timeout: Duration) -> Result<Alertmanager, String> {
        Ok(Alertmanager {
            endpoint: Endpoint::parse(url)?,
            timeout,
        })
    }

    /// Where the alerts go, for messages.
    pub fn alerts_url(&self) -> String {
        self.endpoint.url("/api/v2/alerts")
    }

    /// `POST /api/v2/alerts` with these alerts; Ok once Alertmanager answered 200.
    pub async fn post(&self, alerts: &[Value]) -> Result<(), PostError> {
        let body = Value::Array(alerts.to_vec()).to_string();
        let reply = self
            .endpoint
            .request(
                "POST",
                "/api/v2/alerts",
                Some(body.as_bytes()),
                self.timeout,
            )
            .await
            .map_err(|e| PostError::Failed(format!("POST {}: {e}", self.alerts_url())))?;
        match reply.status {
            200 => Ok(()),
            // What Alertmanager answers about the alerts themselves. Any other 4xx (401 or
            // 403 from an auth proxy, 404 from a wrong path prefix, 405...) is about where or
            // how they were sent: a failure, retried, never a reason to skip them.
            400 | 422 => Err(PostError::Refused {
                status: reply.status,
                body: reply.body,
            }),
            status => Err(PostError::Failed(format!(
                "POST {}: {status} {}",
                self.alerts_url(),
                reply.body.trim()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Firing at the epoch, for tests of what does not depend on the span.
    const FIRING_AT_0: Span = Span::Firing {
        now_ms: 0,
        until_ms: 0,
    };

    fn alert(json: &str) -> Alert {
        Alert::from_json(json).unwrap()
    }

    #[test]
    fn label_names_are_made_valid() {
        assert_eq!(label_name("mount"), "mount");
        assert_eq!(label_name("k8s.io/app"), "k8s_io_app");
        assert_eq!(label_name("2fa"), "_2fa");
        assert_eq!(label_name(""), "_");
        assert_eq!(label_name("é"), "_");
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn an_alert_maps_to_labels_annotations_and_times() {
        let a = alert(
            r#"{"severity":"critical","source":"db-1","type":"disk_full","labels":{"mount":"/var","k8s.io/app":"db","empty":"","vigil_id":"forged"},"message":"disk 97% full","used_pct":92.50,"big":1e400,"ctx":{"a":[1,2]},"id":"1700000000000-7","ts":1700000000000,"status":"acked","count":3,"last_seen":1700000060000}"#,
        );
        let v = alert_json(
            "alerts:{prod}",
            &a,
            Span::Firing {
                now_ms: 1_700_000_000_000,
                until_ms: 1_700_000_240_000,
            },
            "vigil://alerts",
        );
        assert_eq!(
            v["labels"],
            json!({"alertname": "disk_full", "severity": "critical", "source": "db-1",
                   "mount": "/var", "k8s_io_app": "db", "vigil_key": "alerts:{prod}",
                   "vigil_id": "1700000000000-7", "vigil_id_2": "forged"})
        );
        assert_eq!(
            v["annotations"],
            json!({"message": "disk 97% full", "used_pct": "92.50", "big": "1e400",
                   "ctx": "{\"a\":[1,2]}", "summary": "critical disk_full from db-1",
                   "vigil_status": "acked", "vigil_count": "3",
                   "vigil_last_seen": "2023-11-14T22:14:20.000Z"})
        );
        assert_eq!(v["startsAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(v["endsAt"], "2023-11-14T22:17:20.000Z");
        assert_eq!(
            v["generatorURL"],
            "vigil://alerts/alerts%3A%7Bprod%7D/1700000000000-7"
        );
    }

    #[test]
    fn defaults_for_a_bare_alert_and_an_end_never_before_the_start() {
        // Ended at 5 ms, its ts far later (a sender's clock ahead): it starts when it ends,
        // and ends then, not at its ts (Alertmanager would keep it active until then).
        let a = alert(
            r#"{"summary":"kept","id":"1700000000000-0","ts":1700000000000,"status":"resolved","count":1,"last_seen":1700000000000}"#,
        );
        let v = alert_json("k", &a, Span::Ended { at_ms: 5 }, "vigil://alerts/");
        assert_eq!(
            v["labels"],
            json!({"alertname": "vigil", "severity": "info", "vigil_key": "k",
                   "vigil_id": "1700000000000-0"})
        );
        assert_eq!(v["annotations"]["summary"], "kept");
        assert_eq!(v["endsAt"], v["startsAt"]);
        assert_eq!(v["endsAt"], "1970-01-01T00:00:00.005Z");
        assert_eq!(v["generatorURL"], "vigil://alerts/k/1700000000000-0");
        // Firing with a ts ahead of the clock: it starts now and ends at the end of its span,
        // not at its ts (found by an audit: it ended at its ts, outliving a stopped bridge).
        let firing = Span::Firing {
            now_ms: 5,
            until_ms: 8,
        };
        let v = alert_json("k", &a, firing, "vigil://alerts/");
        assert_eq!(v["startsAt"], "1970-01-01T00:00:00.005Z");
        assert_eq!(v["endsAt"], "1970-01-01T00:00:00.008Z");
    }

    /// Found by the bridge audit: `a.b` and `a-b` both became `a_b`, the later one
    /// overwriting the other, and a document label `source` was dropped from an alert without
    /// a top-level `source`.
    #[test]
    fn names_made_the_same_are_all_kept_and_a_label_source_stands_in() {
        let a = alert(
            r#"{"severity":"low","labels":{"a.b":"dot","a-b":"dash","a_b":"plain","source":"from-label","severity":"sev-label","a_b_2":"taken"},"a.b":"dot","a-b":"dash","vigil_status":"doc","id":"1700000000000-1","ts":1700000000000,"status":"active","count":1,"last_seen":1700000000000}"#,
        );
        let v = alert_json("k", &a, FIRING_AT_0, "vigil://alerts");
        assert_eq!(
            v["labels"],
            json!({"alertname": "vigil", "severity": "low", "severity_2": "sev-label",
                   "source": "from-label", "a_b": "plain", "a_b_2": "taken",
                   "a_b_3": "dash", "a_b_4": "dot", "vigil_key": "k",
                   "vigil_id": "1700000000000-1"})
        );
        assert_eq!(
            v["annotations"],
            json!({"a_b": "dash", "a_b_2": "dot", "vigil_status_2": "doc",
                   "summary": "low vigil", "vigil_status": "active", "vigil_count": "1",
                   "vigil_last_seen": "2023-11-14T22:13:20.000Z"})
        );
        // With a top-level source, the document's label is kept beside it.
        let a = alert(
            r#"{"source":"db-1","labels":{"source":"from-label"},"id":"1700000000000-2","ts":1700000000000,"status":"active","count":1,"last_seen":1700000000000}"#,
        );
        let v = alert_json("k", &a, FIRING_AT_0, "vigil://alerts");
        assert_eq!(v["labels"]["source"], "db-1");
        assert_eq!(v["labels"]["source_2"], "from-label");
    }

    #[test]
    fn acked_alerts_fire_unless_told_otherwise() {
        assert!(Acked::default().is_firing(Status::Acked));
        assert!(!Acked::Resolved.is_firing(Status::Acked));
        assert!(Acked::Resolved.is_firing(Status::Active));
        assert!(!Acked::Firing.is_firing(Status::Resolved));
        assert_eq!(Acked::parse("RESOLVED"), Some(Acked::Resolved));
        assert_eq!(Acked::parse("ended"), None);
    }
}
