//! QUOTA.* against a real redis-server: replies, check-and-add, exactness, windows, flags,
//! persistence, replication and bad input.

mod common;
use common::*;
use redis::Value;
use std::time::Duration;

type Reply = (i64, String, String, String, i64);

fn q(c: &mut redis::Connection, args: &[&str]) -> Reply {
    let v = call(c, args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    redis::from_redis_value(&v).unwrap_or_else(|e| panic!("{args:?}: {v:?}: {e}"))
}

fn r(allowed: i64, usage: &str, limit: &str, remaining: &str, reset: i64) -> Reply {
    (allowed, usage.into(), limit.into(), remaining.into(), reset)
}

#[test]
fn cumulative_check_and_increment() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(
        q(&mut c, &["QUOTA.INCR", "u", "3"]),
        r(1, "3", "-1", "-1", -1),
        "created, unlimited"
    );
    assert_eq!(
        q(&mut c, &["QUOTA.INCR", "u", "2", "LIMIT", "10"]),
        r(1, "5", "10", "5", -1)
    );
    assert_eq!(
        q(&mut c, &["QUOTA.INCR", "u", "5.5"]),
        r(0, "5", "10", "5", -1),
        "refused"
    );
    assert_eq!(
        q(&mut c, &["QUOTA.INCR", "u", "5"]),
        r(1, "10", "10", "0", -1),
        "up to the limit"
    );
    assert_eq!(
        q(&mut c, &["QUOTA.INCR", "u", "0.000001", "FORCE"]),
        r(0, "10.000001", "10", "0", -1)
    );
    assert_eq!(
        q(&mut c, &["QUOTA.INCR", "u", "-0.5"]),
        r(1, "9.500001", "10", "0.499999", -1)
    );
    assert_eq!(
        q(&mut c, &["QUOTA.INCR", "u", "-100"]),
        r(1, "0", "10", "10", -1),
        "never below 0"
    );
    // A refused amount still sets the LIMIT it came with.
    assert_eq!(
        q(&mut c, &["QUOTA.INCR", "u", "7", "LIMIT", "5"]),
        r(0, "0", "5", "5", -1)
    );
    assert_eq!(q(&mut c, &["QUOTA.GET", "u"]), r(1, "0", "5", "5", -1));
    assert_eq!(call(&mut c, &["QUOTA.GET", "missing"]).unwrap(), Value::Nil);
    assert_eq!(int(&call(&mut c, &["EXISTS", "missing"]).unwrap()), 0);
    assert_eq!(call(&mut c, &["QUOTA.RESET", "u"]).unwrap(), Value::Okay);
    assert!(error_of(&mut c, &["QUOTA.RESET", "missing"]).contains("no such key"));
    assert_eq!(
        call(&mut c, &["TYPE", "u"]).unwrap(),
        Value::SimpleString("vigil-quo".into())
    );
    // Usage above a lowered limit: GET says not allowed, negative amounts still apply.
    q(&mut c, &["QUOTA.INCR", "u", "5"]);
    call(&mut c, &["QUOTA.SET", "u", "LIMIT", "2"]).unwrap();
    assert_eq!(q(&mut c, &["QUOTA.GET", "u"]), r(0, "5", "2", "0", -1));
    assert_eq!(
        q(&mut c, &["QUOTA.INCR", "u", "-1"]),
        r(0, "4", "2", "0", -1)
    );
    assert_eq!(
        q(&mut c, &["QUOTA.INCR", "u", "0"]),
        r(0, "4", "2", "0", -1)
    );
}

#[test]
fn a_million_tenths_up_and_down_is_exactly_zero() {
    let s = Server::start();
    let mut c = s.client();
    for amount in ["0.1", "-0.1"] {
        for _ in 0..10 {
            let mut pipe = redis::pipe();
            for _ in 0..100_000 {
                pipe.cmd("QUOTA.INCR").arg("exact").arg(amount).ignore();
            }
            let _: () = pipe.query(&mut c).unwrap();
        }
        if amount == "0.1" {
            assert_eq!(q(&mut c, &["QUOTA.GET", "exact"]).1, "100000");
        }
    }
    assert_eq!(
        q(&mut c, &["QUOTA.GET", "exact"]),
        r(1, "0", "-1", "-1", -1)
    );
}

