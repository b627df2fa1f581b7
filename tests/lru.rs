//! LRU.* against a real redis-server: namespaces, ACL confinement, eviction atomic with a
//! quota, a tracker that never counts a key that is gone (every road out of the keyspace),
//! persistence, replication, flags and bad input.

mod common;
use common::*;
use redis::Value;
use std::time::Duration;

const T: &str = "t:{a}:lru";

fn k(n: &str) -> String {
    format!("t:{{a}}:{n}")
}

fn set(c: &mut redis::Connection, keys: &[&str]) {
    for key in keys {
        call(c, &["SET", key, "v"]).unwrap();
    }
}

fn touch(c: &mut redis::Connection, tracker: &str, pairs: &[(&str, &str)]) -> i64 {
    let mut args = vec!["LRU.TOUCH", tracker];
    for (key, size) in pairs {
        args.push(key);
        args.push(size);
    }
    int(&call(c, &args).unwrap_or_else(|e| panic!("{args:?}: {e}")))
}

fn candidates(c: &mut redis::Connection, tracker: &str) -> Vec<(String, String)> {
    let v: Vec<(String, String, i64)> =
        redis::from_redis_value(&call(c, &["LRU.CANDIDATES", tracker, "1000"]).unwrap()).unwrap();
    v.into_iter().map(|(k, s, _)| (k, s)).collect()
}

fn info(c: &mut redis::Connection, tracker: &str) -> (i64, String) {
    let m = map_of(call(c, &["LRU.INFO", tracker]).unwrap());
    (
        int(&m["keys"]),
        redis::from_redis_value(&m["total"]).unwrap(),
    )
}

/// SPEC: a tracked key that leaves the keyspace by expiry "is dropped from its tracker at once:
/// total never counts a key that does not exist". Redis deletes an expired key at its next
/// access or when its active expiry samples it (here off, as under a backlog of keys with a
/// TTL): until then the tracker counted it, listed it and LRU.EVICT chose it (an audit). A key
/// given its TTL once tracked now leaves at the TTL, on the primary and its replica; a TTL
/// removed or moved later is followed.
#[test]
fn a_tracked_key_leaves_its_tracker_when_its_ttl_passes() {
    let primary = Server::start();
    let replica = primary.replica(&[]);
    let (mut c, mut r) = (primary.client(), replica.client());
    call(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]).unwrap();
    let names = ["pexpire", "set-px", "persisted", "later", "kept"];
    let keys: Vec<String> = names.iter().map(|n| k(n)).collect();
    for key in &keys {
        set(&mut c, &[key]);
    }
    let pairs: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "10")).collect();
    assert_eq!(touch(&mut c, T, &pairs), 5);
    call(&mut c, &["PEXPIRE", &keys[0], "100"]).unwrap();
    call(&mut c, &["SET", &keys[1], "w", "PX", "100"]).unwrap();
    call(&mut c, &["PEXPIRE", &keys[2], "100"]).unwrap();
    call(&mut c, &["PERSIST", &keys[2]]).unwrap();
    call(&mut c, &["PEXPIRE", &keys[3], "100"]).unwrap();
    call(&mut c, &["PEXPIRE", &keys[3], "60000"]).unwrap();
    // Nothing reads the keys: only the module's own look-up at their TTL deletes them.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(info(&mut c, T), (3, "30".into()));
    let left: Vec<String> = candidates(&mut c, T).into_iter().map(|(k, _)| k).collect();
    assert_eq!(left, [keys[2].clone(), keys[3].clone(), keys[4].clone()]);
    assert_eq!(
        int(&call(&mut c, &["DBSIZE"]).unwrap()),
        4,
        "deleted, not just hidden"
    );
    let evicted: Value = call(&mut c, &["LRU.EVICT", T, "0", "MAX", "1"]).unwrap();
    let (n, _, _, which): (i64, String, String, Vec<String>) =
        redis::from_redis_value(&evicted).unwrap();
    assert_eq!((n, which), (1, vec![keys[2].clone()]));
    wait_synced(&mut c);
    assert_eq!(info(&mut r, T), (2, "20".into()));
    // Across a load (DEBUG RELOAD here; a restart alike): the loaded TTL is noted again.
    call(&mut c, &["PEXPIRE", &keys[3], "300"]).unwrap();
    call(&mut c, &["DEBUG", "RELOAD"]).unwrap();
    call(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(info(&mut c, T), (1, "10".into()), "after a load");
    // A key that arrives with its TTL (RENAME, COPY, RESTORE, a slot migration), and keys
    // whose database SWAPDB changes.
    set(&mut c, &[&k("old"), &k("copied")]);
    call(&mut c, &["PEXPIRE", &k("old"), "150"]).unwrap();
    call(&mut c, &["RENAME", &k("old"), &k("renamed")]).unwrap();
    call(&mut c, &["SET", &k("src"), "v", "PX", "150"]).unwrap();
    call(&mut c, &["COPY", &k("src"), &k("copied"), "REPLACE"]).unwrap();
    call(&mut c, &["DEL", &k("src")]).unwrap();
    let pairs = [(k("renamed"), "1"), (k("copied"), "1")];
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, s)| (k.as_str(), *s)).collect();
    assert_eq!(touch(&mut c, T, &pairs), 2);
    call(&mut c, &["PEXPIRE", &keys[4], "150"]).unwrap();
    call(&mut c, &["SWAPDB", "0", "3"]).unwrap();
    call(&mut c, &["SELECT", "3"]).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        info(&mut c, T),
        (0, "0".into()),
        "arrived with a TTL, swapped"
    );
    assert_eq!(
        int(&call(&mut c, &["DBSIZE"]).unwrap()),
        1,
        "the tracker alone"
    );
}

