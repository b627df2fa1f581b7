//! The change feed, silences and groups through the client: typed replies from a real server,
//! a `Feed` that resumes from a stored cursor and starts again when its cursor is ahead; in
//! fallback, the fallback store's own changes (cursors of its own), silences journaled with
//! their ID and replayed exactly once, and a feed that crosses an outage missing nothing.

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{free_port, Kind, Redis, TempDir};
use vigil_client::*;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn config(port: u16, journal: &Path) -> Config {
    Config::new(format!("redis://127.0.0.1:{port}/"))
        .journal_dir(journal)
        .command_timeout(Duration::from_millis(300))
        .connect_timeout(Duration::from_millis(300))
        .probe_interval(Duration::from_millis(50))
}

/// A server with the module in a directory of its own, and a client of it.
async fn started(name: &str) -> (TempDir, Redis, Client) {
    let dir = TempDir::new(name);
    let server = Redis::start(free_port(), &dir.join("srv"), Kind::Module);
    let c = Client::open(config(server.port, &dir.join("journal")))
        .await
        .unwrap();
    (dir, server, c)
}

fn ids(changes: &[Change]) -> Vec<AlertId> {
    changes.iter().map(|c| c.alert.id).collect()
}

const DISK: &str =
    r#"{"severity":"critical","source":"db-1","type":"disk","labels":{"env":"prod"}}"#;
const SLOW: &str = r#"{"severity":"low","source":"web-3","type":"slow","labels":{"env":"prod"}}"#;
const CPU: &str = r#"{"severity":"high","source":"api-2","type":"cpu"}"#;

