//! The commands in a cluster-enabled server: key specs route them, hash-tag namespaces keep an
//! LRU tracker, its keys and its quota in one slot, and a declared quota in another slot is a
//! CROSSSLOT error from Redis itself.

mod common;
use common::*;
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
}
