//! The cascade in one process: Redis down, slow, or refusing a replayed write; the journal
//! unusable or full; reads from the fallback stores; replay in order.

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};
use support::{free_port, Kind, Redis};
use vigil_client::*;

fn config(port: u16, journal: Option<&Path>) -> Config {
    let mut c = Config::new(format!("redis://127.0.0.1:{port}/"))
        .command_timeout(Duration::from_millis(300))
        .connect_timeout(Duration::from_millis(300))
        .probe_interval(Duration::from_millis(50));
    c.journal_dir = journal.map(Path::to_path_buf);
    c
}

fn all_ids(alerts: &[Alert]) -> Vec<AlertId> {
    alerts.iter().map(|a| a.id).collect()
}

#[tokio::test]
async fn journal_answers_while_redis_is_down_then_replays_in_order() {
    support::init();
    let port = free_port();
    let dir = support::TempDir::new("cascade-journal");
    let journal = dir.join("journal");
    let c = Client::open(config(port, Some(&journal))).await.unwrap();

    // Nothing listens on the port: writes go to the journal, with the module's semantics.
    let disk = r#"{"severity":"critical","source":"db","type":"disk","labels":{"host":"a"}}"#;
    let a = c.add("k", disk).await.unwrap();
    assert_eq!(a.store, Store::File);
    let AddOutcome::Added(a_id) = a.outcome else {
        panic!("{a:?}")
    };
    let dup = c.add("k", disk).await.unwrap();
    assert_eq!(dup.outcome, AddOutcome::Duplicate { id: a_id, count: 2 });
    let b = c
        .add("k", r#"{"severity":"low","source":"web"}"#)
        .await
        .unwrap();
    let cpu = c.add("k", r#"{"source":"db","type":"cpu"}"#).await.unwrap();
    assert_eq!(c.mode(), Store::File);
    assert_eq!(c.ack("k", &[b.id]).await.unwrap(), 1);
    assert_eq!(c.del("k", &[cpu.id]).await.unwrap(), 1);
    let bad = c.add("k", r#"{"severity":"urgent"}"#).await.unwrap_err();
    assert!(matches!(bad, Error::InvalidDocument(_)), "{bad}");

    // Reads answer from the journal's view.
    let held = c.range("k", &RangeQuery::all()).await.unwrap();
    assert_eq!(held.len(), 2);
    let crit = c
        .range("k", &RangeQuery::all().min_severity(Severity::Critical))
        .await
        .unwrap();
    assert_eq!((crit.len(), crit[0].count), (1, 2));
    let got = c.get("k", &[b.id]).await.unwrap();
    assert_eq!(got[0].as_ref().map(|a| a.status), Some(Status::Acked));
    assert_eq!(c.info("k").await.unwrap().length, 2);
    let m = c.metrics();
    assert_eq!(
        (m.mode, m.fallbacks, m.pending_file, m.pending_memory),
        (Store::File, 6, 6, 0)
    );
    // Calls with no fallback say so.
    let q = c.quota_get("q").await.unwrap_err();
    assert!(q.is_unavailable(), "{q}");

    // Redis comes back: the probe replays, in order, with the same IDs.
    let server = Redis::start(port, &dir.join("srv"), Kind::Module);
    assert!(c.flush(Duration::from_secs(10)).await.unwrap());
    assert_eq!(c.mode(), Store::Redis);
    let in_redis = c.range("k", &RangeQuery::all()).await.unwrap();
    assert_eq!(all_ids(&in_redis), all_ids(&held));
    // Alerts of one millisecond sort by their random seq, so look the first one up by ID.
    let first = in_redis
        .iter()
        .find(|a| a.id == a_id)
        .expect("the folded alert");
    assert_eq!((first.id, first.count), (a_id, 2));
    let acked = c.get("k", &[b.id, cpu.id]).await.unwrap();
    assert_eq!(acked[0].as_ref().map(|a| a.status), Some(Status::Acked));
    assert!(acked[1].is_none(), "the DEL was replayed after the ADD");
    let m = c.metrics();
    assert_eq!((m.replayed, m.pending, m.added, m.duplicate), (6, 0, 3, 1));
    assert!(m.mode_changes >= 2);
    // A second replay of the same IDs would be `exists`: nothing doubles.
    let again = c
        .add_with(
            "k",
            disk,
            AddOptions {
                id: Some(dup.id),
                ..AddOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(again.outcome, AddOutcome::Exists { id: a_id, count: 2 });
    drop(server);
}

#[tokio::test]
async fn slow_server_times_out_to_the_journal_and_the_replay_is_idempotent() {
    support::init();
    let port = free_port();
    let dir = support::TempDir::new("cascade-slow");
    let server = Redis::start(port, &dir.join("srv"), Kind::Module);
    let c = Client::open(config(port, Some(&dir.join("journal"))))
        .await
        .unwrap();
    assert_eq!(
        c.add("s", r#"{"fingerprint":"one"}"#).await.unwrap().store,
        Store::Redis
    );

    // The server accepts the command but does not answer in time: the write is journaled
    // with its ID, although it reaches Redis once the server runs again.
    server.signal("STOP");
    let t = Instant::now();
    let slow = c.add("s", r#"{"fingerprint":"two"}"#).await.unwrap();
    assert_eq!(slow.store, Store::File);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    server.signal("CONT");
    assert!(c.flush(Duration::from_secs(10)).await.unwrap());

    let alerts = c.range("s", &RangeQuery::all()).await.unwrap();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(alerts.iter().any(|a| a.id == slow.id));
    let m = c.metrics();
    println!(
        "slow server: added {} exists {} replayed {}",
        m.added, m.exists, m.replayed
    );
    assert_eq!(m.added + m.exists, 2);
    assert_eq!(m.replayed, 1);
}

#[tokio::test]
async fn memory_store_when_the_journal_cannot_be_written_drops_the_oldest() {
    support::init();
    let port = free_port();
    let dir = support::TempDir::new("cascade-memory");
    // A journal directory below a regular file cannot be created (ENOTDIR).
    std::fs::write(dir.join("file"), b"x").unwrap();
    let c = Client::open(config(port, Some(&dir.join("file").join("journal"))).memory_capacity(3))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = c
            .add("m", &format!(r#"{{"fingerprint":"f{i}","i":{i}}}"#))
            .await
            .unwrap();
        assert_eq!(r.store, Store::Memory);
        ids.push(r.id);
    }
    let m = c.metrics();
    assert_eq!((m.mode, m.pending_memory, m.dropped), (Store::Memory, 3, 2));
    // Reads see what the memory store still holds.
    let held = c.range("m", &RangeQuery::all()).await.unwrap();
    assert_eq!(held.len(), 3);

    let server = Redis::start(port, &dir.join("srv"), Kind::Module);
    assert!(c.flush(Duration::from_secs(10)).await.unwrap());
    let in_redis = c.range("m", &RangeQuery::all()).await.unwrap();
    let mut newest: Vec<AlertId> = ids[2..].to_vec();
    newest.sort();
    assert_eq!(all_ids(&in_redis), newest);
    drop(server);
}

#[tokio::test]
async fn a_full_journal_spills_to_memory_and_both_replay_in_order() {
    support::init();
    let port = free_port();
    let dir = support::TempDir::new("cascade-full");
    let journal = dir.join("journal");
    let c = Client::open(config(port, Some(&journal)).max_journal_bytes(1_000))
        .await
        .unwrap();
    let mut stores = Vec::new();
    for i in 0..30u64 {
        let r = c
            .add_with(
                "f",
                &format!(r#"{{"fingerprint":"f{i}","i":{i}}}"#),
                AddOptions {
                    ts: Some(1_700_000_000_000 + i),
                    ..AddOptions::default()
                },
            )
            .await
            .unwrap();
        stores.push(r.store);
    }
    assert_eq!(stores.first(), Some(&Store::File));
    assert_eq!(stores.last(), Some(&Store::Memory));
    let m = c.metrics();
    assert!(m.pending_file > 0 && m.pending_memory > 0, "{m:?}");
    assert_eq!(m.pending, 30);
    assert_eq!(c.mode(), Store::Memory);

    let server = Redis::start(port, &dir.join("srv"), Kind::Module);
    // Old timestamps: keep them (the default 30-day retention would expire them).
    common::call(&mut server.conn(), &["ALERT.CREATE", "f", "RETENTION", "0"]).unwrap();
    assert!(c.flush(Duration::from_secs(10)).await.unwrap());
    let got: Vec<u64> = c
        .range("f", &RangeQuery::all())
        .await
        .unwrap()
        .iter()
        .map(|a| a.document["i"].as_u64().unwrap())
        .collect();
    assert_eq!(got, (0..30).collect::<Vec<_>>());
    assert_eq!(c.metrics().replayed, 30);
}

#[tokio::test]
async fn a_replayed_write_redis_refuses_is_kept_aside_not_retried_forever() {
    support::init();
    let port = free_port();
    let dir = support::TempDir::new("cascade-rejected");
    let journal = dir.join("journal");
    let mut cfg = config(port, Some(&journal));
    // No background replay before the test has set the trap.
    cfg.probe_interval = Duration::from_secs(600);
    let c = Client::open(cfg).await.unwrap();
    c.add("str", r#"{"n":1}"#).await.unwrap();
    c.add("ok", r#"{"n":2}"#).await.unwrap();

    let server = Redis::start(port, &dir.join("srv"), Kind::Module);
    common::call(&mut server.conn(), &["SET", "str", "a string"]).unwrap();
    assert!(c.flush(Duration::from_secs(10)).await.unwrap());
    let m = c.metrics();
    assert_eq!((m.rejected, m.replayed, m.pending), (1, 1, 0));
    let rejected = std::fs::read_to_string(journal.join("rejected.jsonl")).unwrap();
    assert!(
        rejected.contains("WRONGTYPE") && rejected.contains("\"key\":\"str\""),
        "{rejected}"
    );
    assert_eq!(c.range("ok", &RangeQuery::all()).await.unwrap().len(), 1);
}

/// While the replay waits on one key (its write meets OOM, which is unavailability: the lane
/// stays in fallback), a key the fallback stores hold nothing for is read from Redis, which
/// serves it, not from an empty local view; a key with writes waiting still answers from
/// what the fallback holds.
#[tokio::test]
async fn during_a_replay_keys_with_nothing_pending_are_read_from_redis() {
    support::init();
    let port = free_port();
    let dir = support::TempDir::new("cascade-serving");
    let mut cfg = config(port, Some(&dir.join("journal")));
    // No background replay: the test runs the passes.
    cfg.probe_interval = Duration::from_secs(600);
    let c = Client::open(cfg).await.unwrap();
    c.add("pending", r#"{"n":1}"#).await.unwrap();
    let server = Redis::start(port, &dir.join("srv"), Kind::Module);
    let mut conn = server.conn();
    common::call(&mut conn, &["ALERT.ADD", "other", r#"{"source":"z"}"#]).unwrap();
    common::call(&mut conn, &["CONFIG", "SET", "maxmemory", "1"]).unwrap();
    // One pass (a zero limit: no wait for the next).
    assert!(!c.flush(Duration::ZERO).await.unwrap());
    assert_eq!(c.mode(), Store::File);
    assert_eq!(c.range("other", &RangeQuery::all()).await.unwrap().len(), 1);
    assert_eq!(c.info("other").await.unwrap().length, 1);
    let read = c
        .read("other", &Cursor::start(), &ReadOptions::new())
        .await
        .unwrap();
    assert_eq!((read.changes.len(), read.store), (1, Store::Redis));
    let mut feed = c.follow("other", Cursor::start(), ReadOptions::new());
    let change = feed.next_within(Duration::from_secs(2)).await.unwrap();
    assert_eq!(change.map(|c| c.alert.source), Some("z".to_owned()));
    assert_eq!(
        c.range("pending", &RangeQuery::all()).await.unwrap().len(),
        1
    );
    let read = c
        .read("pending", &Cursor::start(), &ReadOptions::new())
        .await
        .unwrap();
    assert_eq!((read.changes.len(), read.store), (1, Store::File));
    common::call(&mut conn, &["CONFIG", "SET", "maxmemory", "0"]).unwrap();
    assert!(c.flush(Duration::ZERO).await.unwrap());
    assert_eq!(c.mode(), Store::Redis);
    assert_eq!(
        c.range("pending", &RangeQuery::all()).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn a_failed_read_switches_to_the_fallback_and_the_probe_switches_back() {
    support::init();
    let port = free_port();
    let dir = support::TempDir::new("cascade-read");
    let mut server = Redis::start(port, &dir.join("srv"), Kind::Module);
    let c = Client::open(config(port, Some(&dir.join("journal"))))
        .await
        .unwrap();
    c.add("r", "{}").await.unwrap();
    server.kill();
    assert_eq!(c.range("r", &RangeQuery::all()).await.unwrap(), vec![]);
    assert_eq!(c.mode(), Store::File);
    // Whether Redis holds the stream only Redis can say: not "no such key".
    let info = c.info("r").await.unwrap_err();
    assert!(info.is_unavailable(), "{info}");
    let _server = Redis::start(port, &dir.join("srv"), Kind::Module);
    let start = Instant::now();
    while c.mode() != Store::Redis && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c.mode(), Store::Redis, "the probe noticed the recovery");
}

#[tokio::test]
async fn one_journal_directory_serves_one_client_at_a_time() {
    support::init();
    let dir = support::TempDir::new("cascade-lock");
    let journal = dir.join("journal");
    let first = Client::open(config(free_port(), Some(&journal)))
        .await
        .unwrap();
    let second = Client::open(config(free_port(), Some(&journal))).await;
    assert!(
        matches!(&second, Err(Error::Config(why)) if why.contains("in use")),
        "{:?}",
        second.err()
    );
    drop(first);
    // The probe task holds the client only between rounds; give it one to let go.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(Client::open(config(free_port(), Some(&journal)))
        .await
        .is_ok());
}

/// `close` waits until the client has ended: its journal directory can be opened again at
/// once, even while the probe is in the middle of a round (Redis down, a write waiting in
/// the journal, so every round tries a replay). A plain drop lets go only at the end of the
/// probe's round, which an immediate open often met; the blocking client's close too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_client_frees_its_journal_directory_at_once() {
    support::init();
    let dir = support::TempDir::new("cascade-close");
    let journal = dir.join("journal");
    let port = free_port();
    let doc = r#"{"severity":"low","source":"s","type":"t"}"#;
    let mut c = Client::open(config(port, Some(&journal))).await.unwrap();
    for round in 0..50 {
        assert_eq!(c.add("k", doc).await.unwrap().store, Store::File);
        c.wake_probe();
        tokio::time::sleep(Duration::from_millis(round % 3)).await;
        assert!(
            c.close(Duration::from_secs(5)).await,
            "round {round}: ended"
        );
        let again = Client::open(config(port, Some(&journal))).await;
        assert!(again.is_ok(), "round {round}: {:?}", again.err());
        c = again.unwrap();
        assert_eq!(c.pending(), round + 1, "the journal kept every write");
    }
    // A clone still held: close gives up at its limit, and the clone keeps the directory.
    let clone = c.clone();
    assert!(!c.close(Duration::from_millis(50)).await);
    assert!(Client::open(config(port, Some(&journal))).await.is_err());
    assert!(clone.close(Duration::from_secs(5)).await);
    // The blocking client, on a thread of its own.
    let journal2 = journal.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = vigil_client::blocking::Client::open(config(port, Some(&journal2))).unwrap();
        for round in 0..10 {
            c.as_async().wake_probe();
            assert!(c.close(Duration::from_secs(5)), "round {round}: ended");
            let again = vigil_client::blocking::Client::open(config(port, Some(&journal2)));
            assert!(again.is_ok(), "round {round}: {:?}", again.err());
            c = again.unwrap();
        }
        assert!(c.close(Duration::from_secs(5)));
    })
    .await
    .unwrap();
}

/// A journal directory that cannot be used when the client opens (here: below a regular
/// file) is tried again by the probe. Once it can be opened, the memory store moves into it,
/// later outages write to it, and what it holds survives the client: a client killed then
/// loses nothing. Before, the client stayed memory-only for its whole life.
#[tokio::test]
async fn a_journal_that_could_not_be_opened_is_tried_again() {
    support::init();
    let port = free_port();
    let dir = support::TempDir::new("cascade-reopen");
    let blocker = dir.join("mnt");
    std::fs::write(&blocker, b"not mounted yet").unwrap();
    let journal = blocker.join("journal");
    let c = Client::open(config(port, Some(&journal))).await.unwrap();

    // Redis down, the journal unusable: memory.
    let first = c.add("r", r#"{"fingerprint":"a"}"#).await.unwrap();
    assert_eq!(first.store, Store::Memory);
    assert_eq!(c.mode(), Store::Memory);

    // The directory becomes usable: the probe opens the journal and moves the memory store
    // into it, still during the outage.
    std::fs::remove_file(&blocker).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.mode() != Store::File && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c.mode(), Store::File);
    let m = c.metrics();
    assert_eq!((m.pending_file, m.pending_memory), (1, 0), "{m:?}");
    let second = c.add("r", r#"{"fingerprint":"b"}"#).await.unwrap();
    assert_eq!(second.store, Store::File);

    // The client dies before Redis comes back; the next one replays both.
    drop(c);
    let c = Client::open(config(port, Some(&journal))).await.unwrap();
    assert_eq!(c.mode(), Store::File);
    let server = Redis::start(port, &dir.join("srv"), Kind::Module);
    assert!(c.flush(Duration::from_secs(10)).await.unwrap());
    let mut want = vec![first.id, second.id];
    want.sort();
    assert_eq!(
        all_ids(&c.range("r", &RangeQuery::all()).await.unwrap()),
        want
    );

    // The next outage writes to the journal at once.
    drop(server);
    let third = c.add("r", r#"{"fingerprint":"c"}"#).await.unwrap();
    assert_eq!(third.store, Store::File);
}

/// A client restarted during an outage answers from its journal under the stream settings it
/// had learnt, not the defaults: the settings are kept beside the journal. Before, a stream
/// made with `DEDUP 0` folded the restarted client's repeat into an earlier alert (the
/// default dedup window) while the first client had stored each one; what Redis holds after
/// the replay was the same either way.
#[tokio::test]
async fn a_client_restarted_mid_outage_answers_under_the_settings_it_had_learnt() {
    support::init();
    let port = free_port();
    let dir = support::TempDir::new("cascade-settings");
    let journal = dir.join("journal");
    let mut server = Redis::start(port, &dir.join("srv"), Kind::ModuleAof);
    let doc = r#"{"severity":"high","source":"db","type":"disk"}"#;
    {
        let c = Client::open(config(port, Some(&journal))).await.unwrap();
        let no_dedup = StreamOptions {
            dedup_ms: Some(0),
            ..StreamOptions::default()
        };
        c.create("k", &no_dedup).await.unwrap();
        server.kill();
        for _ in 0..2 {
            let a = c.add("k", doc).await.unwrap();
            assert_eq!(a.store, Store::File);
            assert!(matches!(a.outcome, AddOutcome::Added(_)), "{a:?}");
        }
    }
    // The probe task holds the client only between rounds; give it one to let go.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(journal.join("settings.json").exists());

    let c = Client::open(config(port, Some(&journal))).await.unwrap();
    assert_eq!(c.mode(), Store::File);
    assert_eq!(c.info("k").await.unwrap().dedup, 0);
    let third = c.add("k", doc).await.unwrap();
    assert!(
        matches!(third.outcome, AddOutcome::Added(_)),
        "the kept DEDUP 0 stores the repeat: {third:?}"
    );
    assert_eq!(c.range("k", &RangeQuery::all()).await.unwrap().len(), 3);

    // Redis comes back: the replay gives it the three, and the kept settings go with the
    // journal.
    let _server = Redis::start(port, &dir.join("srv"), Kind::ModuleAof);
    assert!(c.flush(Duration::from_secs(10)).await.unwrap());
    assert_eq!(c.mode(), Store::Redis);
    assert_eq!(c.range("k", &RangeQuery::all()).await.unwrap().len(), 3);
    assert!(!journal.join("settings.json").exists());
}