#[tokio::test]
async fn read_silence_and_groups_return_typed_replies() {
    support::init();
    let (_dir, _server, c) = started("feed-typed").await;
    let key = "feed:typed";
    let disk = c.add(key, DISK).await.unwrap().id;
    let slow = c.add(key, SLOW).await.unwrap().id;
    let cpu = c.add(key, CPU).await.unwrap().id;

    let all = c
        .read(key, &Cursor::start(), &ReadOptions::new())
        .await
        .unwrap();
    assert_eq!(all.store, Store::Redis);
    assert_eq!(ids(&all.changes), vec![disk, slow, cpu]);
    assert_eq!(all.next, all.changes[2].cursor);
    assert!(all.next.redis_part().len() >= 16, "{}", all.next);
    assert_eq!(all.changes[0].alert.severity, Severity::Critical);

    // COUNT, and a filter that moves the cursor past what it leaves out.
    let two = c
        .read(key, &Cursor::start(), &ReadOptions::new().count(2))
        .await
        .unwrap();
    assert_eq!(ids(&two.changes), vec![disk, slow]);
    let high = ReadOptions::new().filters(Filters::new().min_severity(Severity::High));
    let rest = c.read(key, &two.next, &high).await.unwrap();
    assert_eq!(ids(&rest.changes), vec![cpu]);
    let none = c.read(key, &all.next, &ReadOptions::new()).await.unwrap();
    assert!(none.changes.is_empty());
    assert_eq!(none.next, all.next);

    // An ACK and a duplicate come back once each, in their current state.
    c.ack(key, &[slow]).await.unwrap();
    c.add(key, DISK).await.unwrap();
    let changed = c.read(key, &all.next, &ReadOptions::new()).await.unwrap();
    assert_eq!(ids(&changed.changes), vec![slow, disk]);
    assert_eq!(changed.changes[0].alert.status, Status::Acked);
    assert_eq!(changed.changes[1].alert.count, 2);

    // A blocking read from `$` is woken by a write, and one that times out says where it was.
    let reader = c.clone();
    let blocked = tokio::spawn(async move {
        let o = ReadOptions::new().block(Duration::from_secs(5));
        reader.read(key, &Cursor::now(), &o).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let late = c.add(key, r#"{"source":"late"}"#).await.unwrap().id;
    let woke = blocked.await.unwrap().unwrap();
    assert_eq!(ids(&woke.changes), vec![late]);
    let start = Instant::now();
    let o = ReadOptions::new().block(Duration::from_millis(150));
    let timed_out = c.read(key, &Cursor::now(), &o).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert!(timed_out.changes.is_empty());
    assert_eq!(timed_out.next, woke.next, "the position `$` stood for");
    // Other calls do not wait behind a blocked read.
    let reader = c.clone();
    let long = tokio::spawn(async move {
        let o = ReadOptions::new().block(Duration::from_secs(2));
        reader.read("feed:quiet", &Cursor::now(), &o).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    c.get(key, &[disk]).await.unwrap();
    assert!(start.elapsed() < Duration::from_millis(500));
    long.abort();

    // A cursor ahead of the stream.
    let ahead: Cursor = "999999999999999999".parse().unwrap();
    let e = c.read(key, &ahead, &ReadOptions::new()).await.unwrap_err();
    assert!(e.is_cursor_ahead(), "{e}");

    // Silences: typed, hiding alerts from the feed but not from WITHSILENCED.
    let until = now_ms() + 3_600_000;
    let matchers = Matchers::new().source("web-3");
    let sid = c
        .silence(key, until, &matchers, Some("deploy of web-3"))
        .await
        .unwrap();
    assert!(sid > 1_000_000_000_000_000, "a clock-made ID: {sid}");
    let listed = c.silences(key).await.unwrap();
    assert_eq!(
        listed,
        vec![Silence {
            id: sid,
            until,
            matchers: matchers.clone(),
            comment: Some("deploy of web-3".into()),
            covered: 1,
        }]
    );
    c.add(key, SLOW).await.unwrap();
    let quiet = c.read(key, &woke.next, &ReadOptions::new()).await.unwrap();
    assert!(quiet.changes.is_empty(), "{:?}", quiet.changes);
    let loud = c
        .read(key, &woke.next, &ReadOptions::new().with_silenced())
        .await
        .unwrap();
    assert_eq!(ids(&loud.changes), vec![slow]);
    assert!(c.unsilence(key, sid).await.unwrap());
    assert!(!c.unsilence(key, sid).await.unwrap());
    let back = c.read(key, &quiet.next, &ReadOptions::new()).await.unwrap();
    assert_eq!(
        ids(&back.changes),
        vec![slow],
        "the end of a silence is a change"
    );
    let e = c
        .silence(key, until, &Matchers::new(), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("at least one matcher"), "{e}");
    let labelled = Matchers::new()
        .min_severity(Severity::High)
        .label("env", "prod");
    let second = c.silence(key, until, &labelled, None).await.unwrap();
    assert!(second > sid);
    assert_eq!(c.silences(key).await.unwrap()[0].matchers, labelled);

    // Groups.
    let by_source = c
        .groups(
            key,
            Bound::Min,
            Bound::Max,
            &GroupBy::Source,
            &Filters::new(),
        )
        .await
        .unwrap();
    let summary: Vec<(Option<&str>, u64, u64)> = by_source
        .iter()
        .map(|g| (g.value.as_deref(), g.alerts, g.occurrences))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Some("api-2"), 1, 1),
            (Some("db-1"), 1, 2),
            (Some("late"), 1, 1),
            (Some("web-3"), 1, 2)
        ]
    );
    let by_env = c
        .groups(
            key,
            Bound::Min,
            Bound::Max,
            &GroupBy::Label("env".into()),
            &Filters::new().status(Status::Active),
        )
        .await
        .unwrap();
    let summary: Vec<(Option<&str>, u64)> = by_env
        .iter()
        .map(|g| (g.value.as_deref(), g.alerts))
        .collect();
    assert_eq!(summary, vec![(None, 2), (Some("prod"), 1)]);
}

#[tokio::test]
async fn a_feed_resumes_from_its_stored_cursor_and_restarts_when_ahead() {
    support::init();
    let (dir, server, c) = started("feed-follow").await;
    let key = "feed:follow";
    let a = c.add(key, DISK).await.unwrap().id;
    let b = c.add(key, SLOW).await.unwrap().id;

    let mut feed = c.follow(key, Cursor::start(), ReadOptions::new().count(1));
    assert_eq!(feed.next().await.unwrap().alert.id, a);
    let stored = feed.cursor().to_string();
    drop(feed);

    // A new feed on the stored cursor goes on with the next change, and waits for later ones.
    let mut feed = c.follow(
        key,
        stored.parse().unwrap(),
        ReadOptions::new().block(Duration::from_millis(200)),
    );
    assert_eq!(feed.next().await.unwrap().alert.id, b);
    assert!(feed
        .next_within(Duration::from_millis(300))
        .await
        .unwrap()
        .is_none());
    let writer = c.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        writer.ack(key, &[a]).await.unwrap();
    });
    let acked = feed.next().await.unwrap();
    assert_eq!((acked.alert.id, acked.alert.status), (a, Status::Acked));
    assert_eq!(feed.cursor(), &acked.cursor);

    // The key is deleted: its revision is 0 now, below the cursor; the feed starts again.
    common::call(&mut server.conn(), &["DEL", key]).unwrap();
    let again = c.add(key, CPU).await.unwrap().id;
    let next = feed.next().await.unwrap();
    assert_eq!(next.alert.id, again);
    // A cursor ahead of the stream (a copy restored from an older file): from 0 again.
    let mut ahead = c.follow(
        key,
        "999999999999999999".parse().unwrap(),
        ReadOptions::new(),
    );
    assert_eq!(ahead.next().await.unwrap().alert.id, again);
    assert_eq!(ahead.restarts(), 1);

    // The blocking wrapper: an iterator of changes.
    let url = server.url();
    let journal = dir.join("journal-blocking");
    let handle = std::thread::spawn(move || {
        let bc = blocking::Client::open(Config::new(url).journal_dir(journal)).unwrap();
        let first = bc.read(key, &Cursor::start(), &ReadOptions::new()).unwrap();
        let mut feed = bc.follow(key, Cursor::start(), ReadOptions::new());
        drop(bc);
        let change = feed.next().unwrap().unwrap();
        (first.changes.len(), change.alert.id)
    });
    let (n, first) = tokio::task::spawn_blocking(move || handle.join().unwrap())
        .await
        .unwrap();
    assert_eq!((n, first), (1, again));
}