#[test]
fn big_amounts_and_shortest_form() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(
        q(&mut c, &["QUOTA.INCR", "b", "999999999999999.999999"]).1,
        "999999999999999.999999"
    );
    assert_eq!(
        q(&mut c, &["QUOTA.INCR", "b", "0.000001"]).1,
        "1000000000000000"
    );
    assert_eq!(q(&mut c, &["QUOTA.INCR", "c", "007.10"]).1, "7.1");
    assert_eq!(q(&mut c, &["QUOTA.INCR", "c", "-0"]).1, "7.1");
    // "No limit" is the amount -1, however it is written.
    for none in ["-1", "-1.0", "-1.000000", "-01"] {
        call(&mut c, &["QUOTA.SET", "n", "LIMIT", "5"]).unwrap();
        call(&mut c, &["QUOTA.SET", "n", "LIMIT", none]).unwrap();
        assert_eq!(q(&mut c, &["QUOTA.GET", "n"]).2, "-1", "LIMIT {none}");
        assert_eq!(q(&mut c, &["QUOTA.INCR", "n", "0", "LIMIT", "5"]).2, "5");
        assert_eq!(q(&mut c, &["QUOTA.INCR", "n", "0", "LIMIT", none]).2, "-1");
    }
    for bad in ["-1.5", "-2", "-0.000001"] {
        let e = error_of(&mut c, &["QUOTA.SET", "n", "LIMIT", bad]);
        assert!(e.contains("or -1 for no limit"), "LIMIT {bad}: {e}");
    }
    // An increment a limit refuses is refused, even one that would take usage past 10^18
    // (spec: a refusal is not an error); only one that would be applied is an error.
    let max = "1000000000000000000";
    call(&mut c, &["QUOTA.SET", "m", "LIMIT", "10"]).unwrap();
    q(&mut c, &["QUOTA.INCR", "m", "3.5"]);
    assert_eq!(
        q(&mut c, &["QUOTA.INCR", "m", max]),
        r(0, "3.5", "10", "6.5", -1)
    );
    let e = error_of(&mut c, &["QUOTA.INCR", "m", max, "FORCE"]);
    assert!(e.contains("10^18"), "{e}");
    assert_eq!(q(&mut c, &["QUOTA.GET", "m"]).1, "3.5");
}

#[test]
fn window_quota_slides() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(
        call(&mut c, &["QUOTA.SET", "w", "LIMIT", "10", "WINDOW", "400"]).unwrap(),
        Value::Okay
    );
    let a = q(&mut c, &["QUOTA.INCR", "w", "6"]);
    assert_eq!((a.0, a.1.as_str(), a.3.as_str()), (1, "6", "4"));
    assert!(a.4 > 0 && a.4 <= 400, "reset_ms {}", a.4);
    let b = q(&mut c, &["QUOTA.INCR", "w", "5"]);
    assert_eq!((b.0, b.1.as_str()), (0, "6"), "refused inside the window");
    assert!(error_of(&mut c, &["QUOTA.INCR", "w", "-1"]).contains("negative"));
    std::thread::sleep(Duration::from_millis(450));
    assert_eq!(
        q(&mut c, &["QUOTA.GET", "w"]),
        r(1, "0", "10", "10", 0),
        "slid out"
    );
    assert_eq!(q(&mut c, &["QUOTA.INCR", "w", "5"]).0, 1);
    // Switching kinds keeps the usage.
    call(&mut c, &["QUOTA.SET", "w", "LIMIT", "20"]).unwrap();
    assert_eq!(q(&mut c, &["QUOTA.GET", "w"]), r(1, "5", "20", "15", -1));
    call(&mut c, &["QUOTA.SET", "w", "LIMIT", "-1", "WINDOW", "1000"]).unwrap();
    let g = q(&mut c, &["QUOTA.GET", "w"]);
    assert_eq!(
        (g.1.as_str(), g.2.as_str(), g.3.as_str()),
        ("5", "-1", "-1")
    );
    assert!(g.4 > 500 && g.4 <= 1000, "as if added now: {}", g.4);
}

