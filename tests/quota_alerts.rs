//! Threshold alerts (QUOTA.SET ... ALERTS stream AT pct ...) against a real redis-server: the
//! documents, raised when a write reaches a threshold and resolved when one falls below it
//! (INCR, SET, RESET, LRU.EVICT, QUOTA.INCR ... EVICT, a window that slid), dedup by
//! fingerprint, rate limits, persistence (RDB, AOF, rewrite, the encoding-2 fixture), replicas
//! that hold the same and never raise alerts themselves, and the stream as a declared key.

mod common;
use common::*;
use serde_json::Value as Json;
use std::time::Duration;

const Q: &str = "t:{a}:bytes";
const S: &str = "t:{a}:alerts";
const T: &str = "t:{a}:lru";

fn k(n: &str) -> String {
    format!("t:{{a}}:{n}")
}

fn ok(c: &mut redis::Connection, args: &[&str]) {
    call(c, args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
}

fn incr(c: &mut redis::Connection, amount: &str) {
    ok(c, &["QUOTA.INCR", Q, amount]);
}

fn all_alerts(c: &mut redis::Connection, stream: &str) -> Vec<Json> {
    alerts(call(c, &["ALERT.RANGE", stream, "-", "+"]).unwrap())
}

/// Each alert of the stream as `threshold status`, oldest first.
fn states(c: &mut redis::Connection) -> Vec<String> {
    all_alerts(c, S)
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a["labels"]["threshold"].as_str().unwrap(),
                a["status"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn thresholds_raise_and_resolve_alerts() {
    let s = Server::start();
    let mut c = s.client();
    ok(
        &mut c,
        &[
            "QUOTA.SET",
            Q,
            "LIMIT",
            "1000",
            "ALERTS",
            S,
            "AT",
            "100",
            "50",
            "80",
        ],
    );
    assert_eq!(
        int(&call(&mut c, &["EXISTS", S]).unwrap()),
        0,
        "no alert yet"
    );
    incr(&mut c, "850");
    let a = all_alerts(&mut c, S);
    assert_eq!(a.len(), 2, "50% and 80% in one step: {a:?}");
    assert_eq!(a[0]["severity"], "medium");
    assert_eq!(a[1]["severity"], "high");
    for (alert, pct) in a.iter().zip(["50", "80"]) {
        assert_eq!(alert["source"], Q);
        assert_eq!(alert["type"], "quota_threshold");
        assert_eq!(
            alert["labels"],
            serde_json::json!({"quota": Q, "threshold": pct})
        );
        assert_eq!(alert["usage"], "850");
        assert_eq!(alert["limit"], "1000");
        assert_eq!(alert["status"], "active");
    }
    incr(&mut c, "100");
    assert_eq!(
        states(&mut c),
        ["50 active", "80 active"],
        "still above: nothing new"
    );
    incr(&mut c, "50");
    let a = all_alerts(&mut c, S);
    assert_eq!(
        (a[2]["severity"].as_str(), a[2]["usage"].as_str()),
        (Some("critical"), Some("1000"))
    );
    // Falling below: INCR, RESET.
    incr(&mut c, "-200");
    assert_eq!(states(&mut c), ["50 active", "80 active", "100 resolved"]);
    ok(&mut c, &["QUOTA.RESET", Q]);
    assert_eq!(
        states(&mut c),
        ["50 resolved", "80 resolved", "100 resolved"]
    );
    // Reached again: new alerts (a resolved alert is no dedup target).
    incr(&mut c, "900");
    assert_eq!(
        states(&mut c)[3..],
        ["50 active".to_string(), "80 active".to_string()]
    );
    // SET moves usage against the limit: a larger limit falls below, a smaller one reaches.
    ok(
        &mut c,
        &[
            "QUOTA.SET",
            Q,
            "LIMIT",
            "2000",
            "ALERTS",
            S,
            "AT",
            "50",
            "80",
            "100",
        ],
    );
    assert_eq!(states(&mut c)[3..], ["50 resolved", "80 resolved"]);
    ok(
        &mut c,
        &[
            "QUOTA.SET",
            Q,
            "LIMIT",
            "900",
            "ALERTS",
            S,
            "AT",
            "50",
            "80",
            "100",
        ],
    );
    assert_eq!(
        states(&mut c)[5..],
        ["50 active", "80 active", "100 active"],
        "usage 900 of 900"
    );
    // No limit is no threshold reached.
    ok(
        &mut c,
        &[
            "QUOTA.SET",
            Q,
            "LIMIT",
            "-1",
            "ALERTS",
            S,
            "AT",
            "50",
            "80",
            "100",
        ],
    );
    assert!(states(&mut c).iter().all(|s| s.ends_with("resolved")));
    // QUOTA.GET shows nothing new.
    let v = call(&mut c, &["QUOTA.GET", Q]).unwrap();
    let g: (i64, String, String, String, i64) = redis::from_redis_value(&v).unwrap();
    assert_eq!(g, (1, "900".into(), "-1".into(), "-1".into(), -1));
}

#[test]
fn a_threshold_dropped_in_its_stream_resolves_its_alert() {
    let s = Server::start();
    let mut c = s.client();
    ok(
        &mut c,
        &[
            "QUOTA.SET",
            Q,
            "LIMIT",
            "100",
            "ALERTS",
            S,
            "AT",
            "50",
            "80",
        ],
    );
    incr(&mut c, "90");
    // 80 is dropped, 50 kept (and not raised again), 60 added and reached.
    ok(
        &mut c,
        &[
            "QUOTA.SET",
            Q,
            "LIMIT",
            "100",
            "ALERTS",
            S,
            "AT",
            "50",
            "60",
        ],
    );
    assert_eq!(states(&mut c), ["50 active", "80 resolved", "60 active"]);
    // Without ALERTS the thresholds are gone; their alerts are left as they are.
    ok(&mut c, &["QUOTA.SET", Q, "LIMIT", "100"]);
    incr(&mut c, "-90");
    assert_eq!(states(&mut c), ["50 active", "80 resolved", "60 active"]);
}

#[test]
fn dedup_by_fingerprint() {
    let s = Server::start();
    let mut c = s.client();
    ok(
        &mut c,
        &["QUOTA.SET", Q, "LIMIT", "100", "ALERTS", S, "AT", "80"],
    );
    incr(&mut c, "90");
    // Thresholds removed and set again: reached anew, the active alert of the same quota and
    // threshold takes it as a duplicate, and is the one resolved later.
    ok(&mut c, &["QUOTA.SET", Q, "LIMIT", "100"]);
    ok(
        &mut c,
        &["QUOTA.SET", Q, "LIMIT", "100", "ALERTS", S, "AT", "80"],
    );
    let a = all_alerts(&mut c, S);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["count"], 2);
    incr(&mut c, "-50");
    assert_eq!(states(&mut c), ["80 resolved"]);
    // Another quota's threshold is another fingerprint.
    ok(
        &mut c,
        &[
            "QUOTA.SET",
            &k("other"),
            "LIMIT",
            "10",
            "ALERTS",
            S,
            "AT",
            "80",
        ],
    );
    ok(&mut c, &["QUOTA.INCR", &k("other"), "9"]);
    assert_eq!(all_alerts(&mut c, S).len(), 2);
}

#[test]
fn window_usage_that_slid_is_seen_at_the_next_write() {
    let s = Server::start();
    let mut c = s.client();
    ok(
        &mut c,
        &[
            "QUOTA.SET",
            Q,
            "LIMIT",
            "10",
            "WINDOW",
            "300",
            "ALERTS",
            S,
            "AT",
            "50",
        ],
    );
    incr(&mut c, "6");
    assert_eq!(states(&mut c), ["50 active"]);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(states(&mut c), ["50 active"], "no write yet");
    // A refused amount is a write too.
    let v: (i64, String, String, String, i64) =
        redis::from_redis_value(&call(&mut c, &["QUOTA.INCR", Q, "11"]).unwrap()).unwrap();
    assert_eq!((v.0, v.1.as_str()), (0, "0"));
    assert_eq!(states(&mut c), ["50 resolved"]);
}

#[test]
fn a_rate_limited_alert_leaves_nothing_to_resolve() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["ALERT.CREATE", S, "RATELIMIT", "1", "3600000"]);
    ok(
        &mut c,
        &[
            "QUOTA.SET",
            Q,
            "LIMIT",
            "100",
            "ALERTS",
            S,
            "AT",
            "50",
            "80",
        ],
    );
    incr(&mut c, "90");
    assert_eq!(states(&mut c), ["50 active"], "80% was rate-limited");
    incr(&mut c, "5");
    assert_eq!(
        states(&mut c).len(),
        1,
        "80% stays reached: not tried again"
    );
    incr(&mut c, "-90");
    assert_eq!(states(&mut c), ["50 resolved"]);
}