/// A feed from `$` whose wait is cut short (a timeout, or Python's Ctrl-C between slices)
/// keeps the position it took: a change written before the next call is not skipped.
#[tokio::test]
async fn a_feed_from_now_cut_short_misses_nothing_written_before_the_next_call() {
    support::init();
    let (_dir, _server, c) = started("feed-now").await;
    let key = "feed:now";
    c.add(key, DISK).await.unwrap();
    let mut feed = c.follow(key, Cursor::now(), ReadOptions::new());
    for i in 0..3 {
        let waited = feed.next_within(Duration::from_millis(150)).await.unwrap();
        assert!(waited.is_none());
        assert_ne!(feed.cursor(), &Cursor::now(), "the feed took a position");
        let doc = format!(r#"{{"severity":"low","source":"web-{i}","type":"slow"}}"#);
        let id = c.add(key, &doc).await.unwrap().id;
        let change = feed.next_within(Duration::from_secs(5)).await.unwrap();
        assert_eq!(change.map(|c| c.alert.id), Some(id));
    }
}

fn connections_received(conn: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("stats").query(conn).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("total_connections_received")
}

/// `next_within` in short slices (a caller that looks for its own shutdown between waits):
/// each read waits on the server no longer than the slice, so the server answers it and its
/// connection serves the next one (a BLOCK of 5 s cut short by the timeout dropped its
/// connection: one new connection per slice), and `ZERO` reads without waiting.
#[tokio::test]
async fn next_within_in_short_slices_reuses_its_connection() {
    support::init();
    let (_dir, server, c) = started("feed-slices").await;
    let key = "feed:slices";
    let mut feed = c.follow(key, Cursor::start(), ReadOptions::new());
    let mut conn = server.conn();
    let before = connections_received(&mut conn);
    let started = Instant::now();
    for _ in 0..20 {
        let change = feed.next_within(Duration::from_millis(30)).await.unwrap();
        assert!(change.is_none());
    }
    assert!(started.elapsed() >= Duration::from_millis(600));
    let opened = connections_received(&mut conn) - before;
    assert!(opened <= 2, "{opened} connections for 20 slices");
    // ZERO: one read that does not wait, which still returns what is there.
    let id = c.add(key, DISK).await.unwrap().id;
    let change = feed.next_within(Duration::ZERO).await.unwrap();
    assert_eq!(change.map(|c| c.alert.id), Some(id));
    assert!(feed.next_within(Duration::ZERO).await.unwrap().is_none());
}

#[tokio::test]
async fn in_fallback_the_feed_answers_from_the_journal_with_cursors_of_its_own() {
    support::init();
    let port = free_port();
    let dir = TempDir::new("feed-fallback");
    let c = Client::open(config(port, &dir.join("journal")))
        .await
        .unwrap();
    let key = "feed:local";

    // Nothing listens: the journal takes the writes, and its view answers READ.
    let disk = c.add(key, DISK).await.unwrap();
    assert_eq!(disk.store, Store::File);
    let slow = c.add(key, SLOW).await.unwrap().id;
    let redis_cursor: Cursor = "1000".parse().unwrap();
    let r = c
        .read(key, &redis_cursor, &ReadOptions::new())
        .await
        .unwrap();
    assert_eq!(r.store, Store::File);
    assert_eq!(ids(&r.changes), vec![disk.id, slow]);
    assert_eq!(r.next.redis_part(), "1000", "the Redis position is kept");
    let local = r.next.local_part().expect("a local position");
    assert!(
        local > now_ms() * 1000 - 60_000_000,
        "from the clock: {local}"
    );
    assert_eq!(r.next.to_string(), format!("1000~{local}"));

    // A silence in fallback hides from the local feed at once; its ID is the client's.
    let until = now_ms() + 3_600_000;
    let sid = c
        .silence(key, until, &Matchers::new().source("web-3"), Some("maint"))
        .await
        .unwrap();
    c.add(key, SLOW).await.unwrap();
    let hidden = c.read(key, &r.next, &ReadOptions::new()).await.unwrap();
    assert!(hidden.changes.is_empty());
    let shown = c
        .read(key, &r.next, &ReadOptions::new().with_silenced())
        .await
        .unwrap();
    assert_eq!(ids(&shown.changes), vec![slow]);
    assert_eq!(shown.changes[0].alert.count, 2);
    let local_silences = c.silences(key).await.unwrap();
    assert_eq!(local_silences.len(), 1);
    assert_eq!((local_silences[0].id, local_silences[0].covered), (sid, 1));
    let groups = c
        .groups(
            key,
            Bound::Min,
            Bound::Max,
            &GroupBy::Severity,
            &Filters::new(),
        )
        .await
        .unwrap();
    let summary: Vec<(Option<&str>, u64, u64)> = groups
        .iter()
        .map(|g| (g.value.as_deref(), g.alerts, g.occurrences))
        .collect();
    assert_eq!(summary, vec![(Some("critical"), 1, 1), (Some("low"), 1, 2)]);
    // A silence the fallback stores do not hold cannot be ended here.
    let e = c.unsilence(key, 12345).await.unwrap_err();
    assert!(e.is_unavailable(), "{e}");
    let temp = c
        .silence(key, until, &Matchers::new().kind("cpu"), None)
        .await
        .unwrap();
    assert!(c.unsilence(key, temp).await.unwrap());
    let e = c
        .silence(key, now_ms() - 1, &Matchers::new().kind("cpu"), None)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidDocument(_)), "{e}");

    // A blocking read in fallback is woken by a fallback write.
    let reader = c.clone();
    let from = shown.next.clone();
    let blocked = tokio::spawn(async move {
        let o = ReadOptions::new().block(Duration::from_secs(5));
        reader.read(key, &from, &o).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let cpu = c.add(key, CPU).await.unwrap().id;
    assert_eq!(ids(&blocked.await.unwrap().unwrap().changes), vec![cpu]);

    // Redis comes back: the silence replays once, with its ID; the unsilenced one leaves
    // nothing behind.
    let server = Redis::start(port, &dir.join("srv"), Kind::Module);
    assert!(c.flush(Duration::from_secs(10)).await.unwrap());
    let held = c.silences(key).await.unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        (held[0].id, held[0].until, held[0].comment.as_deref()),
        (sid, until, Some("maint"))
    );
    let m = c.metrics();
    assert_eq!((m.rejected, m.pending), (0, 0));
    // Redis answers READ again; the Redis part of the cursor reads the replayed alerts.
    let r = c.read(key, &r.next, &ReadOptions::new()).await.unwrap();
    assert_eq!(r.store, Store::Redis);
    let e = r.next.local_part();
    assert_eq!(e, None);
    drop(server);
}

