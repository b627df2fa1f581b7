//! A workload that exercises every piece of stream state, and a snapshot of that state as the
//! commands return it, to compare two servers (or one server before and after a restart).
#![allow(dead_code)]

use super::{call, map_of};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The ALERT.INFO fields that are a stream's state (the rest are statistics).
pub const STREAM_FIELDS: [&str; 8] = [
    "length",
    "first_ts",
    "last_ts",
    "retention",
    "maxlen",
    "dedup",
    "ratelimit_n",
    "ratelimit_window",
];

/// IDs folded as duplicates by the workload: (key, alias id, document).
pub type Aliases = Vec<(String, String, String)>;

/// Streams with duplicates, statuses, aliases, rate limits, trims and settings changes.
/// Uses the server clock (no TS) unless a case needs explicit times.
pub fn workload(c: &mut redis::Connection, prefix: &str) -> Aliases {
    let k = |n: &str| format!("{prefix}{n}");
    let mut aliases = Vec::new();
    call(
        c,
        &[
            "ALERT.CREATE",
            &k("a"),
            "MAXLEN",
            "50",
            "DEDUP",
            "60000",
            "RATELIMIT",
            "3",
            "10000",
        ],
    )
    .unwrap();
    for i in 0..40 {
        let doc = format!(
            r#"{{"severity":"{}","source":"s{}","type":"t","labels":{{"i":"{}"}},"n":{i}}}"#,
            ["info", "low", "medium", "high", "critical"][i % 5],
            i % 4,
            i % 7
        );
        call(c, &["ALERT.ADD", &k("a"), &doc]).unwrap();
    }
    // Folded explicit IDs.
    let t = now_ms();
    let doc = r#"{"source":"replay","fingerprint":"fp-1","v":1}"#;
    call(c, &["ALERT.ADD", &k("a"), doc, "ID", &format!("{t}-900")]).unwrap();
    let alias = format!("{}-901", t + 1);
    call(c, &["ALERT.ADD", &k("a"), doc, "ID", &alias]).unwrap();
    aliases.push((k("a"), alias, doc.to_string()));
    // Statuses.
    let ids: Vec<String> =
        super::alerts(call(c, &["ALERT.RANGE", &k("a"), "-", "+", "COUNT", "6"]).unwrap())
            .iter()
            .map(|a| a["id"].as_str().unwrap_or_default().to_string())
            .collect();
    call(c, &["ALERT.ACK", &k("a"), &ids[0], &ids[1]]).unwrap();
    call(c, &["ALERT.RESOLVE", &k("a"), &ids[1], &ids[2]]).unwrap();
    call(c, &["ALERT.DEL", &k("a"), &ids[3]]).unwrap();
    // A stream with settings of its own, trimmed by ALTER and TRIM.
    call(
        c,
        &["ALERT.CREATE", &k("b"), "RETENTION", "0", "DEDUP", "0"],
    )
    .unwrap();
    for i in 0..30 {
        call(
            c,
            &[
                "ALERT.ADD",
                &k("b"),
                &format!(r#"{{"i":{i}}}"#),
                "TS",
                &(1000 + i).to_string(),
            ],
        )
        .unwrap();
    }
    call(c, &["ALERT.TRIM", &k("b"), "MAXLEN", "25"]).unwrap();
    call(c, &["ALERT.TRIM", &k("b"), "MINTS", "1010"]).unwrap();
    call(
        c,
        &[
            "ALERT.ALTER",
            &k("b"),
            "MAXLEN",
            "15",
            "RATELIMIT",
            "1",
            "5",
        ],
    )
    .unwrap();
    // Default settings, explicit fingerprints, empty fingerprints, IMPORT.
    for i in 0..10 {
        call(
            c,
            &[
                "ALERT.ADD",
                &k("c"),
                &format!(r#"{{"fingerprint":"f{}"}}"#, i % 3),
            ],
        )
        .unwrap();
        call(c, &["ALERT.ADD", &k("c"), r#"{"fingerprint":""}"#]).unwrap();
    }
    // Within the default retention and id memory: the sweep must not race the snapshots.
    let t = now_ms();
    let (imported, alias, last_seen) = (
        format!("{}-5", t - 5000),
        format!("{}-6", t - 4000),
        (t - 4000).to_string(),
    );
    call(
        c,
        &[
            "ALERT.IMPORT",
            &k("c"),
            &imported,
            r#"{"imported":true}"#,
            "STATUS",
            "acked",
            "COUNT",
            "7",
            "LASTSEEN",
            &last_seen,
            "ALIAS",
            &alias,
        ],
    )
    .unwrap();
    aliases.push((k("c"), alias, r#"{"imported":true}"#.into()));
    aliases
}

/// Every stream's settings, length and alerts (as JSON), plus what ADD answers for the folded
/// IDs (exists, pointing at their holder).
pub fn snapshot(c: &mut redis::Connection, aliases: &Aliases) -> Vec<String> {
    let mut keys: Vec<String> = redis::from_redis_value(&call(c, &["KEYS", "*"]).unwrap()).unwrap();
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let info = map_of(call(c, &["ALERT.INFO", &key]).unwrap());
        let mut fields: Vec<String> = STREAM_FIELDS
            .iter()
            .map(|f| format!("{f}={:?}", info.get(*f)))
            .collect();
        fields.insert(0, key.clone());
        out.push(fields.join(" "));
        let range: Vec<String> =
            redis::from_redis_value(&call(c, &["ALERT.RANGE", &key, "-", "+"]).unwrap()).unwrap();
        out.extend(range);
    }
    for (key, alias, doc) in aliases {
        let v: (String, Option<String>, i64) =
            redis::from_redis_value(&call(c, &["ALERT.ADD", key, doc, "ID", alias]).unwrap())
                .unwrap();
        out.push(format!("{key} {alias} -> {v:?}"));
    }
    out
}
