//! The hostile probe's findings that are not about RESTORE payloads (those are in
//! tests/hostile_restore.rs) or ACLs (tests/acl_key_specs.rs): each test names its row of the
//! probe's table and fails on the code the probe measured.

mod common;
use common::*;
use redis::Value;
use std::thread;
use std::time::{Duration, Instant};

fn now_ms() -> u64 {
    common::alerts::now_ms() as u64
}

fn digest_value(c: &mut redis::Connection, key: &str) -> String {
    let v: Vec<String> =
        redis::from_redis_value(&call(c, &["DEBUG", "DIGEST-VALUE", key]).unwrap()).unwrap();
    v[0].clone()
}

fn digest(c: &mut redis::Connection) -> String {
    redis::from_redis_value(&call(c, &["DEBUG", "DIGEST"]).unwrap()).unwrap()
}

/// Row 12: every module key gave the same DEBUG DIGEST-VALUE (no digest callback), so DEBUG
/// DIGEST could not tell a replica that diverged from its primary.
#[test]
fn debug_digest_tells_values_apart_and_equal_values_equal() {
    let s = Server::start();
    let mut c = s.client();
    let doc = r#"{"source":"db","labels":{"h":"1"}}"#;
    for key in ["s1", "s2"] {
        call(
            &mut c,
            &["ALERT.CREATE", key, "RETENTION", "0", "REVISION", "100"],
        )
        .unwrap();
        call(&mut c, &["ALERT.ADD", key, doc, "ID", "1700000000000-1"]).unwrap();
    }
    for key in ["q1", "q2"] {
        call(&mut c, &["QUOTA.INCR", key, "2.5", "LIMIT", "10"]).unwrap();
    }
    call(&mut c, &["SET", "t:{a}:k", "v"]).unwrap();
    for key in ["t:{a}:lru1", "t:{a}:lru2"] {
        call(
            &mut c,
            &["LRU.TOUCHAT", key, "1700000000000", "t:{a}:k", "3"],
        )
        .unwrap();
    }
    let d = |c: &mut redis::Connection, k: &str| digest_value(c, k);
    assert_eq!(d(&mut c, "s1"), d(&mut c, "s2"), "equal streams");
    assert_eq!(d(&mut c, "q1"), d(&mut c, "q2"), "equal quotas");
    assert_eq!(
        d(&mut c, "t:{a}:lru1"),
        d(&mut c, "t:{a}:lru2"),
        "equal trackers"
    );
    let kinds = [d(&mut c, "s1"), d(&mut c, "q1"), d(&mut c, "t:{a}:lru1")];
    assert!(
        kinds[0] != kinds[1] && kinds[1] != kinds[2] && kinds[0] != kinds[2],
        "{kinds:?}"
    );
    // One change of state each, and the digests differ.
    call(&mut c, &["ALERT.ACK", "s2", "1700000000000-1"]).unwrap();
    call(&mut c, &["QUOTA.INCR", "q2", "0.000001"]).unwrap();
    call(
        &mut c,
        &["LRU.TOUCHAT", "t:{a}:lru2", "1700000000000", "t:{a}:k", "4"],
    )
    .unwrap();
    assert_ne!(d(&mut c, "s1"), d(&mut c, "s2"));
    assert_ne!(d(&mut c, "q1"), d(&mut c, "q2"));
    assert_ne!(d(&mut c, "t:{a}:lru1"), d(&mut c, "t:{a}:lru2"));
    // A copy digests as its original; a reload changes no digest.
    call(&mut c, &["COPY", "s2", "s3"]).unwrap();
    assert_eq!(d(&mut c, "s2"), d(&mut c, "s3"));
    let before = digest(&mut c);
    call(&mut c, &["DEBUG", "RELOAD"]).unwrap();
    assert_eq!(digest(&mut c), before, "DEBUG RELOAD");
    assert_eq!(d(&mut c, "s2"), d(&mut c, "s3"));
}