/// The silence `id` of `key` for alerts of `source`, made in Redis directly: what an earlier
/// replay whose answer was lost left there.
fn silence_in_redis(conn: &mut redis::Connection, key: &str, until: u64, source: &str, id: u64) {
    let (until, id) = (until.to_string(), id.to_string());
    let args = [
        "ALERT.SILENCE",
        key,
        "UNTIL",
        &until,
        "SOURCE",
        source,
        "ID",
        &id,
    ];
    common::call(conn, &args).unwrap();
}

#[tokio::test]
async fn a_journaled_silence_replays_exactly_once() {
    support::init();
    let port = free_port();
    let dir = TempDir::new("feed-silence-once");
    let c = Client::open(config(port, &dir.join("journal")))
        .await
        .unwrap();
    let key = "feed:once";
    let until = now_ms() + 3_600_000;
    let kept = c
        .silence(key, until, &Matchers::new().source("db-1"), None)
        .await
        .unwrap();
    let taken = c
        .silence(key, until, &Matchers::new().source("web-3"), None)
        .await
        .unwrap();
    assert_eq!(c.pending(), 2);

    // Before the replay, Redis already holds the first (an earlier send whose answer was
    // lost), and another client took an ID above the second (its silence made later, the
    // clocks alike).
    let server = Redis::start(port, &dir.join("srv"), Kind::Module);
    let mut conn = server.conn();
    let u = until.to_string();
    silence_in_redis(&mut conn, key, until, "db-1", kept);
    let other = (taken + 1000).to_string();
    common::call(
        &mut conn,
        &["ALERT.SILENCE", key, "UNTIL", &u, "TYPE", "x", "ID", &other],
    )
    .unwrap();
    assert!(c.flush(Duration::from_secs(10)).await.unwrap());

    // The second was never sent (Redis was away): it is made under the ID Redis gives, and
    // UNSILENCE of the ID the client returned ends it.
    let held = c.silences(key).await.unwrap();
    let held: Vec<(u64, Option<&str>)> = held
        .iter()
        .map(|s| (s.id, s.matchers.source.as_deref()))
        .collect();
    assert_eq!(
        held,
        vec![
            (kept, Some("db-1")),
            (taken + 1000, None),
            (taken + 1001, Some("web-3"))
        ],
        "once each, none doubled, none lost"
    );
    let m = c.metrics();
    assert_eq!((m.replayed, m.rejected), (2, 0), "{m:?}");
    assert!(c.unsilence(key, taken).await.unwrap());
    let held: Vec<u64> = c
        .silences(key)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(held, vec![kept, taken + 1000]);

    // With Redis up, a silence whose ID is below the stream's (a clock behind another
    // client's) is given one by the server.
    let ahead = (now_ms() + 3_600_000) * 1000;
    common::call(
        &mut conn,
        &[
            "ALERT.SILENCE",
            key,
            "UNTIL",
            &u,
            "TYPE",
            "y",
            "ID",
            &ahead.to_string(),
        ],
    )
    .unwrap();
    let next = c
        .silence(key, until, &Matchers::new().source("api-2"), None)
        .await
        .unwrap();
    assert_eq!(next, ahead + 1);
}