#[test]
fn touch_candidates_forget_and_info() {
    let s = Server::start();
    let mut c = s.client();
    let (k1, k2, k3) = (k("1"), k("2"), k("3"));
    set(&mut c, &[&k1, &k2, &k3]);
    // Missing keys are skipped; a key named twice counts once and its last size wins.
    assert_eq!(
        touch(
            &mut c,
            T,
            &[(&k1, "10"), (&k2, "5"), (&k("none"), "1"), (&k1, "1.5")]
        ),
        2
    );
    assert_eq!(
        call(&mut c, &["TYPE", T]).unwrap(),
        Value::SimpleString("vigil-lru".into())
    );
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(touch(&mut c, T, &[(&k3, "2"), (&k2, "4")]), 1);
    assert_eq!(
        candidates(&mut c, T),
        [
            (k1.clone(), "1.5".into()),
            (k3.clone(), "2".into()),
            (k2.clone(), "4".into())
        ]
    );
    let v: Vec<(String, String, i64)> =
        redis::from_redis_value(&call(&mut c, &["LRU.CANDIDATES", T, "1"]).unwrap()).unwrap();
    assert_eq!(v.len(), 1);
    assert!(v[0].2 > 1_600_000_000_000, "last_used is a ms timestamp");
    assert_eq!(info(&mut c, T), (3, "7.5".into()));
    let m = map_of(call(&mut c, &["LRU.INFO", T]).unwrap());
    assert_eq!(int(&m["oldest_ms"]), v[0].2);
    assert_eq!(int(&m["evicted"]), 0);
    assert_eq!(
        int(&call(&mut c, &["LRU.FORGET", T, &k1, &k1, &k("none")]).unwrap()),
        1
    );
    assert_eq!(
        int(&call(&mut c, &["EXISTS", &k1]).unwrap()),
        1,
        "FORGET does not delete"
    );
    assert_eq!(info(&mut c, T), (2, "6".into()));
    // Missing tracker: reads answer empty, writes 0, INFO an error, nothing is created.
    let none = "t:{a}:none";
    assert_eq!(
        call(&mut c, &["LRU.CANDIDATES", none, "5"]).unwrap(),
        Value::Array(vec![])
    );
    assert_eq!(int(&call(&mut c, &["LRU.FORGET", none, &k1]).unwrap()), 0);
    let v: (i64, String, String, Vec<String>) =
        redis::from_redis_value(&call(&mut c, &["LRU.EVICT", none, "0"]).unwrap()).unwrap();
    assert_eq!(v, (0, "0".into(), "0".into(), vec![]));
    assert!(error_of(&mut c, &["LRU.INFO", none]).contains("no such key"));
    // TOUCH creates its tracker only when it tracks a key.
    assert_eq!(touch(&mut c, none, &[(&k("missing"), "1")]), 0);
    assert_eq!(int(&call(&mut c, &["EXISTS", none]).unwrap()), 0);
}

#[test]
fn namespaces_confine_every_command() {
    let s = Server::start();
    let mut c = s.client();
    set(
        &mut c,
        &["t:{a}:x", "t:{b}:x", "cache:x", "cache:sub:x", "other"],
    );
    let e = error_of(&mut c, &["LRU.TOUCH", T, "t:{a}:x", "1", "t:{b}:x", "1"]);
    assert!(e.contains("outside the tracker's namespace"), "{e}");
    assert_eq!(
        int(&call(&mut c, &["EXISTS", T]).unwrap()),
        0,
        "nothing recorded"
    );
    // The namespace check comes first: a missing outside key is an error too.
    assert!(error_of(&mut c, &["LRU.TOUCH", T, "t:{b}:missing", "1"]).contains("outside"));
    assert!(error_of(&mut c, &["LRU.TOUCH", "plain", "other", "1"]).contains("no namespace"));
    assert!(error_of(&mut c, &["LRU.TOUCH", "a{}lru", "a{}x", "1"]).contains("no namespace"));
    // Every command that names a tracker says so, the reads too (docs/commands.md), whether
    // such a key exists or not.
    for cmd in [
        vec!["LRU.FORGET", "plain", "other"],
        vec!["LRU.CANDIDATES", "plain", "1"],
        vec!["LRU.EVICT", "plain", "0"],
    ] {
        let e = error_of(&mut c, &cmd);
        assert!(
            e.contains("tracker key 'plain' has no namespace"),
            "{cmd:?}: {e}"
        );
    }
    // Colon namespaces: up to the last ':'.
    assert_eq!(
        touch(
            &mut c,
            "cache:lru",
            &[("cache:x", "1"), ("cache:sub:x", "1")]
        ),
        2
    );
    assert!(error_of(&mut c, &["LRU.TOUCH", "cache:sub:lru", "cache:x", "1"]).contains("outside"));
    // A tracker never tracks itself.
    touch(&mut c, T, &[("t:{a}:x", "1")]);
    assert_eq!(touch(&mut c, T, &[(T, "1")]), 0);
    assert_eq!(info(&mut c, T).0, 1);
    assert!(error_of(&mut c, &["LRU.FORGET", T, "t:{b}:x"]).contains("outside"));
    assert!(error_of(&mut c, &["LRU.EVICT", T, "0", "QUOTA", "t:{b}:q"]).contains("outside"));
    assert_eq!(int(&call(&mut c, &["EXISTS", "t:{b}:x"]).unwrap()), 1);
    // Before any other check: an outside key wins over a bad size, MAX, option or repeat
    // found earlier in the arguments.
    for cmd in [
        vec!["LRU.TOUCH", T, "t:{a}:x", "abc", "t:{b}:x", "1"],
        vec!["LRU.TOUCH", T, "t:{a}:x", "-1", "t:{b}:x", "1"],
        vec!["LRU.EVICT", T, "0", "MAX", "x", "QUOTA", "t:{b}:q"],
        vec!["LRU.EVICT", T, "0", "QUOTA", "t:{b}:q", "MAX", "x"],
        vec!["LRU.EVICT", T, "0", "BOGUS", "QUOTA", "t:{b}:q"],
        vec!["LRU.EVICT", T, "0", "QUOTA", "t:{a}:q", "QUOTA", "t:{b}:q"],
        vec!["LRU.EVICT", T, "abc", "QUOTA", "t:{b}:q"],
    ] {
        let e = error_of(&mut c, &cmd);
        assert!(
            e.contains("'t:{b}:") && e.contains("outside the tracker's namespace"),
            "{cmd:?}: {e}"
        );
    }
    // A MAX whose value reads "QUOTA" is a bad MAX, as the options are read.
    let e = error_of(&mut c, &["LRU.EVICT", T, "0", "MAX", "QUOTA", "t:{b}:q"]);
    assert!(e.contains("invalid MAX"), "{e}");
    assert_eq!(info(&mut c, T).0, 1, "nothing changed");
}