/// Row 12, across replication: a replica that holds its primary's state gives its DEBUG
/// DIGEST, although statistics (ADD outcomes, evictions counted) differ between the two.
#[test]
fn a_replica_digests_as_its_primary() {
    // No diskless-sync delay: the replica is up at once.
    let primary = Server::start_with(&["--repl-diskless-sync-delay", "0"]);
    let replica = primary.replica(&[]);
    let mut p = primary.client();
    common::alerts::workload(&mut p, "");
    call(
        &mut p,
        &["QUOTA.SET", "win", "LIMIT", "50", "WINDOW", "600000"],
    )
    .unwrap();
    for i in 0..20 {
        call(&mut p, &["QUOTA.INCR", "win", &(i % 7).to_string()]).unwrap();
    }
    call(&mut p, &["QUOTA.INCR", "cum", "2.5", "LIMIT", "10"]).unwrap();
    call(&mut p, &["QUOTA.INCR", "cum", "100"]).unwrap();
    for i in 0..10 {
        let key = format!("t:{{a}}:k{i}");
        call(&mut p, &["SET", &key, "v"]).unwrap();
        call(&mut p, &["LRU.TOUCH", "t:{a}:lru", &key, &format!("{i}.5")]).unwrap();
    }
    call(
        &mut p,
        &["LRU.EVICT", "t:{a}:lru", "20", "QUOTA", "t:{a}:q"],
    )
    .unwrap();
    call(&mut p, &["LRU.FORGET", "t:{a}:lru", "t:{a}:k9"]).unwrap();
    wait_synced(&mut p);
    let mut r = replica.client();
    let want = digest(&mut p);
    assert_eq!(digest(&mut r), want);
    assert_ne!(want, "0".repeat(40));
    // And the keys one by one (a difference would show which).
    let mut keys: Vec<String> =
        redis::from_redis_value(&call(&mut p, &["KEYS", "*"]).unwrap()).unwrap();
    keys.sort();
    for key in &keys {
        assert_eq!(
            digest_value(&mut r, key),
            digest_value(&mut p, key),
            "{key}"
        );
    }
}

fn panics(c: &mut redis::Connection) -> String {
    info_field(c, "vigil", "vigil_panics").unwrap_or_default()
}

fn bytes_cmd(c: &mut redis::Connection, args: &[&[u8]]) -> redis::RedisResult<Value> {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c)
}

/// Found by tests/hostile_restore.rs: key names are binary, but the module made key strings
/// for its events, its sweep and its blocked readers with a call that panics on a NUL byte, so
/// a tracked key, a tracker or a stream named with one left trackers unreconciled, streams
/// unswept and readers unanswered (each a caught panic).
#[test]
fn key_names_with_a_nul_byte_are_keys_like_any_other() {
    let s = Server::start();
    let mut c = s.client();
    let key: &[u8] = b"t:{a}:k\0x";
    let tracker: &[u8] = b"t:{a}:lru\0";
    bytes_cmd(&mut c, &[b"SET", key, b"v"]).unwrap();
    for t in [tracker, b"t:{a}:lru"] {
        bytes_cmd(&mut c, &[b"LRU.TOUCH", t, key, b"1"]).unwrap();
    }
    let payload: Vec<u8> =
        redis::from_redis_value(&bytes_cmd(&mut c, &[b"DUMP", b"t:{a}:lru"]).unwrap()).unwrap();
    // A tracked key deleted: both trackers (one named with a NUL) forget it.
    bytes_cmd(&mut c, &[b"DEL", key]).unwrap();
    for t in [tracker, b"t:{a}:lru"] {
        let m = map_of(bytes_cmd(&mut c, &[b"LRU.INFO", t]).unwrap());
        assert_eq!(int(&m["keys"]), 0, "{}", String::from_utf8_lossy(t));
    }
    // A tracker restored where its key (named with a NUL) is gone forgets it.
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg("t:{a}:back").arg(0).arg(&payload);
    let _: () = cmd.query(&mut c).unwrap();
    assert_eq!(
        int(&map_of(call(&mut c, &["LRU.INFO", "t:{a}:back"]).unwrap())["keys"]),
        0
    );
    // A stream named with a NUL is swept, and its blocked reader answered.
    let stream: &[u8] = b"s\0";
    let old = (now_ms() - 5000).to_string();
    bytes_cmd(&mut c, &[b"ALERT.CREATE", stream, b"RETENTION", b"1000"]).unwrap();
    bytes_cmd(
        &mut c,
        &[b"ALERT.ADD", stream, b"{}", b"TS", old.as_bytes()],
    )
    .unwrap();
    let reader = {
        let mut r = s.client();
        thread::spawn(move || {
            bytes_cmd(
                &mut r,
                &[b"ALERT.READ", b"s\0", b"AFTER", b"$", b"BLOCK", b"5000"],
            )
        })
    };
    let start = Instant::now();
    loop {
        let clients = info_field(&mut c, "clients", "blocked_clients").unwrap_or_default();
        if clients == "1" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the reader did not block"
        );
        thread::sleep(Duration::from_millis(10));
    }
    bytes_cmd(&mut c, &[b"ALERT.ADD", stream, b"{\"source\":\"x\"}"]).unwrap();
    let read = reader.join().unwrap().unwrap();
    assert_ne!(read, Value::Nil, "the blocked reader was answered");
    let start = Instant::now();
    loop {
        let v = bytes_cmd(&mut c, &[b"ALERT.RANGE", stream, b"-", b"+"]).unwrap();
        if alerts(v).len() == 1 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the sweep did not trim"
        );
        thread::sleep(Duration::from_millis(50));
    }
    // A quota whose threshold alerts go to a stream named with a NUL raises them there
    // (the stream's key string was made with the call that panics on a NUL).
    let alerts_to: &[u8] = b"q:{b}:alerts\0x";
    bytes_cmd(
        &mut c,
        &[
            b"QUOTA.SET",
            b"q:{b}",
            b"LIMIT",
            b"10",
            b"ALERTS",
            alerts_to,
            b"AT",
            b"50",
        ],
    )
    .unwrap();
    bytes_cmd(&mut c, &[b"QUOTA.INCR", b"q:{b}", b"6"])
        .unwrap_or_else(|e| panic!("{e}: {}", s.log()));
    let raised = bytes_cmd(&mut c, &[b"ALERT.RANGE", alerts_to, b"-", b"+"]).unwrap();
    assert_eq!(alerts(raised).len(), 1, "{}", s.log());
    assert_eq!(panics(&mut c), "0", "{}", s.log());
}

