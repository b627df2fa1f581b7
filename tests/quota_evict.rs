//! QUOTA.INCR ... EVICT and DRYRUN against a real redis-server: room made all-or-nothing in
//! LRU order, the sixth reply element, the tracker as a declared key (GETKEYS, ACL, CROSSSLOT),
//! keyspace events, effects replicated (the DELs and the usage, never the decision), the AOF,
//! and dry runs that change nothing and reach neither replicas nor the AOF.

mod common;
use common::*;
use redis::Value;
use std::time::Duration;

const Q: &str = "t:{a}:bytes";
const T: &str = "t:{a}:lru";

fn k(n: &str) -> String {
    format!("t:{{a}}:{n}")
}

/// `[allowed, usage, limit, remaining, reset_ms, [evicted ...]]`.
type Reply = (i64, String, String, String, i64, Vec<String>);

fn incr(c: &mut redis::Connection, args: &[&str]) -> Reply {
    let mut all = vec!["QUOTA.INCR"];
    all.extend_from_slice(args);
    let v = call(c, &all).unwrap_or_else(|e| panic!("{all:?}: {e}"));
    redis::from_redis_value(&v).unwrap_or_else(|e| panic!("{all:?}: {v:?}: {e}"))
}

/// A call without EVICT: the five-element reply.
fn plain(c: &mut redis::Connection, args: &[&str]) -> (i64, String, String, String, i64) {
    let mut all = vec!["QUOTA.INCR"];
    all.extend_from_slice(args);
    let v = call(c, &all).unwrap_or_else(|e| panic!("{all:?}: {e}"));
    redis::from_redis_value(&v).unwrap_or_else(|e| panic!("{all:?}: {v:?}: {e}"))
}

fn r(allowed: i64, usage: &str, limit: &str, remaining: &str, evicted: &[&str]) -> Reply {
    (
        allowed,
        usage.into(),
        limit.into(),
        remaining.into(),
        -1,
        evicted.iter().map(|s| s.to_string()).collect(),
    )
}

/// Stores `key` and tracks it with `size`, one millisecond after the previous one.
fn store(c: &mut redis::Connection, key: &str, size: &str) {
    call(c, &["SET", key, "v"]).unwrap();
    call(c, &["LRU.TOUCH", T, key, size]).unwrap();
    std::thread::sleep(Duration::from_millis(2));
}

/// A tenant at 800 of 1000: o1 (300), o2 (0), o3 (200), o4 (300), oldest first.
fn tenant(c: &mut redis::Connection) {
    for (key, size) in [("o1", "300"), ("o2", "0"), ("o3", "200"), ("o4", "300")] {
        store(c, &k(key), size);
    }
    plain(c, &[Q, "800", "LIMIT", "1000"]);
}

fn exists(c: &mut redis::Connection, key: &str) -> bool {
    int(&call(c, &["EXISTS", key]).unwrap()) == 1
}

fn tracked(c: &mut redis::Connection) -> Vec<String> {
    let v: Vec<(String, String, i64)> =
        redis::from_redis_value(&call(c, &["LRU.CANDIDATES", T, "1000"]).unwrap()).unwrap();
    v.into_iter().map(|e| e.0).collect()
}

/// Everything a tenant holds: keys, tracked keys and sizes, the quota.
fn snapshot(c: &mut redis::Connection) -> Vec<String> {
    let mut keys: Vec<String> = redis::from_redis_value(&call(c, &["KEYS", "*"]).unwrap()).unwrap();
    keys.sort();
    let cands: Vec<(String, String, i64)> =
        redis::from_redis_value(&call(c, &["LRU.CANDIDATES", T, "1000"]).unwrap()).unwrap();
    let quota = call(c, &["QUOTA.GET", Q]).unwrap();
    vec![
        format!("{keys:?}"),
        format!("{cands:?}"),
        format!("{quota:?}"),
    ]
}

