//! The module in Redis Cluster. One cluster-enabled node: routing by key specs and CROSSSLOT.
//! A real cluster of 3 primaries and 3 replicas (tests/common/cluster.rs): every command
//! answering as on one server, CROSSSLOT, readonly commands on replicas.

mod common;
#[path = "common/cluster.rs"]
mod harness;

use common::alerts::STREAM_FIELDS;
use common::*;
use harness::{key_slot, Cluster};
use redis::{ConnectionLike, Value};
use std::time::{Duration, Instant};

#[test]
fn commands_work_in_a_single_node_cluster() {
    let s = Server::start_with(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
    ]);
    let mut c = s.client();
    call(&mut c, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]).unwrap();
    let start = Instant::now();
    while info_field(&mut c, "cluster", "cluster_enabled").as_deref() != Some("1")
        || !matches!(
            call(&mut c, &["CLUSTER", "INFO"]).map(|v| format!("{v:?}")),
            Ok(text) if text.contains("cluster_state:ok")
        )
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "cluster did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let v: (String, Option<String>, i64) =
        redis::from_redis_value(&call(&mut c, &["ALERT.ADD", "t:{a}:alerts", "{}"]).unwrap())
            .unwrap();
    assert_eq!(v.0, "added");
    call(&mut c, &["QUOTA.INCR", "t:{a}:q", "5"]).unwrap();
    call(&mut c, &["SET", "t:{a}:x", "v"]).unwrap();
    assert_eq!(
        int(&call(&mut c, &["LRU.TOUCH", "t:{a}:lru", "t:{a}:x", "5"]).unwrap()),
        1
    );
    let v: (i64, String, String, Vec<String>) = redis::from_redis_value(
        &call(&mut c, &["LRU.EVICT", "t:{a}:lru", "0", "QUOTA", "t:{a}:q"]).unwrap(),
    )
    .unwrap();
    assert_eq!((v.0, v.1.as_str()), (1, "5"));
    // Colon namespaces span slots: the declared quota key then crosses slots.
    call(&mut c, &["SET", "cache:x", "v"]).unwrap();
    call(&mut c, &["LRU.TOUCH", "cache:lru", "cache:x", "1"]).unwrap();
    let e = error_of(&mut c, &["LRU.EVICT", "cache:lru", "0", "QUOTA", "cache:q"]);
    assert!(e.starts_with("CROSSSLOT"), "{e}");
    let slot = |key: &str, c: &mut redis::Connection| -> i64 {
        int(&call(c, &["CLUSTER", "KEYSLOT", key]).unwrap())
    };
    assert_eq!(slot("t:{a}:lru", &mut c), slot("t:{a}:anything", &mut c));
    for key in ["t:{a}:lru", "cache:lru", "foo", "tenant:{t17}:k3"] {
        assert_eq!(slot(key, &mut c), key_slot(key) as i64, "{key}");
    }
}

// ---------------------------------------------------------------------------------------------
// Running commands and comparing answers.

/// A reply as text, for comparisons and messages; errors as `!CODE detail`.
fn show(r: &Result<Value, redis::RedisError>) -> String {
    match r {
        Ok(v) => show_value(v),
        Err(e) => format!(
            "!{} {}",
            e.code().unwrap_or("?"),
            e.detail().unwrap_or_default()
        ),
    }
}