fn lru_info(c: &mut redis::Connection, tracker: &str) -> (i64, String) {
    let m = map_of(call(c, &["LRU.INFO", tracker]).unwrap());
    (
        int(&m["keys"]),
        redis::from_redis_value(&m["total"]).unwrap(),
    )
}

/// Row 8: a tracker's total saturated at 10^18 instead of refusing the size (two keys of
/// 6e17, then one resized to 1: total "1" with 6e17 tracked, and EVICT evicted nothing).
#[test]
fn sizes_that_would_take_a_total_past_the_range_are_refused() {
    let s = Server::start();
    let mut c = s.client();
    const BIG: &str = "600000000000000000";
    for k in ["t:{a}:k1", "t:{a}:k2"] {
        call(&mut c, &["SET", k, "v"]).unwrap();
    }
    let t = "t:{a}:lru";
    assert_eq!(
        int(&call(&mut c, &["LRU.TOUCH", t, "t:{a}:k1", BIG]).unwrap()),
        1
    );
    let e = error_of(&mut c, &["LRU.TOUCH", t, "t:{a}:k2", BIG]);
    assert!(e.contains("10^18"), "{e}");
    let e = error_of(
        &mut c,
        &["LRU.TOUCHAT", t, "1700000000000", "t:{a}:k2", BIG],
    );
    assert!(e.contains("10^18"), "{e}");
    assert_eq!(
        lru_info(&mut c, t),
        (1, BIG.to_string()),
        "nothing recorded"
    );
    // Several keys in one call are judged together, a key named twice by its last size.
    assert_eq!(
        int(&call(&mut c, &["LRU.TOUCH", t, "t:{a}:k1", "1", "t:{a}:k2", BIG]).unwrap()),
        1
    );
    assert_eq!(lru_info(&mut c, t), (2, "600000000000000001".into()));
    let e = error_of(
        &mut c,
        &[
            "LRU.TOUCH",
            t,
            "t:{a}:k1",
            BIG,
            "t:{a}:k1",
            "1",
            "t:{a}:k2",
            "1000000000000000000",
        ],
    );
    assert!(e.contains("10^18"), "{e}");
    assert_eq!(
        int(&call(
            &mut c,
            &[
                "LRU.TOUCH",
                t,
                "t:{a}:k1",
                BIG,
                "t:{a}:k1",
                "1",
                "t:{a}:k2",
                "999999999999999998"
            ]
        )
        .unwrap()),
        0
    );
    assert_eq!(lru_info(&mut c, t), (2, "999999999999999999".into()));
    // EVICT sees the true total and evicts down to the target: k1 (named last at its second
    // place, before k2) is the older.
    let evict = |c: &mut redis::Connection, target: &str| -> (i64, String, String, Vec<String>) {
        redis::from_redis_value(&call(c, &["LRU.EVICT", t, target]).unwrap()).unwrap()
    };
    assert_eq!(
        evict(&mut c, "999999999999999998"),
        (
            1,
            "1".into(),
            "999999999999999998".into(),
            vec!["t:{a}:k1".into()]
        )
    );
    assert_eq!(
        evict(&mut c, "0"),
        (
            1,
            "999999999999999998".into(),
            "0".into(),
            vec!["t:{a}:k2".into()]
        )
    );
}

