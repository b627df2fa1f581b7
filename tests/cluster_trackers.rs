//! Trackers that arrive where their keys may not be, on one server. By RESTORE, MOVE or COPY a
//! tracker forgets the keys that are not there (a name it kept could later belong to an
//! unrelated key, which LRU.EVICT would delete); by SWAPDB it travels with its keys; and a key
//! that arrives keeps the idle time it came with (RESTORE ... IDLETIME). What a slot migration
//! does instead — keys on their way stay tracked — is in tests/cluster.rs.

mod common;
use common::*;

const T: &str = "tenant:{a}:lru";

fn k(i: usize) -> String {
    format!("tenant:{{a}}:k{i}")
}

/// (keys, total) of a tracker.
fn info(c: &mut redis::Connection, tracker: &str) -> (i64, String) {
    let m = map_of(call(c, &["LRU.INFO", tracker]).unwrap());
    (
        int(&m["keys"]),
        redis::from_redis_value(&m["total"]).unwrap(),
    )
}

fn candidates(c: &mut redis::Connection, tracker: &str) -> Vec<(String, String, i64)> {
    redis::from_redis_value(&call(c, &["LRU.CANDIDATES", tracker, "100"]).unwrap()).unwrap()
}

/// Tracks k0..k(n-1), each set first, sizes 1, 2, 3 ... at explicit times.
fn track(c: &mut redis::Connection, n: usize) {
    for i in 0..n {
        call(c, &["SET", &k(i), "v"]).unwrap();
        call(
            c,
            &[
                "LRU.TOUCHAT",
                T,
                &(1_700_000_000_000u64 + i as u64).to_string(),
                &k(i),
                &(i + 1).to_string(),
            ],
        )
        .unwrap();
    }
}

fn dump(c: &mut redis::Connection, key: &str) -> Vec<u8> {
    redis::from_redis_value(&call(c, &["DUMP", key]).unwrap()).unwrap()
}

fn restore(c: &mut redis::Connection, key: &str, payload: &[u8], extra: &[&str]) {
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg(key).arg(0).arg(payload);
    for e in extra {
        cmd.arg(*e);
    }
    let _: () = cmd.query(c).unwrap();
}

/// Hostile-probe row 3, as measured: the restored tracker counted 3 keys with none present, and
/// LRU.EVICT then deleted a new key that nobody had touched.
#[test]
fn a_restored_tracker_forgets_keys_that_are_not_there() {
    let s = Server::start();
    let mut c = s.client();
    track(&mut c, 3);
    let payload = dump(&mut c, T);
    call(&mut c, &["FLUSHALL"]).unwrap();
    restore(&mut c, T, &payload, &[]);
    assert_eq!(info(&mut c, T), (0, "0".to_string()));
    call(&mut c, &["SET", &k(0), "unrelated"]).unwrap();
    let v: (i64, String, String, Vec<String>) =
        redis::from_redis_value(&call(&mut c, &["LRU.EVICT", T, "0"]).unwrap()).unwrap();
    assert_eq!(v, (0, "0".into(), "0".into(), vec![]));
    assert_eq!(int(&call(&mut c, &["EXISTS", &k(0)]).unwrap()), 1);

    // Where some of its keys exist, it keeps those, with their sizes and times.
    call(&mut c, &["SET", &k(2), "here"]).unwrap();
    restore(&mut c, "tenant:{a}:lru2", &payload, &[]);
    assert_eq!(
        candidates(&mut c, "tenant:{a}:lru2"),
        vec![
            (k(0), "1".into(), 1_700_000_000_000),
            (k(2), "3".into(), 1_700_000_000_002)
        ]
    );
    // RESTORE-ASKING outside a cluster is a RESTORE like any other.
    call(&mut c, &["DEL", &k(2)]).unwrap();
    let mut cmd = redis::cmd("RESTORE-ASKING");
    cmd.arg("tenant:{a}:lru3").arg(0).arg(&payload);
    let _: () = cmd.query(&mut c).unwrap();
    assert_eq!(info(&mut c, "tenant:{a}:lru3").0, 1);
}

#[test]
fn a_moved_or_copied_tracker_forgets_keys_that_are_not_there() {
    let s = Server::start();
    let mut c = s.client();
    track(&mut c, 3);
    call(&mut c, &["SELECT", "1"]).unwrap();
    call(&mut c, &["SET", &k(1), "db1"]).unwrap();
    call(&mut c, &["SELECT", "0"]).unwrap();
    call(&mut c, &["COPY", T, "tenant:{a}:copy", "DB", "1"]).unwrap();
    call(&mut c, &["MOVE", T, "1"]).unwrap();
    call(&mut c, &["SELECT", "1"]).unwrap();
    for tracker in [T, "tenant:{a}:copy"] {
        assert_eq!(
            candidates(&mut c, tracker),
            vec![(k(1), "2".into(), 1_700_000_000_001)],
            "{tracker} keeps only the key that exists in db 1"
        );
    }
    call(&mut c, &["SET", &k(0), "unrelated"]).unwrap();
    let v: (i64, String, String, Vec<String>) =
        redis::from_redis_value(&call(&mut c, &["LRU.EVICT", T, "0"]).unwrap()).unwrap();
    assert_eq!(v, (1, "2".into(), "0".into(), vec![k(1)]));
    assert_eq!(int(&call(&mut c, &["EXISTS", &k(0)]).unwrap()), 1);
    // A copy within the database tracks the same keys, which are all there.
    call(&mut c, &["SELECT", "0"]).unwrap();
    track(&mut c, 2);
    call(&mut c, &["COPY", T, "tenant:{a}:twin"]).unwrap();
    assert_eq!(info(&mut c, "tenant:{a}:twin").0, 2);
}