/// A silence whose send timed out may have reached Redis: if its ID is found used and the
/// silence gone when it is replayed (made, then ended by someone else), it is not made again
/// (that would hide alerts after an UNSILENCE) but refused and kept in `rejected.jsonl`. One
/// written while Redis was away, and found with its ID used, is made under a new ID.
#[tokio::test]
async fn a_silence_that_may_have_reached_redis_is_not_made_again_under_a_new_id() {
    support::init();
    let port = free_port();
    let dir = TempDir::new("feed-silence-sent");
    let server = Redis::start(port, &dir.join("srv"), Kind::Module);
    let mut conn = server.conn();
    let mut cfg = config(port, &dir.join("journal"));
    // No background replay: the test runs the passes.
    cfg.probe_interval = Duration::from_secs(600);
    let c = Client::open(cfg).await.unwrap();
    let key = "feed:sent";
    let until = now_ms() + 3_600_000;
    c.add(key, DISK).await.unwrap();
    // The server stops answering: the silence reaches its socket, times out, is journaled.
    server.signal("STOP");
    let sent = c
        .silence(key, until, &Matchers::new().source("db-1"), None)
        .await
        .unwrap();
    // Redis away for good now (for this client): the next is kept without a try.
    let unsent = c
        .silence(key, until, &Matchers::new().source("web-3"), None)
        .await
        .unwrap();
    assert_eq!((c.mode(), c.pending()), (Store::File, 2));
    server.signal("CONT");
    // The first did reach Redis; another client ends it and makes a silence of its own.
    let held: Vec<u64> = c_silences(&mut conn, key);
    assert_eq!(held, vec![sent]);
    common::call(&mut conn, &["ALERT.UNSILENCE", key, &sent.to_string()]).unwrap();
    let u = until.to_string();
    common::call(&mut conn, &["ALERT.SILENCE", key, "UNTIL", &u, "TYPE", "x"]).unwrap();
    assert!(c.flush(Duration::from_secs(10)).await.unwrap());
    let m = c.metrics();
    assert_eq!((m.replayed, m.rejected, m.pending), (1, 1, 0), "{m:?}");
    let rejected = std::fs::read_to_string(dir.join("journal").join("rejected.jsonl")).unwrap();
    assert!(rejected.contains("took its ID"), "{rejected}");
    let held = c.silences(key).await.unwrap();
    let sources: Vec<Option<&str>> = held.iter().map(|s| s.matchers.source.as_deref()).collect();
    assert_eq!(sources, vec![None, Some("web-3")]);
    assert!(c.unsilence(key, unsent).await.unwrap());
}