/// Row 11: memory of removed entries came back only with a reload (a tracker emptied by
/// FORGET of 100k keys kept 7.6 MB; an emptied stream kept its dedup and source tables).
#[test]
fn memory_of_removed_entries_is_given_back() {
    let s = Server::start();
    let mut c = s.client();
    let t = "t:{a}:lru";
    // 100k keys, tracked, then forgotten.
    call(
        &mut c,
        &[
            "EVAL",
            "for i=1,100000 do redis.call('SET','t:{a}:k'..i,'v') end",
            "0",
        ],
    )
    .unwrap();
    let base = used_memory(&mut c);
    call(
        &mut c,
        &[
            "EVAL",
            "for i=1,100000,100 do local a={} for j=i,i+99 do a[#a+1]='t:{a}:k'..j a[#a+1]='1' end redis.call('LRU.TOUCH',KEYS[1],unpack(a)) end",
            "1",
            t,
        ],
    )
    .unwrap();
    let full: i64 = int(&call(&mut c, &["MEMORY", "USAGE", t]).unwrap());
    assert!(full > 5_000_000, "{full}");
    call(
        &mut c,
        &[
            "EVAL",
            "for i=100000,101,-100 do local a={} for j=i,i-99,-1 do a[#a+1]='t:{a}:k'..j end redis.call('LRU.FORGET',KEYS[1],unpack(a)) end",
            "1",
            t,
        ],
    )
    .unwrap();
    assert_eq!(lru_info(&mut c, t).0, 100);
    let left: i64 = int(&call(&mut c, &["MEMORY", "USAGE", t]).unwrap());
    // Room for up to 8x the keys is kept (shrunk at a quarter, to twice the keys).
    assert!(
        left * 100 < full,
        "a tracker of 100 keys holds {left} bytes, of 100k {full}"
    );
    let used = used_memory(&mut c);
    assert!(
        used - base < 200_000,
        "used_memory {used} after the forgets, {base} before the touches"
    );

    // 100k alerts with their own fingerprints and sources, then trimmed to none.
    call(
        &mut c,
        &["ALERT.CREATE", "s", "MAXLEN", "0", "DEDUP", "600000"],
    )
    .unwrap();
    call(&mut c, &["ALERT.CREATE", "fresh"]).unwrap();
    let base = used_memory(&mut c);
    call(
        &mut c,
        &[
            "EVAL",
            r#"for i=1,100000 do redis.call('ALERT.ADD',KEYS[1],'{"source":"s'..i..'","labels":{"i":"'..i..'"}}') end"#,
            "1",
            "s",
        ],
    )
    .unwrap();
    let full: i64 = int(&call(&mut c, &["MEMORY", "USAGE", "s"]).unwrap());
    assert!(full > 10_000_000, "{full}");
    assert_eq!(
        int(&call(&mut c, &["ALERT.TRIM", "s", "MAXLEN", "0"]).unwrap()),
        100_000
    );
    let empty: i64 = int(&call(&mut c, &["MEMORY", "USAGE", "fresh"]).unwrap());
    let left: i64 = int(&call(&mut c, &["MEMORY", "USAGE", "s"]).unwrap());
    assert_eq!(left, empty, "an emptied stream holds what a new one does");
    let used = used_memory(&mut c);
    assert!(
        used - base < 200_000,
        "used_memory {used} after the trim, {base} before the adds"
    );
}