#[test]
fn evictions_that_lower_the_quota_resolve() {
    let s = Server::start();
    let mut c = s.client();
    for (key, size) in [("o0", "200"), ("o1", "500"), ("o2", "200"), ("o3", "100")] {
        ok(&mut c, &["SET", &k(key), "v"]);
        ok(&mut c, &["LRU.TOUCH", T, &k(key), size]);
        std::thread::sleep(Duration::from_millis(2));
    }
    ok(
        &mut c,
        &[
            "QUOTA.SET",
            Q,
            "LIMIT",
            "1000",
            "ALERTS",
            S,
            "AT",
            "50",
            "80",
        ],
    );
    incr(&mut c, "800");
    assert_eq!(states(&mut c), ["50 active", "80 active"]);
    let evict = |c: &mut redis::Connection, amount: &str| -> (String, usize) {
        let v: (i64, String, String, String, i64, Vec<String>) =
            redis::from_redis_value(&call(c, &["QUOTA.INCR", Q, amount, "EVICT", T]).unwrap())
                .unwrap();
        (v.1, v.5.len())
    };
    // Room made and used: 800 - 200 + 350 = 950, still above both.
    assert_eq!(evict(&mut c, "350"), ("950".into(), 1));
    assert_eq!(states(&mut c), ["50 active", "80 active"]);
    // o1 frees more than needed: 950 - 500 + 100 = 550, below 80%.
    assert_eq!(evict(&mut c, "100"), ("550".into(), 1));
    assert_eq!(states(&mut c), ["50 active", "80 resolved"]);
    // A dry run raises and resolves nothing.
    let before = all_alerts(&mut c, S);
    ok(&mut c, &["QUOTA.INCR", Q, "400", "DRYRUN"]);
    ok(&mut c, &["QUOTA.INCR", Q, "-400", "DRYRUN"]);
    assert_eq!(all_alerts(&mut c, S), before);
    // LRU.EVICT ... QUOTA lowers it: 550 - 300 = 250.
    ok(&mut c, &["LRU.EVICT", T, "0", "QUOTA", Q]);
    let g: (i64, String, String, String, i64) =
        redis::from_redis_value(&call(&mut c, &["QUOTA.GET", Q]).unwrap()).unwrap();
    assert_eq!(g.1, "250");
    assert_eq!(states(&mut c), ["50 resolved", "80 resolved"]);
}