#[test]
fn makes_room_in_lru_order_all_or_nothing() {
    let s = Server::start();
    let mut c = s.client();
    tenant(&mut c);
    // Fits without evicting: the sixth element is empty.
    assert_eq!(
        incr(&mut c, &[Q, "100", "EVICT", T]),
        r(1, "900", "1000", "100", &[])
    );
    // 900 + 350 needs 250: o1 (300) goes, alone.
    assert_eq!(
        incr(&mut c, &[Q, "350", "EVICT", T]),
        r(1, "950", "1000", "50", &[&k("o1")])
    );
    assert!(!exists(&mut c, &k("o1")));
    // 950 + 250 needs 200: o2 (0) then o3 (200), in LRU order, as LRU.EVICT would.
    assert_eq!(
        incr(&mut c, &[Q, "250", "EVICT", T, "MAX", "2"]),
        r(1, "1000", "1000", "0", &[&k("o2"), &k("o3")])
    );
    assert_eq!(tracked(&mut c), [k("o4")]);
    let info = map_of(call(&mut c, &["LRU.INFO", T]).unwrap());
    assert_eq!(int(&info["evicted"]), 3);
    // Cannot fit after MAX keys: nothing is evicted and the amount is refused.
    for o in ["o5", "o6"] {
        store(&mut c, &k(o), "100");
    }
    let before = snapshot(&mut c);
    assert_eq!(
        incr(&mut c, &[Q, "450", "EVICT", T, "MAX", "1"]),
        r(0, "1000", "1000", "0", &[])
    );
    // Larger than the limit: fits nowhere, whatever is evicted.
    assert_eq!(
        incr(&mut c, &[Q, "1001", "EVICT", T]),
        r(0, "1000", "1000", "0", &[])
    );
    assert_eq!(snapshot(&mut c), before, "a refusal evicts nothing");
    // Everything tracked: o4 (300), o5, o6 (100 each) free 500.
    assert_eq!(
        incr(&mut c, &[Q, "500", "EVICT", T]),
        r(1, "1000", "1000", "0", &[&k("o4"), &k("o5"), &k("o6")])
    );
    // FORCE applies what cannot fit, and evicts nothing for it.
    store(&mut c, &k("o7"), "10");
    assert_eq!(
        incr(&mut c, &[Q, "50", "EVICT", T, "FORCE"]),
        r(0, "1050", "1000", "0", &[])
    );
    assert!(exists(&mut c, &k("o7")));
    // A release never evicts; without EVICT the reply keeps its five elements.
    assert_eq!(
        incr(&mut c, &[Q, "-100", "EVICT", T]),
        r(1, "950", "1000", "50", &[])
    );
    assert_eq!(plain(&mut c, &[Q, "0"]).1, "950");
    // A missing tracker has nothing to evict; a new quota is created as ever.
    assert_eq!(
        incr(
            &mut c,
            &[&k("new"), "5", "LIMIT", "3", "EVICT", &k("nolru")]
        ),
        r(0, "0", "3", "3", &[])
    );
    assert!(!exists(&mut c, &k("nolru")), "no tracker is created");
    assert!(exists(&mut c, &k("new")));
}

#[test]
fn the_quota_and_its_alert_stream_are_never_evicted_for_it() {
    let s = Server::start();
    let mut c = s.client();
    call(
        &mut c,
        &[
            "QUOTA.SET",
            Q,
            "LIMIT",
            "100",
            "ALERTS",
            &k("alerts"),
            "AT",
            "500",
        ],
    )
    .unwrap();
    call(&mut c, &["ALERT.CREATE", &k("alerts")]).unwrap();
    plain(&mut c, &[Q, "100"]);
    call(&mut c, &["LRU.TOUCH", T, Q, "50", &k("alerts"), "50"]).unwrap();
    std::thread::sleep(Duration::from_millis(2));
    store(&mut c, &k("x"), "40");
    assert_eq!(
        incr(&mut c, &[Q, "40", "EVICT", T]),
        r(1, "100", "100", "0", &[&k("x")])
    );
    assert_eq!(
        incr(&mut c, &[Q, "40", "EVICT", T]),
        r(0, "100", "100", "0", &[]),
        "only the quota and its stream are left"
    );
    assert!(exists(&mut c, Q) && exists(&mut c, &k("alerts")));
    // LRU.EVICT ... QUOTA spares them too.
    let v: (i64, String, String, Vec<String>) =
        redis::from_redis_value(&call(&mut c, &["LRU.EVICT", T, "0", "QUOTA", Q]).unwrap())
            .unwrap();
    assert_eq!(v.0, 0);
}