#[test]
fn window_memory_is_bounded() {
    let s = Server::start();
    let mut c = s.client();
    call(
        &mut c,
        &["QUOTA.SET", "w", "LIMIT", "-1", "WINDOW", "60000"],
    )
    .unwrap();
    let before: i64 =
        redis::from_redis_value(&call(&mut c, &["MEMORY", "USAGE", "w"]).unwrap()).unwrap();
    let mut pipe = redis::pipe();
    for _ in 0..50_000 {
        pipe.cmd("QUOTA.INCR").arg("w").arg("1").ignore();
    }
    let _: () = pipe.query(&mut c).unwrap();
    let after: i64 =
        redis::from_redis_value(&call(&mut c, &["MEMORY", "USAGE", "w"]).unwrap()).unwrap();
    assert!(after < 8 * 1024, "{before} -> {after} bytes");
    assert_eq!(q(&mut c, &["QUOTA.GET", "w"]).1, "50000");
}

#[test]
fn bad_input_changes_nothing() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["QUOTA.INCR", "u", "1", "LIMIT", "5"]);
    call(
        &mut c,
        &["QUOTA.SET", "w", "LIMIT", "5", "WINDOW", "100000"],
    )
    .unwrap();
    q(&mut c, &["QUOTA.INCR", "w", "1"]);
    call(&mut c, &["SET", "str", "x"]).unwrap();
    // A tenant with a tracker, for EVICT.
    q(&mut c, &["QUOTA.INCR", "t:{a}:cq", "4", "LIMIT", "5"]);
    call(
        &mut c,
        &["QUOTA.SET", "t:{a}:wq", "LIMIT", "5", "WINDOW", "100000"],
    )
    .unwrap();
    q(&mut c, &["QUOTA.INCR", "t:{a}:wq", "4"]);
    call(&mut c, &["SET", "t:{a}:str", "x"]).unwrap();
    call(&mut c, &["SET", "t:{a}:k", "x"]).unwrap();
    call(&mut c, &["LRU.TOUCH", "t:{a}:lru", "t:{a}:k", "3"]).unwrap();
    let snapshot = |c: &mut redis::Connection| {
        (
            q(c, &["QUOTA.GET", "u"]),
            q(c, &["QUOTA.GET", "w"]).1,
            int(&call(c, &["DBSIZE"]).unwrap()),
            q(c, &["QUOTA.GET", "t:{a}:cq"]),
            q(c, &["QUOTA.GET", "t:{a}:wq"]).1,
            format!(
                "{:?}",
                call(c, &["LRU.CANDIDATES", "t:{a}:lru", "10"]).unwrap()
            ),
        )
    };
    let before = snapshot(&mut c);
    let bad_amounts = [
        "NaN",
        "nan",
        "inf",
        "-inf",
        "+inf",
        "1e3",
        "1E3",
        "1.2345678",
        "",
        " 1",
        "1 ",
        "+5",
        ".5",
        "5.",
        "0x10",
        "1,5",
        "--1",
        "1000000000000000001",
        "99999999999999999999999999999999",
        "١",
    ];
    let mut cases: Vec<(Vec<String>, &str)> = Vec::new();
    for a in bad_amounts {
        for key in ["u", "new"] {
            cases.push((
                vec!["QUOTA.INCR".into(), key.into(), a.into()],
                "ERR invalid amount",
            ));
            cases.push((
                vec![
                    "QUOTA.INCR".into(),
                    key.into(),
                    "1".into(),
                    "LIMIT".into(),
                    a.into(),
                ],
                "ERR invalid LIMIT",
            ));
            cases.push((
                vec!["QUOTA.SET".into(), key.into(), "LIMIT".into(), a.into()],
                "ERR invalid LIMIT",
            ));
        }
    }
    let more: &[(&[&str], &str)] = &[
        (&["QUOTA.INCR", "u"], "wrong number of arguments"),
        (&["QUOTA.INCR"], "wrong number of arguments"),
        (&["QUOTA.GET"], "wrong number of arguments"),
        (&["QUOTA.GET", "u", "x"], "wrong number of arguments"),
        (&["QUOTA.RESET"], "wrong number of arguments"),
        (&["QUOTA.RESET", "u", "x"], "wrong number of arguments"),
        (&["QUOTA.SET", "u"], "wrong number of arguments"),
        (&["QUOTA.SET", "u", "LIMIT"], "wrong number of arguments"),
        (&["QUOTA.SET", "u", "WINDOW", "10"], "needs LIMIT"),
        (&["QUOTA.SET", "u", "LIMIT", "-2"], "ERR invalid LIMIT"),
        (&["QUOTA.SET", "u", "LIMIT", "5", "WINDOW", "0"], "WINDOW"),
        (&["QUOTA.SET", "u", "LIMIT", "5", "WINDOW", "-5"], "WINDOW"),
        (&["QUOTA.SET", "u", "LIMIT", "5", "WINDOW", "1.5"], "WINDOW"),
        (
            &["QUOTA.SET", "u", "LIMIT", "5", "WINDOW"],
            "WINDOW needs a value",
        ),
        (
            &["QUOTA.SET", "u", "LIMIT", "5", "BOGUS", "1"],
            "unknown option",
        ),
        (&["QUOTA.INCR", "u", "1", "BOGUS"], "unknown option"),
        (&["QUOTA.INCR", "u", "1", "LIMIT"], "LIMIT needs a value"),
        (
            &["QUOTA.INCR", "u", "1", "LIMIT", "-3"],
            "ERR invalid LIMIT",
        ),
        (&["QUOTA.INCR", "u", "1", "NOW", "99999999999999"], "NOW"),
        (&["QUOTA.INCR", "w", "-1"], "negative"),
        (
            &["QUOTA.INCR", "u", "1000000000000000000", "FORCE"],
            "exceed",
        ),
        (&["QUOTA.INCR", "str", "1"], "WRONGTYPE"),
        (&["QUOTA.GET", "str"], "WRONGTYPE"),
        (&["QUOTA.SET", "str", "LIMIT", "1"], "WRONGTYPE"),
        (&["QUOTA.RESET", "str"], "WRONGTYPE"),
        (&["QUOTA.INCR", "u", "1é"], "ERR invalid amount"),
        // EVICT: a cumulative quota, a tracker of its namespace, given once.
        (
            &["QUOTA.INCR", "t:{a}:wq", "5", "EVICT", "t:{a}:lru"],
            "ERR EVICT needs a cumulative quota",
        ),
        (
            &["QUOTA.INCR", "t:{a}:cq", "5", "EVICT", "t:{b}:lru"],
            "outside the tracker's namespace",
        ),
        (
            &["QUOTA.INCR", "t:{a}:cq", "5", "EVICT", "t:{a}:str"],
            "WRONGTYPE",
        ),
        (
            &["QUOTA.INCR", "t:{a}:new", "5", "EVICT", "t:{a}:str"],
            "WRONGTYPE",
        ),
        (
            &["QUOTA.INCR", "t:{a}:cq", "5", "EVICT", "plain"],
            "no namespace",
        ),
        (
            &["QUOTA.INCR", "t:{a}:cq", "5", "EVICT", "t:{a}:cq"],
            "other than the quota",
        ),
        (
            &["QUOTA.INCR", "t:{a}:cq", "5", "EVICT"],
            "EVICT needs a tracker",
        ),
        (
            &[
                "QUOTA.INCR",
                "t:{a}:cq",
                "5",
                "EVICT",
                "t:{a}:lru",
                "EVICT",
                "t:{a}:lru",
            ],
            "EVICT may be given only once",
        ),
        (
            &["QUOTA.INCR", "t:{a}:cq", "5", "MAX", "3"],
            "MAX needs EVICT",
        ),
        (
            &[
                "QUOTA.INCR",
                "t:{a}:cq",
                "5",
                "EVICT",
                "t:{a}:lru",
                "MAX",
                "-1",
            ],
            "invalid MAX",
        ),
        (
            &["QUOTA.INCR", "t:{a}:cq", "5", "EVICT", "t:{a}:lru", "MAX"],
            "MAX needs a value",
        ),
        (
            &[
                "QUOTA.INCR",
                "t:{a}:cq",
                "5",
                "EVICT",
                "t:{a}:lru",
                "MAX",
                "1",
                "MAX",
                "2",
            ],
            "MAX may be given only once",
        ),
        (&["QUOTA.INCR", "str", "1", "DRYRUN"], "WRONGTYPE"),
        (
            &[
                "QUOTA.INCR",
                "t:{a}:wq",
                "1",
                "EVICT",
                "t:{a}:lru",
                "DRYRUN",
            ],
            "cumulative",
        ),
        // ALERTS stream AT pct [pct ...]: integers 1..1000, a stream of its own.
        (
            &["QUOTA.SET", "u", "LIMIT", "5", "ALERTS", "s", "AT", "0"],
            "ERR invalid pct '0'",
        ),
        (
            &["QUOTA.SET", "u", "LIMIT", "5", "ALERTS", "s", "AT", "1001"],
            "ERR invalid pct '1001'",
        ),
        (
            &["QUOTA.SET", "u", "LIMIT", "5", "ALERTS", "s", "AT", "80.5"],
            "ERR invalid pct '80.5'",
        ),
        (
            &["QUOTA.SET", "u", "LIMIT", "5", "ALERTS", "s", "AT", "-5"],
            "ERR invalid pct '-5'",
        ),
        (
            &["QUOTA.SET", "u", "LIMIT", "5", "ALERTS", "s", "AT", "abc"],
            "ERR invalid pct 'abc'",
        ),
        (
            &[
                "QUOTA.SET",
                "u",
                "LIMIT",
                "5",
                "ALERTS",
                "s",
                "AT",
                "80",
                "1001",
            ],
            "ERR invalid pct '1001'",
        ),
        (
            &["QUOTA.SET", "u", "LIMIT", "5", "ALERTS", "s", "AT"],
            "AT needs pct",
        ),
        (
            &["QUOTA.SET", "u", "LIMIT", "5", "ALERTS", "s"],
            "ALERTS needs AT",
        ),
        (
            &["QUOTA.SET", "u", "LIMIT", "5", "ALERTS"],
            "ALERTS needs a stream key",
        ),
        (
            &["QUOTA.SET", "u", "LIMIT", "5", "AT", "80"],
            "AT needs ALERTS",
        ),
        (
            &[
                "QUOTA.SET",
                "u",
                "LIMIT",
                "5",
                "ALERTS",
                "s",
                "AT",
                "80",
                "ALERTS",
                "s",
            ],
            "ALERTS may be given only once",
        ),
        (
            &[
                "QUOTA.SET",
                "u",
                "LIMIT",
                "5",
                "ALERTS",
                "s",
                "AT",
                "80",
                "AT",
                "90",
            ],
            "AT may be given only once",
        ),
        (
            &["QUOTA.SET", "u", "LIMIT", "5", "ALERTS", "u", "AT", "80"],
            "other than the quota's",
        ),
        (
            &["QUOTA.SET", "u", "LIMIT", "5", "ALERTS", "str", "AT", "80"],
            "WRONGTYPE",
        ),
        (
            &[
                "QUOTA.SET",
                "u",
                "LIMIT",
                "5",
                "ALERTS",
                "s",
                "AT",
                "80",
                "BOGUS",
            ],
            "unknown option",
        ),
        (
            &[
                "QUOTA.SET",
                "u",
                "LIMIT",
                "5",
                "ALERTS",
                "s",
                "AT",
                "80",
                "RAISED",
                "90",
                "1-0",
            ],
            "no such threshold",
        ),
        (
            &[
                "QUOTA.SET",
                "u",
                "LIMIT",
                "5",
                "ALERTS",
                "s",
                "AT",
                "80",
                "RAISED",
                "80",
                "x",
            ],
            "invalid alert ID",
        ),
        (
            &[
                "QUOTA.SET",
                "u",
                "LIMIT",
                "5",
                "ALERTS",
                "s",
                "AT",
                "80",
                "RAISED",
                "80",
                "-",
                "RAISED",
                "80",
                "1-0",
            ],
            "given twice",
        ),
        (
            &["QUOTA.SET", "u", "LIMIT", "5", "RAISED", "80", "-"],
            "RAISED needs ALERTS",
        ),
    ];
    for (args, want) in more {
        cases.push((args.iter().map(|s| s.to_string()).collect(), want));
    }
    for (args, want) in &cases {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let e = error_of(&mut c, &refs);
        assert!(e.contains(want), "{args:?}: {e}");
        assert_eq!(snapshot(&mut c), before, "{args:?} changed state");
    }
    assert!(call(&mut c, &["PING"]).is_ok());
}