#[test]
fn acl_user_confined_to_its_tenant() {
    let s = Server::start();
    let mut c = s.client();
    call(
        &mut c,
        &["ACL", "SETUSER", "acme", "on", ">pw", "~t:{a}*", "+@all"],
    )
    .unwrap();
    set(&mut c, &["t:{a}:x", "t:{b}:x"]);
    let mut u = s.client();
    call(&mut u, &["AUTH", "acme", "pw"]).unwrap();
    assert_eq!(touch(&mut u, T, &[("t:{a}:x", "3")]), 1);
    call(&mut u, &["QUOTA.INCR", "t:{a}:q", "3"]).unwrap();
    assert_eq!(candidates(&mut u, T).len(), 1);
    assert_eq!(info(&mut u, T).0, 1);
    let v: (i64, String, String, Vec<String>) =
        redis::from_redis_value(&call(&mut u, &["LRU.EVICT", T, "0", "QUOTA", "t:{a}:q"]).unwrap())
            .unwrap();
    assert_eq!(v.0, 1);
    assert_eq!(
        int(&call(&mut u, &["LRU.FORGET", T, "t:{a}:x"]).unwrap()),
        0
    );
    // Another tenant's tracker or quota: refused by ACL; another tenant's key: by namespace.
    assert!(error_of(&mut u, &["LRU.TOUCH", "t:{b}:lru", "t:{b}:x", "1"]).starts_with("NOPERM"));
    // The QUOTA key is declared (a keyword key spec), so ACL checks it before the module runs.
    let e = error_of(&mut u, &["LRU.EVICT", T, "0", "QUOTA", "t:{b}:q"]);
    assert!(e.starts_with("NOPERM"), "{e}");
    assert!(error_of(&mut u, &["LRU.TOUCH", T, "t:{b}:x", "1"]).contains("outside"));
    assert_eq!(int(&call(&mut c, &["EXISTS", "t:{b}:x"]).unwrap()), 1);
}

#[test]
fn evict_lowers_the_quota_atomically() {
    let s = Server::start();
    let mut c = s.client();
    let keys: Vec<String> = (0..6).map(|i| k(&format!("e{i}"))).collect();
    for (i, key) in keys.iter().enumerate() {
        set(&mut c, &[key]);
        touch(&mut c, T, &[(key, &format!("{}", i + 1))]);
        std::thread::sleep(Duration::from_millis(2));
    }
    call(&mut c, &["QUOTA.INCR", "t:{a}:q", "21", "LIMIT", "100"]).unwrap();
    // Total 21; evict down to 10: e0 (1), e1 (2), e2 (3), e3 (4) -> 11 left... e3 too -> 11? No:
    // 21-1-2-3-4 = 11 > 10, so e4 (5) goes as well: 6 left.
    let v: (i64, String, String, Vec<String>) = redis::from_redis_value(
        &call(&mut c, &["LRU.EVICT", T, "10", "QUOTA", "t:{a}:q"]).unwrap(),
    )
    .unwrap();
    assert_eq!(v, (5, "15".into(), "6".into(), keys[..5].to_vec()));
    let q: (i64, String, String, String, i64) =
        redis::from_redis_value(&call(&mut c, &["QUOTA.GET", "t:{a}:q"]).unwrap()).unwrap();
    assert_eq!(q.1, "6");
    for key in &keys[..5] {
        assert_eq!(
            int(&call(&mut c, &["EXISTS", key]).unwrap()),
            0,
            "{key} deleted"
        );
    }
    assert_eq!(int(&call(&mut c, &["EXISTS", &keys[5]]).unwrap()), 1);
    let m = map_of(call(&mut c, &["LRU.INFO", T]).unwrap());
    assert_eq!(int(&m["evicted"]), 5);
    // MAX bounds one call; a target already met evicts nothing.
    let more: Vec<String> = (0..5).map(|i| k(&format!("m{i}"))).collect();
    for key in &more {
        set(&mut c, &[key]);
        touch(&mut c, T, &[(key, "1")]);
    }
    let v: (i64, String, String, Vec<String>) =
        redis::from_redis_value(&call(&mut c, &["LRU.EVICT", T, "0", "MAX", "2"]).unwrap())
            .unwrap();
    assert_eq!((v.0, v.1.as_str()), (2, "7"));
    let v: (i64, String, String, Vec<String>) =
        redis::from_redis_value(&call(&mut c, &["LRU.EVICT", T, "100"]).unwrap()).unwrap();
    assert_eq!(v.0, 0);
    // A WINDOW quota cannot be released: refused before anything is deleted.
    call(
        &mut c,
        &["QUOTA.SET", "t:{a}:w", "LIMIT", "5", "WINDOW", "1000"],
    )
    .unwrap();
    assert!(error_of(&mut c, &["LRU.EVICT", T, "0", "QUOTA", "t:{a}:w"]).contains("cumulative"));
    assert_eq!(info(&mut c, T).0, 4);
    let info_s: String =
        redis::from_redis_value(&call(&mut c, &["INFO", "vigil"]).unwrap()).unwrap();
    assert!(info_s.contains("vigil_lru_evictions:7"), "{info_s}");
}

