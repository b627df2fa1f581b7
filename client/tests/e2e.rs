//! End to end: the `send` example writes 10,000 alerts at a steady rate while the server is
//! killed, down, replaced by one without the module, or while the client itself is killed;
//! and against a Redis Cluster while one shard stops answering. At the end ALERT.RANGE must
//! find each `seq` exactly once.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../tests/common/cluster.rs"]
mod harness;
mod support;

use std::time::{Duration, Instant};
use support::*;

const N: u64 = 10_000;
const RATE: u64 = 4_000;
const FINISH: Duration = Duration::from_secs(150);

#[test]
fn server_sigkilled_mid_run_restarts_from_aof() {
    let port = free_port();
    let dir = support::TempDir::new("e2e-kill");
    let mut server = Redis::start(port, &dir.join("srv"), Kind::ModuleAof);
    create_unbounded(&mut server.conn(), "alerts");

    let mut send = Send::start(&server.url(), &dir.join("journal"), "alerts", N, RATE);
    send.wait_for("progress sent=3000", Duration::from_secs(60));
    server.kill();
    std::thread::sleep(Duration::from_millis(800));
    let server = Redis::start(port, &dir.join("srv"), Kind::ModuleAof);
    let out = send.finish(FINISH);

    println!("sigkill: {out}");
    assert_eq!(json_u64(&out, "sent"), N);
    assert_eq!(json_u64(&out, "pending"), 0);
    assert_eq!(out["mode"], "redis");
    assert_eq!(json_u64(&out, "duplicate"), 0);
    let fallback = json_u64(&out, "fallback");
    assert!(
        fallback > 0,
        "the outage sent nothing to the journal: {out}"
    );
    assert_eq!(json_u64(&out, "replayed"), fallback);
    assert_eq!(json_u64(&out, "added") + json_u64(&out, "exists"), N);
    assert_each_seq_once(&mut server.conn(), "alerts", N);
}

