//! The change feed (ALERT.READ, with BLOCK), silences, auto-resolve, ALERT.GROUPS and the bound
//! on remembered IDs, against a real redis-server.

mod common;
use common::*;
use redis::Value;
use std::thread;
use std::time::{Duration, Instant};

fn now_ms() -> i64 {
    common::alerts::now_ms()
}

fn add(c: &mut redis::Connection, key: &str, doc: &str) -> String {
    let v = call(c, &["ALERT.ADD", key, doc]).unwrap();
    let (outcome, id, _): (String, Option<String>, i64) = redis::from_redis_value(&v).unwrap();
    assert!(outcome == "added" || outcome == "duplicate", "{outcome}");
    id.unwrap()
}

/// A READ reply: (next cursor, [(cursor, alert)]); None for nil.
type Feed = (String, Vec<(String, serde_json::Value)>);

fn parse_read(v: Value) -> Option<Feed> {
    if v == Value::Nil {
        return None;
    }
    let (next, items): (String, Vec<(String, String)>) =
        redis::from_redis_value(&v).unwrap_or_else(|e| panic!("{v:?}: {e}"));
    Some((
        next,
        items
            .into_iter()
            .map(|(cur, a)| (cur, serde_json::from_str(&a).unwrap()))
            .collect(),
    ))
}

fn read(c: &mut redis::Connection, args: &[&str]) -> Option<Feed> {
    let mut all = vec!["ALERT.READ"];
    all.extend_from_slice(args);
    parse_read(call(c, &all).unwrap_or_else(|e| panic!("{args:?}: {e}")))
}