/// SWAPDB moves whole databases: a tracker travels with its keys and forgets nothing.
#[test]
fn swapdb_moves_a_tracker_with_its_keys() {
    let s = Server::start();
    let mut c = s.client();
    track(&mut c, 3);
    call(&mut c, &["SWAPDB", "0", "1"]).unwrap();
    call(&mut c, &["SELECT", "1"]).unwrap();
    assert_eq!(info(&mut c, T), (3, "6".to_string()));
    let v: (i64, String, String, Vec<String>) =
        redis::from_redis_value(&call(&mut c, &["LRU.EVICT", T, "3"]).unwrap()).unwrap();
    assert_eq!(v.3, vec![k(0), k(1)]);
    assert_eq!(
        int(&call(&mut c, &["EXISTS", &k(0), &k(1), &k(2)]).unwrap()),
        1
    );
}

/// Hostile-probe row 7: Redis's own `RESTORE can set LRU` failed with the module loaded,
/// because the restore handler opened every arriving key for writing.
#[test]
fn restore_keeps_the_idle_time_it_was_given() {
    let s = Server::start();
    let mut c = s.client();
    track(&mut c, 1);
    call(&mut c, &["ALERT.ADD", "tenant:{a}:alerts", "{}"]).unwrap();
    call(&mut c, &["QUOTA.SET", "tenant:{a}:quota", "LIMIT", "5"]).unwrap();
    for key in [k(0).as_str(), T, "tenant:{a}:alerts", "tenant:{a}:quota"] {
        let payload = dump(&mut c, key);
        // In one transaction: no timer runs between the two.
        let (_, idle): ((), i64) = redis::pipe()
            .atomic()
            .cmd("RESTORE")
            .arg(key)
            .arg(0)
            .arg(payload)
            .arg("REPLACE")
            .arg("IDLETIME")
            .arg(1000)
            .cmd("OBJECT")
            .arg("IDLETIME")
            .arg(key)
            .query(&mut c)
            .unwrap();
        assert!(
            idle >= 1000,
            "{key}: OBJECT IDLETIME {idle} after RESTORE ... IDLETIME 1000"
        );
    }
    // The restored tracker still tracks its key, and the stream is swept and read as before.
    assert_eq!(info(&mut c, T).0, 1);
    let n: Vec<String> = redis::from_redis_value(
        &call(&mut c, &["ALERT.RANGE", "tenant:{a}:alerts", "-", "+"]).unwrap(),
    )
    .unwrap();
    assert_eq!(n.len(), 1);
}

/// A replica and an AOF replay reach the state the primary reached when a tracker arrived.
#[test]
fn an_arriving_tracker_is_the_same_on_a_replica_and_after_an_aof_replay() {
    let mut s = Server::start_with(&["--save", "", "--appendonly", "yes"]);
    let replica = s.replica(&[]);
    let mut c = s.client();
    track(&mut c, 4);
    let payload = dump(&mut c, T);
    call(&mut c, &["DEL", &k(1), &k(3)]).unwrap();
    restore(&mut c, "tenant:{a}:back", &payload, &[]);
    call(&mut c, &["SELECT", "2"]).unwrap();
    call(&mut c, &["SET", &k(0), "db2"]).unwrap();
    call(&mut c, &["SELECT", "0"]).unwrap();
    call(&mut c, &["MOVE", "tenant:{a}:back", "2"]).unwrap();
    let expected = vec![(k(0), "1".to_string(), 1_700_000_000_000)];
    call(&mut c, &["SELECT", "2"]).unwrap();
    assert_eq!(candidates(&mut c, "tenant:{a}:back"), expected);
    wait_synced(&mut c);
    let mut r = replica.client();
    call(&mut r, &["SELECT", "2"]).unwrap();
    assert_eq!(candidates(&mut r, "tenant:{a}:back"), expected, "replica");
    s.restart(&[]);
    let mut c = s.client();
    call(&mut c, &["SELECT", "2"]).unwrap();
    assert_eq!(
        candidates(&mut c, "tenant:{a}:back"),
        expected,
        "AOF replay"
    );
}

/// A tracker that comes back by a load (DEBUG RELOAD here; a restart or a full sync alike)
/// forgets the keys that did not: an expired key is not loaded, and raises no event.
#[test]
fn a_loaded_tracker_forgets_keys_that_did_not_come_back() {
    let s = Server::start();
    let mut c = s.client();
    call(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]).unwrap();
    // Its TTL given before any tracker of its namespace was made: left to Redis's own expiry,
    // which is off (a TTL given to a key of a tracker's namespace is looked up at its time).
    call(&mut c, &["SET", &k(1), "v", "PX", "50"]).unwrap();
    track(&mut c, 1);
    call(&mut c, &["LRU.TOUCHAT", T, "1700000000001", &k(1), "2"]).unwrap();
    call(&mut c, &["SET", &k(2), "v"]).unwrap();
    call(&mut c, &["LRU.TOUCHAT", T, "1700000000002", &k(2), "3"]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    // Expired but not yet deleted: saved, then skipped by the load.
    assert_eq!(info(&mut c, T), (3, "6".to_string()));
    call(&mut c, &["DEBUG", "RELOAD"]).unwrap();
    call(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]).unwrap();
    assert_eq!(info(&mut c, T), (2, "4".to_string()));
    let names: Vec<String> = candidates(&mut c, T).into_iter().map(|e| e.0).collect();
    assert_eq!(names, [k(0), k(2)]);
}