/// Tracked keys that leave the keyspace by any road leave the tracker at once.
#[test]
fn the_tracker_never_counts_a_key_that_is_gone() {
    let s = Server::start_with(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxmemory-policy",
        "allkeys-random",
    ]);
    let mut c = s.client();
    let names = [
        "del", "unlink", "expire", "lazy", "renamed", "moved", "getdel", "pop",
    ];
    let keys: Vec<String> = names.iter().map(|n| k(n)).collect();
    for key in &keys[..7] {
        set(&mut c, &[key]);
    }
    call(&mut c, &["RPUSH", &keys[7], "only"]).unwrap();
    let pairs: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "1")).collect();
    assert_eq!(touch(&mut c, T, &pairs), 8);
    // A second tracker on the same namespace sees the same.
    assert_eq!(touch(&mut c, "t:{a}:lru2", &pairs[..2]), 2);
    call(&mut c, &["DEL", &keys[0]]).unwrap();
    call(&mut c, &["UNLINK", &keys[1]]).unwrap();
    call(&mut c, &["PEXPIRE", &keys[2], "1"]).unwrap();
    call(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]).unwrap();
    call(&mut c, &["PEXPIRE", &keys[3], "1"]).unwrap();
    std::thread::sleep(Duration::from_millis(10));
    call(&mut c, &["GET", &keys[3]]).unwrap(); // lazy expiry on access
    call(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]).unwrap();
    call(&mut c, &["RENAME", &keys[4], "t:{a}:elsewhere"]).unwrap();
    call(&mut c, &["MOVE", &keys[5], "1"]).unwrap();
    call(&mut c, &["GETDEL", &keys[6]]).unwrap();
    call(&mut c, &["LPOP", &keys[7]]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while info(&mut c, T).0 > 0 {
        // The active expiry of keys[2] may take a cycle.
        assert!(
            std::time::Instant::now() < deadline,
            "left: {:?}",
            candidates(&mut c, T)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(info(&mut c, T), (0, "0".into()));
    assert_eq!(info(&mut c, "t:{a}:lru2"), (0, "0".into()));
    // FLUSHDB and FLUSHALL.
    set(&mut c, &[&k("f")]);
    touch(&mut c, T, &[(&k("f"), "1")]);
    call(&mut c, &["SELECT", "2"]).unwrap();
    set(&mut c, &[&k("g")]);
    touch(&mut c, T, &[(&k("g"), "1")]);
    call(&mut c, &["FLUSHDB"]).unwrap();
    assert_eq!(int(&call(&mut c, &["EXISTS", T]).unwrap()), 0);
    call(&mut c, &["SELECT", "0"]).unwrap();
    assert_eq!(info(&mut c, T).0, 1, "other databases keep theirs");
    call(&mut c, &["FLUSHALL"]).unwrap();
    assert_eq!(int(&call(&mut c, &["DBSIZE"]).unwrap()), 0);
    // After the flush, new trackers index afresh.
    set(&mut c, &[&k("h")]);
    touch(&mut c, T, &[(&k("h"), "1")]);
    call(&mut c, &["DEL", &k("h")]).unwrap();
    assert_eq!(info(&mut c, T).0, 0);
}

#[test]
fn maxmemory_eviction_leaves_the_tracker() {
    let s = Server::start_with(&[
        "--save",
        "",
        "--appendonly",
        "no",
        // Only keys with a TTL are candidates, so the tracker itself is never evicted.
        "--maxmemory-policy",
        "volatile-lru",
    ]);
    let mut c = s.client();
    let big = "x".repeat(10_000);
    let keys: Vec<String> = (0..200).map(|i| k(&format!("big{i}"))).collect();
    for key in &keys {
        call(&mut c, &["SET", key, &big, "EX", "100000"]).unwrap();
        touch(&mut c, T, &[(key, "10000")]);
    }
    let used = used_memory(&mut c);
    call(
        &mut c,
        &["CONFIG", "SET", "maxmemory", &(used - 500_000).to_string()],
    )
    .unwrap();
    let _ = call(&mut c, &["SET", &k("trigger"), "y"]);
    call(&mut c, &["CONFIG", "SET", "maxmemory", "0"]).unwrap();
    let alive = keys
        .iter()
        .filter(|key| int(&call(&mut c, &["EXISTS", key]).unwrap()) == 1)
        .count() as i64;
    assert!(alive < 200, "something was evicted");
    let tracked = info(&mut c, T).0;
    assert_eq!(tracked, alive, "tracker holds exactly the keys that exist");
}

#[test]
fn renamed_moved_copied_and_restored_trackers_follow() {
    let s = Server::start();
    let mut c = s.client();
    set(&mut c, &[&k("x"), "t:{b}:y"]);
    touch(&mut c, T, &[(&k("x"), "1")]);
    // Renamed within its namespace: still tracking, and still told about deletes.
    call(&mut c, &["RENAME", T, "t:{a}:lru-new"]).unwrap();
    call(&mut c, &["COPY", "t:{a}:lru-new", "t:{a}:lru-copy"]).unwrap();
    call(&mut c, &["DEL", &k("x")]).unwrap();
    assert_eq!(info(&mut c, "t:{a}:lru-new").0, 0);
    assert_eq!(info(&mut c, "t:{a}:lru-copy").0, 0);
    // Renamed into another namespace: it keeps nothing of the old one.
    set(&mut c, &[&k("x")]);
    touch(&mut c, "t:{a}:lru-new", &[(&k("x"), "1")]);
    call(&mut c, &["RENAME", "t:{a}:lru-new", "t:{b}:lru"]).unwrap();
    assert_eq!(info(&mut c, "t:{b}:lru").0, 0);
    // DUMP/RESTORE and MOVE.
    touch(&mut c, T, &[(&k("x"), "2")]);
    let dump: Vec<u8> = redis::from_redis_value(&call(&mut c, &["DUMP", T]).unwrap()).unwrap();
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg("t:{a}:lru-r").arg(0).arg(dump);
    let _: () = cmd.query(&mut c).unwrap();
    assert_eq!(info(&mut c, "t:{a}:lru-r").0, 1);
    call(&mut c, &["DEL", &k("x")]).unwrap();
    assert_eq!(
        info(&mut c, "t:{a}:lru-r").0,
        0,
        "restored tracker is indexed"
    );
    call(&mut c, &["SELECT", "1"]).unwrap();
    set(&mut c, &[&k("z")]);
    call(&mut c, &["SELECT", "0"]).unwrap();
    call(&mut c, &["MOVE", T, "1"]).unwrap();
    call(&mut c, &["SELECT", "1"]).unwrap();
    touch(&mut c, T, &[(&k("z"), "1")]);
    call(&mut c, &["DEL", &k("z")]).unwrap();
    assert_eq!(info(&mut c, T).0, 0, "moved tracker indexed in its new db");
    // SWAPDB.
    set(&mut c, &[&k("s")]);
    touch(&mut c, T, &[(&k("s"), "1")]);
    call(&mut c, &["SWAPDB", "0", "1"]).unwrap();
    call(&mut c, &["SELECT", "0"]).unwrap();
    call(&mut c, &["DEL", &k("s")]).unwrap();
    assert_eq!(
        info(&mut c, T).0,
        0,
        "swapped tracker indexed in its new db"
    );
}

fn lru_workload(c: &mut redis::Connection) {
    let keys: Vec<String> = (0..40).map(|i| k(&format!("w{i}"))).collect();
    for (i, key) in keys.iter().enumerate() {
        set(c, &[key]);
        touch(c, T, &[(key, &format!("{}.{}", i, i % 10))]);
    }
    touch(c, T, &[(&keys[3], "100"), (&keys[7], "0.000001")]);
    // One call naming 30 new keys, the first twice: its argument list (62) and the one it
    // replicates are longer than what is kept on the stack, and its changes more than are
    // compared pairwise; the key named twice counts once, by its last size.
    let many: Vec<String> = (0..29).map(|i| k(&format!("x{i}"))).collect();
    for key in &many {
        set(c, &[key]);
    }
    let mut pairs: Vec<(&str, String)> = many
        .iter()
        .enumerate()
        .map(|(i, key)| (key.as_str(), format!("{}", i + 1)))
        .collect();
    pairs.push((&many[0], "77".to_string()));
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (*a, b.as_str())).collect();
    assert_eq!(touch(c, T, &pairs), 29);
    // At its last place, the youngest.
    let tracked = candidates(c, T);
    let young: Vec<&(String, String)> = tracked.iter().rev().take(2).collect();
    assert_eq!(
        young,
        [
            &(many[0].clone(), "77".to_string()),
            &(many[28].clone(), "29".to_string())
        ],
        "{tracked:?}"
    );
    call(c, &["LRU.FORGET", T, &keys[10]]).unwrap();
    call(c, &["QUOTA.INCR", "t:{a}:q", "1000"]).unwrap();
    call(c, &["LRU.EVICT", T, "500", "QUOTA", "t:{a}:q", "MAX", "5"]).unwrap();
    call(c, &["DEL", &keys[20]]).unwrap();
    set(c, &["cache:one"]);
    touch(c, "cache:lru", &[("cache:one", "1")]);
    // A tracker all of whose keys were evicted: empty, with its count.
    set(c, &["gone:a", "gone:b"]);
    touch(c, "gone:lru", &[("gone:a", "1"), ("gone:b", "2")]);
    call(c, &["LRU.EVICT", "gone:lru", "0"]).unwrap();
}

fn lru_snapshot(c: &mut redis::Connection) -> Vec<String> {
    let mut out = Vec::new();
    for tracker in [T, "cache:lru", "gone:lru"] {
        if int(&call(c, &["EXISTS", tracker]).unwrap()) == 0 {
            out.push(format!("{tracker} missing"));
            continue;
        }
        let v: Vec<(String, String, i64)> =
            redis::from_redis_value(&call(c, &["LRU.CANDIDATES", tracker, "1000"]).unwrap())
                .unwrap();
        let m = map_of(call(c, &["LRU.INFO", tracker]).unwrap());
        let evicted = int(&m["evicted"]);
        out.push(format!(
            "{tracker} {:?} evicted {evicted} {v:?}",
            info(c, tracker)
        ));
    }
    let q: Value = call(c, &["QUOTA.GET", "t:{a}:q"]).unwrap();
    let mut keys: Vec<String> = redis::from_redis_value(&call(c, &["KEYS", "*"]).unwrap()).unwrap();
    keys.sort();
    out.push(format!("{q:?} {keys:?}"));
    out
}

#[test]
fn persistence_rdb_aof_rewrite_and_reload() {
    check_aof_and_reload(
        lru_workload,
        lru_snapshot,
        // The index is rebuilt after loading: deletes still reach the trackers.
        |c| {
            let n = info(c, T).0;
            call(c, &["DEL", &k("w30")]).unwrap();
            assert_eq!(info(c, T).0, n - 1);
        },
    );
}

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/lru-encver1.rdb"
);

