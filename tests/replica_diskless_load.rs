//! A replica with `repl-diskless-load swapdb` loads a full sync from the socket into a
//! temporary database while it serves the one it had (async loading). Redis 7.0 does that only
//! for modules that declare they handle it; Redis's own test suite with the module loaded found
//! the module did not (its swapdb tests failed: the replica never loaded from the socket). The
//! module's indexes (trackers by namespace, streams for the sweep) are rebuilt from the
//! keyspace when a load ends, and also when it fails, when the replica keeps serving its old
//! dataset.

mod common;
use common::*;
use std::thread;
use std::time::{Duration, Instant};

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(20), "{what}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn field(c: &mut redis::Connection, section: &str, name: &str) -> String {
    info_field(c, section, name).unwrap_or_default()
}

fn tracked(c: &mut redis::Connection) -> i64 {
    int(&map_of(call(c, &["LRU.INFO", "t:{a}:lru"]).unwrap())["keys"])
}

#[test]
fn a_replica_loading_from_the_socket_keeps_its_indexes_whether_the_load_ends_or_fails() {
    let primary = Server::start_with(&[
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
        "--rdbcompression",
        "no",
    ]);
    // A replica that answers clients while it loads (every KiB read, not every 2 MB).
    let replica = primary.replica(&[
        "--repl-diskless-load",
        "swapdb",
        "--replica-read-only",
        "no",
        "--loading-process-events-interval-bytes",
        "1024",
    ]);
    let mut p = primary.client();
    let mut r = replica.client();
    for i in 0..4 {
        let key = format!("t:{{a}}:k{i}");
        call(&mut p, &["SET", &key, "v"]).unwrap();
        call(&mut p, &["LRU.TOUCH", "t:{a}:lru", &key, "1"]).unwrap();
    }
    call(&mut p, &["ALERT.ADD", "s", "{}"]).unwrap();
    // Enough keys that a slowed-down RDB takes seconds to send.
    call(&mut p, &["DEBUG", "POPULATE", "300", "filler", "1000"]).unwrap();
    wait_synced(&mut p);
    assert_eq!(tracked(&mut r), 4);

    // A second full sync, slowed down: the replica loads it from the socket beside its data...
    call(&mut p, &["CONFIG", "SET", "rdb-key-save-delay", "10000"]).unwrap();
    let _: () = redis::pipe()
        .atomic()
        .cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("replica")
        .cmd("CONFIG")
        .arg("SET")
        .arg("repl-backlog-size")
        .arg("16384")
        .cmd("SET")
        .arg("fill")
        .arg("x".repeat(40_000))
        .query(&mut p)
        .unwrap();
    let loading = || field(&mut replica.client(), "persistence", "async_loading") == "1";
    let start = Instant::now();
    while !loading() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the replica did not load from the socket:\n{}\nprimary:\n{}",
            replica.log(),
            primary.log()
        );
        thread::sleep(Duration::from_millis(20));
    }
    // ... and serves it meanwhile; then the load fails (the primary drops it).
    let mut r = replica.client();
    assert_eq!(tracked(&mut r), 4);
    call(&mut p, &["CONFIG", "SET", "repl-diskless-sync-delay", "2"]).unwrap();
    call(&mut p, &["CLIENT", "KILL", "TYPE", "replica"]).unwrap();
    wait_until("the load fails", || {
        field(&mut r, "persistence", "async_loading") == "0"
    });
    // The old dataset is served, and its trackers are found again by the keys they track.
    call(&mut r, &["DEL", "t:{a}:k0"]).unwrap();
    assert_eq!(
        tracked(&mut r),
        3,
        "the replica's tracker forgot the deleted key"
    );

    // Now a full sync that completes: the new dataset, indexed.
    call(&mut p, &["CONFIG", "SET", "rdb-key-save-delay", "0"]).unwrap();
    wait_until("the replica syncs again", || {
        field(&mut r, "replication", "master_link_status") == "up"
            && field(&mut r, "persistence", "async_loading") == "0"
    });
    wait_synced(&mut p);
    assert_eq!(tracked(&mut r), 4, "the primary's tracker, loaded");
    call(&mut p, &["DEL", "t:{a}:k1"]).unwrap();
    wait_synced(&mut p);
    assert_eq!(
        tracked(&mut r),
        3,
        "a DEL from the primary reaches the loaded tracker"
    );
    let d = |c: &mut redis::Connection| -> String {
        redis::from_redis_value(&call(c, &["DEBUG", "DIGEST"]).unwrap()).unwrap()
    };
    assert_eq!(d(&mut r), d(&mut p));
    assert_eq!(field(&mut r, "vigil", "vigil_lru_keys"), "1");
    assert_eq!(field(&mut r, "vigil", "vigil_alert_keys"), "1");
    assert!(
        replica.log().contains("Loading DB in memory"),
        "{}",
        replica.log()
    );
    assert!(
        !replica.log().contains("Skipping diskless-load"),
        "{}",
        replica.log()
    );
}