#[test]
fn server_down_for_longer_than_the_whole_send() {
    let port = free_port();
    let dir = support::TempDir::new("e2e-down");
    let mut server = Redis::start(port, &dir.join("srv"), Kind::ModuleAof);
    create_unbounded(&mut server.conn(), "alerts");
    server.kill();

    let journal = dir.join("journal");
    let mut send = Send::start(
        &format!("redis://127.0.0.1:{port}/"),
        &journal,
        "alerts",
        N,
        RATE,
    );
    send.wait_for("sent 10000", Duration::from_secs(150));
    // Every alert is in the journal, none in Redis (which is still down).
    let logs: Vec<_> = std::fs::read_dir(&journal)
        .expect("journal dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .collect();
    assert!(!logs.is_empty(), "no journal file");
    std::thread::sleep(Duration::from_millis(500));
    let server = Redis::start(port, &dir.join("srv"), Kind::ModuleAof);
    let out = send.finish(FINISH);

    println!("down: {out}");
    assert_eq!(
        json_u64(&out, "fallback"),
        N,
        "every alert went to the journal first"
    );
    assert_eq!(json_u64(&out, "replayed"), N);
    assert_eq!(json_u64(&out, "added"), N);
    assert_eq!(json_u64(&out, "pending"), 0);
    assert_eq!(out["mode"], "redis");
    assert_each_seq_once(&mut server.conn(), "alerts", N);
    // A drained journal leaves no record file behind.
    let left = std::fs::read_dir(&journal)
        .expect("journal dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .count();
    assert_eq!(left, 0);
}

#[test]
fn server_restarted_without_the_module_then_with_it() {
    let port = free_port();
    let dir = support::TempDir::new("e2e-nomodule");
    let mut server = Redis::start(port, &dir.join("srv"), Kind::ModuleAof);
    create_unbounded(&mut server.conn(), "alerts");

    let mut send = Send::start(&server.url(), &dir.join("journal"), "alerts", N, RATE);
    send.wait_for("progress sent=2000", Duration::from_secs(60));
    // A module that exports data types cannot be unloaded: restart without it (on another
    // dir: the AOF holds module data a plain server cannot load).
    server.kill();
    let mut plain = Redis::start(port, &dir.join("plain"), Kind::Plain);
    let at = send.progress();
    let start = std::time::Instant::now();
    while send.progress() < at + 3000 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let err = common::error_of(&mut plain.conn(), &["ALERT.ADD", "x", "{}"]);
    assert!(err.contains("unknown command"), "{err}");
    let keys: i64 = redis::cmd("DBSIZE")
        .query(&mut plain.conn())
        .expect("DBSIZE");
    assert_eq!(keys, 0, "nothing may reach a server without the module");
    plain.kill();
    let server = Redis::start(port, &dir.join("srv"), Kind::ModuleAof);
    let out = send.finish(FINISH);

    println!("no module: {out}");
    assert!(json_u64(&out, "fallback") >= 3000, "{out}");
    assert_eq!(json_u64(&out, "replayed"), json_u64(&out, "fallback"));
    assert_eq!(json_u64(&out, "pending"), 0);
    assert_eq!(json_u64(&out, "added") + json_u64(&out, "exists"), N);
    assert_each_seq_once(&mut server.conn(), "alerts", N);
}

#[test]
fn client_killed_mid_outage_replays_its_journal_on_restart() {
    let port = free_port();
    let dir = support::TempDir::new("e2e-client");
    let url = format!("redis://127.0.0.1:{port}/");
    let journal = dir.join("journal");
    let mut server = Redis::start(port, &dir.join("srv"), Kind::ModuleAof);
    create_unbounded(&mut server.conn(), "alerts");

    // Half the run reaches Redis, then the server goes away and the client is killed while
    // it journals.
    let mut first = Send::start(&url, &journal, "alerts", N, RATE);
    first.wait_for("progress sent=5000", Duration::from_secs(60));
    server.kill();
    let at = first.progress();
    first.wait_for(
        &format!("progress sent={}", at + 3000),
        Duration::from_secs(60),
    );
    first.kill();
    let acknowledged = first.progress();

    // The next process finds the journal while Redis is still down, and replays it once
    // Redis is back.
    let mut second = Send::start(&url, &journal, "alerts", 0, RATE);
    std::thread::sleep(Duration::from_millis(500));
    let server = Redis::start(port, &dir.join("srv"), Kind::ModuleAof);
    let out = second.finish(FINISH);

    println!("client killed after {acknowledged} acknowledged: {out}");
    assert_eq!(json_u64(&out, "pending"), 0);
    // What the killed client had acknowledged, and at most the one write in flight.
    let found = seqs(&mut server.conn(), "alerts");
    let n = found.len() as u64;
    // Everything after the server went down (at `at` to `at + 999`) came from the journal.
    assert!(json_u64(&out, "replayed") + at + 1000 >= n, "{out}");
    assert!(json_u64(&out, "replayed") <= n - at + 1, "{out}");
    assert!(
        n >= acknowledged && n <= acknowledged + 1000,
        "{n} alerts after {acknowledged}"
    );
    assert_each_seq_once(&mut server.conn(), "alerts", n);
}

#[test]
fn cluster_shard_stopped_mid_run() {
    init();
    let cluster = harness::Cluster::start();
    // The healthy shards go on serving while one is down.
    for n in &cluster.nodes {
        common::call(
            &mut n.client(),
            &["CONFIG", "SET", "cluster-require-full-coverage", "no"],
        )
        .expect("CONFIG SET");
    }
    const KEYS: u64 = 12;
    let keys: Vec<String> = (0..KEYS).map(|k| format!("alerts:{{{k}}}")).collect();
    let mut conn = cluster.client();
    for k in &keys {
        let _: () = redis::cmd("ALERT.CREATE")
            .arg(k)
            .arg("MAXLEN")
            .arg(0)
            .query(&mut conn)
            .expect("ALERT.CREATE");
    }
    let victim = cluster.primary_of_slot(harness::key_slot(&keys[0])).port;
    let on_victim = keys
        .iter()
        .filter(|k| cluster.primary_of_slot(harness::key_slot(k)).port == victim)
        .count() as u64;
    let dir = support::TempDir::new("e2e-cluster");
    let mut send = Send::cluster(
        &cluster.seeds(),
        &dir.join("journal"),
        "alerts",
        KEYS,
        N,
        RATE,
    );
    send.wait_for("progress sent=3000", Duration::from_secs(60));

    // The shard's primary and replica stop answering for a while (no failover).
    let mut shard = vec![cluster.node(victim)];
    shard.extend(cluster.replicas_of(victim));
    // On a loaded machine the outage outlasts the node timeout (1 s) and the replica, once
    // running again, could take over: the writes the primary acknowledged after SIGCONT and
    // before the election would then be lost to asynchronous replication, not to the client.
    for replica in &shard[1..] {
        common::call(
            &mut replica.client(),
            &["CONFIG", "SET", "cluster-replica-no-failover", "yes"],
        )
        .expect("CONFIG SET");
    }
    let stopped = Stopped::stop(shard.iter().map(|n| server_pid(&mut n.client())).collect());
    let at = send.progress();
    let start = Instant::now();
    while (send.progress() < at + 3000 || start.elapsed() < Duration::from_millis(1500))
        && start.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let outage = start.elapsed();
    drop(stopped);
    let out = send.finish(FINISH);

    println!("cluster, one shard of 3 stopped {outage:?}: {out}");
    assert_eq!(json_u64(&out, "sent"), N);
    assert_eq!(json_u64(&out, "pending"), 0);
    assert_eq!(out["mode"], "redis");
    assert_eq!(json_u64(&out, "duplicate"), 0);
    let fallback = json_u64(&out, "fallback");
    assert!(
        fallback > 0,
        "the outage sent nothing to the journal: {out}"
    );
    // Only the stopped shard's keys fell back.
    assert!(
        fallback <= N * on_victim / KEYS + 1,
        "{fallback} fell back, {on_victim} of {KEYS} keys on the stopped shard: {out}"
    );
    assert_eq!(json_u64(&out, "replayed"), fallback);
    assert_eq!(json_u64(&out, "added") + json_u64(&out, "exists"), N);
    let mut found = Vec::new();
    for k in &keys {
        let v: redis::Value = redis::cmd("ALERT.RANGE")
            .arg(k)
            .arg("-")
            .arg("+")
            .query(&mut conn)
            .expect("ALERT.RANGE");
        found.extend(
            common::alerts(v)
                .iter()
                .map(|a| a["seq"].as_u64().expect("a seq field")),
        );
    }
    found.sort_unstable();
    let want: Vec<u64> = (0..N).collect();
    assert!(found == want, "{} alerts found of {N}", found.len());
}