/// `VIGIL_WRITE_FIXTURE=1 cargo test --test lru write_fixture -- --ignored`
#[test]
#[ignore]
fn write_fixture() {
    write_fixture_if_asked(FIXTURE, |c| {
        set(c, &["fx:{t}:a", "fx:{t}:b", "fx:{t}:c"]);
        call(
            c,
            &[
                "LRU.TOUCHAT",
                "fx:{t}:lru",
                "1700000000000",
                "fx:{t}:a",
                "1.5",
                "fx:{t}:b",
                "2",
            ],
        )
        .unwrap();
        call(
            c,
            &[
                "LRU.TOUCHAT",
                "fx:{t}:lru",
                "1700000000001",
                "fx:{t}:c",
                "3",
            ],
        )
        .unwrap();
    });
}

#[test]
fn fixture_rdb_of_encoding_version_1_loads() {
    let s = server_from_fixture(FIXTURE);
    let mut c = s.client();
    let v: Vec<(String, String, i64)> =
        redis::from_redis_value(&call(&mut c, &["LRU.CANDIDATES", "fx:{t}:lru", "10"]).unwrap())
            .unwrap();
    assert_eq!(
        v,
        [
            ("fx:{t}:a".to_string(), "1.5".to_string(), 1_700_000_000_000),
            ("fx:{t}:b".into(), "2".into(), 1_700_000_000_000),
            ("fx:{t}:c".into(), "3".into(), 1_700_000_000_001),
        ]
    );
    call(&mut c, &["DEL", "fx:{t}:b"]).unwrap();
    assert_eq!(info(&mut c, "fx:{t}:lru"), (2, "4.5".into()));
}

