//! WATCH sees the module's writes as it sees a core command's: a write by another client to a
//! watched stream, quota or tracker, or to a key LRU.EVICT deletes, makes the EXEC fail.

mod common;
use common::*;
use redis::Value;

/// WATCH `watched`, let another client run `write`, then EXEC: whether it ran.
fn exec_runs_after(s: &Server, watched: &str, write: &[&str]) -> bool {
    let mut c = s.client();
    let mut other = s.client();
    call(&mut c, &["WATCH", watched]).unwrap();
    call(&mut other, write).unwrap_or_else(|e| panic!("{write:?}: {e}"));
    let v: Value = redis::pipe().atomic().cmd("PING").query(&mut c).unwrap();
    v != Value::Nil
}

#[test]
fn a_module_write_fails_the_exec_of_whoever_watches_its_key() {
    let s = Server::start();
    let mut c = s.client();
    let add = r#"{"severity":"high","source":"db"}"#;
    let v: Vec<Value> =
        redis::from_redis_value(&call(&mut c, &["ALERT.ADD", "s", add]).unwrap()).unwrap();
    let id: String = redis::from_redis_value(&v[1]).unwrap();
    for k in ["t:a", "t:b"] {
        call(&mut c, &["SET", k, "v"]).unwrap();
    }
    call(&mut c, &["QUOTA.SET", "t:q", "LIMIT", "100"]).unwrap();
    call(&mut c, &["LRU.TOUCH", "t:lru", "t:a", "10", "t:b", "10"]).unwrap();
    let writes: [(&str, Vec<&str>); 8] = [
        ("s", vec!["ALERT.ADD", "s", r#"{"source":"web"}"#]),
        ("s", vec!["ALERT.ACK", "s", &id]),
        ("s", vec!["ALERT.RESOLVE", "s", &id]),
        ("s", vec!["ALERT.TRIM", "s", "MAXLEN", "0"]),
        ("t:q", vec!["QUOTA.INCR", "t:q", "5"]),
        ("t:lru", vec!["LRU.TOUCH", "t:lru", "t:a", "20"]),
        ("t:lru", vec!["LRU.FORGET", "t:lru", "t:a"]),
        // The key LRU.EVICT deletes, as DEL would.
        ("t:b", vec!["LRU.EVICT", "t:lru", "0", "MAX", "1"]),
    ];
    for (watched, write) in &writes {
        assert!(
            !exec_runs_after(&s, watched, write),
            "EXEC ran after {write:?} changed the watched {watched}"
        );
    }
    // A write to another key leaves the watch alone.
    assert!(exec_runs_after(&s, "s", &["QUOTA.INCR", "t:q", "1"]));
}
