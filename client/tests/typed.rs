//! The typed calls against a real redis-server with the module loaded.

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use common::Server;
use std::time::Duration;
use vigil_client::*;

async fn open(server: &Server) -> Client {
    let dir = server.dir.join("journal");
    Client::open(Config::new(server.url()).journal_dir(dir))
        .await
        .expect("open the client")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// QUOTA.* and LRU.* are being written: their tests start once the module has them.
fn missing_command(e: &Error, what: &str) -> bool {
    let missing = e.to_string().contains("unknown command");
    if missing {
        println!("note: {what} is not in this module build yet; skipping its checks");
    }
    missing
}

#[tokio::test]
async fn alert_calls_return_typed_replies() {
    support::init();
    let server = Server::start();
    let c = open(&server).await;
    let key = "alerts:{t}";
    c.create(
        key,
        &StreamOptions {
            dedup_ms: Some(60_000),
            ratelimit: Some((2, 60_000)),
            ..StreamOptions::default()
        },
    )
    .await
    .unwrap();
    let err = c.create(key, &StreamOptions::default()).await.unwrap_err();
    assert!(matches!(err, Error::Server { .. }), "{err}");

    let doc = r#"{"severity":"high","source":"db","type":"disk","labels":{"host":"a"},"n":12345678901234567890123}"#;
    let first = c.add(key, doc).await.unwrap();
    assert_eq!(first.store, Store::Redis);
    let AddOutcome::Added(id) = first.outcome else {
        panic!("{first:?}")
    };
    assert_eq!(id, first.id, "the client's ID is the alert's");
    assert!(id.seq < 1 << 63, "a 63-bit random sequence part");

    let dup = c.add(key, doc).await.unwrap();
    assert_eq!(dup.outcome, AddOutcome::Duplicate { id, count: 2 });
    // A retry of the same write: exists, nothing doubled.
    let retry = c
        .add_with(
            key,
            doc,
            AddOptions {
                id: Some(dup.id),
                ..AddOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(retry.outcome, AddOutcome::Exists { id, count: 2 });

    let other = c
        .add(key, r#"{"severity":"low","source":"db","type":"cpu"}"#)
        .await
        .unwrap();
    let AddOutcome::Added(other_id) = other.outcome else {
        panic!("{other:?}")
    };
    let limited = c.add(key, r#"{"source":"db","type":"mem"}"#).await.unwrap();
    assert!(
        matches!(limited.outcome, AddOutcome::Limited { retry_after_ms } if retry_after_ms >= 1),
        "{limited:?}"
    );
    let expired = c
        .add_with(
            key,
            r#"{"source":"old"}"#,
            AddOptions {
                ts: Some(1_000),
                ..AddOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(expired.outcome, AddOutcome::Expired);

    let all = c.range(key, &RangeQuery::all()).await.unwrap();
    assert_eq!(all.iter().map(|a| a.id).collect::<Vec<_>>(), {
        let mut v = vec![id, other_id];
        v.sort();
        v
    });
    let high = c
        .range(
            key,
            &RangeQuery::all()
                .min_severity(Severity::High)
                .label("host", "a"),
        )
        .await
        .unwrap();
    assert_eq!(high.len(), 1);
    assert_eq!((high[0].count, high[0].kind.as_str()), (2, "disk"));
    assert!(high[0].json.contains("12345678901234567890123"));
    let newest = c
        .range(key, &RangeQuery::all().rev().count(1))
        .await
        .unwrap();
    assert_eq!(newest.len(), 1);

    assert_eq!(c.ack(key, &[id]).await.unwrap(), 1);
    let got = c.get(key, &[id, AlertId::new(1, 1)]).await.unwrap();
    assert_eq!(got[0].as_ref().map(|a| a.status), Some(Status::Acked));
    assert!(got[1].is_none());
    assert_eq!(c.resolve(key, &[id]).await.unwrap(), 1);
    let resolved = c
        .range(key, &RangeQuery::all().status(Status::Resolved))
        .await
        .unwrap();
    assert_eq!(resolved.len(), 1);

    let info = c.info(key).await.unwrap();
    assert_eq!((info.length, info.dedup, info.ratelimit_n), (2, 60_000, 2));
    assert_eq!(
        (info.added, info.duplicates, info.limited, info.expired),
        (2, 1, 1, 1)
    );
    c.alter(
        key,
        &StreamOptions {
            maxlen: Some(1),
            ..StreamOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(c.info(key).await.unwrap().length, 1);
    assert_eq!(c.trim(key, Trim::MaxLen(0)).await.unwrap(), 1);
    let fresh = c.add(key, r#"{"x":1}"#).await.unwrap();
    assert_eq!(c.del(key, &[fresh.id]).await.unwrap(), 1);
    assert_eq!(c.trim(key, Trim::MinTs(now_ms())).await.unwrap(), 0);

    // Errors about the call are errors, not fallbacks.
    let bad = c.add(key, "[1,2]").await.unwrap_err();
    assert!(
        matches!(&bad, Error::Server { detail, .. } if detail.contains("JSON object")),
        "{bad}"
    );
    let mut conn = server.client();
    common::call(&mut conn, &["SET", "plain", "x"]).unwrap();
    let wrong = c.add("plain", "{}").await.unwrap_err();
    assert!(
        matches!(&wrong, Error::Server { code, .. } if code == "WRONGTYPE"),
        "{wrong}"
    );
    let missing = c.info("nope").await.unwrap_err();
    assert!(missing.to_string().contains("no such key"), "{missing}");
    assert_eq!(c.mode(), Store::Redis);
    let m = c.metrics();
    assert_eq!((m.fallbacks, m.failures, m.pending), (0, 0, 0));
    assert_eq!(
        (m.added, m.duplicate, m.exists, m.limited, m.expired),
        (3, 1, 1, 1, 1)
    );
}

#[tokio::test]
async fn quota_calls_return_typed_replies() {
    support::init();
    let server = Server::start();
    let c = open(&server).await;
    match c.quota_get("q:{a}:bytes").await {
        Err(e) if missing_command(&e, "QUOTA.*") => return,
        other => assert_eq!(other.unwrap(), None),
    }
    c.quota_set("q:{a}:bytes", "10".parse().unwrap(), None)
        .await
        .unwrap();
    let r = c
        .quota_incr(
            "q:{a}:bytes",
            "2.5".parse().unwrap(),
            &IncrOptions::default(),
        )
        .await
        .unwrap();
    assert!(r.allowed);
    assert_eq!(r.usage.to_string(), "2.5");
    assert_eq!(r.limit.map(|a| a.to_string()), Some("10".into()));
    assert_eq!(r.remaining.map(|a| a.to_string()), Some("7.5".into()));
    assert_eq!(r.reset_ms, None, "a cumulative quota has no reset");
    let refused = c
        .quota_incr("q:{a}:bytes", Amount::from(8), &IncrOptions::default())
        .await
        .unwrap();
    assert!(!refused.allowed);
    assert_eq!(refused.usage.to_string(), "2.5");
    let forced = c
        .quota_incr(
            "q:{a}:bytes",
            Amount::from(8),
            &IncrOptions {
                force: true,
                ..IncrOptions::default()
            },
        )
        .await
        .unwrap();
    assert!(!forced.allowed);
    assert_eq!(forced.usage.to_string(), "10.5");
    assert_eq!(forced.remaining, Some(Amount::ZERO));
    c.quota_reset("q:{a}:bytes").await.unwrap();
    let got = c.quota_get("q:{a}:bytes").await.unwrap().unwrap();
    assert_eq!(got.usage, Amount::ZERO);

    // An unlimited quota, and a window quota.
    let open_ended = c
        .quota_incr("q:{a}:free", Amount::from(1), &IncrOptions::default())
        .await
        .unwrap();
    assert_eq!((open_ended.limit, open_ended.remaining), (None, None));
    c.quota_set("q:{a}:rate", Amount::from(5), Some(60_000))
        .await
        .unwrap();
    let w = c
        .quota_incr("q:{a}:rate", Amount::from(1), &IncrOptions::default())
        .await
        .unwrap();
    assert!(
        w.allowed && w.reset_ms.is_some_and(|ms| ms > 0 && ms <= 60_000),
        "{w:?}"
    );
}

#[tokio::test]
async fn lru_calls_return_typed_replies() {
    support::init();
    let server = Server::start();
    let c = open(&server).await;
    let tracker = "t:{acme}:lru";
    match c.lru_candidates(tracker, 10).await {
        Err(e) if missing_command(&e, "LRU.*") => return,
        other => assert_eq!(other.unwrap(), vec![]),
    }
    let mut conn = server.client();
    for k in ["t:{acme}:a", "t:{acme}:b", "t:{acme}:c"] {
        common::call(&mut conn, &["SET", k, "v"]).unwrap();
    }
    let touched = c
        .lru_touch(
            tracker,
            &[
                ("t:{acme}:a", Amount::from(3)),
                ("t:{acme}:b", "1.5".parse().unwrap()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(touched, 2);
    tokio::time::sleep(Duration::from_millis(5)).await;
    c.lru_touch(tracker, &[("t:{acme}:c", Amount::from(1))])
        .await
        .unwrap();
    let cands = c.lru_candidates(tracker, 10).await.unwrap();
    assert_eq!(cands.len(), 3);
    assert_eq!(cands[2].key, "t:{acme}:c");
    let info = c.lru_info(tracker).await.unwrap();
    assert_eq!((info.keys, info.total.to_string()), (3, "5.5".into()));
    assert_eq!(c.lru_forget(tracker, &["t:{acme}:b"]).await.unwrap(), 1);
    let ev = c
        .lru_evict(tracker, Amount::from(1), &EvictOptions::default())
        .await
        .unwrap();
    assert_eq!(ev.evicted, 1);
    assert_eq!(ev.keys, vec!["t:{acme}:a".to_string()]);
    assert_eq!(
        (ev.freed.to_string(), ev.total.to_string()),
        ("3".into(), "1".into())
    );
    let exists: i64 = redis::cmd("EXISTS")
        .arg("t:{acme}:a")
        .query(&mut conn)
        .unwrap();
    assert_eq!(exists, 0);
}

#[test]
fn blocking_client_and_prometheus_export() {
    support::init();
    let server = Server::start();
    let c = blocking::Client::open(Config::new(server.url()).journal_dir(server.dir.join("j")))
        .unwrap();
    let r = c.add("b", r#"{"source":"s"}"#).unwrap();
    assert!(matches!(r.outcome, AddOutcome::Added(_)));
    assert_eq!(c.range("b", &RangeQuery::all()).unwrap().len(), 1);
    assert!(c.flush(Duration::from_secs(1)).unwrap());
    let text = c.prometheus();
    for line in [
        "vigil_client_mode{mode=\"redis\"} 1",
        "vigil_client_outcomes_total{outcome=\"added\"} 1",
        "vigil_client_pending{store=\"file\"} 0",
        "# TYPE vigil_client_fallbacks_total counter",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
    }
}