fn show_value(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Int(i) => i.to_string(),
        Value::BulkString(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Value::SimpleString(s) => format!("+{s}"),
        Value::Okay => "+OK".into(),
        Value::Array(items) | Value::Set(items) => {
            let parts: Vec<String> = items.iter().map(show_value).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Map(pairs) => {
            let parts: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", show_value(k), show_value(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => format!("{other:?}"),
    }
}

fn run(con: &mut dyn ConnectionLike, args: &[String]) -> Result<Value, redis::RedisError> {
    let mut cmd = redis::cmd(&args[0]);
    for a in &args[1..] {
        cmd.arg(a.as_bytes());
    }
    cmd.query(con)
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// What of a reply depends on the server's clock or allocator, hidden before comparing.
#[derive(Clone, Copy)]
enum Mask {
    None,
    /// Fields of a field/value reply (ALERT.INFO, LRU.INFO).
    Fields(&'static [&'static str]),
    /// Only these fields of a field/value reply.
    Only(&'static [&'static str]),
    /// The last-used times of LRU.CANDIDATES.
    Times,
    /// QUOTA.INCR/GET's reset_ms.
    Reset,
}

fn masked(v: Value, mask: Mask) -> Value {
    match (mask, v) {
        (Mask::Fields(drop), Value::Array(items)) => Value::Array(
            items
                .chunks(2)
                .filter(|p| {
                    let name: String = redis::from_redis_value(&p[0]).unwrap_or_default();
                    !drop.contains(&name.as_str())
                })
                .flat_map(|p| p.to_vec())
                .collect(),
        ),
        (Mask::Only(keep), Value::Array(items)) => Value::Array(
            items
                .chunks(2)
                .filter(|p| {
                    let name: String = redis::from_redis_value(&p[0]).unwrap_or_default();
                    keep.contains(&name.as_str())
                })
                .flat_map(|p| p.to_vec())
                .collect(),
        ),
        (Mask::Times, Value::Array(items)) => Value::Array(
            items
                .into_iter()
                .map(|e| match e {
                    Value::Array(mut kst) if kst.len() == 3 => {
                        kst[2] = Value::Int(0);
                        Value::Array(kst)
                    }
                    other => other,
                })
                .collect(),
        ),
        (Mask::Reset, Value::Array(mut items)) if items.len() >= 5 => {
            items[4] = Value::Int(0);
            Value::Array(items)
        }
        (_, v) => v,
    }
}

fn tenant(t: usize) -> String {
    format!("tenant:{{t{t}}}:")
}

/// The ID of the alert the workload imports.
fn imported_id(base: i64) -> String {
    format!("{base}-5")
}

/// Every ALERT, QUOTA and LRU command (errors included) for tenant `t`, with explicit times
/// where the command takes them, so that two servers answer alike.
fn workload(t: usize, base: i64) -> Vec<(Vec<String>, Mask)> {
    let p = tenant(t);
    let (s, s2, q, w, lru) = (
        format!("{p}alerts"),
        format!("{p}imported"),
        format!("{p}quota"),
        format!("{p}rate"),
        format!("{p}lru"),
    );
    let k = |i: usize| format!("{p}k{i}");
    let id = |i: i64| format!("{}-0", base + i * 1000);
    let mut steps: Vec<(Vec<String>, Mask)> = Vec::new();
    let mut add = |args: Vec<String>, mask: Mask| steps.push((args, mask));
    let info_mask = Mask::Fields(&["memory"]);
    add(
        strings(&[
            "ALERT.CREATE",
            &s,
            "RETENTION",
            "0",
            "MAXLEN",
            "20",
            "DEDUP",
            "60000",
        ]),
        Mask::None,
    );
    add(
        strings(&["ALERT.ALTER", &s, "RATELIMIT", "3", "10000"]),
        Mask::None,
    );
    for i in 0..8i64 {
        let doc = format!(
            r#"{{"severity":"{}","source":"src{}","type":"disk","labels":{{"host":"h{}"}},"n":{i}}}"#,
            ["critical", "high", "medium", "low", "info"][i as usize % 5],
            i % 2,
            i % 3
        );
        add(
            strings(&["ALERT.ADD", &s, &doc, "TS", &(base + i * 1000).to_string()]),
            Mask::None,
        );
    }
    let explicit = format!("{}-5", base + 9000);
    for _ in 0..2 {
        add(
            strings(&[
                "ALERT.ADD",
                &s,
                r#"{"fingerprint":"","source":"x"}"#,
                "ID",
                &explicit,
            ]),
            Mask::None,
        );
    }
    add(
        strings(&["ALERT.GET", &s, &id(0), &id(1), &explicit, "1-1"]),
        Mask::None,
    );
    add(strings(&["ALERT.RANGE", &s, "-", "+"]), Mask::None);
    add(
        strings(&["ALERT.RANGE", &s, "-", "+", "REV", "COUNT", "3"]),
        Mask::None,
    );
    add(
        strings(&[
            "ALERT.RANGE",
            &s,
            "-",
            "+",
            "MINSEVERITY",
            "high",
            "SOURCE",
            "src0",
        ]),
        Mask::None,
    );
    add(
        strings(&[
            "ALERT.RANGE",
            &s,
            &base.to_string(),
            "+",
            "TYPE",
            "disk",
            "LABEL",
            "host=h1",
        ]),
        Mask::None,
    );
    add(strings(&["ALERT.ACK", &s, &id(0), &id(2)]), Mask::None);
    add(strings(&["ALERT.RESOLVE", &s, &id(0), &id(1)]), Mask::None);
    add(
        strings(&["ALERT.RANGE", &s, "-", "+", "STATUS", "acked"]),
        Mask::None,
    );
    add(strings(&["ALERT.DEL", &s, &id(3), "1-1"]), Mask::None);
    add(strings(&["ALERT.TRIM", &s, "MAXLEN", "6"]), Mask::None);
    add(
        strings(&["ALERT.TRIM", &s, "MINTS", &(base + 2000).to_string()]),
        Mask::None,
    );
    add(
        strings(&["ALERT.ALTER", &s, "MAXLEN", "4", "DEDUP", "0"]),
        Mask::None,
    );
    add(strings(&["ALERT.INFO", &s]), info_mask);
    // Within the default retention, or the sweep would remove it at any moment.
    add(
        strings(&[
            "ALERT.IMPORT",
            &s2,
            &imported_id(base),
            r#"{"imported":true}"#,
            "STATUS",
            "acked",
            "COUNT",
            "7",
            "LASTSEEN",
            &(base + 9).to_string(),
            "ALIAS",
            &format!("{}-6", base + 1),
        ]),
        Mask::None,
    );
    add(strings(&["ALERT.GET", &s2, &imported_id(base)]), Mask::None);
    add(strings(&["QUOTA.SET", &q, "LIMIT", "100"]), Mask::None);
    for (amount, opt) in [
        ("30", ""),
        ("80", ""),
        ("80", "FORCE"),
        ("-150", ""),
        ("0.5", ""),
    ] {
        let mut a = strings(&["QUOTA.INCR", &q, amount]);
        if !opt.is_empty() {
            a.push(opt.into());
        }
        add(a, Mask::None);
    }
    add(
        strings(&["QUOTA.INCR", &q, "20", "LIMIT", "50"]),
        Mask::None,
    );
    add(strings(&["QUOTA.GET", &q]), Mask::None);
    add(strings(&["QUOTA.RESET", &q]), Mask::None);
    add(strings(&["QUOTA.GET", &q]), Mask::None);
    add(
        strings(&["QUOTA.SET", &w, "LIMIT", "10", "WINDOW", "60000"]),
        Mask::None,
    );
    add(strings(&["QUOTA.INCR", &w, "3"]), Mask::Reset);
    add(strings(&["QUOTA.INCR", &w, "9"]), Mask::Reset);
    add(strings(&["QUOTA.GET", &w]), Mask::Reset);
    for i in 0..6 {
        add(strings(&["SET", &k(i), "v"]), Mask::None);
    }
    add(
        strings(&["LRU.TOUCH", &lru, &k(0), "10", &k(1), "20", &k(2), "30"]),
        Mask::None,
    );
    add(
        strings(&[
            "LRU.TOUCHAT",
            &lru,
            &base.to_string(),
            &k(3),
            "5",
            &k(4),
            "5.5",
        ]),
        Mask::None,
    );
    add(
        strings(&["LRU.TOUCH", &lru, &k(9), "1", &k(5), "0.25"]),
        Mask::None,
    );
    add(strings(&["LRU.FORGET", &lru, &k(1), &k(9)]), Mask::None);
    add(strings(&["LRU.CANDIDATES", &lru, "10"]), Mask::Times);
    add(strings(&["QUOTA.INCR", &q, "45"]), Mask::None);
    add(
        strings(&["LRU.EVICT", &lru, "20", "QUOTA", &q, "MAX", "2"]),
        Mask::None,
    );
    add(strings(&["EXISTS", &k(0), &k(2), &k(3), &k(4)]), Mask::None);
    add(
        strings(&["LRU.INFO", &lru]),
        Mask::Fields(&["memory", "oldest_ms"]),
    );
    add(strings(&["LRU.EVICT", &lru, "0", "MAX", "10"]), Mask::None);
    add(strings(&["QUOTA.GET", &q]), Mask::None);
    // Errors answer alike too.
    add(strings(&["ALERT.ADD", &q, "{}"]), Mask::None);
    add(strings(&["QUOTA.INCR", &q, "1e3"]), Mask::None);
    add(
        strings(&["LRU.TOUCH", &lru, "tenant:{other}:k", "1"]),
        Mask::None,
    );
    add(strings(&["ALERT.INFO", &format!("{p}missing")]), Mask::None);
    steps
}

/// Runs `steps` and returns each reply as text.
fn answers(con: &mut dyn ConnectionLike, steps: &[(Vec<String>, Mask)]) -> Vec<String> {
    steps
        .iter()
        .map(|(args, mask)| {
            let r = run(con, args).map(|v| masked(v, *mask));
            format!("{} -> {}", args.join(" "), show(&r))
        })
        .collect()
}

fn assert_same(cluster: &[String], single: &[String], what: &str) {
    assert_eq!(cluster.len(), single.len(), "{what}");
    for (a, b) in cluster.iter().zip(single) {
        assert_eq!(
            a, b,
            "{what}: the cluster and one server answer differently"
        );
    }
}

fn now_ms() -> i64 {
    common::alerts::now_ms()
}

#[test]
fn every_command_answers_through_the_cluster_as_on_one_server() {
    let cluster = Cluster::start();
    let single = Server::start();
    let base = now_ms() - 3_600_000;
    let tenants: Vec<usize> = (0..40).collect();
    let mut cc = cluster.client();
    let mut sc = single.client();
    for &t in &tenants {
        let steps = workload(t, base);
        assert_same(
            &answers(&mut cc, &steps),
            &answers(&mut sc, &steps),
            &format!("tenant {t}"),
        );
    }
    // The tenants are spread over every shard.
    for p in cluster.primaries() {
        let n = int(&call(&mut p.client(), &["DBSIZE"]).unwrap());
        assert!(n > 20, "primary {} holds {n} keys", p.port);
    }

    // Keys of two slots in one command: Redis itself answers CROSSSLOT.
    let (a, b) = (tenant(0), tenant(1));
    assert_ne!(key_slot(&a), key_slot(&b));
    let crossslot = |cc: &mut dyn ConnectionLike, args: &[&str]| {
        let r = run(cc, &strings(args));
        assert!(show(&r).starts_with("!CROSSSLOT"), "{args:?}: {}", show(&r));
    };
    crossslot(
        &mut cc,
        &[
            "LRU.EVICT",
            &format!("{a}lru"),
            "0",
            "QUOTA",
            &format!("{b}quota"),
        ],
    );
    // A colon namespace spans slots: its tracker and quota are (almost always) in two.
    assert_ne!(key_slot("cache:lru"), key_slot("cache:quota"));
    crossslot(
        &mut cc,
        &["LRU.EVICT", "cache:lru", "0", "QUOTA", "cache:quota"],
    );

    // Readonly commands on a replica, after READONLY; writes are sent to the primary.
    let t = tenants[0];
    let p = tenant(t);
    let primary = cluster.primary_of_slot(key_slot(&p));
    let mut pc = primary.client();
    call(&mut pc, &["SET", &format!("{p}sync"), "1"]).unwrap();
    assert_eq!(int(&call(&mut pc, &["WAIT", "1", "5000"]).unwrap()), 1);
    let replica = cluster.replicas_of(primary.port)[0];
    let mut rc = replica.client();
    let range = strings(&["ALERT.RANGE", &format!("{p}alerts"), "-", "+"]);
    assert!(show(&run(&mut rc, &range)).starts_with("!MOVED"));
    call(&mut rc, &["READONLY"]).unwrap();
    let reads: Vec<(Vec<String>, Mask)> = [
        ("ALERT.RANGE", "alerts", &["-", "+"][..], Mask::None),
        ("ALERT.GET", "imported", &[&imported_id(base)], Mask::None),
        ("ALERT.INFO", "alerts", &[], Mask::Only(&STREAM_FIELDS)),
        ("QUOTA.GET", "quota", &[], Mask::None),
        ("QUOTA.GET", "rate", &[], Mask::Reset),
        ("LRU.CANDIDATES", "lru", &["10"], Mask::None),
        (
            "LRU.INFO",
            "lru",
            &[],
            Mask::Only(&["keys", "total", "oldest_ms"]),
        ),
    ]
    .into_iter()
    .map(|(cmd, key, rest, mask)| {
        let mut args = vec![cmd.to_string(), format!("{p}{key}")];
        args.extend(rest.iter().map(|a| a.to_string()));
        (args, mask)
    })
    .collect();
    assert_same(
        &answers(&mut rc, &reads),
        &answers(&mut pc, &reads),
        "replica",
    );
    for write in [
        strings(&["ALERT.ADD", &format!("{p}alerts"), "{}"]),
        strings(&["LRU.EVICT", &format!("{p}lru"), "0"]),
    ] {
        assert!(
            show(&run(&mut rc, &write)).starts_with("!MOVED"),
            "{write:?}"
        );
    }
}