/// Raises, resolves, dedups and rate-limits: thresholds in every state.
fn workload(c: &mut redis::Connection) {
    ok(c, &["ALERT.CREATE", S, "RATELIMIT", "2", "3600000"]);
    ok(
        c,
        &[
            "QUOTA.SET",
            Q,
            "LIMIT",
            "1000",
            "ALERTS",
            S,
            "AT",
            "50",
            "80",
            "100",
        ],
    );
    incr(c, "600");
    incr(c, "300"); // 80% reached: two alerts of this source, the limit
    incr(c, "100"); // 100% rate-limited: reached without an alert
    ok(
        c,
        &[
            "QUOTA.SET",
            &k("w"),
            "LIMIT",
            "10",
            "WINDOW",
            "600000",
            "ALERTS",
            &k("walerts"),
            "AT",
            "30",
        ],
    );
    ok(c, &["QUOTA.INCR", &k("w"), "4"]);
}

fn snapshot(c: &mut redis::Connection) -> Vec<String> {
    let mut out = Vec::new();
    for q in [Q.to_string(), k("w")] {
        let v: (i64, String, String, String, i64) =
            redis::from_redis_value(&call(c, &["QUOTA.GET", &q]).unwrap()).unwrap();
        out.push(format!("{q} {} {} {}", v.0, v.1, v.2));
    }
    for stream in [S.to_string(), k("walerts")] {
        out.push(format!(
            "{:?}",
            call(c, &["ALERT.RANGE", &stream, "-", "+"]).unwrap()
        ));
    }
    out
}

/// What the quotas recorded came back: falling below resolves the alerts the thresholds
/// raised, and staying above raises nothing again.
fn record_is_there(c: &mut redis::Connection) {
    let n = all_alerts(c, S).len();
    incr(c, "1");
    assert_eq!(all_alerts(c, S).len(), n, "50% was reached already");
    incr(c, "-1000");
    assert!(
        all_alerts(c, S).iter().all(|a| a["status"] == "resolved"),
        "{:?}",
        all_alerts(c, S)
    );
    ok(c, &["QUOTA.INCR", &k("w"), "0"]);
    ok(c, &["QUOTA.RESET", &k("w")]);
    let w = all_alerts(c, &k("walerts"));
    assert_eq!((w.len(), w[0]["status"].as_str()), (1, Some("resolved")));
}

