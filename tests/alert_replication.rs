//! A replica ends up with exactly the primary's streams although dedup windows, retention,
//! rate limits and default timestamps depend on the clock, and although its own configs differ.

mod common;
use common::alerts::{now_ms, snapshot, workload};
use common::*;
use std::time::Duration;

#[test]
fn replica_holds_the_primarys_state() {
    let primary = Server::start();
    // The replica's own defaults differ: replicated commands must not depend on them.
    let replica = primary.replica(&[
        "alert-max-len",
        "3",
        "alert-dedup-window-ms",
        "1",
        "max-document-bytes",
        "20",
    ]);
    let mut p = primary.client();
    let mut r = replica.client();

    let aliases = workload(&mut p, "");
    // Rate limits and dedup decided by the primary, with server-clock timestamps.
    call(&mut p, &["ALERT.CREATE", "rl", "RATELIMIT", "2", "100000"]).unwrap();
    let mut outcomes = Vec::new();
    for i in 0..12 {
        let doc = format!(r#"{{"source":"s{}","labels":{{"n":"{}"}}}}"#, i % 2, i % 5);
        let v: (String, Option<String>, i64) =
            redis::from_redis_value(&call(&mut p, &["ALERT.ADD", "rl", &doc]).unwrap()).unwrap();
        outcomes.push(v.0);
    }
    assert!(outcomes.iter().any(|o| o == "limited"), "{outcomes:?}");
    // Retention by the primary's clock: ADD trims, ALTER trims, the sweep trims.
    let t = now_ms();
    call(
        &mut p,
        &["ALERT.CREATE", "ret", "RETENTION", "400", "DEDUP", "0"],
    )
    .unwrap();
    call(
        &mut p,
        &["ALERT.ADD", "ret", "{}", "TS", &(t - 300).to_string()],
    )
    .unwrap();
    call(
        &mut p,
        &["ALERT.ADD", "ret", "{}", "TS", &(t - 100).to_string()],
    )
    .unwrap();
    call(&mut p, &["ALERT.ADD", "ret", "{}"]).unwrap();
    call(
        &mut p,
        &["ALERT.CREATE", "swept", "RETENTION", "200", "DEDUP", "0"],
    )
    .unwrap();
    for _ in 0..5 {
        call(&mut p, &["ALERT.ADD", "swept", "{}"]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(800));
    let swept = alerts(call(&mut p, &["ALERT.RANGE", "swept", "-", "+"]).unwrap());
    assert!(swept.is_empty(), "the sweep ran on the primary");
    call(&mut p, &["ALERT.ALTER", "ret", "RETENTION", "250"]).unwrap();

    wait_synced(&mut p);
    let on_primary = snapshot(&mut p, &vec![]);
    let on_replica = snapshot(&mut r, &vec![]);
    assert_eq!(on_replica, on_primary);
    assert!(
        on_primary.len() > 40,
        "the workload produced state: {}",
        on_primary.len()
    );

    // The replica answers reads, refuses writes, and never sweeps on its own clock.
    let e = error_of(&mut r, &["ALERT.ADD", "rl", "{}"]);
    assert!(e.starts_with("READONLY"), "{e}");
    call(
        &mut p,
        &["ALERT.CREATE", "slow", "RETENTION", "300", "DEDUP", "0"],
    )
    .unwrap();
    call(&mut p, &["ALERT.ADD", "slow", "{}"]).unwrap();
    wait_synced(&mut p);
    assert_eq!(
        alerts(call(&mut r, &["ALERT.RANGE", "slow", "-", "+"]).unwrap()).len(),
        1
    );
    std::thread::sleep(Duration::from_millis(900));
    wait_synced(&mut p);
    assert!(alerts(call(&mut r, &["ALERT.RANGE", "slow", "-", "+"]).unwrap()).is_empty());
    // Folded IDs reached the replica too: promoted, it answers `exists` as the primary does.
    promote_and_compare(&mut p, &mut r, &aliases);
}

/// Probes folded IDs (ALERT.ADD ... ID alias is a write) on the primary and on the promoted
/// replica.
fn promote_and_compare(
    p: &mut redis::Connection,
    r: &mut redis::Connection,
    aliases: &common::alerts::Aliases,
) {
    call(r, &["REPLICAOF", "NO", "ONE"]).unwrap();
    // Its own smaller document limit would refuse the probes, as it should for a client.
    call(r, &["CONFIG", "SET", "vigil.max-document-bytes", "65536"]).unwrap();
    let probe = |c: &mut redis::Connection| -> Vec<String> {
        let all = snapshot(c, aliases);
        all[all.len() - aliases.len()..].to_vec()
    };
    assert_eq!(probe(r), probe(p));
}

/// Writes before any replica (no AOF: nothing replicated is heard, and the module replicates
/// nothing), the full sync, then writes after it, which must reach the replica: the sync's
/// fork tells the module to look again (`ffi::listeners`).
#[test]
fn full_sync_of_an_existing_dataset() {
    let primary = Server::start();
    let mut p = primary.client();
    let mut aliases = workload(&mut p, "pre:");
    let replica = primary.replica(&[]);
    let mut r = replica.client();
    wait_synced(&mut p);
    assert_eq!(snapshot(&mut r, &vec![]), snapshot(&mut p, &vec![]));
    aliases.extend(workload(&mut p, "post:"));
    wait_synced(&mut p);
    let on_primary = snapshot(&mut p, &vec![]);
    assert!(
        on_primary.iter().any(|l| l.contains("post:")),
        "{on_primary:?}"
    );
    assert_eq!(snapshot(&mut r, &vec![]), on_primary);
    promote_and_compare(&mut p, &mut r, &aliases);
}

/// A primary restarted from its RDB makes a replication backlog after loading, and its
/// replica resumes from it (a partial sync, no fork): what the primary writes next must reach
/// the replica although no replica was attached when the module started.
#[test]
fn a_restarted_primary_feeds_the_replica_that_resumes() {
    let mut primary = Server::start();
    let mut p = primary.client();
    workload(&mut p, "before:");
    let replica = primary.replica(&[]);
    let mut r = replica.client();
    wait_synced(&mut p);
    drop(p);
    primary.shutdown(true);
    primary.restart(&[]);
    let mut p = primary.client();
    call(
        &mut r,
        &["REPLICAOF", "127.0.0.1", &primary.port.to_string()],
    )
    .unwrap();
    let start = std::time::Instant::now();
    while info_field(&mut r, "replication", "master_link_status").as_deref() != Some("up") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "replica did not reconnect"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let partial = info_field(&mut p, "stats", "sync_partial_ok").unwrap_or_default();
    workload(&mut p, "after:");
    wait_synced(&mut p);
    let on_primary = snapshot(&mut p, &vec![]);
    assert!(
        on_primary.iter().any(|l| l.contains("after:")),
        "{on_primary:?}"
    );
    assert_eq!(
        snapshot(&mut r, &vec![]),
        on_primary,
        "partial syncs accepted: {partial}"
    );
}

/// A client may set a stream's revision (ALERT.CREATE ... REVISION), an alert's revision and
/// count (ALERT.IMPORT ... REV, COUNT): up to 2^62, so that counting on never leaves what an
/// integer reply and the replicated REV carry. Before, REVISION 2^63-1 was taken, the next
/// change replicated `REV 2^63+1`, which the replica refused (the two diverged), and a count of
/// 2^63-1 folded once more replied 2^63-1 while the alert said 2^63.
#[test]
fn counters_a_client_sets_stay_where_replies_and_replicas_can_follow() {
    let primary = Server::start();
    let replica = primary.replica(&[]);
    let mut p = primary.client();
    let mut r = replica.client();
    let max = (1u64 << 62).to_string();
    let over = ((1u64 << 62) + 1).to_string();
    for (args, what) in [
        (vec!["ALERT.CREATE", "s", "REVISION", &over], "REVISION"),
        (
            vec!["ALERT.IMPORT", "s", "1700000000000-0", "{}", "REV", &over],
            "REV",
        ),
        (
            vec!["ALERT.IMPORT", "s", "1700000000000-0", "{}", "COUNT", &over],
            "COUNT",
        ),
        (
            vec![
                "ALERT.IMPORT",
                "s",
                "1700000000000-0",
                "{}",
                "COUNT",
                "9223372036854775807",
            ],
            "COUNT",
        ),
    ] {
        let e = error_of(&mut p, &args);
        assert!(
            e.contains(&format!("invalid {what}")) && e.contains(&max),
            "{args:?}: {e}"
        );
    }
    assert_eq!(int(&call(&mut p, &["EXISTS", "s"]).unwrap()), 0);

    // At the bound, the stream and its alerts count on, alike on the replica.
    call(
        &mut p,
        &["ALERT.CREATE", "s", "RETENTION", "0", "REVISION", &max],
    )
    .unwrap();
    call(
        &mut p,
        &[
            "ALERT.ADD",
            "s",
            r#"{"fingerprint":"a"}"#,
            "TS",
            "1700000000000",
        ],
    )
    .unwrap();
    call(
        &mut p,
        &[
            "ALERT.IMPORT",
            "s",
            "1700000000001-0",
            r#"{"fingerprint":"b"}"#,
            "COUNT",
            &max,
        ],
    )
    .unwrap();
    let dup = call(
        &mut p,
        &[
            "ALERT.ADD",
            "s",
            r#"{"fingerprint":"b"}"#,
            "TS",
            "1700000000002",
        ],
    )
    .unwrap();
    let redis::Value::Array(dup) = dup else {
        panic!("{dup:?}")
    };
    assert_eq!(int(&dup[2]), (1i64 << 62) + 1, "the count folded on");
    wait_synced(&mut p);
    let state = |c: &mut redis::Connection| {
        (
            call(c, &["ALERT.RANGE", "s", "-", "+"]).unwrap(),
            call(c, &["ALERT.READ", "s", "AFTER", "0"]).unwrap(),
        )
    };
    let (range, read) = state(&mut p);
    assert_eq!(state(&mut r), (range, read.clone()));
    let redis::Value::Array(read) = read else {
        panic!("{read:?}")
    };
    let next: String = redis::from_redis_value(&read[0]).unwrap();
    assert_eq!(
        next,
        ((1u64 << 62) + 3).to_string(),
        "three changes after the bound"
    );
    assert!(
        !replica.log().contains("sending an error to its master"),
        "{}",
        replica.log()
    );
    // Past the bound by what it counted since, the stream still saves and loads.
    let (range, read) = state(&mut p);
    call(&mut p, &["DEBUG", "RELOAD"]).unwrap();
    assert_eq!(state(&mut p), (range, read));
}