/// A client restarted after its replay made a journaled silence under a new ID, and before
/// it replayed the UNSILENCE journaled after it, sends that UNSILENCE for the new ID: the
/// renaming is kept beside the journal. Before, it sent the journal's ID, and so ended
/// another client's silence that holds it. The killed process's files are made by a real
/// client, then set as that process leaves them (the silence replayed, the renaming kept).
#[tokio::test]
async fn a_restarted_client_unsilences_a_silence_the_replay_renamed() {
    support::init();
    let port = free_port();
    let dir = TempDir::new("feed-silence-renamed");
    let journal = dir.join("journal");
    let key = "feed:renamed";
    let until = now_ms() + 3_600_000;
    let ours = {
        let c = Client::open(config(port, &journal)).await.unwrap();
        let id = c
            .silence(key, until, &Matchers::new().source("web-3"), None)
            .await
            .unwrap();
        assert!(c.unsilence(key, id).await.unwrap());
        assert_eq!(c.pending(), 2);
        id
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Another client's silence holds the journal's ID; the replay made ours under a new one.
    let server = Redis::start(port, &dir.join("srv"), Kind::Module);
    let mut conn = server.conn();
    let u = until.to_string();
    let args = ["ALERT.SILENCE", key, "UNTIL", &u, "TYPE", "x", "ID"];
    common::call(&mut conn, &[&args[..], &[&ours.to_string()]].concat()).unwrap();
    let made: i64 = redis::cmd("ALERT.SILENCE")
        .arg(key)
        .arg("UNTIL")
        .arg(until)
        .arg("SOURCE")
        .arg("web-3")
        .query(&mut conn)
        .unwrap();
    let log = std::fs::read_dir(&journal)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .expect("a journal segment");
    let text = std::fs::read_to_string(&log).unwrap();
    let first = text.find('\n').expect("two lines") + 1;
    assert!(text[..first].contains("web-3"), "{text}");
    std::fs::write(log.with_extension("cursor"), first.to_string()).unwrap();
    let renamed = serde_json::json!([[key, ours, made]]).to_string();
    std::fs::write(journal.join("renamed.json"), renamed).unwrap();

    let c = Client::open(config(port, &journal)).await.unwrap();
    assert_eq!(c.pending(), 1);
    assert!(c.flush(Duration::from_secs(10)).await.unwrap());
    assert_eq!(
        c_silences(&mut conn, key),
        vec![ours],
        "ours ended, the other client's kept"
    );
    assert!(!journal.join("renamed.json").exists());
}

fn c_silences(conn: &mut redis::Connection, key: &str) -> Vec<u64> {
    let v: Vec<redis::Value> = redis::cmd("ALERT.SILENCES").arg(key).query(conn).unwrap();
    v.iter()
        .map(|s| {
            let redis::Value::Array(fields) = s else {
                panic!("{s:?}")
            };
            let at = fields
                .iter()
                .position(|f| matches!(f, redis::Value::BulkString(b) if b == b"id"))
                .expect("an id field");
            match &fields[at + 1] {
                redis::Value::Int(id) => *id as u64,
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

#[tokio::test]
async fn a_feed_crosses_an_outage_missing_nothing() {
    support::init();
    let port = free_port();
    let dir = TempDir::new("feed-outage");
    let mut server = Redis::start(port, &dir.join("srv"), Kind::ModuleAof);
    let c = Client::open(config(port, &dir.join("journal")))
        .await
        .unwrap();
    let key = "feed:outage";
    let before = c.add(key, DISK).await.unwrap().id;
    let mut feed = c.follow(
        key,
        Cursor::start(),
        ReadOptions::new().block(Duration::from_millis(200)),
    );
    assert_eq!(feed.next().await.unwrap().alert.id, before);

    // Down: the feed goes on with the journal's changes.
    server.kill();
    let during = c.add(key, SLOW).await.unwrap();
    assert_eq!(during.store, Store::File);
    let local = feed.next().await.unwrap();
    assert_eq!(local.alert.id, during.id);
    assert!(local.cursor.local_part().is_some());

    // Back (from its AOF): another client wrote meanwhile; the replayed alert comes again, in
    // its state in Redis, and nothing is skipped.
    let server = Redis::start(port, &dir.join("srv"), Kind::ModuleAof);
    let other = Client::open(config(port, &dir.join("journal-other")))
        .await
        .unwrap();
    let direct = other.add(key, CPU).await.unwrap().id;
    assert!(c.flush(Duration::from_secs(10)).await.unwrap());
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let change = feed
            .next_within(Duration::from_secs(5))
            .await
            .unwrap()
            .expect("a change after the outage");
        seen.push(change.alert.id);
        assert_eq!(change.cursor.local_part(), None, "Redis answers again");
    }
    seen.sort();
    let mut want = vec![during.id, direct];
    want.sort();
    assert_eq!(
        seen, want,
        "the direct write and the replayed one, not the first again"
    );
    drop(server);
}

/// A silence made and ended while Redis was away (SILENCE then UNSILENCE in the journal),
/// replayed a second time because the first replay's answers were lost: Redis has used its ID
/// and holds it no longer. That is the client's own silence, ended by its own UNSILENCE, which
/// still waits behind it: both count as replayed, nothing is refused.
#[tokio::test]
async fn a_silence_made_and_ended_in_an_outage_replays_twice_without_refusal() {
    support::init();
    let port = free_port();
    let dir = TempDir::new("feed-silence-twice");
    let c = Client::open(config(port, &dir.join("journal")))
        .await
        .unwrap();
    let key = "feed:twice";
    let until = now_ms() + 3_600_000;
    let id = c
        .silence(key, until, &Matchers::new().source("db-1"), None)
        .await
        .unwrap();
    assert!(c.unsilence(key, id).await.unwrap());
    assert_eq!(c.pending(), 2);

    // The first replay reached Redis; its answers did not reach the client.
    let server = Redis::start(port, &dir.join("srv"), Kind::Module);
    let mut conn = server.conn();
    silence_in_redis(&mut conn, key, until, "db-1", id);
    common::call(&mut conn, &["ALERT.UNSILENCE", key, &id.to_string()]).unwrap();

    assert!(c.flush(Duration::from_secs(10)).await.unwrap());
    assert!(c.silences(key).await.unwrap().is_empty());
    let m = c.metrics();
    assert_eq!((m.replayed, m.rejected), (2, 0), "{m:?}");
    assert!(!dir.join("journal").join("rejected.jsonl").exists());
}