#[test]
fn replica_follows_touch_evict_and_deletes() {
    let primary = Server::start();
    let replica = primary.replica(&[]);
    let mut p = primary.client();
    let mut r = replica.client();
    lru_workload(&mut p);
    call(&mut p, &["PEXPIRE", &k("w31"), "1"]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let _ = call(&mut p, &["GET", &k("w31")]);
    wait_synced(&mut p);
    assert_eq!(lru_snapshot(&mut r), lru_snapshot(&mut p));
    let e = error_of(&mut r, &["LRU.TOUCH", T, &k("w32"), "1"]);
    assert!(e.starts_with("READONLY"), "{e}");
}

/// A tracker written before any replica (nothing replicated is heard then, and the module
/// replicates nothing), the replica's full sync, then the workload: its LRU.TOUCHAT, DELs and
/// quota release must reach the replica (the sync's fork tells the module to look again).
#[test]
fn replica_attached_after_writes_follows_later_ones() {
    let primary = Server::start();
    let mut p = primary.client();
    set(&mut p, &["cache:early"]);
    touch(&mut p, "cache:lru", &[("cache:early", "5")]);
    let replica = primary.replica(&[]);
    let mut r = replica.client();
    lru_workload(&mut p);
    wait_synced(&mut p);
    let on_primary = lru_snapshot(&mut p);
    assert!(
        on_primary.iter().any(|l| l.contains("cache:early")),
        "{on_primary:?}"
    );
    assert_eq!(lru_snapshot(&mut r), on_primary);
}

#[test]
fn evicted_counts_are_added_capped_and_survive_a_rewrite() {
    let mut s = Server::with_aof(false);
    let mut c = s.client();
    let max = i64::MAX.to_string();
    // Bad input: an error, and no tracker made.
    for (args, want) in [
        (vec!["LRU.EVICTED", T, "-1"], "invalid n"),
        (vec!["LRU.EVICTED", T, "x"], "invalid n"),
        (vec!["LRU.EVICTED", "lru", "1"], "no namespace"),
        (vec!["LRU.EVICTED", T, "1", "2"], "wrong number"),
    ] {
        let e = error_of(&mut c, &args);
        assert!(e.contains(want), "{args:?}: {e}");
    }
    assert_eq!(int(&call(&mut c, &["EXISTS", T]).unwrap()), 0);
    call(&mut c, &["SET", "t:{a}:s", "v"]).unwrap();
    let e = error_of(&mut c, &["LRU.EVICTED", "t:{a}:s", "1"]);
    assert!(e.starts_with("WRONGTYPE"), "{e}");
    // An empty tracker made, counts added, the sum capped at 2^63-1.
    assert_eq!(int(&call(&mut c, &["LRU.EVICTED", T, "3"]).unwrap()), 3);
    assert_eq!(info(&mut c, T), (0, "0".to_string()));
    assert_eq!(
        int(&call(&mut c, &["LRU.EVICTED", T, &max]).unwrap()),
        i64::MAX
    );
    assert_eq!(
        int(&call(&mut c, &["LRU.EVICTED", T, &max]).unwrap()),
        i64::MAX
    );
    // A rewrite writes what LRU.EVICTED takes: the server comes back from it.
    call(&mut c, &["BGREWRITEAOF"]).unwrap();
    wait_rewrite(&mut c);
    s.restart(&[]);
    let mut c = s.client();
    let m = map_of(call(&mut c, &["LRU.INFO", T]).unwrap());
    assert_eq!(int(&m["evicted"]), i64::MAX);
    assert_eq!(int(&m["keys"]), 0);
}

#[test]
fn flags_key_specs_events_and_bad_input() {
    let s = Server::start();
    let mut c = s.client();
    for (name, flags, access, extra) in [
        (
            "lru.touch",
            &["write", "denyoom", "fast"][..],
            "RW",
            &["t:{a}:k", "1"][..],
        ),
        (
            "lru.touchat",
            &["write", "denyoom", "fast"],
            "RW",
            &["1", "t:{a}:k", "1"],
        ),
        ("lru.forget", &["write", "fast"], "RW", &["t:{a}:k"]),
        ("lru.candidates", &["readonly"], "RO", &["5"]),
        ("lru.evict", &["write"], "RW", &["0"]),
        ("lru.info", &["readonly"], "RO", &[]),
    ] {
        let text = format!("{:?}", call(&mut c, &["COMMAND", "INFO", name]).unwrap());
        for f in flags {
            assert!(
                text.contains(&format!("\"{f}\"")),
                "{name} lacks {f}: {text}"
            );
        }
        assert!(text.contains(&format!("\"{access}\"")), "{name}: {text}");
        let mut args = vec!["COMMAND", "GETKEYS", name, T];
        args.extend_from_slice(extra);
        let keys: Vec<String> = redis::from_redis_value(&call(&mut c, &args).unwrap()).unwrap();
        assert_eq!(keys, [T], "{name}");
    }
    let keys: Vec<String> = redis::from_redis_value(
        &call(
            &mut c,
            &[
                "COMMAND",
                "GETKEYS",
                "lru.evict",
                T,
                "0",
                "MAX",
                "5",
                "QUOTA",
                "t:{a}:q",
            ],
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(keys, [T, "t:{a}:q"], "QUOTA is a declared key");

    call(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Kd"]).unwrap();
    let mut sub = s.client();
    let mut ps = sub.as_pubsub();
    ps.psubscribe(format!("__keyspace@0__:{T}")).unwrap();
    ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    set(&mut c, &[&k("x"), &k("y")]);
    touch(&mut c, T, &[(&k("x"), "1"), (&k("y"), "1")]);
    call(&mut c, &["LRU.EVICT", T, "0"]).unwrap();
    assert_eq!(
        ps.get_message().unwrap().get_payload::<String>().unwrap(),
        "lru.touch"
    );
    assert_eq!(
        ps.get_message().unwrap().get_payload::<String>().unwrap(),
        "lru.evict"
    );
    drop(ps);

    set(&mut c, &[&k("b1")]);
    touch(&mut c, T, &[(&k("b1"), "2")]);
    call(&mut c, &["SET", "t:{a}:str", "x"]).unwrap();
    let before = (
        lru_snapshot(&mut c),
        int(&call(&mut c, &["DBSIZE"]).unwrap()),
    );
    let b1 = k("b1");
    let cases: &[(&[&str], &str)] = &[
        (&["LRU.TOUCH", T, &b1], "wrong number of arguments"),
        (&["LRU.TOUCH", T], "wrong number of arguments"),
        (
            &["LRU.TOUCH", T, &b1, "1", &b1],
            "wrong number of arguments",
        ),
        (&["LRU.TOUCH", T, &b1, "-1"], "invalid size"),
        (&["LRU.TOUCH", T, &b1, "1e3"], "invalid size"),
        (&["LRU.TOUCH", T, &b1, "NaN"], "invalid size"),
        (&["LRU.TOUCH", T, &b1, "1.2345678"], "invalid size"),
        (&["LRU.TOUCH", T, &b1, ""], "invalid size"),
        (&["LRU.TOUCH", T, &b1, "1", "t:{z}:k", "1"], "outside"),
        (&["LRU.TOUCH", "t:{a}:str", &b1, "1"], "WRONGTYPE"),
        (&["LRU.TOUCHAT", T, "99999999999999", &b1, "1"], "NOW"),
        (&["LRU.TOUCHAT", T, "-5", &b1, "1"], "invalid"),
        (&["LRU.FORGET", T], "wrong number of arguments"),
        (&["LRU.FORGET", "t:{a}:str", &b1], "WRONGTYPE"),
        (&["LRU.CANDIDATES", T], "wrong number of arguments"),
        (&["LRU.CANDIDATES", T, "-1"], "invalid count"),
        (&["LRU.CANDIDATES", T, "x"], "invalid count"),
        (
            &["LRU.CANDIDATES", T, "1", "2"],
            "wrong number of arguments",
        ),
        (&["LRU.CANDIDATES", "t:{a}:str", "1"], "WRONGTYPE"),
        (&["LRU.EVICT", T], "wrong number of arguments"),
        (&["LRU.EVICT", T, "-1"], "invalid target"),
        (&["LRU.EVICT", T, "abc"], "invalid target"),
        (&["LRU.EVICT", T, "0", "MAX"], "MAX needs a value"),
        (&["LRU.EVICT", T, "0", "MAX", "-1"], "invalid MAX"),
        (&["LRU.EVICT", T, "0", "QUOTA"], "QUOTA needs a key"),
        (&["LRU.EVICT", T, "0", "BOGUS"], "unknown option"),
        (&["LRU.EVICT", T, "0", "QUOTA", "t:{a}:str"], "WRONGTYPE"),
        (&["LRU.EVICT", "t:{a}:str", "0"], "WRONGTYPE"),
        (&["LRU.INFO", "t:{a}:str"], "WRONGTYPE"),
        (&["LRU.INFO", T, "x"], "wrong number of arguments"),
        (
            &["LRU.TOUCH", T, "t:{a}:\u{4e00}", "x\u{4e00}"],
            "invalid size",
        ),
    ];
    for (args, want) in cases {
        let e = error_of(&mut c, args);
        assert!(e.contains(want), "{args:?}: {e}");
        assert_eq!(
            (
                lru_snapshot(&mut c),
                int(&call(&mut c, &["DBSIZE"]).unwrap())
            ),
            before,
            "{args:?}"
        );
    }
    assert!(call(&mut c, &["PING"]).is_ok());
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
    let mut pipe = redis::pipe();
    for i in 0..20_000 {
        pipe.cmd("SET").arg(k(&format!("m{i}"))).arg("v").ignore();
    }
    let _: () = pipe.query(&mut c).unwrap();
    let before = used_memory(&mut c);
    let mut pipe = redis::pipe();
    for i in 0..20_000 {
        pipe.cmd("LRU.TOUCH")
            .arg(T)
            .arg(k(&format!("m{i}")))
            .arg(i)
            .ignore();
    }
    // On a connection of its own, closed before measuring: its query buffer would count.
    {
        let mut loader = s.client();
        let _: () = pipe.query(&mut loader).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let real = used_memory(&mut c) - before;
    let reported: i64 =
        redis::from_redis_value(&call(&mut c, &["MEMORY", "USAGE", T]).unwrap()).unwrap();
    let ratio = reported as f64 / real as f64;
    assert!(
        (0.75..=1.25).contains(&ratio),
        "MEMORY USAGE {reported} vs held {real} ({ratio:.2})"
    );
}

/// An AOF with an RDB preamble: its trackers come from the preamble, which names no key, and
/// the commands after it must still reach them. Before, a tracked key deleted and made again
/// after a rewrite was tracked again after a restart (its old size and time), so LRU.EVICT
/// could delete the new, live key; a key renamed away stayed tracked under the old name.
#[test]
fn commands_after_an_aof_preamble_reach_the_trackers_it_loaded() {
    let mut s = Server::with_aof(true);
    let mut c = s.client();
    for k in ["t:{a}:o1", "t:{a}:o2", "t:{a}:o3"] {
        call(&mut c, &["SET", k, "v"]).unwrap();
    }
    call(
        &mut c,
        &[
            "LRU.TOUCH",
            T,
            "t:{a}:o1",
            "5",
            "t:{a}:o2",
            "7",
            "t:{a}:o3",
            "9",
        ],
    )
    .unwrap();
    call(&mut c, &["BGREWRITEAOF"]).unwrap();
    wait_rewrite(&mut c);
    // After the preamble: o1 deleted and made again, o2 renamed away, o3 kept.
    call(&mut c, &["DEL", "t:{a}:o1"]).unwrap();
    call(&mut c, &["SET", "t:{a}:o1", "new"]).unwrap();
    call(&mut c, &["RENAME", "t:{a}:o2", "t:{a}:o4"]).unwrap();
    let before = call(&mut c, &["LRU.CANDIDATES", T, "10"]).unwrap();
    assert_eq!(info(&mut c, T), (1, "9".to_string()));
    s.restart(&[]);
    let mut c = s.client();
    assert_eq!(call(&mut c, &["LRU.CANDIDATES", T, "10"]).unwrap(), before);
    assert_eq!(info(&mut c, T), (1, "9".to_string()));
}

/// A tracker renamed to a name without a namespace holds no key, but is still a key: an AOF
/// rewrite (without the preamble) writes it as `LRU.EVICTED name n`, which the load takes.
/// Before, the load refused that command and the key was gone after a restart.
#[test]
fn a_tracker_renamed_out_of_every_namespace_survives_a_rewrite() {
    let mut s = Server::with_aof(false);
    let mut c = s.client();
    call(&mut c, &["SET", "t:{a}:o1", "v"]).unwrap();
    call(&mut c, &["LRU.TOUCH", T, "t:{a}:o1", "5"]).unwrap();
    call(&mut c, &["RENAME", T, "nons"]).unwrap();
    assert_eq!(info(&mut c, "nons"), (0, "0".to_string()));
    // A client still may not make one.
    let e = error_of(&mut c, &["LRU.EVICTED", "other", "1"]);
    assert!(e.contains("no namespace"), "{e}");
    call(&mut c, &["BGREWRITEAOF"]).unwrap();
    wait_rewrite(&mut c);
    s.restart(&[]);
    let mut c = s.client();
    let t: String = redis::from_redis_value(&call(&mut c, &["TYPE", "nons"]).unwrap()).unwrap();
    assert_eq!(t, "vigil-lru");
    assert_eq!(info(&mut c, "nons"), (0, "0".to_string()));
}