/// Row 10: ALERT.ALTER was not deny-oom and built indexes at the memory limit (used_memory
/// 12.7 -> 19.9 MB with maxmemory 12.68 MB). Every command that can grow memory is refused
/// with OOM above the limit under noeviction, changing nothing; the commands that free
/// memory (and the reads) still run.
#[test]
fn commands_that_grow_memory_are_refused_above_the_limit() {
    let s = Server::start_with(&["--maxmemory-policy", "noeviction"]);
    let mut c = s.client();
    let now = now_ms();
    // A stream big enough that indexing it costs memory.
    call(
        &mut c,
        &[
            "ALERT.CREATE",
            "big",
            "RETENTION",
            "0",
            "MAXLEN",
            "0",
            "DEDUP",
            "0",
        ],
    )
    .unwrap();
    call(
        &mut c,
        &[
            "EVAL",
            r#"for i=1,20000 do redis.call('ALERT.ADD',KEYS[1],'{"source":"s'..(i%100)..'","labels":{"i":"'..i..'"}}') end"#,
            "1",
            "big",
        ],
    )
    .unwrap();
    let id = format!("{now}-9");
    call(&mut c, &["ALERT.ADD", "big", "{}", "ID", &id]).unwrap();
    call(&mut c, &["QUOTA.INCR", "q", "1", "LIMIT", "10"]).unwrap();
    call(
        &mut c,
        &["QUOTA.SET", "w", "LIMIT", "10", "WINDOW", "60000"],
    )
    .unwrap();
    call(&mut c, &["SET", "t:{a}:k", "v"]).unwrap();
    call(&mut c, &["SET", "t:{a}:k2", "v"]).unwrap();
    call(&mut c, &["LRU.TOUCH", "t:{a}:lru", "t:{a}:k", "1"]).unwrap();
    let used = used_memory(&mut c);
    call(
        &mut c,
        &["CONFIG", "SET", "maxmemory", &(used - 100_000).to_string()],
    )
    .unwrap();
    let before = digest(&mut c);
    let until = (now + 60_000).to_string();
    let growing: &[&[&str]] = &[
        &["ALERT.ALTER", "big", "DEDUP", "300000"],
        &["ALERT.ALTER", "big", "RATELIMIT", "1000000", "1000"],
        &["ALERT.ALTER", "big", "AUTORESOLVE", "3600000"],
        &["ALERT.CREATE", "new"],
        &["ALERT.ADD", "big", "{}"],
        &["ALERT.ADD", "fresh", "{}"],
        &["ALERT.IMPORT", "big", "1-1", "{}"],
        &["ALERT.SILENCE", "big", "UNTIL", &until, "SOURCE", "s1"],
        &["QUOTA.SET", "q2", "LIMIT", "5"],
        &["QUOTA.INCR", "w", "1"],
        &["QUOTA.INCR", "q3", "1"],
        &["LRU.TOUCH", "t:{a}:lru", "t:{a}:k2", "1"],
        &["LRU.TOUCHAT", "t:{a}:lru", "1", "t:{a}:k2", "1"],
    ];
    for cmd in growing {
        let e = error_of(&mut c, cmd);
        assert!(e.starts_with("OOM"), "{cmd:?}: {e}");
    }
    assert_eq!(digest(&mut c), before, "nothing changed");
    // What frees memory, or changes it in place, still runs; so do reads.
    let freeing: &[&[&str]] = &[
        &["ALERT.RANGE", "big", "-", "+", "COUNT", "1"],
        &["ALERT.ACK", "big", &id],
        &["ALERT.RESOLVE", "big", &id],
        &["ALERT.DEL", "big", &id],
        &["ALERT.TRIM", "big", "MAXLEN", "10000"],
        &["QUOTA.RESET", "q"],
        &["QUOTA.GET", "q"],
        &["LRU.FORGET", "t:{a}:lru", "t:{a}:none"],
        &["LRU.EVICT", "t:{a}:lru", "0"],
        &["LRU.INFO", "t:{a}:lru"],
    ];
    for cmd in freeing {
        if let Err(e) = call(&mut c, cmd) {
            panic!("{cmd:?}: {e}");
        }
    }
    call(&mut c, &["CONFIG", "SET", "maxmemory", "0"]).unwrap();
    call(&mut c, &["ALERT.ALTER", "big", "DEDUP", "300000"]).unwrap();
}