#[test]
fn persistence_keeps_what_each_threshold_raised() {
    check_aof_and_reload(
        workload,
        |c| {
            let snap = snapshot(c);
            assert!(snap[2].contains("quota_threshold"), "{snap:?}");
            snap
        },
        record_is_there,
    );
}

#[test]
fn replicas_hold_the_same_and_raise_nothing_themselves() {
    let primary = Server::start();
    let replica = primary.replica(&[]);
    let mut p = primary.client();
    let mut r = replica.client();
    workload(&mut p);
    wait_synced(&mut p);
    assert_eq!(snapshot(&mut r), snapshot(&mut p));
    // Promoted, the replica knows which alert each threshold raised.
    ok(&mut r, &["REPLICAOF", "NO", "ONE"]);
    record_is_there(&mut r);
}

#[test]
fn dump_and_restore_keep_the_thresholds() {
    // RESTORE is how a cluster moves a slot (MIGRATE): the thresholds and what they raised go
    // with the quota.
    let s = Server::start();
    let mut c = s.client();
    ok(
        &mut c,
        &["QUOTA.SET", Q, "LIMIT", "100", "ALERTS", S, "AT", "80"],
    );
    incr(&mut c, "90");
    let dump: Vec<u8> = redis::from_redis_value(&call(&mut c, &["DUMP", Q]).unwrap()).unwrap();
    ok(&mut c, &["DEL", Q]);
    let mut restore = redis::cmd("RESTORE");
    restore.arg(Q).arg(0).arg(dump);
    let _: () = restore.query(&mut c).unwrap();
    incr(&mut c, "-50");
    assert_eq!(states(&mut c), ["80 resolved"]);
}

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/quotas-encver2.rdb"
);

/// `VIGIL_WRITE_FIXTURE=1 cargo test --test quota_alerts write_fixture -- --ignored`
#[test]
#[ignore]
fn write_fixture() {
    write_fixture_if_asked(FIXTURE, |c| {
        let (q, s) = ("fx:{t}:q", "fx:{t}:alerts");
        let now = "1700000000000";
        ok(
            c,
            &[
                "ALERT.CREATE",
                s,
                "RETENTION",
                "0",
                "RATELIMIT",
                "1",
                "3600000",
            ],
        );
        ok(
            c,
            &[
                "QUOTA.SET",
                q,
                "LIMIT",
                "100",
                "ALERTS",
                s,
                "AT",
                "50",
                "80",
                "NOW",
                now,
            ],
        );
        ok(c, &["QUOTA.INCR", q, "90", "NOW", now]);
        ok(c, &["QUOTA.INCR", "fx:{t}:plain", "1.5", "LIMIT", "10"]);
    });
}

#[test]
fn fixture_rdb_of_encoding_version_2_loads() {
    let s = server_from_fixture(FIXTURE);
    let mut c = s.client();
    let v: (i64, String, String, String, i64) =
        redis::from_redis_value(&call(&mut c, &["QUOTA.GET", "fx:{t}:q"]).unwrap()).unwrap();
    assert_eq!(v, (1, "90".into(), "100".into(), "10".into(), -1));
    let v: (i64, String, String, String, i64) =
        redis::from_redis_value(&call(&mut c, &["QUOTA.GET", "fx:{t}:plain"]).unwrap()).unwrap();
    assert_eq!(v.1, "1.5");
    let a = all_alerts(&mut c, "fx:{t}:alerts");
    assert_eq!(a.len(), 1, "80% was rate-limited");
    assert_eq!(a[0]["id"], "1700000000000-0");
    // 50% raised that alert, 80% was reached without one: a release resolves the one.
    ok(&mut c, &["QUOTA.INCR", "fx:{t}:q", "-90"]);
    let a = all_alerts(&mut c, "fx:{t}:alerts");
    assert_eq!((a.len(), a[0]["status"].as_str()), (1, Some("resolved")));
}