#[test]
fn flags_key_specs_and_events() {
    let s = Server::start();
    let mut c = s.client();
    for (name, flags, access) in [
        (
            "quota.set",
            &["write", "denyoom", "fast", "movablekeys"][..],
            "RW",
        ),
        // EVICT deletes up to MAX keys: not `fast`.
        ("quota.incr", &["write", "denyoom", "movablekeys"], "RW"),
        ("quota.get", &["readonly", "fast"], "RO"),
        ("quota.reset", &["write", "fast"], "RW"),
    ] {
        let text = format!("{:?}", call(&mut c, &["COMMAND", "INFO", name]).unwrap());
        for f in flags {
            assert!(
                text.contains(&format!("\"{f}\"")),
                "{name} lacks {f}: {text}"
            );
        }
        assert!(text.contains(&format!("\"{access}\"")), "{name}: {text}");
        let mut args = vec!["COMMAND", "GETKEYS", name, "tenant:{a}:q"];
        match name {
            "quota.set" => args.extend(["LIMIT", "1"]),
            "quota.incr" => args.push("1"),
            _ => {}
        }
        let keys: Vec<String> = redis::from_redis_value(&call(&mut c, &args).unwrap()).unwrap();
        assert_eq!(keys, ["tenant:{a}:q"]);
    }
    let keys: Vec<String> = redis::from_redis_value(
        &call(
            &mut c,
            &[
                "COMMAND",
                "GETKEYS",
                "QUOTA.SET",
                "tenant:{a}:q",
                "LIMIT",
                "1",
                "ALERTS",
                "tenant:{a}:alerts",
                "AT",
                "80",
            ],
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        keys,
        ["tenant:{a}:q", "tenant:{a}:alerts"],
        "ALERTS is a declared key"
    );
    call(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Kd"]).unwrap();
    let mut sub = s.client();
    let mut ps = sub.as_pubsub();
    ps.psubscribe("__keyspace@0__:q").unwrap();
    ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    q(&mut c, &["QUOTA.INCR", "q", "1"]);
    assert_eq!(
        ps.get_message().unwrap().get_payload::<String>().unwrap(),
        "quota.incr"
    );
    let info: String = redis::from_redis_value(&call(&mut c, &["INFO", "vigil"]).unwrap()).unwrap();
    assert!(info.contains("vigil_quota_keys:1"), "{info}");
    assert!(info.contains("vigil_quota_incr_calls:1"), "{info}");
}

fn quota_workload(c: &mut redis::Connection) {
    q(c, &["QUOTA.INCR", "cum", "2.5", "LIMIT", "10"]);
    q(c, &["QUOTA.INCR", "cum", "100"]); // refused
    q(c, &["QUOTA.INCR", "unl", "123456789.000001"]);
    call(c, &["QUOTA.SET", "win", "LIMIT", "50", "WINDOW", "600000"]).unwrap();
    for i in 0..30 {
        q(c, &["QUOTA.INCR", "win", &format!("{}", i % 7)]);
    }
    q(c, &["QUOTA.INCR", "win", "1000", "FORCE"]);
    q(c, &["QUOTA.INCR", "refused-new", "5", "LIMIT", "1"]);
}

fn quota_snapshot(c: &mut redis::Connection) -> Vec<String> {
    let mut keys: Vec<String> = redis::from_redis_value(&call(c, &["KEYS", "*"]).unwrap()).unwrap();
    keys.sort();
    keys.iter()
        .map(|k| {
            let (a, u, l, rem, reset) = q(c, &["QUOTA.GET", k]);
            // reset_ms moves with the clock; whether it is -1, 0 or positive is state.
            format!("{k} {a} {u} {l} {rem} {}", reset.signum())
        })
        .collect()
}

#[test]
fn persistence_rdb_aof_and_rewrite() {
    check_aof_and_reload(
        quota_workload,
        |c| {
            let snap = quota_snapshot(c);
            assert!(snap.iter().any(|l| l.starts_with("win ")), "{snap:?}");
            snap
        },
        |_| {},
    );
}

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/quotas-encver1.rdb"
);

/// `VIGIL_WRITE_FIXTURE=1 cargo test --test quota write_fixture -- --ignored`, with
/// `VIGIL_MODULE` a build of vigil 0.1: later builds write encoding 2 (quotas-encver2.rdb is
/// written by tests/quota_alerts.rs).
#[test]
#[ignore]
fn write_fixture() {
    write_fixture_if_asked(FIXTURE, |c| {
        q(c, &["QUOTA.INCR", "fx:cum", "1.25", "LIMIT", "10"]);
        q(c, &["QUOTA.INCR", "fx:unl", "1000000000000000"]);
        call(c, &["QUOTA.SET", "fx:win", "LIMIT", "3", "WINDOW", "1000"]).unwrap();
        q(c, &["QUOTA.INCR", "fx:win", "2"]);
    });
}

#[test]
fn fixture_rdb_of_encoding_version_1_loads() {
    let s = server_from_fixture(FIXTURE);
    let mut c = s.client();
    assert_eq!(
        q(&mut c, &["QUOTA.GET", "fx:cum"]),
        r(1, "1.25", "10", "8.75", -1)
    );
    assert_eq!(
        q(&mut c, &["QUOTA.GET", "fx:unl"]),
        r(1, "1000000000000000", "-1", "-1", -1)
    );
    // The window's amount was added long ago: it no longer counts, the settings remain.
    assert_eq!(q(&mut c, &["QUOTA.GET", "fx:win"]), r(1, "0", "3", "3", 0));
}

/// A quota written before any replica, the replica's full sync, then the workload (window
/// quotas replicate `FORCE NOW`): everything after the sync reaches the replica.
#[test]
fn replica_attached_after_writes_holds_the_same_quotas() {
    let primary = Server::start();
    let mut p = primary.client();
    call(
        &mut p,
        &["QUOTA.SET", "early", "LIMIT", "10", "WINDOW", "60000"],
    )
    .unwrap();
    q(&mut p, &["QUOTA.INCR", "early", "3"]);
    let replica = primary.replica(&[]);
    let mut rc = replica.client();
    quota_workload(&mut p);
    q(&mut p, &["QUOTA.INCR", "early", "4"]);
    wait_synced(&mut p);
    let on_primary = quota_snapshot(&mut p);
    assert!(
        on_primary.iter().any(|l| l == "early 1 7 10 3 1"),
        "{on_primary:?}"
    );
    assert_eq!(quota_snapshot(&mut rc), on_primary);
}

#[test]
fn replica_holds_the_same_quotas() {
    let primary = Server::start();
    let replica = primary.replica(&[]);
    let mut p = primary.client();
    let mut rc = replica.client();
    quota_workload(&mut p);
    // Refusals decided by the window on the primary's clock.
    call(
        &mut p,
        &["QUOTA.SET", "tight", "LIMIT", "3", "WINDOW", "300"],
    )
    .unwrap();
    let mut refused = 0;
    for _ in 0..10 {
        if q(&mut p, &["QUOTA.INCR", "tight", "1"]).0 == 0 {
            refused += 1;
        }
    }
    assert!(refused > 0);
    wait_synced(&mut p);
    assert_eq!(quota_snapshot(&mut rc), quota_snapshot(&mut p));
}

#[test]
fn memory_usage_is_realistic() {
    // MEMORY USAGE models jemalloc's size classes (Redis's allocator); the Valkey binary used
    // for compatibility runs is built with libc malloc, whose overheads differ.
    if is_valkey() {
        return;
    }
    let s = Server::start();
    let mut c = s.client();
    let before = used_memory(&mut c);
    let mut pipe = redis::pipe();
    for i in 0..10_000 {
        let key = format!("q:{i:05}");
        if i % 2 == 0 {
            pipe.cmd("QUOTA.INCR")
                .arg(&key)
                .arg("1.5")
                .arg("LIMIT")
                .arg("100")
                .ignore();
        } else {
            pipe.cmd("QUOTA.SET")
                .arg(&key)
                .arg("LIMIT")
                .arg("100")
                .arg("WINDOW")
                .arg("60000")
                .ignore();
            pipe.cmd("QUOTA.INCR").arg(&key).arg("1").ignore();
        }
    }
    // On a connection of its own, closed before measuring: its query buffer would count.
    {
        let mut loader = s.client();
        let _: () = pipe.query(&mut loader).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let real = used_memory(&mut c) - before;
    let mut reported = 0i64;
    for i in 0..10_000 {
        let v: i64 = redis::from_redis_value(
            &call(
                &mut c,
                &["MEMORY", "USAGE", &format!("q:{i:05}"), "SAMPLES", "0"],
            )
            .unwrap(),
        )
        .unwrap();
        reported += v;
    }
    let ratio = reported as f64 / real as f64;
    assert!(
        (0.75..=1.25).contains(&ratio),
        "MEMORY USAGE {reported} vs held {real} ({ratio:.2})"
    );
}

/// A refused amount on a WINDOW quota drops the buckets that no longer count, and the replica
/// drops them too. Before, only the primary did (nothing was replicated for a refusal): the
/// two quotas' DEBUG DIGEST-VALUE differed from then on, and a later write given an earlier
/// NOW read a usage of 0 on the primary and 0.9307 on the replica.
#[test]
fn a_refused_window_increment_prunes_the_replica_alike() {
    let primary = Server::start();
    let replica = primary.replica(&[]);
    let mut p = primary.client();
    let mut r = replica.client();
    call(&mut p, &["QUOTA.INCR", "q", "0.9307"]).unwrap();
    call(&mut p, &["QUOTA.SET", "q", "LIMIT", "5", "WINDOW", "1"]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let refused = call(&mut p, &["QUOTA.INCR", "q", "9"]).unwrap();
    let Value::Array(refused) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(int(&refused[0]), 0, "refused");
    let now: i64 = redis::from_redis_value(&call(&mut p, &["TIME"]).unwrap())
        .map(|t: Vec<String>| t[0].parse::<i64>().unwrap() * 1000)
        .unwrap();
    let earlier = (now - 4000).to_string();
    call(&mut p, &["QUOTA.SET", "q", "LIMIT", "13", "NOW", &earlier]).unwrap();
    wait_synced(&mut p);
    let digest = |c: &mut redis::Connection| call(c, &["DEBUG", "DIGEST-VALUE", "q"]).unwrap();
    assert_eq!(digest(&mut r), digest(&mut p));
    let get = |c: &mut redis::Connection| call(c, &["QUOTA.GET", "q"]).unwrap();
    assert_eq!(get(&mut r), get(&mut p));
}
