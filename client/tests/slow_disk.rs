//! A slow journal fsync holds up only the fallback writes queued behind it: calls that Redis
//! answers, and reads from the fallback stores, go on meanwhile, on the async client (here on
//! a one-thread runtime) and on the blocking one. A test hook makes the fsync wait until the
//! test lets it go; nothing here measures time.

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use support::{free_port, Kind, Redis, TempDir};
use vigil_client::*;

/// Once armed, the next journal fsync waits at the gate until the test opens it. It gives up
/// waiting after a while, so that a client that waits for it on its runtime thread fails the
/// test instead of hanging it.
struct Gate {
    armed: Arc<AtomicBool>,
    entered: Arc<AtomicBool>,
    open: Mutex<Option<mpsc::Sender<()>>>,
}

impl Gate {
    fn install(config: &mut Config) -> Gate {
        let (armed, entered) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (open, closed) = mpsc::channel::<()>();
        let closed = Mutex::new(closed);
        let (hook_armed, hook_entered) = (armed.clone(), entered.clone());
        config.journal_sync_hook = Some(SyncHook(Arc::new(move || {
            if hook_armed.swap(false, SeqCst) {
                hook_entered.store(true, SeqCst);
                // Returns when the sender is dropped (the gate opens).
                let _ = closed
                    .lock()
                    .map(|c| c.recv_timeout(Duration::from_secs(20)));
            }
        })));
        Gate {
            armed,
            entered,
            open: Mutex::new(Some(open)),
        }
    }

    fn arm(&self) {
        self.armed.store(true, SeqCst);
    }

    /// An fsync is waiting at the gate.
    fn entered(&self) -> bool {
        self.entered.load(SeqCst)
    }

    fn open(&self) {
        self.open.lock().unwrap().take();
    }
}

/// A client config for `server`, with a journal in `dir` and a gate on the journal's fsync.
fn setup(server: &Redis, dir: &TempDir) -> (Config, Gate) {
    let mut config = Config::new(server.url())
        .journal_dir(dir.join("journal"))
        .probe_interval(Duration::from_millis(50));
    let gate = Gate::install(&mut config);
    (config, gate)
}

/// ALERT.ADD is `deny-oom`: with maxmemory at 1 byte Redis refuses it with OOM (the client
/// falls back to the journal), while reads still answer.
fn refuse_writes(server: &Redis, refuse: bool) {
    let limit = if refuse { "1" } else { "0" };
    common::call(&mut server.conn(), &["CONFIG", "SET", "maxmemory", limit]).unwrap();
}

fn ids(alerts: &[Alert]) -> Vec<AlertId> {
    alerts.iter().map(|a| a.id).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_slow_fsync_holds_up_no_other_call_on_a_one_thread_runtime() {
    support::init();
    let dir = TempDir::new("slow-disk-async");
    let server = Redis::start(free_port(), &dir.join("srv"), Kind::Module);
    let (config, gate) = setup(&server, &dir);
    let c = Client::open(config).await.unwrap();
    c.quota_set("q", Amount::from(10), None).await.unwrap();
    refuse_writes(&server, true);
    let first = c.add("k", r#"{"source":"a"}"#).await.unwrap();
    assert_eq!((first.store, c.mode()), (Store::File, Store::File));

    gate.arm();
    let slow = tokio::spawn({
        let c = c.clone();
        async move { c.add("k", r#"{"source":"b"}"#).await }
    });
    while !gate.entered() {
        tokio::task::yield_now().await;
    }

    // While that fsync waits: Redis answers a quota read, the journal's view a range.
    let quota = c.quota_get("q").await.unwrap().expect("the quota");
    assert_eq!(quota.limit, Some(Amount::from(10)));
    let held = c.range("k", &RangeQuery::all()).await.unwrap();
    assert_eq!(ids(&held), vec![first.id]);
    assert!(
        !slow.is_finished(),
        "acknowledged before its fsync returned"
    );

    gate.open();
    let second = slow.await.unwrap().unwrap();
    assert_eq!(second.store, Store::File);
    let held = c.range("k", &RangeQuery::all()).await.unwrap();
    assert_eq!(held.len(), 2);
    refuse_writes(&server, false);
    assert!(c.flush(Duration::from_secs(10)).await.unwrap());
    let in_redis = c.range("k", &RangeQuery::all()).await.unwrap();
    assert_eq!(ids(&in_redis), ids(&held), "replayed, in order");
}

#[test]
fn a_slow_fsync_holds_up_no_other_call_of_the_blocking_client() {
    support::init();
    let dir = TempDir::new("slow-disk-blocking");
    let server = Redis::start(free_port(), &dir.join("srv"), Kind::Module);
    let (config, gate) = setup(&server, &dir);
    let c = blocking::Client::open(config).unwrap();
    c.quota_set("q", Amount::from(10), None).unwrap();
    refuse_writes(&server, true);
    let first = c.add("k", r#"{"source":"a"}"#).unwrap();
    assert_eq!(first.store, Store::File);

    gate.arm();
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| c.add("k", r#"{"source":"b"}"#));
        while !gate.entered() {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(c.quota_get("q").unwrap().is_some());
        assert_eq!(
            ids(&c.range("k", &RangeQuery::all()).unwrap()),
            vec![first.id]
        );
        assert_eq!(c.info("k").unwrap().length, 1);
        assert!(
            !slow.is_finished(),
            "acknowledged before its fsync returned"
        );
        gate.open();
        assert_eq!(slow.join().unwrap().unwrap().store, Store::File);
    });
    assert_eq!(c.pending(), 2);
    refuse_writes(&server, false);
    assert!(c.flush(Duration::from_secs(10)).unwrap());
    assert_eq!(c.metrics().replayed, 2);
}