#[test]
fn the_stream_is_a_declared_key() {
    let s = single_node_cluster();
    let mut c = s.client();
    let e = error_of(
        &mut c,
        &[
            "QUOTA.SET",
            "cache:q",
            "LIMIT",
            "5",
            "ALERTS",
            "other:alerts",
            "AT",
            "80",
        ],
    );
    assert!(e.starts_with("CROSSSLOT"), "{e}");
    ok(
        &mut c,
        &["QUOTA.SET", Q, "LIMIT", "5", "ALERTS", S, "AT", "80"],
    );
    incr(&mut c, "4");
    assert_eq!(states(&mut c), ["80 active"]);
    drop(c);
    // ACL: naming a stream outside the user's keys is refused before the module runs.
    let s = Server::start();
    let mut c = s.client();
    ok(
        &mut c,
        &["ACL", "SETUSER", "acme", "on", ">pw", "~t:{a}*", "+@all"],
    );
    let mut u = s.client();
    ok(&mut u, &["AUTH", "acme", "pw"]);
    ok(
        &mut u,
        &["QUOTA.SET", Q, "LIMIT", "5", "ALERTS", S, "AT", "80"],
    );
    let e = error_of(
        &mut u,
        &[
            "QUOTA.SET",
            Q,
            "LIMIT",
            "5",
            "ALERTS",
            "t:{b}:alerts",
            "AT",
            "80",
        ],
    );
    assert!(e.starts_with("NOPERM"), "{e}");
}

/// A quota that arrives under a name (RESTORE, COPY, RENAME, MOVE) keeps its ALERTS stream only
/// if the stream lies in the quota's namespace (or, in a cluster, has its hash tag): nothing checked the stream against that name,
/// and by RESTORE it is whatever the payload says. Before, a user confined to `~t:{a}*` but
/// allowed RESTORE resolved (and raised) alerts of any stream through a quota of its own.
#[test]
fn an_arriving_quota_keeps_only_a_stream_of_its_namespace() {
    let primary = Server::start();
    let replica = primary.replica(&[]);
    let mut c = primary.client();
    let added = call(
        &mut c,
        &[
            "ALERT.ADD",
            "ops:alerts",
            r#"{"severity":"critical","source":"db"}"#,
        ],
    )
    .unwrap();
    let id: String = match added {
        redis::Value::Array(a) => redis::from_redis_value(&a[1]).unwrap(),
        other => panic!("ALERT.ADD: {other:?}"),
    };
    // A payload made anywhere: a quota whose threshold "raised" the ops alert.
    ok(&mut c, &["QUOTA.INCR", "scratch:q", "6", "LIMIT", "10"]);
    ok(
        &mut c,
        &[
            "QUOTA.SET",
            "scratch:q",
            "LIMIT",
            "10",
            "ALERTS",
            "ops:alerts",
            "AT",
            "50",
            "RAISED",
            "50",
            &id,
        ],
    );
    let dump: Vec<u8> =
        redis::from_redis_value(&call(&mut c, &["DUMP", "scratch:q"]).unwrap()).unwrap();
    ok(
        &mut c,
        &[
            "ACL",
            "SETUSER",
            "ua",
            "on",
            ">pw",
            "~t:{a}*",
            "+@all",
            "-@dangerous",
            "+restore",
        ],
    );
    let mut u = primary.client();
    ok(&mut u, &["AUTH", "ua", "pw"]);
    let e = error_of(&mut u, &["ALERT.RESOLVE", "ops:alerts", &id]);
    assert!(e.starts_with("NOPERM"), "{e}");
    let mut restore = redis::cmd("RESTORE");
    restore.arg(k("q")).arg(0).arg(dump);
    let _: () = restore.query(&mut u).unwrap();
    ok(&mut u, &["QUOTA.RESET", &k("q")]);
    ok(&mut u, &["QUOTA.INCR", &k("q"), "9"]);
    let ops = all_alerts(&mut c, "ops:alerts");
    assert_eq!(ops.len(), 1, "no alert added to ops:alerts: {ops:?}");
    assert_eq!(ops[0]["status"], "active", "the ops alert was not resolved");
    // Its usage and limit came with it.
    let got = call(&mut u, &["QUOTA.GET", &k("q")]).unwrap();
    let got: Vec<String> = redis::from_redis_value(&got).unwrap();
    assert_eq!(got[1..3], ["9", "10"]);

    // COPY and RENAME to another namespace drop the thresholds too; within it they stay.
    ok(
        &mut c,
        &[
            "QUOTA.SET",
            "t:{b}:q",
            "LIMIT",
            "10",
            "ALERTS",
            "t:{b}:alerts",
            "AT",
            "50",
        ],
    );
    ok(&mut c, &["COPY", "t:{b}:q", &k("copy")]);
    ok(&mut c, &["RENAME", "t:{b}:q", "t:{b}:renamed"]);
    ok(&mut c, &["RENAME", "t:{b}:renamed", &k("renamed")]);
    ok(&mut c, &["QUOTA.INCR", &k("copy"), "9"]);
    ok(&mut c, &["QUOTA.INCR", &k("renamed"), "9"]);
    assert!(all_alerts(&mut c, "t:{b}:alerts").is_empty());
    ok(
        &mut c,
        &["QUOTA.SET", Q, "LIMIT", "10", "ALERTS", S, "AT", "50"],
    );
    ok(&mut c, &["RENAME", Q, &k("kept")]);
    ok(&mut c, &["QUOTA.INCR", &k("kept"), "9"]);
    assert_eq!(states(&mut c), ["50 active"]);

    // Off a cluster, a stream of the quota's hash tag but outside its namespace goes too
    // (`quota:{c}` and `alerts:{c}`; in a cluster it stays: cluster.rs
    // a_quota_and_its_stream_of_one_hash_tag_move_together).
    ok(
        &mut c,
        &[
            "QUOTA.SET",
            "quota:{c}",
            "LIMIT",
            "10",
            "ALERTS",
            "alerts:{c}",
            "AT",
            "50",
        ],
    );
    ok(&mut c, &["RENAME", "quota:{c}", "quota:{c}:moved"]);
    ok(&mut c, &["QUOTA.INCR", "quota:{c}:moved", "6"]);
    assert!(all_alerts(&mut c, "alerts:{c}").is_empty());

    // The replica decided the same from the same names.
    wait_synced(&mut c);
    let mut r = replica.client();
    for key in [
        k("q"),
        k("copy"),
        k("renamed"),
        k("kept"),
        "quota:{d}".to_string(),
    ] {
        let digest = |c: &mut redis::Connection| -> Vec<String> {
            redis::from_redis_value(&call(c, &["DEBUG", "DIGEST-VALUE", &key]).unwrap()).unwrap()
        };
        assert_eq!(digest(&mut r), digest(&mut c), "{key}");
    }
}

