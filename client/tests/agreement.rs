//! The client's fallback stores and the module decide with the same code (vigil-core): the same
//! writes, sent to a real server with the module and to a client whose server is unreachable
//! (its journal answers), get the same answers — accepted or refused (with the same error
//! text), the same outcomes, and the same alerts from RANGE and GET, byte for byte.

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::time::{SystemTime, UNIX_EPOCH};
use support::{free_port, Kind, Redis, TempDir};
use vigil_client::*;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One stream written through both clients.
struct Both {
    /// Talks to the server: every answer comes from the module.
    redis: Client,
    /// Its server is unreachable: every answer comes from the journal's view.
    local: Client,
    key: &'static str,
    /// The outcome of each ADD, in order (`refused` for an error).
    outcomes: Vec<&'static str>,
}

impl Both {
    async fn open(
        server: &Redis,
        dir: &TempDir,
        key: &'static str,
        settings: StreamSettings,
    ) -> Both {
        let redis = Client::open(Config::new(server.url())).await.unwrap();
        let mut config =
            Config::new(format!("redis://127.0.0.1:{}/", free_port())).journal_dir(dir.join(key));
        config.stream_defaults = settings;
        let local = Client::open(config).await.unwrap();
        if settings != StreamSettings::default() {
            let opts = StreamOptions {
                retention_ms: Some(settings.retention_ms),
                maxlen: Some(settings.maxlen),
                dedup_ms: Some(settings.dedup_ms),
                ratelimit: Some((settings.ratelimit_n, settings.ratelimit_window_ms)),
                ..StreamOptions::default()
            };
            redis.create(key, &opts).await.unwrap();
        }
        Both {
            redis,
            local,
            key,
            outcomes: Vec::new(),
        }
    }

    /// ALERT.ADD with an explicit ID on both sides; they must agree. Returns the outcome.
    async fn add(&mut self, doc: &str, id: AlertId) -> Option<AddOutcome> {
        let opts = AddOptions {
            id: Some(id),
            ..AddOptions::default()
        };
        let r = self.redis.add_with(self.key, doc, opts).await;
        let l = self.local.add_with(self.key, doc, opts).await;
        let outcome = match (&r, &l) {
            (Ok(r), Ok(l)) => {
                assert_eq!((r.store, l.store), (Store::Redis, Store::File));
                assert_eq!(r.outcome, l.outcome, "outcome of {doc}");
                Some(r.outcome)
            }
            (Err(r), Err(l)) => {
                assert!(matches!(r, Error::Server { .. }), "{r:?}");
                assert!(matches!(l, Error::InvalidDocument(_)), "{l:?}");
                assert_eq!(r.to_string(), l.to_string(), "refusal of {doc}");
                None
            }
            _ => panic!("disagreement on {doc}:\n  redis:    {r:?}\n  fallback: {l:?}"),
        };
        self.outcomes
            .push(outcome.as_ref().map_or("refused", AddOutcome::as_str));
        outcome
    }

    async fn ack(&self, ids: &[AlertId]) -> u64 {
        let (r, l) = (self.redis.ack(self.key, ids), self.local.ack(self.key, ids));
        agree_count(r.await, l.await, "ack")
    }

    async fn resolve(&self, ids: &[AlertId]) -> u64 {
        let r = self.redis.resolve(self.key, ids).await;
        agree_count(r, self.local.resolve(self.key, ids).await, "resolve")
    }

    async fn del(&self, ids: &[AlertId]) -> u64 {
        let r = self.redis.del(self.key, ids).await;
        agree_count(r, self.local.del(self.key, ids).await, "del")
    }

    /// ALERT.RANGE on both: the same alerts, rendered to the same bytes.
    async fn range(&self, q: &RangeQuery) -> Vec<Alert> {
        let r = self.redis.range(self.key, q).await;
        let l = self.local.range(self.key, q).await;
        let (r, l) = match (r, l) {
            (Ok(r), Ok(l)) => (r, l),
            (r, l) => panic!("range {q:?}:\n  redis:    {r:?}\n  fallback: {l:?}"),
        };
        let text = |alerts: &[Alert]| alerts.iter().map(|a| a.json.clone()).collect::<Vec<_>>();
        assert_eq!(text(&r), text(&l), "range {q:?}");
        assert_eq!(r, l, "range {q:?}");
        r
    }

    async fn get(&self, ids: &[AlertId]) -> Vec<Option<Alert>> {
        let r = self.redis.get(self.key, ids).await.unwrap();
        let l = self.local.get(self.key, ids).await.unwrap();
        assert_eq!(r, l, "get {ids:?}");
        r
    }