/// Row 6: the sweep opened every stream for writing every 100 ms, so idle streams looked used
/// to maxmemory's LRU: under allkeys-lru 6 of 10 idle streams survived where 0 of 10 idle
/// strings did. Idle streams now age as idle strings do: streams left idle longer than strings
/// go no later than them (with the old sweep the streams looked fresher, and the strings went
/// first). Eviction samples 64 keys, about all the database holds, so that it picks by idle
/// time and not by the luck of a 5-key sample (with the default, a run under load once left 6
/// streams and 4 strings).
#[test]
fn idle_streams_are_evicted_like_idle_strings() {
    let s = Server::start_with(&[
        "--maxmemory-policy",
        "allkeys-lru",
        "--maxmemory-samples",
        "64",
    ]);
    let mut c = s.client();
    let pad = "x".repeat(10_000);
    for i in 0..10 {
        let doc = format!(r#"{{"source":"s","pad":"{pad}"}}"#);
        call(&mut c, &["ALERT.ADD", &format!("stream{i}"), &doc]).unwrap();
    }
    // The streams are older than the strings by 2.5 s (many sweep ticks; LRU's clock counts
    // seconds).
    thread::sleep(Duration::from_millis(2500));
    for i in 0..10 {
        call(&mut c, &["SET", &format!("string{i}"), &pad]).unwrap();
    }
    thread::sleep(Duration::from_millis(1500));
    let idle = int(&call(&mut c, &["OBJECT", "IDLETIME", "stream0"]).unwrap());
    assert!(idle >= 2, "OBJECT IDLETIME of an idle stream: {idle}");
    let used = used_memory(&mut c);
    call(
        &mut c,
        &["CONFIG", "SET", "maxmemory", &(used + 100_000).to_string()],
    )
    .unwrap();
    let left = |c: &mut redis::Connection, prefix: &str| -> i64 {
        (0..10)
            .map(|i| int(&call(c, &["EXISTS", &format!("{prefix}{i}")]).unwrap()))
            .sum()
    };
    // Fresh keys until half of the idle keys have made room (or far past what they hold).
    for i in 0..60 {
        call(&mut c, &["SET", &format!("hot{i}"), &pad]).unwrap();
        if left(&mut c, "stream") + left(&mut c, "string") <= 10 {
            break;
        }
    }
    let (streams, strings) = (left(&mut c, "stream"), left(&mut c, "string"));
    assert!(
        streams + strings <= 10 && streams <= strings,
        "idle keys left: {streams} of 10 streams (idle longer), {strings} of 10 strings"
    );
}

fn role(c: &mut redis::Connection) -> String {
    info_field(c, "replication", "role").unwrap_or_default()
}

/// Row 2: with a replica attached, the retention sweep replicated from its timer while writes
/// were paused, and Redis aborted (`!(areClientsPaused() && ...)` in moduleTimerHandler).
/// FAILOVER pauses writes until the replica has caught up: here the replica sleeps through an
/// alert's expiry, so the primary sweeps (or rather waits) inside the pause; then the roles
/// swap, and the new primary sweeps on its own clock.
#[test]
fn failover_pauses_the_sweep_and_the_new_primary_sweeps() {
    // No diskless-sync delay: the replica is up at once.
    let primary = Server::start_with(&["--repl-diskless-sync-delay", "0"]);
    let replica = primary.replica(&[]);
    let mut p = primary.client();
    call(&mut p, &["ALERT.CREATE", "s", "RETENTION", "10000"]).unwrap();
    let old = (now_ms() - 9500).to_string();
    call(&mut p, &["ALERT.ADD", "s", "{}", "TS", &old]).unwrap();
    call(&mut p, &["ALERT.ADD", "s", r#"{"source":"fresh"}"#]).unwrap();
    wait_synced(&mut p);
    let sleeper = {
        let mut r = replica.client();
        thread::spawn(move || call(&mut r, &["DEBUG", "SLEEP", "2"]))
    };
    thread::sleep(Duration::from_millis(100));
    // The replica cannot acknowledge: the primary pauses writes and waits for it.
    call(&mut p, &["SET", "lag", "1"]).unwrap();
    call(&mut p, &["FAILOVER", "TIMEOUT", "10000"]).unwrap();
    let state = info_field(&mut p, "replication", "master_failover_state").unwrap_or_default();
    assert_eq!(state, "waiting-for-sync");
    // The old alert expires while writes are paused (its sweep must wait).
    thread::sleep(Duration::from_millis(1200));
    assert!(call(&mut p, &["PING"]).is_ok(), "{}", primary.log());
    sleeper.join().unwrap().unwrap();
    // The replica caught up and took over; the old primary follows it.
    let mut r = replica.client();
    let start = Instant::now();
    while role(&mut r) != "master" || role(&mut p) != "slave" {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no failover:\n{}",
            primary.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
    let start = Instant::now();
    loop {
        let held = alerts(call(&mut r, &["ALERT.RANGE", "s", "-", "+"]).unwrap());
        if held.len() == 1 {
            assert_eq!(held[0]["source"], "fresh");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the new primary did not sweep: {held:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    wait_synced(&mut r);
    assert_eq!(
        alerts(call(&mut p, &["ALERT.RANGE", "s", "-", "+"]).unwrap()).len(),
        1
    );
    assert!(!primary.log().contains("ASSERTION"), "{}", primary.log());
}