/// A COPY of a quota holds where its thresholds stand, not the alerts the original raised:
/// before, lowering the copy below a threshold resolved the original's alert, while the
/// original stayed above it with no active alert (a missed alert; found by a black-box audit).
#[test]
fn a_copy_of_a_quota_leaves_the_originals_alerts_alone() {
    let primary = Server::start();
    let replica = primary.replica(&[]);
    let mut c = primary.client();
    ok(
        &mut c,
        &["QUOTA.SET", Q, "LIMIT", "100", "ALERTS", S, "AT", "50"],
    );
    incr(&mut c, "60");
    assert_eq!(states(&mut c), ["50 active"]);
    let copy = k("copy");
    ok(&mut c, &["COPY", Q, &copy]);
    // The copy falls below 50%: it raised no alert, so none is resolved.
    ok(&mut c, &["QUOTA.INCR", &copy, "-60"]);
    assert_eq!(states(&mut c), ["50 active"], "the original's alert stays");
    // The copy crosses 50% again: an alert of its own, which it then resolves.
    ok(&mut c, &["QUOTA.INCR", &copy, "70"]);
    let a = all_alerts(&mut c, S);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a[1]["source"].as_str(), Some(copy.as_str()));
    ok(&mut c, &["QUOTA.INCR", &copy, "-70"]);
    assert_eq!(states(&mut c), ["50 active", "50 resolved"]);
    // A copy that stays above the threshold raises nothing more while it stays there.
    let above = k("above");
    ok(&mut c, &["COPY", Q, &above]);
    ok(&mut c, &["QUOTA.INCR", &above, "1"]);
    assert_eq!(all_alerts(&mut c, S).len(), 2);
    // The original still resolves its own.
    incr(&mut c, "-60");
    assert_eq!(states(&mut c), ["50 resolved", "50 resolved"]);
    // The replica made the same copies from the same COPY.
    wait_synced(&mut c);
    let mut r = replica.client();
    for key in [Q.to_string(), copy, above] {
        let digest = |c: &mut redis::Connection| -> Vec<String> {
            redis::from_redis_value(&call(c, &["DEBUG", "DIGEST-VALUE", &key]).unwrap()).unwrap()
        };
        assert_eq!(digest(&mut r), digest(&mut c), "{key}");
    }
}