    /// ALERT.INFO on both; `memory` aside (the server's allocator is not the client's).
    async fn info(&self) -> AlertInfo {
        let r = self.redis.info(self.key).await.unwrap();
        let l = self.local.info(self.key).await.unwrap();
        let no_memory = |i: &AlertInfo| AlertInfo {
            memory: 0,
            ..i.clone()
        };
        assert_eq!(no_memory(&r), no_memory(&l), "info");
        r
    }
}

fn agree_count(r: Result<u64, Error>, l: Result<u64, Error>, what: &str) -> u64 {
    match (r, l) {
        (Ok(r), Ok(l)) => {
            assert_eq!(r, l, "{what}");
            r
        }
        (r, l) => panic!("{what}:\n  redis:    {r:?}\n  fallback: {l:?}"),
    }
}

fn added(o: Option<AddOutcome>) -> AlertId {
    match o {
        Some(AddOutcome::Added(id)) => id,
        other => panic!("expected added, got {other:?}"),
    }
}

/// The default fingerprint of a document with these fields, as 16 hex digits.
fn fingerprint(source: &str, kind: &str, labels: &[(&str, &str)]) -> String {
    let mut sorted = labels.to_vec();
    sorted.sort();
    let h = vigil_core::alert::doc::default_fingerprint(source, kind, sorted.into_iter());
    format!("{h:016x}")
}

