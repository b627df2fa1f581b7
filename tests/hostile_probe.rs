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
    assert_eq!(panics(&mut c), "0", "{}", s.log());
}