fn ids(feed: &Feed) -> Vec<String> {
    feed.1
        .iter()
        .map(|(_, a)| a["id"].as_str().unwrap().to_string())
        .collect()
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn read_returns_each_change_once_in_order() {
    let s = Server::start();
    let mut c = s.client();
    let a = add(&mut c, "s", r#"{"severity":"high","source":"db"}"#);
    let b = add(&mut c, "s", r#"{"severity":"low","source":"web"}"#);
    let feed = read(&mut c, &["s", "AFTER", "0"]).unwrap();
    assert_eq!(ids(&feed), [a.as_str(), b.as_str()]);
    assert_eq!(feed.0, feed.1[1].0, "next cursor is the last returned");
    let after_two = feed.0.clone();
    // Nothing new: the given cursor comes back.
    assert_eq!(
        read(&mut c, &["s", "AFTER", &after_two]).unwrap(),
        (after_two.clone(), vec![])
    );
    // $: only what changes after this call.
    assert_eq!(read(&mut c, &["s", "AFTER", "$"]).unwrap().0, after_two);
    // A duplicate, then an ACK of the same alert: it comes once, in its current state.
    add(&mut c, "s", r#"{"severity":"high","source":"db"}"#);
    call(&mut c, &["ALERT.ACK", "s", &a]).unwrap();
    let feed = read(&mut c, &["s", "AFTER", &after_two]).unwrap();
    assert_eq!(ids(&feed), [a.as_str()]);
    assert_eq!(feed.1[0].1["count"], 2);
    assert_eq!(feed.1[0].1["status"], "acked");
    // COUNT, filters, and a filtered-out change still advancing the cursor.
    let feed = read(&mut c, &["s", "AFTER", "0", "COUNT", "1"]).unwrap();
    assert_eq!(ids(&feed), [b.as_str()]);
    let feed = read(&mut c, &["s", "AFTER", "0", "MINSEVERITY", "high"]).unwrap();
    assert_eq!(ids(&feed), [a.as_str()]);
    let feed = read(&mut c, &["s", "AFTER", &after_two, "SOURCE", "web"]).unwrap();
    assert!(feed.1.is_empty());
    assert_ne!(feed.0, after_two, "moved past the filtered-out change");
    // Deleted alerts are not returned.
    call(&mut c, &["ALERT.DEL", "s", &b]).unwrap();
    assert_eq!(
        ids(&read(&mut c, &["s", "AFTER", "0"]).unwrap()),
        [a.as_str()]
    );
    // A missing key reads as an empty stream.
    assert_eq!(
        read(&mut c, &["nokey", "AFTER", "0"]).unwrap(),
        ("0".to_string(), vec![])
    );
    assert_eq!(int(&call(&mut c, &["EXISTS", "nokey"]).unwrap()), 0);
    // Ahead of the stream: the notifier must start again.
    let ahead = (feed_revision(&mut c, "s") + 1).to_string();
    assert_eq!(
        error_of(&mut c, &["ALERT.READ", "s", "AFTER", &ahead]),
        "ERR cursor is ahead of the stream"
    );
    assert_eq!(
        error_of(&mut c, &["ALERT.READ", "nokey", "AFTER", "5"]),
        "ERR cursor is ahead of the stream"
    );
}

fn feed_revision(c: &mut redis::Connection, key: &str) -> u64 {
    int(&map_of(call(c, &["ALERT.INFO", key]).unwrap())["revision"]) as u64
}

#[test]
fn read_bad_input_is_refused_and_changes_nothing() {
    let s = Server::start();
    let mut c = s.client();
    add(&mut c, "s", "{}");
    let info_before = call(&mut c, &["ALERT.INFO", "s"]).unwrap();
    for (args, want) in [
        (vec!["s", "AFTER", "x1"], "invalid cursor 'x1'"),
        (vec!["s", "AFTER", "-1"], "invalid cursor '-1'"),
        (vec!["s", "AFTER", "1.5"], "invalid cursor"),
        (vec!["s", "FROM", "0"], "expected AFTER"),
        (vec!["s", "AFTER", "0", "COUNT", "0"], "invalid COUNT '0'"),
        (vec!["s", "AFTER", "0", "COUNT", "-3"], "invalid COUNT"),
        (vec!["s", "AFTER", "0", "BLOCK", "-1"], "invalid BLOCK '-1'"),
        (vec!["s", "AFTER", "0", "BLOCK", "soon"], "invalid BLOCK"),
        (vec!["s", "AFTER", "0", "BLOCK"], "BLOCK needs a value"),
        (
            vec!["s", "AFTER", "0", "MINSEVERITY", "urgent"],
            "invalid severity",
        ),
        (vec!["s", "AFTER", "0", "LABEL", "novalue"], "invalid LABEL"),
        (vec!["s", "AFTER", "0", "FOO"], "unknown option 'FOO'"),
    ] {
        let mut all = vec!["ALERT.READ"];
        all.extend(args.iter());
        let e = error_of(&mut c, &all);
        assert!(e.contains(want), "{args:?}: {e}");
    }
    assert!(error_of(&mut c, &["ALERT.READ", "s", "AFTER"]).contains("wrong number"));
    assert_eq!(call(&mut c, &["ALERT.INFO", "s"]).unwrap(), info_before);
}

/// A connection that runs one blocking READ in a thread; the reply comes on the channel.
fn blocked_read(s: &Server, args: Vec<String>) -> std::sync::mpsc::Receiver<Option<Feed>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut c = s.client();
    thread::spawn(move || {
        let mut cmd = redis::cmd("ALERT.READ");
        for a in &args {
            cmd.arg(a);
        }
        let v: Value = cmd.query(&mut c).expect("blocking read");
        let _ = tx.send(parse_read(v));
    });
    rx
}

fn blocked_clients(c: &mut redis::Connection) -> i64 {
    info_field(c, "clients", "blocked_clients")
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn blocked_readers_wake_on_visible_changes_and_time_out_with_nil() {
    let s = Server::start();
    let mut c = s.client();
    add(&mut c, "s", r#"{"source":"first"}"#);
    // Several readers on one key, one on another key, one filtered.
    let r1 = blocked_read(&s, strings(&["s", "AFTER", "$", "BLOCK", "0"]));
    let r2 = blocked_read(&s, strings(&["s", "AFTER", "$", "BLOCK", "0"]));
    let other = blocked_read(&s, strings(&["t", "AFTER", "$", "BLOCK", "0"]));
    let filtered = blocked_read(
        &s,
        strings(&["s", "AFTER", "$", "BLOCK", "0", "MINSEVERITY", "critical"]),
    );
    wait_until("4 blocked clients", Duration::from_secs(5), || {
        blocked_clients(&mut c) == 4
    });
    let id = add(&mut c, "s", r#"{"severity":"low","source":"x"}"#);
    for r in [&r1, &r2] {
        let feed = r.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(ids(&feed), [id.as_str()]);
    }
    // The low alert does not pass the filter: that reader stays blocked.
    thread::sleep(Duration::from_millis(200));
    assert!(filtered.try_recv().is_err());
    assert_eq!(blocked_clients(&mut c), 2);
    let crit = add(&mut c, "s", r#"{"severity":"critical","source":"y"}"#);
    let feed = filtered
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .unwrap();
    assert_eq!(ids(&feed), [crit]);
    let tid = add(&mut c, "t", "{}");
    let feed = other.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(ids(&feed), [tid]);
    // A timeout answers nil.
    let started = Instant::now();
    assert_eq!(read(&mut c, &["s", "AFTER", "$", "BLOCK", "150"]), None);
    assert!(started.elapsed() >= Duration::from_millis(140));
    // A READ with something to return does not block.
    assert!(read(&mut c, &["s", "AFTER", "0", "BLOCK", "0"]).is_some());
    assert_eq!(blocked_clients(&mut c), 0);
}

#[test]
fn block_waits_when_nothing_after_the_cursor_is_left_to_return() {
    let s = Server::start();
    let mut c = s.client();
    // A new, empty stream: its revision starts at the clock, with no alert after 0.
    call(&mut c, &["ALERT.CREATE", "t"]).unwrap();
    let started = Instant::now();
    assert_eq!(read(&mut c, &["t", "AFTER", "0", "BLOCK", "200"]), None);
    assert!(started.elapsed() >= Duration::from_millis(190));
    // The newest change was to an alert since deleted: nothing to return, so it waits.
    let a = add(&mut c, "t", r#"{"source":"a"}"#);
    let cursor = read(&mut c, &["t", "AFTER", "0"]).unwrap().0;
    let b = add(&mut c, "t", r#"{"source":"b"}"#);
    call(&mut c, &["ALERT.DEL", "t", &b]).unwrap();
    let started = Instant::now();
    assert_eq!(read(&mut c, &["t", "AFTER", &cursor, "BLOCK", "200"]), None);
    assert!(started.elapsed() >= Duration::from_millis(190));
    // And a change then wakes it.
    let r = blocked_read(&s, strings(&["t", "AFTER", &cursor, "BLOCK", "0"]));
    wait_until("a blocked reader", Duration::from_secs(5), || {
        blocked_clients(&mut c) == 1
    });
    call(&mut c, &["ALERT.ACK", "t", &a]).unwrap();
    let feed = r.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(ids(&feed), [a.as_str()]);
    // The largest BLOCK waits too, on every server (Valkey 9 and Redis 8 answered "ERR
    // timeout is out of range", Redis 7.0 waited).
    let r = blocked_read(
        &s,
        strings(&["t", "AFTER", &feed.0, "BLOCK", "9223372036854775807"]),
    );
    wait_until("a reader blocked for ever", Duration::from_secs(5), || {
        blocked_clients(&mut c) == 1
    });
    call(&mut c, &["ALERT.RESOLVE", "t", &a]).unwrap();
    let feed = r.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(ids(&feed), [a.as_str()]);
}

/// SPEC: a read that times out answers nil, as XREAD: in RESP2 that is the null array `*-1`
/// (the null bulk string `$-1` was sent, which a client that checks types reads as a string).
#[test]
fn a_read_that_times_out_answers_xreads_nil() {
    use std::io::{Read, Write};
    let s = Server::start();
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = |cmd: &str| -> String {
        raw.write_all(cmd.as_bytes()).unwrap();
        let mut buf = [0u8; 64];
        let n = raw.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(
        answer("XREAD BLOCK 10 STREAMS x $\r\n"),
        "*-1\r\n",
        "the anchor"
    );
    assert_eq!(answer("ALERT.READ s AFTER $ BLOCK 10\r\n"), "*-1\r\n");
    // Where it may not block: the same nil at once.
    assert_eq!(answer("MULTI\r\n"), "+OK\r\n");
    assert_eq!(answer("ALERT.READ s AFTER $ BLOCK 0\r\n"), "+QUEUED\r\n");
    assert_eq!(answer("EXEC\r\n"), "*1\r\n*-1\r\n");
}

#[test]
fn block_inside_multi_or_a_script_does_not_block() {
    let s = Server::start();
    let mut c = s.client();
    add(&mut c, "s", "{}");
    let v: Value = redis::pipe()
        .atomic()
        .cmd("ALERT.READ")
        .arg(&["s", "AFTER", "$", "BLOCK", "0"])
        .query(&mut c)
        .unwrap();
    assert_eq!(v, Value::Array(vec![Value::Nil]));
    let v = call(
        &mut c,
        &[
            "EVAL",
            "return redis.call('ALERT.READ', KEYS[1], 'AFTER', '$', 'BLOCK', '0')",
            "1",
            "s",
        ],
    )
    .unwrap();
    assert_eq!(v, Value::Nil);
}

#[test]
fn deleted_keys_and_disconnected_readers_leave_the_server_sound() {
    let s = Server::start();
    let mut c = s.client();
    add(&mut c, "s", "{}");
    let r = blocked_read(&s, strings(&["s", "AFTER", "$", "BLOCK", "0"]));
    wait_until("a blocked client", Duration::from_secs(5), || {
        blocked_clients(&mut c) == 1
    });
    // Deleted under the reader: it stays blocked (as XREAD does); a new stream there, whose
    // revisions start above every old one, wakes it.
    call(&mut c, &["DEL", "s"]).unwrap();
    thread::sleep(Duration::from_millis(100));
    assert!(r.try_recv().is_err());
    add(&mut c, "s", "{}");
    wait_until("the reader woken", Duration::from_secs(5), || {
        blocked_clients(&mut c) == 0
    });
    // A reader that goes away while blocked.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    use std::io::Write;
    raw.write_all(b"ALERT.READ s AFTER $ BLOCK 0\r\n").unwrap();
    wait_until("a raw blocked client", Duration::from_secs(5), || {
        blocked_clients(&mut c) >= 1
    });
    drop(raw);
    wait_until(
        "the disconnected reader freed",
        Duration::from_secs(5),
        || blocked_clients(&mut c) == 0,
    );
    add(&mut c, "s", "{}");
    assert!(call(&mut c, &["PING"]).is_ok());
}

/// docs/commands.md: a stream deleted and made again under the same key starts its revisions
/// above any cursor of the old stream. They started at the clock in µs: a stream that had
/// counted past the clock (more than one change a µs on average, say an UNSILENCE of many
/// alerts, or a primary whose clock ran ahead) made one that started below its readers'
/// cursors; once it counted past them, a reader went on from its old cursor and never saw the
/// new stream's first alerts (found by a black-box audit).
#[test]
fn a_stream_made_again_starts_above_the_cursors_of_the_old_one() {
    let s = Server::start();
    let mut c = s.client();
    // The old stream, 1000 s ahead of the clock (as its own count or a primary's clock puts it).
    let ahead = (now_ms() as u64 * 1000 + 1_000_000_000).to_string();
    call(&mut c, &["ALERT.CREATE", "s", "REVISION", &ahead]).unwrap();
    add(&mut c, "s", r#"{"source":"old"}"#);
    let cursor = read(&mut c, &["s", "AFTER", "0"]).unwrap().0;
    for how in ["DEL", "UNLINK", "FLUSHDB"] {
        match how {
            "FLUSHDB" => call(&mut c, &["FLUSHDB", "ASYNC"]).unwrap(),
            _ => call(&mut c, &[how, "s"]).unwrap(),
        };
        let first = add(&mut c, "s", r#"{"source":"new"}"#);
        let rev = feed_revision(&mut c, "s");
        assert!(
            rev > cursor.parse::<u64>().unwrap(),
            "after {how}: the new stream's revision {rev} is not above the old cursor {cursor}"
        );
        let feed = read(&mut c, &["s", "AFTER", &cursor]).unwrap();
        assert_eq!(ids(&feed), vec![first], "after {how}");
        // ALERT.CREATE starts it the same way.
        call(&mut c, &["DEL", "s"]).unwrap();
        call(&mut c, &["ALERT.CREATE", "s"]).unwrap();
        assert!(
            feed_revision(&mut c, "s") > rev,
            "after {how}, ALERT.CREATE"
        );
        call(&mut c, &["DEL", "s"]).unwrap();
        call(&mut c, &["ALERT.CREATE", "s", "REVISION", &ahead]).unwrap();
    }
    // A stream near the end of the range (the most a client may give, counted on) does not
    // push later streams past it: they start at 2^62 + 1 at most and still save and load.
    let top: u64 = 1 << 62;
    call(
        &mut c,
        &["ALERT.CREATE", "top", "REVISION", &top.to_string()],
    )
    .unwrap();
    for _ in 0..3 {
        add(&mut c, "top", "{}");
    }
    add(&mut c, "later", "{}");
    assert_eq!(feed_revision(&mut c, "later"), top + 2);
    call(&mut c, &["DEBUG", "RELOAD"]).unwrap();
    assert_eq!(feed_revision(&mut c, "later"), top + 2);
}

#[test]
fn a_replica_answers_read_as_its_primary_and_wakes_its_readers() {
    let primary = Server::start();
    let replica = primary.replica(&[]);
    let mut p = primary.client();
    let mut r = replica.client();
    add(&mut p, "s", r#"{"source":"a"}"#);
    wait_synced(&mut p);
    let blocked = blocked_read(&replica, strings(&["s", "AFTER", "$", "BLOCK", "5000"]));
    wait_until(
        "a blocked reader on the replica",
        Duration::from_secs(5),
        || blocked_clients(&mut r) == 1,
    );
    let id = add(&mut p, "s", r#"{"source":"b"}"#);
    let feed = blocked
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .unwrap();
    assert_eq!(ids(&feed), [id]);
    add(&mut p, "s", r#"{"source":"a"}"#);
    let first = read(&mut p, &["s", "AFTER", "0"]).unwrap().1[0].1["id"].clone();
    call(&mut p, &["ALERT.ACK", "s", first.as_str().unwrap()]).unwrap();
    p_silence(&mut p, "s", "SOURCE", "b");
    wait_synced(&mut p);
    for after in ["0", "1", "2"] {
        assert_eq!(
            read(&mut p, &["s", "AFTER", after]),
            read(&mut r, &["s", "AFTER", after]),
            "AFTER {after}"
        );
    }
    assert_eq!(
        call(&mut p, &["ALERT.SILENCES", "s"]).unwrap(),
        call(&mut r, &["ALERT.SILENCES", "s"]).unwrap()
    );
}

/// Adds `n` alerts of sources `<tag>-<i>` to `key`; their IDs, in order.
fn add_many(c: &mut redis::Connection, key: &str, tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| add(c, key, &format!(r#"{{"source":"{tag}-{i}"}}"#)))
        .collect()
}

/// The reads a notifier would make after `cursor`, on two servers that must agree.
fn same_feed(a: &mut redis::Connection, b: &mut redis::Connection, cursors: &[&str]) {
    for after in cursors {
        assert_eq!(
            read(a, &["s", "AFTER", after]),
            read(b, &["s", "AFTER", after]),
            "AFTER {after}"
        );
    }
}

/// SPEC: a notifier that keeps its cursor "misses no change of state, across restarts of
/// itself and of the server". A replica promoted without the primary's last writes counted
/// those changes again: once it had made as many new ones, a cursor from the old primary read
/// on past the first of them (an audit: 5 writes lost, the first 5 of 10 new ones skipped).
/// The promoted server's first change now counts on from the clock, and its replicas count
/// alike.
#[test]
fn a_promoted_replica_counts_past_the_changes_it_lost() {
    let primary = Server::start();
    let replica = primary.replica(&[]);
    let chained = replica.replica(&[]);
    let (mut p, mut r, mut r2) = (primary.client(), replica.client(), chained.client());
    add_many(&mut p, "s", "before", 3);
    wait_synced(&mut p);
    // The replica is promoted; the old primary's next writes never reach it.
    call(&mut r, &["REPLICAOF", "NO", "ONE"]).unwrap();
    add_many(&mut p, "s", "lost", 5);
    let cursor = read(&mut p, &["s", "AFTER", "0"]).unwrap().0;
    // Before its first change the cursor is ahead: the notifier would start again from 0.
    assert_eq!(
        error_of(&mut r, &["ALERT.READ", "s", "AFTER", &cursor]),
        "ERR cursor is ahead of the stream"
    );
    let new = add_many(&mut r, "s", "new", 10);
    let feed = read(&mut r, &["s", "AFTER", &cursor]).unwrap();
    assert_eq!(ids(&feed), new, "every change after the failover");
    // An ACK (a change of another kind) and the chained replica, which counted alike.
    call(&mut r, &["ALERT.ACK", "s", &new[0]]).unwrap();
    wait_synced(&mut r);
    same_feed(&mut r, &mut r2, &["0", &cursor, &feed.0]);
    assert_eq!(feed_revision(&mut r, "s"), feed_revision(&mut r2, "s"));
}

/// ALERT.ALTER key REVISION n (what the primary replicates before a change that counts from
/// the clock) raises the counter, never lowers it, changes no alert and no setting.
#[test]
fn alter_revision_only_raises_the_counter() {
    let s = Server::start();
    let mut c = s.client();
    call(&mut c, &["ALERT.CREATE", "s", "MAXLEN", "7"]).unwrap();
    add_many(&mut c, "s", "a", 2);
    let (rev, info) = (feed_revision(&mut c, "s"), info_of(&mut c, "s"));
    let lower = (rev - 1).to_string();
    call(&mut c, &["ALERT.ALTER", "s", "REVISION", &lower]).unwrap();
    assert_eq!(feed_revision(&mut c, "s"), rev, "never lowered");
    let higher = (rev + 1000).to_string();
    call(&mut c, &["ALERT.ALTER", "s", "REVISION", &higher]).unwrap();
    assert_eq!(feed_revision(&mut c, "s") as i64, rev as i64 + 1000);
    // No alert changed: a reader at the old revision has nothing new, and `$` is the new one.
    let at = rev.to_string();
    assert_eq!(
        read(&mut c, &["s", "AFTER", &at]).unwrap(),
        (at.clone(), vec![])
    );
    assert_eq!(read(&mut c, &["s", "AFTER", "$"]).unwrap().0, higher);
    let mut after = info_of(&mut c, "s");
    after.remove("revision");
    let mut before = info;
    before.remove("revision");
    assert_eq!(after, before, "nothing else changed");
    // The next change counts on from it; the limit of a client's REVISION holds.
    add_many(&mut c, "s", "b", 1);
    assert_eq!(feed_revision(&mut c, "s") as i64, rev as i64 + 1001);
    assert_eq!(
        error_of(
            &mut c,
            &["ALERT.ALTER", "s", "REVISION", "4611686018427387905"]
        ),
        "ERR invalid REVISION '4611686018427387905': at most 4611686018427387904"
    );
    assert_eq!(
        error_of(&mut c, &["ALERT.ALTER", "s", "SILENCEID", "5"]),
        "ERR unknown option 'SILENCEID' for 'alert.alter'"
    );
}

/// The same for a server given an older file: DEBUG RELOAD NOSAVE loads the RDB saved before
/// the last writes, and a RESTORE of an older DUMP replaces the stream. With AOF on and a
/// replica attached: the floor the primary counted from reaches both, and an AOF replay gives
/// the same revisions.
#[test]
fn a_server_given_an_older_file_counts_past_the_changes_it_lost() {
    // An older RDB.
    let s = Server::start();
    let mut c = s.client();
    add_many(&mut c, "s", "before", 3);
    call(&mut c, &["SAVE"]).unwrap();
    add_many(&mut c, "s", "lost", 5);
    let cursor = read(&mut c, &["s", "AFTER", "0"]).unwrap().0;
    call(&mut c, &["DEBUG", "RELOAD", "NOSAVE"]).unwrap();
    assert_eq!(
        error_of(&mut c, &["ALERT.READ", "s", "AFTER", &cursor]),
        "ERR cursor is ahead of the stream"
    );
    let new = add_many(&mut c, "s", "new", 10);
    assert_eq!(ids(&read(&mut c, &["s", "AFTER", &cursor]).unwrap()), new);
    // A stream whose revision a client set past the clock: its floor is 2^32 past its revision.
    let far = "4000000000000000000";
    call(&mut c, &["ALERT.CREATE", "far", "REVISION", far]).unwrap();
    add_many(&mut c, "far", "before", 1);
    call(&mut c, &["SAVE"]).unwrap();
    add_many(&mut c, "far", "lost", 3);
    let cursor = read(&mut c, &["far", "AFTER", "0"]).unwrap().0;
    call(&mut c, &["DEBUG", "RELOAD", "NOSAVE"]).unwrap();
    let new = add_many(&mut c, "far", "new", 5);
    let feed = read(&mut c, &["far", "AFTER", &cursor]).unwrap();
    assert_eq!(ids(&feed), new, "a stream past the clock");
    assert_eq!(
        feed.1[0].0.parse::<u64>().unwrap(),
        4_000_000_000_000_000_001 + (1 << 32) + 1
    );

    // An older DUMP, restored on a primary with AOF and a replica.
    for preamble in [true, false] {
        let mut s = Server::with_aof(preamble);
        let replica = s.replica(&[]);
        let (mut c, mut r) = (s.client(), replica.client());
        add_many(&mut c, "s", "before", 3);
        let payload = dump::dump(&mut c, "s");
        add_many(&mut c, "s", "lost", 5);
        let cursor = read(&mut c, &["s", "AFTER", "0"]).unwrap().0;
        call(&mut c, &["DEL", "s"]).unwrap();
        dump::restore(&mut c, "s", &payload).unwrap();
        let new = add_many(&mut c, "s", "new", 10);
        let feed = read(&mut c, &["s", "AFTER", &cursor]).unwrap();
        assert_eq!(ids(&feed), new, "preamble {preamble}");
        call(&mut c, &["ALERT.RESOLVE", "s", &new[1]]).unwrap();
        wait_synced(&mut c);
        same_feed(&mut c, &mut r, &["0", &cursor, &feed.0]);
        let before = read(&mut c, &["s", "AFTER", "0"]);
        s.restart(&[]);
        let mut c = s.client();
        assert_eq!(read(&mut c, &["s", "AFTER", "0"]), before, "AOF replay");
    }
}

/// SPEC: while now < UNTIL an alert that matches is silenced. The sweep ended silences at its
/// next 100 ms tick, so a silence hid its alerts up to 100 ms past its UNTIL (a reader that
/// looked 50 ms after it saw nothing, one time in two); the sweep now comes at the UNTIL.
/// Long silences (a tick comes between): each checked 60 ms past its UNTIL, the old ticks pass
/// all five one time in thirteen. Short ones, made 45 ms after the last silence's tick (whose
/// successor is then planned 55 ms on) to end 15 ms later: checked 40 ms past their UNTIL,
/// before that planned tick, they pass only if the silence itself brings the tick forward.
#[test]
fn a_silence_ends_at_its_until_not_at_the_next_tick() {
    let s = Server::start();
    let mut c = s.client();
    for i in 0..10 {
        let long = i % 2 == 0;
        let source = format!("s{i}");
        let doc = format!(r#"{{"source":"{source}"}}"#);
        let id = add(&mut c, "s", &doc);
        let cursor = read(&mut c, &["s", "AFTER", "$"]).unwrap().0;
        if !long {
            thread::sleep(Duration::from_millis(45));
        }
        // UNTILs off the 100 ms marks.
        let until = now_ms() + if long { 250 + 17 * i } else { 15 };
        let until_arg = until.to_string();
        let silence = ["ALERT.SILENCE", "s", "UNTIL", &until_arg, "SOURCE", &source];
        call(&mut c, &silence).unwrap();
        call(&mut c, &["ALERT.ACK", "s", &id]).unwrap();
        if long {
            let hidden = read(&mut c, &["s", "AFTER", &cursor]).unwrap();
            assert!(ids(&hidden).is_empty(), "silenced: {hidden:?}");
        }
        let margin = if long { 60 } else { 40 };
        thread::sleep(Duration::from_millis(
            (until + margin - now_ms()).max(0) as u64
        ));
        let feed = read(&mut c, &["s", "AFTER", &cursor]).unwrap();
        assert_eq!(
            ids(&feed),
            [id.as_str()],
            "silence {i}: {margin} ms past its UNTIL, its alert is read again"
        );
    }
}

fn p_silence(c: &mut redis::Connection, key: &str, matcher: &str, value: &str) -> i64 {
    let until = (now_ms() + 3_600_000).to_string();
    int(&call(c, &["ALERT.SILENCE", key, "UNTIL", &until, matcher, value]).unwrap())
}

#[test]
fn silences_hide_alerts_from_the_feed_until_they_end() {
    let s = Server::start();
    let mut c = s.client();
    let db = add(
        &mut c,
        "s",
        r#"{"severity":"high","source":"db","labels":{"env":"prod"}}"#,
    );
    let web = add(&mut c, "s", r#"{"severity":"low","source":"web"}"#);
    let until = (now_ms() + 3_600_000).to_string();
    let id = int(&call(
        &mut c,
        &[
            "ALERT.SILENCE",
            "s",
            "UNTIL",
            &until,
            "SOURCE",
            "db",
            "LABEL",
            "env=prod",
            "COMMENT",
            "maintenance",
        ],
    )
    .unwrap());
    assert_eq!(id, 1);
    let feed = read(&mut c, &["s", "AFTER", "0"]).unwrap();
    assert_eq!(ids(&feed), [web.as_str()]);
    let cursor = feed.0.clone();
    let feed = read(&mut c, &["s", "AFTER", "0", "WITHSILENCED"]).unwrap();
    assert_eq!(ids(&feed), [db.as_str(), web.as_str()]);
    // Stored, deduplicated and listed as ever.
    assert_eq!(
        alerts(call(&mut c, &["ALERT.RANGE", "s", "-", "+"]).unwrap()).len(),
        2
    );
    add(
        &mut c,
        "s",
        r#"{"severity":"high","source":"db","labels":{"env":"prod"}}"#,
    );
    assert!(read(&mut c, &["s", "AFTER", &cursor]).unwrap().1.is_empty());
    // ALERT.SILENCES
    let list = call(&mut c, &["ALERT.SILENCES", "s"]).unwrap();
    let Value::Array(items) = list else {
        panic!("{list:?}")
    };
    assert_eq!(items.len(), 1);
    let m = map_of(items[0].clone());
    assert_eq!(int(&m["id"]), 1);
    assert_eq!(int(&m["until"]).to_string(), until);
    assert_eq!(int(&m["covered"]), 1);
    let comment: String = redis::from_redis_value(&m["comment"]).unwrap();
    assert_eq!(comment, "maintenance");
    let matchers = map_of(m["matchers"].clone());
    let source: String = redis::from_redis_value(&matchers["source"]).unwrap();
    assert_eq!(source, "db");
    // UNSILENCE: the alert comes back in the feed, with a new revision.
    assert_eq!(
        int(&call(&mut c, &["ALERT.UNSILENCE", "s", "1"]).unwrap()),
        1
    );
    assert_eq!(
        int(&call(&mut c, &["ALERT.UNSILENCE", "s", "1"]).unwrap()),
        0
    );
    assert_eq!(
        int(&call(&mut c, &["ALERT.UNSILENCE", "nokey", "1"]).unwrap()),
        0
    );
    let feed = read(&mut c, &["s", "AFTER", &cursor]).unwrap();
    assert_eq!(ids(&feed), [db.as_str()]);
    assert_eq!(feed.1[0].1["count"], 2);
    // UNTIL passing ends a silence too (the sweep).
    let soon = (now_ms() + 300).to_string();
    call(
        &mut c,
        &["ALERT.SILENCE", "s", "UNTIL", &soon, "MINSEVERITY", "low"],
    )
    .unwrap();
    let cursor = read(&mut c, &["s", "AFTER", "$"]).unwrap().0;
    assert!(read(&mut c, &["s", "AFTER", "0"]).unwrap().1.is_empty());
    wait_until("the silence to end", Duration::from_secs(5), || {
        read(&mut c, &["s", "AFTER", &cursor]).unwrap().1.len() == 2
    });
    assert_eq!(
        call(&mut c, &["ALERT.SILENCES", "s"]).unwrap(),
        Value::Array(vec![])
    );
    // A silence creates its stream.
    p_silence(&mut c, "fresh", "TYPE", "x");
    assert_eq!(int(&call(&mut c, &["EXISTS", "fresh"]).unwrap()), 1);
}

#[test]
fn silence_bad_input_and_the_limit() {
    let s = Server::start();
    let mut c = s.client();
    add(&mut c, "s", "{}");
    let until = (now_ms() + 3_600_000).to_string();
    for (args, want) in [
        (vec!["s", "UNTIL", until.as_str()], "at least one matcher"),
        (vec!["s", "SOURCE", "a"], "needs UNTIL"),
        (
            vec!["s", "UNTIL", "1000", "SOURCE", "a"],
            "not in the future",
        ),
        (vec!["s", "UNTIL", "x", "SOURCE", "a"], "invalid UNTIL"),
        (
            vec!["s", "UNTIL", until.as_str(), "STATUS", "active"],
            "unknown option 'STATUS'",
        ),
        (
            vec!["s", "UNTIL", until.as_str(), "LABEL", "x"],
            "invalid LABEL",
        ),
        (
            vec!["s", "UNTIL", until.as_str(), "MINSEVERITY", "bad"],
            "invalid severity",
        ),
    ] {
        let mut all = vec!["ALERT.SILENCE"];
        all.extend(args.iter());
        let e = error_of(&mut c, &all);
        assert!(e.contains(want), "{args:?}: {e}");
    }
    assert!(error_of(&mut c, &["ALERT.SILENCE", "nokey", "UNTIL", &until]).contains("matcher"));
    assert_eq!(int(&call(&mut c, &["EXISTS", "nokey"]).unwrap()), 0);
    assert!(error_of(&mut c, &["ALERT.UNSILENCE", "s", "x"]).contains("invalid id"));
    // A client may not give an ID a silence of the stream already had.
    let first = p_silence(&mut c, "s", "SOURCE", "x").to_string();
    call(&mut c, &["ALERT.UNSILENCE", "s", &first]).unwrap();
    let e = error_of(
        &mut c,
        &[
            "ALERT.SILENCE",
            "s",
            "UNTIL",
            &until,
            "SOURCE",
            "y",
            "ID",
            &first,
        ],
    );
    assert!(e.contains("already used"), "{e}");
    for i in 0..1000 {
        let v = format!("t{i}");
        call(&mut c, &["ALERT.SILENCE", "s", "UNTIL", &until, "TYPE", &v]).unwrap();
    }
    let e = error_of(
        &mut c,
        &["ALERT.SILENCE", "s", "UNTIL", &until, "TYPE", "one-more"],
    );
    assert!(e.contains("at most 1000"), "{e}");
    let m = map_of(call(&mut c, &["ALERT.INFO", "s"]).unwrap());
    assert_eq!(int(&m["silences"]), 1000);
}

#[test]
fn unsilence_takes_several_ids() {
    let s = Server::start();
    let mut c = s.client();
    let a = add(&mut c, "s", r#"{"source":"a","fingerprint":""}"#);
    let b = add(&mut c, "s", r#"{"source":"b","fingerprint":""}"#);
    let one = p_silence(&mut c, "s", "SOURCE", "a").to_string();
    let two = p_silence(&mut c, "s", "SOURCE", "b").to_string();
    let both = p_silence(&mut c, "s", "MINSEVERITY", "info").to_string();
    let cursor = read(&mut c, &["s", "AFTER", "$"]).unwrap().0;
    // A bad ID anywhere: an error, and nothing ends.
    let e = error_of(&mut c, &["ALERT.UNSILENCE", "s", &one, "x"]);
    assert!(e.contains("invalid id"), "{e}");
    assert_eq!(int(&info_of(&mut c, "s")["silences"]), 3);
    // The count of silences ended (IDs held, each once); each alert comes back once, in ID order.
    assert_eq!(
        int(&call(&mut c, &["ALERT.UNSILENCE", "s", &one, "99", &one, &both]).unwrap()),
        2
    );
    // `b` is still covered by silence `two`.
    assert_eq!(
        ids(&read(&mut c, &["s", "AFTER", &cursor]).unwrap()),
        [a.as_str()]
    );
    assert_eq!(
        int(&call(&mut c, &["ALERT.UNSILENCE", "s", &two, &one]).unwrap()),
        1
    );
    let feed = read(&mut c, &["s", "AFTER", &cursor]).unwrap();
    assert_eq!(ids(&feed), [a.as_str(), b.as_str()]);
    assert_eq!(
        int(&call(&mut c, &["ALERT.UNSILENCE", "s", &one, &two]).unwrap()),
        0
    );
    assert!(error_of(&mut c, &["ALERT.UNSILENCE", "s"]).contains("wrong number"));
}

fn info_of(c: &mut redis::Connection, key: &str) -> std::collections::HashMap<String, Value> {
    map_of(call(c, &["ALERT.INFO", key]).unwrap())
}

/// Calls of `command` the server counted (INFO commandstats).
fn calls_of(c: &mut redis::Connection, command: &str) -> i64 {
    let text: String =
        redis::from_redis_value(&call(c, &["INFO", "commandstats"]).unwrap()).unwrap();
    let head = format!("cmdstat_{command}:calls=");
    text.lines()
        .find_map(|l| l.strip_prefix(head.as_str()))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[test]
fn the_sweep_ends_silences_that_end_together_in_one_walk() {
    let primary = Server::start();
    let replica = primary.replica(&[]);
    let mut c = primary.client();
    let mut r = replica.client();
    call(
        &mut c,
        &[
            "ALERT.CREATE",
            "s",
            "RETENTION",
            "0",
            "MAXLEN",
            "0",
            "DEDUP",
            "0",
        ],
    )
    .unwrap();
    // 20000 alerts in 20 groups (label `g`); a fixed ts, so that none expires.
    let base = 1_700_000_000_000i64;
    for chunk in 0..20 {
        let mut pipe = redis::pipe();
        for i in 0..1000 {
            let n = chunk * 1000 + i;
            let doc = format!(r#"{{"source":"s{}","labels":{{"g":"{}"}}}}"#, n % 7, n % 20);
            pipe.cmd("ALERT.ADD")
                .arg("s")
                .arg(doc)
                .arg("TS")
                .arg(base + n);
        }
        let _: Vec<Value> = pipe.query(&mut c).unwrap();
    }
    // 1000 silences that end together: one per group, the others on labels no alert has.
    let until = (now_ms() + 1500).to_string();
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        let label = if i < 20 {
            format!("g={i}")
        } else {
            format!("none={i}")
        };
        pipe.cmd("ALERT.SILENCE")
            .arg("s")
            .arg("UNTIL")
            .arg(&until)
            .arg("LABEL")
            .arg(label);
    }
    let _: Vec<Value> = pipe.query(&mut c).unwrap();
    let cursor = read(&mut c, &["s", "AFTER", "$"]).unwrap().0;
    assert!(read(&mut c, &["s", "AFTER", "0", "COUNT", "10"])
        .unwrap()
        .1
        .is_empty());
    wait_until("the silences to end", Duration::from_secs(20), || {
        int(&info_of(&mut c, "s")["silences"]) == 0
    });
    // Every alert came back once.
    let mut back = std::collections::BTreeSet::new();
    let mut at = cursor;
    loop {
        let (next, items) = read(&mut c, &["s", "AFTER", &at, "COUNT", "5000"]).unwrap();
        if items.is_empty() {
            break;
        }
        for (_, a) in items {
            assert!(
                back.insert(a["id"].as_str().unwrap().to_string()),
                "twice: {a}"
            );
        }
        at = next;
    }
    assert_eq!(back.len(), 20_000);
    // Ended in one walk of the stream, replicated as one ALERT.UNSILENCE with the 1000 IDs
    // (a walk per silence had held the server for seconds).
    wait_synced(&mut c);
    let walks = calls_of(&mut r, "alert.unsilence");
    assert_eq!(walks, 1, "UNSILENCE commands the replica ran");
    assert_eq!(feed_state(&mut r, "s"), feed_state(&mut c, "s"));
}

#[test]
fn silence_ids_end_at_the_largest_integer() {
    let last = i64::MAX.to_string();
    let before_last = (i64::MAX - 1).to_string();
    let none_left = |c: &mut redis::Connection| {
        let until = (now_ms() + 60_000).to_string();
        let e = error_of(c, &["ALERT.SILENCE", "s", "UNTIL", &until, "SOURCE", "c"]);
        assert!(e.contains("no silence ID left"), "{e}");
    };
    check_aof_and_reload(
        |c| {
            call(c, &["ALERT.CREATE", "s", "SILENCEID", &before_last]).unwrap();
            assert_eq!(p_silence(c, "s", "SOURCE", "a").to_string(), before_last);
            assert_eq!(p_silence(c, "s", "SOURCE", "b").to_string(), last);
            none_left(c);
            assert_eq!(int(&info_of(c, "s")["silences"]), 2);
        },
        |c| feed_state(c, "s"),
        |c| {
            // Still none left after a rewrite and reload; ending one gives none back.
            call(c, &["ALERT.UNSILENCE", "s", &last]).unwrap();
            none_left(c);
        },
    );
    // What a rewrite of such a stream sends is accepted; one past it is not.
    let s = Server::start();
    let mut c = s.client();
    let past = (i64::MAX as u64 + 1).to_string();
    call(&mut c, &["ALERT.CREATE", "t", "SILENCEID", &past]).unwrap();
    let e = error_of(
        &mut c,
        &[
            "ALERT.CREATE",
            "u",
            "SILENCEID",
            &(i64::MAX as u64 + 2).to_string(),
        ],
    );
    assert!(e.contains("invalid SILENCEID"), "{e}");
}

#[test]
fn autoresolve_resolves_stale_alerts_on_the_primary_and_replicates() {
    let primary = Server::start();
    let replica = primary.replica(&[]);
    let mut p = primary.client();
    let mut r = replica.client();
    call(&mut p, &["ALERT.CREATE", "s", "AUTORESOLVE", "300"]).unwrap();
    let stale = add(&mut p, "s", r#"{"source":"a"}"#);
    let cursor = read(&mut p, &["s", "AFTER", "$"]).unwrap().0;
    wait_until("auto-resolve", Duration::from_secs(5), || {
        let got = alerts(call(&mut p, &["ALERT.GET", "s", &stale]).unwrap());
        got[0]["status"] == "resolved"
    });
    let feed = read(&mut p, &["s", "AFTER", &cursor]).unwrap();
    assert_eq!(ids(&feed), [stale.as_str()]);
    assert_eq!(feed.1[0].1["status"], "resolved");
    let m = map_of(call(&mut p, &["ALERT.INFO", "s"]).unwrap());
    assert_eq!((int(&m["autoresolve"]), int(&m["autoresolved"])), (300, 1));
    wait_synced(&mut p);
    let got = alerts(call(&mut r, &["ALERT.GET", "s", &stale]).unwrap());
    assert_eq!(got[0]["status"], "resolved");
    assert_eq!(
        read(&mut p, &["s", "AFTER", "0"]),
        read(&mut r, &["s", "AFTER", "0"])
    );
    // The config gives new streams their default; ALTER turns it off.
    call(
        &mut p,
        &["CONFIG", "SET", "vigil.alert-autoresolve-ms", "200"],
    )
    .unwrap();
    add(&mut p, "t", "{}");
    let m = map_of(call(&mut p, &["ALERT.INFO", "t"]).unwrap());
    assert_eq!(int(&m["autoresolve"]), 200);
    call(&mut p, &["ALERT.ALTER", "t", "AUTORESOLVE", "0"]).unwrap();
    thread::sleep(Duration::from_millis(500));
    let got = alerts(call(&mut p, &["ALERT.RANGE", "t", "-", "+"]).unwrap());
    assert_eq!(got[0]["status"], "active");
}

#[test]
fn groups_count_alerts_by_field() {
    let s = Server::start();
    let mut c = s.client();
    for d in [
        r#"{"severity":"high","source":"a","type":"disk","labels":{"h":"1"}}"#,
        r#"{"severity":"high","source":"a","type":"disk","labels":{"h":"1"}}"#,
        r#"{"severity":"low","source":"b","type":"cpu","labels":{"h":"2"}}"#,
        r#"{"severity":"low","source":"c","type":"cpu"}"#,
    ] {
        add(&mut c, "s", d);
    }
    let groups =
        |c: &mut redis::Connection, args: &[&str]| -> Vec<(Option<String>, i64, i64, i64)> {
            let mut all = vec!["ALERT.GROUPS", "s", "-", "+"];
            all.extend_from_slice(args);
            redis::from_redis_value(&call(c, &all).unwrap()).unwrap()
        };
    let by_sev = groups(&mut c, &["BY", "severity"]);
    assert_eq!(by_sev.len(), 2);
    assert_eq!(
        (by_sev[0].0.as_deref(), by_sev[0].1, by_sev[0].2),
        (Some("high"), 1, 2)
    );
    assert_eq!((by_sev[1].0.as_deref(), by_sev[1].1), (Some("low"), 2));
    let by_label = groups(&mut c, &["BY", "label:h"]);
    assert_eq!(
        by_label.iter().map(|g| g.0.clone()).collect::<Vec<_>>(),
        [None, Some("1".into()), Some("2".into())]
    );
    let by_type = groups(&mut c, &["BY", "TYPE", "MINSEVERITY", "high"]);
    assert_eq!(by_type.len(), 1);
    assert_eq!(groups(&mut c, &["BY", "status"])[0].1, 3);
    assert!(groups(&mut c, &["BY", "source", "SOURCE", "zzz"]).is_empty());
    for (args, want) in [
        (
            vec!["ALERT.GROUPS", "s", "-", "+", "BY", "host"],
            "invalid BY field 'host'",
        ),
        (
            vec!["ALERT.GROUPS", "s", "-", "+", "BY", "label:"],
            "invalid BY field",
        ),
        (
            vec!["ALERT.GROUPS", "s", "-", "+", "MINSEVERITY", "low", "X"],
            "unknown option",
        ),
        (
            vec!["ALERT.GROUPS", "s", "-", "+", "BY", "type", "BY", "type"],
            "only once",
        ),
        (
            vec!["ALERT.GROUPS", "s", "x", "+", "BY", "type"],
            "invalid range bound",
        ),
    ] {
        let e = error_of(&mut c, &args);
        assert!(e.contains(want), "{args:?}: {e}");
    }
    assert!(error_of(&mut c, &["ALERT.GROUPS", "s", "-", "+", "SOURCE", "a"]).contains("needs BY"));
    assert_eq!(
        call(&mut c, &["ALERT.GROUPS", "nokey", "-", "+", "BY", "type"]).unwrap(),
        Value::Array(vec![])
    );
}

#[test]
fn folded_ids_are_forgotten_after_the_id_memory() {
    let s = Server::start();
    let mut c = s.client();
    call(
        &mut c,
        &["CONFIG", "SET", "vigil.alert-id-memory-ms", "1000"],
    )
    .unwrap();
    let t = now_ms();
    let first = format!("{}-1", t - 10);
    let folded = format!("{}-1", t - 5);
    let doc = r#"{"source":"a"}"#;
    call(&mut c, &["ALERT.ADD", "s", doc, "ID", &first]).unwrap();
    call(&mut c, &["ALERT.ADD", "s", doc, "ID", &folded]).unwrap();
    let m = map_of(call(&mut c, &["ALERT.INFO", "s"]).unwrap());
    assert_eq!((int(&m["remembered_ids"]), int(&m["id_memory"])), (1, 1000));
    let again = call(&mut c, &["ALERT.ADD", "s", doc, "ID", &folded]).unwrap();
    let (o, _, _): (String, Option<String>, i64) = redis::from_redis_value(&again).unwrap();
    assert_eq!(o, "exists");
    thread::sleep(Duration::from_millis(1100));
    let again = call(&mut c, &["ALERT.ADD", "s", doc, "ID", &folded]).unwrap();
    let (o, _, n): (String, Option<String>, i64) = redis::from_redis_value(&again).unwrap();
    assert_eq!((o.as_str(), n), ("duplicate", 3), "remembered no longer");
}

/// What READ, SILENCES and INFO show of a stream's feed state.
fn feed_state(c: &mut redis::Connection, key: &str) -> Vec<String> {
    let info = map_of(call(c, &["ALERT.INFO", key]).unwrap());
    let mut out = vec![
        format!("{:?}", read(c, &[key, "AFTER", "0", "WITHSILENCED"])),
        format!("{:?}", read(c, &[key, "AFTER", "0"])),
        format!("{:?}", call(c, &["ALERT.SILENCES", key]).unwrap()),
    ];
    for f in [
        "revision",
        "silences",
        "remembered_ids",
        "autoresolve",
        "id_memory",
        "length",
    ] {
        out.push(format!("{f}={}", int(&info[f])));
    }
    out
}

const FIXTURE_V2: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/alerts-encver2.rdb"
);

/// The commands that made the encoding-2 fixture; explicit times, so its content is fixed.
fn fixture_v2_workload(c: &mut redis::Connection) {
    let doc = r#"{"severity":"high","source":"db","labels":{"h":"1"}}"#;
    let cmds: &[&[&str]] = &[
        &[
            "ALERT.CREATE",
            "fx2",
            "RETENTION",
            "0",
            "DEDUP",
            "60000",
            "AUTORESOLVE",
            "0",
            "IDMEMORY",
            "0",
            "REVISION",
            "1000",
        ],
        &[
            "ALERT.ADD",
            "fx2",
            doc,
            "ID",
            "1700000000000-1",
            "NOW",
            "1700000000000",
        ],
        &[
            "ALERT.ADD",
            "fx2",
            doc,
            "ID",
            "1700000000100-2",
            "NOW",
            "1700000000100",
        ],
        &[
            "ALERT.ADD",
            "fx2",
            r#"{"severity":"low","source":"web"}"#,
            "TS",
            "1700000000200",
            "NOW",
            "1700000000200",
        ],
        &["ALERT.ACK", "fx2", "1700000000200-0"],
        &[
            "ALERT.SILENCE",
            "fx2",
            "UNTIL",
            "4102444800000",
            "SOURCE",
            "web",
            "LABEL",
            "a=b",
            "COMMENT",
            "until 2100",
        ],
        &[
            "ALERT.SILENCE",
            "fx2",
            "UNTIL",
            "4102444800000",
            "MINSEVERITY",
            "high",
            "TYPE",
            "t",
        ],
    ];
    for cmd in cmds {
        call(c, cmd).unwrap();
    }
}

/// Regenerates the fixture: `VIGIL_WRITE_FIXTURE=1 cargo test --test alert_feed write_fixture_v2 -- --ignored`.
#[test]
#[ignore]
fn write_fixture_v2() {
    write_fixture_if_asked(FIXTURE_V2, fixture_v2_workload);
}

const FIXTURE_V3: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/alerts-encver3.rdb"
);

/// The encoding-3 fixture: the encoding-2 workload, then its newest alert deleted (encoding 3
/// adds the stream's last ID, which outlives it).
fn fixture_v3_workload(c: &mut redis::Connection) {
    fixture_v2_workload(c);
    call(c, &["ALERT.DEL", "fx2", "1700000000200-0"]).unwrap();
}

/// Regenerates the fixture: `VIGIL_WRITE_FIXTURE=1 cargo test --test alert_feed write_fixture_v3 -- --ignored`.
#[test]
#[ignore]
fn write_fixture_v3() {
    write_fixture_if_asked(FIXTURE_V3, fixture_v3_workload);
}

#[test]
fn fixture_rdb_of_encoding_version_3_loads() {
    let s = Server::start();
    let mut c = s.client();
    fixture_v3_workload(&mut c);
    let want = feed_state(&mut c, "fx2");
    let loaded = server_from_fixture(FIXTURE_V3);
    let mut c = loaded.client();
    assert_eq!(feed_state(&mut c, "fx2"), want);
    // The last ID came back: the deleted alert's ID is not given out again.
    let v = call(
        &mut c,
        &[
            "ALERT.ADD",
            "fx2",
            "{}",
            "TS",
            "1700000000200",
            "NOW",
            "1700000000200",
        ],
    )
    .unwrap();
    let (_, id, _): (String, Option<String>, i64) = redis::from_redis_value(&v).unwrap();
    assert_eq!(id.as_deref(), Some("1700000000200-1"));
}

#[test]
fn fixture_rdb_of_encoding_version_2_loads() {
    let s = Server::start();
    let mut c = s.client();
    fixture_v2_workload(&mut c);
    let want = feed_state(&mut c, "fx2");
    assert!(
        want[0].contains("\"1004\""),
        "revisions from 1000: {}",
        want[0]
    );
    let loaded = server_from_fixture(FIXTURE_V2);
    let mut c = loaded.client();
    assert_eq!(feed_state(&mut c, "fx2"), want);
    // The counters came back too: the next silence follows on, and the first change after the
    // load counts on from the clock (the file may be older than what a reader saw), past the
    // revision the file holds.
    let clock = now_ms() as u64 * 1000;
    call(&mut c, &["ALERT.ACK", "fx2", "1700000000000-1"]).unwrap();
    let rev = feed_revision(&mut c, "fx2");
    assert!(
        rev > clock && rev < clock + 60_000_000,
        "{rev} from the clock {clock}"
    );
    let feed = read(&mut c, &["fx2", "AFTER", "1004"]).unwrap();
    assert_eq!(
        (feed.0.clone(), ids(&feed)),
        (rev.to_string(), vec!["1700000000000-1".to_string()])
    );
    assert_eq!(p_silence(&mut c, "fx2", "TYPE", "x"), 3);
}

#[test]
fn feed_state_survives_aof_rewrite_and_reload() {
    check_aof_and_reload(
        |c| {
            call(
                c,
                &[
                    "ALERT.CREATE",
                    "s",
                    "AUTORESOLVE",
                    "3600000",
                    "IDMEMORY",
                    "5000000",
                ],
            )
            .unwrap();
            let t = now_ms();
            let doc = r#"{"source":"a","labels":{"x":"1"}}"#;
            call(c, &["ALERT.ADD", "s", doc, "ID", &format!("{}-1", t - 100)]).unwrap();
            call(c, &["ALERT.ADD", "s", doc, "ID", &format!("{}-2", t - 50)]).unwrap();
            let b = add(c, "s", r#"{"source":"b"}"#);
            call(c, &["ALERT.RESOLVE", "s", &b]).unwrap();
            add(c, "s", r#"{"source":"c","fingerprint":""}"#);
            p_silence(c, "s", "SOURCE", "c");
            let id = p_silence(c, "s", "LABEL", "x=1");
            call(c, &["ALERT.UNSILENCE", "s", &id.to_string()]).unwrap();
        },
        |c| feed_state(c, "s"),
        |c| {
            // The next silence takes a new ID (2 was used and ended).
            assert_eq!(p_silence(c, "s", "TYPE", "t"), 3);
        },
    );
}

#[test]
fn the_sweep_leaves_idle_streams_untouched() {
    let s = Server::start();
    let mut c = s.client();
    add(&mut c, "s", "{}");
    call(&mut c, &["ALERT.CREATE", "empty"]).unwrap();
    // WATCH then wait several sweep ticks: no spurious modification.
    call(&mut c, &["WATCH", "s", "empty"]).unwrap();
    thread::sleep(Duration::from_millis(350));
    let v: Value = redis::pipe().atomic().cmd("PING").query(&mut c).unwrap();
    assert_ne!(
        v,
        Value::Nil,
        "EXEC failed: the sweep touched a watched stream"
    );
    // Nor counted as used for maxmemory's LRU.
    thread::sleep(Duration::from_millis(1100));
    let idle = int(&call(&mut c, &["OBJECT", "IDLETIME", "s"]).unwrap());
    assert!(idle >= 1, "idle time {idle}");
}

#[test]
fn the_sweep_waits_while_writes_are_paused() {
    let primary = Server::start();
    let replica = primary.replica(&[]);
    let mut p = primary.client();
    call(&mut p, &["ALERT.CREATE", "s", "RETENTION", "2000"]).unwrap();
    let old = (now_ms() - 1000).to_string();
    call(&mut p, &["ALERT.ADD", "s", "{}", "TS", &old]).unwrap();
    wait_synced(&mut p);
    call(&mut p, &["CLIENT", "PAUSE", "2500", "WRITE"]).unwrap();
    thread::sleep(Duration::from_millis(2000));
    // Still alive, and the alert expires once writes resume.
    let mut p2 = primary.client();
    assert!(call(&mut p2, &["PING"]).is_ok());
    wait_until("the sweep after the pause", Duration::from_secs(6), || {
        alerts(call(&mut p2, &["ALERT.RANGE", "s", "-", "+"]).unwrap()).is_empty()
    });
    wait_synced(&mut p2);
    let mut r = replica.client();
    assert!(alerts(call(&mut r, &["ALERT.RANGE", "s", "-", "+"]).unwrap()).is_empty());
}