#[test]
fn dry_run_answers_the_same_and_changes_nothing() {
    // `appendfsync always`: each write reaches the AOF before the reply. Under `everysec`
    // Redis postpones the write while a background fsync runs, and the size read next lagged.
    let s = Server::start_with(&[
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]);
    let mut c = s.client();
    tenant(&mut c);
    let aof_size =
        |c: &mut redis::Connection| info_field(c, "persistence", "aof_current_size").unwrap();
    let cases: &[&[&str]] = &[
        &[Q, "100", "EVICT", T],
        &[Q, "350", "EVICT", T],
        &[Q, "700", "EVICT", T, "MAX", "1", "LIMIT", "1000"],
        &[Q, "900", "EVICT", T, "LIMIT", "2000"],
        &[Q, "1", "LIMIT", "0", "EVICT", T],
        &[Q, "-50", "EVICT", T],
    ];
    for args in cases {
        let before = snapshot(&mut c);
        let size = aof_size(&mut c);
        let mut dry = args.to_vec();
        dry.push("DRYRUN");
        let answer = incr(&mut c, &dry);
        assert_eq!(snapshot(&mut c), before, "{args:?} DRYRUN changed state");
        assert_eq!(aof_size(&mut c), size, "{args:?} DRYRUN reached the AOF");
        assert_eq!(incr(&mut c, args), answer, "{args:?}: the real call");
        assert_ne!(
            aof_size(&mut c),
            size,
            "{args:?}: the real call is in the AOF"
        );
    }
    // No key is created, no LIMIT set, and the five-element reply without EVICT.
    let v: (i64, String, String, String, i64) = redis::from_redis_value(
        &call(
            &mut c,
            &["QUOTA.INCR", &k("none"), "5", "LIMIT", "3", "DRYRUN"],
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(v, (0, "0".into(), "3".into(), "3".into(), -1));
    assert!(!exists(&mut c, &k("none")));
    let v: (i64, String, String, String, i64) =
        redis::from_redis_value(&call(&mut c, &["QUOTA.INCR", &k("none"), "1", "DRYRUN"]).unwrap())
            .unwrap();
    assert_eq!((v.0, v.1.as_str()), (1, "1"));
    assert!(!exists(&mut c, &k("none")));
    // Errors as the real call's.
    call(
        &mut c,
        &["QUOTA.SET", &k("w"), "LIMIT", "5", "WINDOW", "1000"],
    )
    .unwrap();
    assert!(
        error_of(&mut c, &["QUOTA.INCR", &k("w"), "1", "EVICT", T, "DRYRUN"])
            .contains("cumulative")
    );
    // A WINDOW quota's dry run slides on a copy.
    let v: (i64, String, String, String, i64) =
        redis::from_redis_value(&call(&mut c, &["QUOTA.INCR", &k("w"), "5", "DRYRUN"]).unwrap())
            .unwrap();
    assert_eq!((v.0, v.1.as_str()), (1, "5"));
    assert_eq!(
        redis::from_redis_value::<(i64, String, String, String, i64)>(
            &call(&mut c, &["QUOTA.GET", &k("w")]).unwrap()
        )
        .unwrap()
        .1,
        "0"
    );
}

#[test]
fn the_tracker_is_a_declared_key() {
    let s = Server::start();
    let mut c = s.client();
    let text = format!(
        "{:?}",
        call(&mut c, &["COMMAND", "INFO", "quota.incr"]).unwrap()
    );
    for f in ["write", "denyoom", "movablekeys"] {
        assert!(text.contains(&format!("\"{f}\"")), "lacks {f}: {text}");
    }
    let keys = |c: &mut redis::Connection, args: &[&str]| -> Vec<String> {
        let mut all = vec!["COMMAND", "GETKEYS", "QUOTA.INCR"];
        all.extend_from_slice(args);
        redis::from_redis_value(&call(c, &all).unwrap()).unwrap()
    };
    assert_eq!(keys(&mut c, &[Q, "1"]), [Q]);
    assert_eq!(
        keys(
            &mut c,
            &[Q, "1", "LIMIT", "5", "evict", T, "MAX", "3", "DRYRUN"]
        ),
        [Q, T]
    );
    assert_eq!(keys(&mut c, &[Q, "1", "EVICT", "EVICT"]), [Q, "EVICT"]);
    // ACL: a user confined to its tenant cannot name another tenant's tracker.
    call(
        &mut c,
        &["ACL", "SETUSER", "acme", "on", ">pw", "~t:{a}*", "+@all"],
    )
    .unwrap();
    let mut u = s.client();
    call(&mut u, &["AUTH", "acme", "pw"]).unwrap();
    incr(&mut u, &[Q, "1", "EVICT", T]);
    let e = error_of(&mut u, &["QUOTA.INCR", Q, "1", "EVICT", "t:{b}:lru"]);
    assert!(e.starts_with("NOPERM"), "{e}");
    // The namespace rule, checked before anything else.
    let e = error_of(&mut c, &["QUOTA.INCR", Q, "1", "EVICT", "t:{b}:lru"]);
    assert!(e.contains("outside the tracker's namespace"), "{e}");
}

#[test]
fn evictions_raise_the_events_lru_evict_raises() {
    let s = Server::start();
    let mut c = s.client();
    tenant(&mut c);
    call(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]).unwrap();
    let mut sub = s.client();
    let mut ps = sub.as_pubsub();
    ps.psubscribe("__keyspace@0__:t:{a}:*").unwrap();
    ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    incr(&mut c, &[Q, "650", "EVICT", T]);
    let mut got = Vec::new();
    for _ in 0..5 {
        let Ok(m) = ps.get_message() else {
            panic!("{got:?}");
        };
        let channel: String = m.get_channel().unwrap();
        let event: String = m.get_payload().unwrap();
        got.push(format!(
            "{} {event}",
            channel.trim_start_matches("__keyspace@0__:")
        ));
    }
    assert_eq!(
        got,
        [
            format!("{} del", k("o1")),
            format!("{} del", k("o2")),
            format!("{} del", k("o3")),
            format!("{T} lru.evict"),
            format!("{Q} quota.incr"),
        ]
    );
}

fn workload(c: &mut redis::Connection) {
    tenant(c);
    call(
        c,
        &[
            "QUOTA.SET",
            Q,
            "LIMIT",
            "1000",
            "ALERTS",
            &k("alerts"),
            "AT",
            "50",
            "90",
        ],
    )
    .unwrap();
    incr(c, &[Q, "150", "EVICT", T]); // 950: 90% reached
    incr(c, &[Q, "400", "EVICT", T, "MAX", "3"]); // o1, o2, o3 go: 850
    incr(c, &[Q, "700", "EVICT", T, "MAX", "1"]); // refused
    store(c, &k("o8"), "600");
    plain(c, &[Q, "-900"]);
    incr(c, &[Q, "300", "LIMIT", "400", "EVICT", T]);
    incr(c, &[Q, "200", "EVICT", T]); // o4 goes
    incr(c, &[Q, "100", "EVICT", T, "DRYRUN"]);
}

fn full_snapshot(c: &mut redis::Connection) -> Vec<String> {
    let mut snap = snapshot(c);
    let alerts = call(c, &["ALERT.RANGE", &k("alerts"), "-", "+"]).unwrap();
    snap.push(format!("{alerts:?}"));
    snap
}

#[test]
fn replicas_and_the_aof_get_the_effects() {
    let primary = Server::start();
    let replica = primary.replica(&[]);
    let mut p = primary.client();
    let mut rc = replica.client();
    workload(&mut p);
    wait_synced(&mut p);
    assert_eq!(full_snapshot(&mut rc), full_snapshot(&mut p));

    check_aof_and_reload(workload, full_snapshot, |_| {});
    // What the AOF holds: DELs, the count of evicted keys and forced increments, never an
    // EVICT or a DRYRUN.
    let s = Server::with_aof(false);
    let mut c = s.client();
    workload(&mut c);
    let aof = aof_text(&s);
    assert!(aof.contains("DEL"), "{aof}");
    assert!(aof.contains("FORCE"), "{aof}");
    let lines: Vec<String> = aof.lines().map(str::to_uppercase).collect();
    assert!(lines.iter().any(|l| l == "LRU.EVICTED"), "{aof}");
    assert!(
        !lines.iter().any(|l| l == "EVICT" || l == "LRU.EVICT"),
        "{aof}"
    );
    assert!(!aof.to_uppercase().contains("DRYRUN"), "{aof}");
}

/// Every AOF file of the server, as text.
fn aof_text(s: &Server) -> String {
    let mut text = String::new();
    let dir = s.dir.join("appendonlydir");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        text.push_str(&String::from_utf8_lossy(
            &std::fs::read(f).unwrap_or_default(),
        ));
    }
    text
}

#[test]
fn a_tracker_in_another_slot_is_crossslot() {
    let s = single_node_cluster();
    let mut c = s.client();
    // Colon namespaces span slots: the declared tracker then crosses slots.
    call(&mut c, &["SET", "cache:x", "v"]).unwrap();
    call(&mut c, &["LRU.TOUCH", "cache:lru", "cache:x", "1"]).unwrap();
    let e = error_of(
        &mut c,
        &["QUOTA.INCR", "cache:q", "1", "EVICT", "cache:lru"],
    );
    assert!(e.starts_with("CROSSSLOT"), "{e}");
    // A hash-tag tenant is one slot.
    call(&mut c, &["SET", &k("x"), "v"]).unwrap();
    call(&mut c, &["LRU.TOUCH", T, &k("x"), "5"]).unwrap();
    plain(&mut c, &[Q, "5", "LIMIT", "5"]);
    assert_eq!(
        incr(&mut c, &[Q, "5", "EVICT", T]),
        r(1, "5", "5", "0", &[&k("x")])
    );
    assert_eq!(call(&mut c, &["EXISTS", &k("x")]).unwrap(), Value::Int(0));
}
