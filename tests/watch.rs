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

/// Every change a module command makes fails the EXEC of whoever watches the key it changed,
/// including the changes the server makes on its own (the sweep) and a tracker dropping a key
/// another command deleted. The module marks keys modified itself, where it replicates a
/// change; this lists each kind of change, so that one that forgot to would show.
#[test]
fn every_kind_of_change_fails_the_exec() {
    let s = Server::start();
    let mut c = s.client();
    let now = common::alerts::now_ms();
    let doc = r#"{"severity":"high","source":"db","type":"disk"}"#;
    let v: Vec<Value> =
        redis::from_redis_value(&call(&mut c, &["ALERT.ADD", "s", doc]).unwrap()).unwrap();
    let id: String = redis::from_redis_value(&v[1]).unwrap();
    for k in ["t:{a}:x", "t:{a}:y", "t:{a}:z"] {
        call(&mut c, &["SET", k, "v"]).unwrap();
    }
    call(
        &mut c,
        &["LRU.TOUCH", "t:{a}:lru", "t:{a}:x", "10", "t:{a}:y", "10"],
    )
    .unwrap();
    call(
        &mut c,
        &[
            "QUOTA.SET",
            "t:{a}:q",
            "LIMIT",
            "100",
            "ALERTS",
            "t:{a}:s",
            "AT",
            "50",
        ],
    )
    .unwrap();
    let later = (now + 3_600_000).to_string();
    let silence: i64 = redis::from_redis_value(
        &call(
            &mut c,
            &["ALERT.SILENCE", "s", "UNTIL", &later, "SOURCE", "web"],
        )
        .unwrap(),
    )
    .unwrap();
    let silence = silence.to_string();
    let import_id = format!("{}-5", now - 1000);
    // Evicts a key it is given just before (the tracker is emptied by the call before it).
    let evict_quota = [
        "LRU.EVICT",
        "t:{a}:lru",
        "0",
        "MAX",
        "1",
        "QUOTA",
        "t:{a}:q",
    ];
    let writes: Vec<(&str, Vec<&str>)> = vec![
        ("n", vec!["ALERT.CREATE", "n"]),
        ("s", vec!["ALERT.ALTER", "s", "DEDUP", "1000"]),
        ("s", vec!["ALERT.ADD", "s", doc]),
        ("s", vec!["ALERT.IMPORT", "s", &import_id, "{}"]),
        (
            "s",
            vec!["ALERT.SILENCE", "s", "UNTIL", &later, "SOURCE", "db"],
        ),
        ("s", vec!["ALERT.UNSILENCE", "s", &silence]),
        ("s", vec!["ALERT.DEL", "s", &id]),
        ("t:{a}:q", vec!["QUOTA.INCR", "t:{a}:q", "5"]),
        // The threshold's alert goes to the quota's stream.
        ("t:{a}:s", vec!["QUOTA.INCR", "t:{a}:q", "60"]),
        ("t:{a}:q", vec!["QUOTA.RESET", "t:{a}:q"]),
        ("t:{a}:q", vec!["QUOTA.SET", "t:{a}:q", "LIMIT", "10"]),
        // A refused increment that sets a LIMIT changes the limit.
        (
            "t:{a}:q",
            vec!["QUOTA.INCR", "t:{a}:q", "50", "LIMIT", "20"],
        ),
        ("t:{a}:lru", vec!["LRU.EVICT", "t:{a}:lru", "0", "MAX", "1"]),
        ("t:{a}:q", evict_quota.to_vec()),
        ("t:{a}:lru", vec!["LRU.TOUCH", "t:{a}:lru", "t:{a}:z", "5"]),
        // A tracked key deleted by DEL: its tracker drops it.
        ("t:{a}:lru", vec!["DEL", "t:{a}:z"]),
    ];
    call(&mut c, &["LRU.TOUCH", "t:{a}:lru", "t:{a}:x", "10"]).unwrap();
    for (watched, write) in &writes {
        if *write == evict_quota {
            call(&mut c, &["SET", "t:{a}:y", "v"]).unwrap();
            call(&mut c, &["LRU.TOUCH", "t:{a}:lru", "t:{a}:y", "1"]).unwrap();
        }
        assert!(
            !exec_runs_after(&s, watched, write),
            "EXEC ran after {write:?} changed the watched {watched}"
        );
    }
    // The sweep's changes: an alert leaving the retention of an idle stream, a silence ending.
    call(&mut c, &["ALERT.CREATE", "r", "RETENTION", "200"]).unwrap();
    call(&mut c, &["ALERT.ADD", "r", "{}"]).unwrap();
    let until = (common::alerts::now_ms() + 150).to_string();
    call(
        &mut c,
        &["ALERT.SILENCE", "u", "UNTIL", &until, "SOURCE", "x"],
    )
    .unwrap();
    let mut watchers: Vec<(&str, redis::Connection)> = ["r", "u"]
        .into_iter()
        .map(|k| {
            let mut w = s.client();
            call(&mut w, &["WATCH", k]).unwrap();
            (k, w)
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(400));
    for (watched, w) in &mut watchers {
        let v: Value = redis::pipe().atomic().cmd("PING").query(w).unwrap();
        assert_eq!(v, Value::Nil, "EXEC ran after the sweep changed {watched}");
    }
}

/// A command that answers an error or changes nothing leaves a WATCH on its key alone, as a
/// core command does (a failed SET NX, an INCR of a string that is not a number): the spec's
/// "an error changes nothing". Redis marked every key the module opened for writing as
/// modified, whatever the command then did (found by two black-box audits).
#[test]
fn an_error_or_a_write_that_changes_nothing_leaves_the_watch_alone() {
    let s = Server::start();
    let mut c = s.client();
    let now = common::alerts::now_ms();
    call(&mut c, &["SET", "str", "x"]).unwrap();
    call(&mut c, &["SET", "t:{a}:x", "v"]).unwrap();
    call(
        &mut c,
        &[
            "ALERT.CREATE",
            "lim",
            "RATELIMIT",
            "1",
            "3600000",
            "MAXLEN",
            "1",
            "RETENTION",
            "0",
        ],
    )
    .unwrap();
    let v: Vec<Value> =
        redis::from_redis_value(&call(&mut c, &["ALERT.ADD", "lim", r#"{"source":"a"}"#]).unwrap())
            .unwrap();
    let id: String = redis::from_redis_value(&v[1]).unwrap();
    call(&mut c, &["QUOTA.SET", "t:{a}:q", "LIMIT", "10"]).unwrap();
    call(
        &mut c,
        &["QUOTA.SET", "w", "LIMIT", "10", "WINDOW", "60000"],
    )
    .unwrap();
    call(&mut c, &["LRU.TOUCH", "t:{a}:lru", "t:{a}:x", "10"]).unwrap();
    let old = (now - 10_000_000).to_string();
    let unknown = format!("{}-9", now - 5);
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("str", vec!["ALERT.CREATE", "str"]),
        ("str", vec!["ALERT.ADD", "str", "{}"]),
        ("str", vec!["QUOTA.INCR", "str", "1"]),
        ("str", vec!["LRU.TOUCH", "str", "x", "1"]),
        ("lim", vec!["ALERT.CREATE", "lim"]),
        ("lim", vec!["ALERT.ADD", "lim", "{}", "ID", &id]),
        // Limited: one alert of source a an hour (another fingerprint: not a duplicate).
        (
            "lim",
            vec!["ALERT.ADD", "lim", r#"{"source":"a","fingerprint":"f2"}"#],
        ),
        (
            "lim",
            vec!["ALERT.ADD", "lim", r#"{"source":"b"}"#, "TS", &old],
        ),
        ("lim", vec!["ALERT.ACK", "lim", &unknown]),
        ("lim", vec!["ALERT.RESOLVE", "lim", &unknown]),
        ("lim", vec!["ALERT.DEL", "lim", &unknown]),
        ("lim", vec!["ALERT.UNSILENCE", "lim", "77"]),
        ("lim", vec!["ALERT.TRIM", "lim", "MAXLEN", "5"]),
        ("lim", vec!["ALERT.ADD", "lim", "not json"]),
        ("missing", vec!["ALERT.ALTER", "missing", "DEDUP", "1"]),
        ("missing", vec!["QUOTA.RESET", "missing"]),
        ("t:{a}:q", vec!["QUOTA.INCR", "t:{a}:q", "50"]),
        ("w", vec!["QUOTA.INCR", "w", "-1"]),
        ("t:{a}:lru", vec!["LRU.FORGET", "t:{a}:lru", "t:{a}:nope"]),
        ("t:{a}:lru", vec!["LRU.EVICT", "t:{a}:lru", "1000"]),
        (
            "t:{a}:lru",
            vec!["LRU.TOUCH", "t:{a}:lru", "t:{a}:gone", "1"],
        ),
        (
            "t:{a}:new",
            vec!["LRU.TOUCH", "t:{a}:new", "t:{a}:gone", "1"],
        ),
    ];
    let mut failures = Vec::new();
    for (watched, write) in &cases {
        let mut w = s.client();
        let mut other = s.client();
        call(&mut w, &["WATCH", watched]).unwrap();
        let _ = call(&mut other, write);
        let v: Value = redis::pipe().atomic().cmd("PING").query(&mut w).unwrap();
        if v == Value::Nil {
            failures.push(format!("{write:?} aborted the EXEC watching {watched}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