#[tokio::test]
async fn documents_outcomes_and_ranges_agree_with_the_module() {
    support::init();
    let dir = TempDir::new("agreement");
    let server = Redis::start(free_port(), &dir.join("srv"), Kind::Module);
    let mut s = Both::open(&server, &dir, "agree:defaults", StreamSettings::default()).await;
    let base = now_ms() - 3_600_000;
    let id = |ms: u64, seq: u64| AlertId::new(base + ms, seq);

    // Known fields, then the same alert pretty-printed with its labels in another order.
    let disk =
        r#"{"severity":"high","source":"db-1","type":"disk","labels":{"mount":"/","host":"a"}}"#;
    let first = added(s.add(disk, id(0, 1)).await);
    let pretty = "{\n  \"labels\": {\n    \"host\": \"a\",\n    \"mount\": \"/\"\n  },\n  \"type\": \"disk\",\n  \"source\": \"db-1\",\n  \"severity\": \"high\"\n}";
    let dup = s.add(pretty, id(10, 2)).await;
    assert_eq!(
        dup,
        Some(AddOutcome::Duplicate {
            id: first,
            count: 2
        })
    );
    // A late alert within the window folds too; so does the default fingerprint written out.
    s.add(disk, AlertId::new(base - 1_000, 3)).await;
    let fp = fingerprint("db-1", "disk", &[("mount", "/"), ("host", "a")]);
    s.add(&format!(r#"{{"fingerprint":"{fp}","n":1}}"#), id(20, 4))
        .await;

    // A known field given twice is refused (the fallback once kept the last one), and so is a
    // label name given twice (which value would the filters and the fingerprint mean?).
    for doc in [
        r#"{"severity":"low","severity":"high","source":"x"}"#,
        r#"{"source":"a","source":"b"}"#,
        r#"{"type":"a","type":"b"}"#,
        r#"{"labels":{"a":"1"},"labels":{"b":"2"}}"#,
        r#"{"fingerprint":"a","fingerprint":"a"}"#,
        r#"{"source":"dup-labels","labels":{"env":"prod","env":"staging"}}"#,
    ] {
        assert_eq!(s.add(doc, id(30, 5)).await, None, "{doc}");
    }
    let labels = r#"{"source":"dup-labels","labels":{"env":"staging"}}"#;
    let twice = added(s.add(labels, id(40, 6)).await);
    let staging = r#"{"source":"dup-labels","labels":{"env":"staging"}}"#;
    let folded = s.add(staging, id(41, 7)).await;
    assert_eq!(
        folded,
        Some(AddOutcome::Duplicate {
            id: twice,
            count: 2
        })
    );
    let prod = r#"{"source":"dup-labels","labels":{"env":"prod"}}"#;
    added(s.add(prod, id(42, 8)).await);
    let other = added(
        s.add(r#"{"x":1,"x":2,"source":"dup-other"}"#, id(43, 9))
            .await,
    );

    // The five server fields may not be sent.
    for doc in [
        r#"{"id":"1-1"}"#,
        r#"{"ts":1}"#,
        r#"{"status":"acked"}"#,
        r#"{"count":2}"#,
        r#"{"source":"s","last_seen":3}"#,
    ] {
        assert_eq!(s.add(doc, id(50, 10)).await, None, "{doc}");
    }

    // Unicode, escapes, numbers kept as sent, whitespace.
    let unicode = r#"{"severity":"CRITICAL","source":"Zürich ✓","msg":"日本語 😀 \u00e9","labels":{"ключ":"значение"}}"#;
    added(s.add(unicode, id(60, 11)).await);
    let escapes = r#"{"source":"quote\"d","type":"tab\there","note":"line\nbreak \\ \/"}"#;
    added(s.add(escapes, id(61, 12)).await);
    let numbers = r#"{"source":"num","big":123456789012345678901234567890,"tiny":-0.000000000000000000001,"dec":1.50000,"exp":1E+300,"huge":1e400,"deep":{"n":[-2e999]},"neg":-0}"#;
    added(s.add(numbers, id(62, 13)).await);
    let crlf = "{\r\n\t\"source\": \"pretty\",\r\n\t\"labels\": { \"k\" : \"v w\" },\r\n\t\"list\": [ 1, 2 ]\r\n}";
    added(s.add(crlf, id(63, 14)).await);
    added(
        s.add(" {\"source\": \"spaced\", \"n\": [1, 2]} ", id(64, 15))
            .await,
    );
    added(s.add("{}", id(65, 16)).await);
    s.add("{ }", id(66, 17)).await;
    added(s.add(r#"{"fingerprint":""}"#, id(67, 18)).await);
    added(s.add(r#"{"fingerprint":""}"#, id(67, 19)).await);
    added(s.add(r#"{"fingerprint":"my-fp"}"#, id(68, 20)).await);
    s.add(
        r#"{"fingerprint":"my-fp","source":"elsewhere"}"#,
        id(69, 21),
    )
    .await;
    added(s.add(r#"{"fingerprint":"MY-FP"}"#, id(70, 22)).await);

    // Not an object, not JSON, wrong types, too large.
    let large = format!(r#"{{"source":"big","pad":"{}"}}"#, "x".repeat(70_000));
    for doc in [
        "[1,2]",
        "\"text\"",
        "",
        "null",
        "{",
        r#"{"a":1}x"#,
        r#"{"a":1,}"#,
        r#"{"severity":5}"#,
        r#"{"severity":"urgent"}"#,
        r#"{"severity":null}"#,
        r#"{"source":["a"]}"#,
        r#"{"type":{}}"#,
        r#"{"labels":{"a":1}}"#,
        r#"{"labels":["a"]}"#,
        r#"{"fingerprint":7}"#,
        large.as_str(),
    ] {
        assert_eq!(s.add(doc, id(80, 23)).await, None, "{doc}");
    }

    // Older than the retention; a TS past what the server reads; replays of known IDs.
    let month = 31 * 24 * 3_600_000;
    assert_eq!(
        s.add(r#"{"source":"old"}"#, AlertId::new(base - month, 1))
            .await,
        Some(AddOutcome::Expired)
    );
    let far = AlertId::new(i64::MAX as u64 + 1, 1);
    assert_eq!(s.add("{}", far).await, None);
    let exists = Some(AddOutcome::Exists {
        id: first,
        count: 4,
    });
    assert_eq!(s.add(pretty, id(10, 2)).await, exists);
    assert_eq!(s.add(disk, id(0, 1)).await, exists);

    assert_eq!(
        s.outcomes.join(" "),
        [
            "added duplicate duplicate duplicate",
            "refused refused refused refused refused refused added duplicate added added",
            "refused refused refused refused refused",
            "added added added added added added duplicate added added added duplicate added",
            "refused refused refused refused refused refused refused refused refused refused",
            "refused refused refused refused refused refused",
            "expired refused exists exists",
        ]
        .join(" ")
    );

    // Statuses: ACK, RESOLVE (no longer a dedup target), DEL, and IDs they do not hold.
    let unknown = id(999, 999);
    assert_eq!(s.ack(&[first, first, unknown]).await, 1);
    assert_eq!(s.resolve(&[twice]).await, 1);
    assert_eq!(s.ack(&[twice]).await, 0);
    assert_eq!(s.del(&[other, unknown]).await, 1);
    assert_eq!(s.ack(&[other]).await, 0);
    added(s.add(staging, id(100, 24)).await);

    // What RANGE and GET return, filters included, byte for byte.
    let all = s.range(&RangeQuery::all()).await;
    assert_eq!(all.len(), 14);
    let env = all
        .iter()
        .find(|a| a.id == twice)
        .map(|a| a.labels["env"].clone());
    assert_eq!(env.as_deref(), Some("staging"));
    // Numbers as sent (a typed read once failed on a number beyond f64, from either side).
    let num = all
        .iter()
        .find(|a| a.source == "num")
        .expect("the numbers alert");
    let sent = numbers.strip_suffix('}').unwrap_or(numbers);
    assert!(num.json.starts_with(sent), "{}", num.json);
    assert_eq!(num.document["huge"], serde_json::json!("1e400"));
    for q in [
        RangeQuery::all().rev().count(3),
        RangeQuery::all().count(0),
        RangeQuery::all().min_severity(Severity::High),
        RangeQuery::all().min_severity(Severity::Critical).rev(),
        RangeQuery::all().source("Zürich ✓"),
        RangeQuery::all().source("quote\"d"),
        RangeQuery::all().source("nobody"),
        RangeQuery::all().kind("disk"),
        RangeQuery::all().kind("tab\there"),
        RangeQuery::all().status(Status::Acked),
        RangeQuery::all().status(Status::Resolved),
        RangeQuery::all().status(Status::Active).count(5).rev(),
        RangeQuery::all().label("env", "staging"),
        RangeQuery::all().label("env", "prod"),
        RangeQuery::all().label("ключ", "значение"),
        RangeQuery::all().label("k", "v w").source("pretty"),
        RangeQuery::between(Bound::Ts(base), Bound::Ts(base + 42)),
        RangeQuery::between(Bound::Ts(base + 43), Bound::Ts(base + 43)),
        RangeQuery::between(Bound::Id(id(60, 11)), Bound::Max).rev(),
        RangeQuery::between(Bound::Min, Bound::Id(id(42, 8))),
        RangeQuery::between(Bound::Ts(base + 50), Bound::Ts(base + 10)),
    ] {
        s.range(&q).await;
    }
    let got = s.get(&[first, unknown, twice, other]).await;
    assert_eq!(
        got[0].as_ref().map(|a| (a.status, a.count)),
        Some((Status::Acked, 4))
    );
    assert!(got[1].is_none() && got[3].is_none());
    let info = s.info().await;
    assert_eq!((info.length, info.added, info.duplicates), (14, 15, 6));
    // Every write but the refused ones waits in the journal for the replay.
    assert_eq!(s.local.pending(), 24 + 5);
    drop(server);
}

#[tokio::test]
async fn rate_limit_dedup_window_and_maxlen_agree_with_the_module() {
    support::init();
    let dir = TempDir::new("agreement-limits");
    let server = Redis::start(free_port(), &dir.join("srv"), Kind::Module);
    let settings = StreamSettings {
        retention_ms: 0,
        maxlen: 4,
        dedup_ms: 1_000,
        ratelimit_n: 2,
        ratelimit_window_ms: 10_000,
    };
    let mut s = Both::open(&server, &dir, "agree:limits", settings).await;
    let base = now_ms() - 3_600_000;
    let id = |ms: u64, seq: u64| AlertId::new(base + ms, seq);

    // Two alerts of a source in the window pass, the third waits; a duplicate does not count.
    added(s.add(r#"{"source":"web","type":"a"}"#, id(0, 1)).await);
    added(s.add(r#"{"source":"web","type":"b"}"#, id(1, 1)).await);
    let limited = s.add(r#"{"source":"web","type":"c"}"#, id(2, 1)).await;
    assert!(
        matches!(limited, Some(AddOutcome::Limited { .. })),
        "{limited:?}"
    );
    s.add(r#"{"source":"web","type":"a"}"#, id(500, 1)).await;
    // A late alert of the source: the window looks back from its own ts.
    s.add(r#"{"source":"web","type":"d"}"#, AlertId::new(base - 5, 1))
        .await;

    // Two alerts of one fingerprint, 1.5 s apart (past the window); a third between them is
    // within the window of both.
    added(
        s.add(r#"{"source":"api","fingerprint":"f"}"#, id(100, 1))
            .await,
    );
    added(
        s.add(r#"{"source":"api","fingerprint":"f"}"#, id(1_600, 1))
            .await,
    );
    s.add(r#"{"source":"api","fingerprint":"f"}"#, id(850, 1))
        .await;
    s.add(r#"{"source":"api","fingerprint":"f"}"#, id(12_000, 1))
        .await;

    // MAXLEN 4: new alerts push out the oldest; one older than every alert of the full stream
    // is expired.
    for (i, kind) in ["x", "y", "z"].iter().enumerate() {
        let doc = format!(r#"{{"source":"db","type":"{kind}"}}"#);
        s.add(&doc, id(20_000 + i as u64, 1)).await;
    }
    let behind = s.add(r#"{"source":"late"}"#, id(1, 2)).await;
    assert_eq!(behind, Some(AddOutcome::Expired));

    println!("outcomes: {}", s.outcomes.join(" "));
    for q in [
        RangeQuery::all(),
        RangeQuery::all().rev(),
        RangeQuery::all().source("db").count(2),
    ] {
        s.range(&q).await;
    }
    let info = s.info().await;
    assert_eq!((info.length, info.maxlen), (4, 4));
    assert!(
        info.limited >= 1 && info.trimmed >= 1 && info.expired == 1,
        "{info:?}"
    );
    drop(server);
}
