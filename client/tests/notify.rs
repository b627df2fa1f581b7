//! vigil-notify against the real thing: redis-server with the module and Debian's Alertmanager
//! on loopback, the bridge run as the built binary (a child process, killed with SIGKILL to
//! restart it). An added alert appears in `GET /api/v2/alerts` with its labels and annotations,
//! a duplicate folded into it and an ACK update it in place, a resolved one ends, a firing one
//! stays firing past its first `endsAt` (re-posts), and an alert added while the bridge is down
//! arrives after its restart, resumed from its cursor file. Alertmanager down: the cursor does
//! not move until it answers; `--once` fails and stores nothing. Redis down: the alerts stay
//! firing (re-posted from what the bridge knew), and the feed goes on when it is back.

#[path = "support/alertmanager.rs"]
mod alertmanager;
#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use alertmanager::Alertmanager;
use serde_json::{json, Value};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{free_port, Kind, Redis, TempDir};

const BINARY: &str = env!("CARGO_BIN_EXE_vigil-notify");

/// A running bridge, its stderr in a file; SIGKILLed on drop.
struct Bridge {
    child: Option<Child>,
    log: PathBuf,
}

impl Bridge {
    fn start(args: &[String], log: &Path) -> Bridge {
        let child = Command::new(BINARY)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(log).expect("bridge log"))
            .spawn()
            .expect("start vigil-notify");
        Bridge {
            child: Some(child),
            log: log.to_owned(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to write anything more.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Bridge {
    /// Sends `signal` (through the shell's `kill`, which needs no procps) and waits up to
    /// `limit` for the bridge to exit; its status, None if it did not.
    fn signal_and_wait(
        &mut self,
        signal: &str,
        limit: Duration,
    ) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let pid = child.id().to_string();
        Command::new("sh")
            .args(["-c", &format!("kill -{signal} {pid}")])
            .status()
            .expect("sh kill");
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.kill();
    }
}

fn bridge_args(redis: &str, am: &str, state: &Path, keys: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--redis",
        redis,
        "--keys",
        keys,
        "--alertmanager",
        am,
        "--state-dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(state.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Runs the bridge to its end (with `--once`, or a usage error) and returns what it did.
fn run_bridge(args: Vec<String>) -> std::process::Output {
    Command::new(BINARY)
        .args(args)
        .output()
        .expect("run vigil-notify")
}

/// Polls `check` until it gives Some, or panics with `what` after `limit`.
fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn add(conn: &mut redis::Connection, key: &str, doc: &str, ts: u64) -> (String, String) {
    let v = common::call(conn, &["ALERT.ADD", key, doc, "TS", &ts.to_string()]).expect("ALERT.ADD");
    let redis::Value::Array(items) = v else {
        panic!("ALERT.ADD reply {v:?}")
    };
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        other => panic!("{other:?}"),
    };
    (text(&items[0]), text(&items[1]))
}

/// A server with the module in a new directory, and the stream `key` (RETENTION 0, so that
/// alerts of 2023 stay) holding one alert of `doc` at 1_700_000_000_000: the start of several
/// tests below. Returns the directory, the server, a connection and the alert's ID.
fn server_with_alert(
    tag: &str,
    key: &str,
    doc: &str,
) -> (TempDir, Redis, redis::Connection, String) {
    let dir = TempDir::new(tag);
    let server = Redis::start(free_port(), &dir.join("srv"), Kind::Module);
    let mut conn = server.conn();
    common::call(&mut conn, &["ALERT.CREATE", key, "RETENTION", "0"]).expect("CREATE");
    let (_, id) = add(&mut conn, key, doc, 1_700_000_000_000);
    (dir, server, conn, id)
}

/// A bridge on `key` re-posting every second (its state and log in `dir`; `extra` flags),
/// once Alertmanager lists the alert `id`.
fn bridge_posting(
    server: &Redis,
    am: &Alertmanager,
    dir: &Path,
    key: &str,
    id: &str,
    extra: &[&str],
) -> Bridge {
    let mut flags = vec!["--block-ms", "200", "--repost-secs", "1"];
    flags.extend_from_slice(extra);
    let bridge = Bridge::start(
        &bridge_args(&server.url(), &am.url(), &dir.join("state"), key, &flags),
        &dir.join("bridge.log"),
    );
    wait_for(Duration::from_secs(10), "the alert in Alertmanager", || {
        am.with_id(id).pop()
    });
    bridge
}

fn cursor_file(state: &Path, key: &str) -> Option<Value> {
    let name = format!("{}.cursor", key.replace(':', "%3A"));
    let text = std::fs::read_to_string(state.join(name)).ok()?;
    Some(serde_json::from_str(&text).expect("a cursor file is JSON"))
}

const DISK: &str = r#"{"severity":"critical","source":"db-1","type":"disk_full","labels":{"mount":"/var","k8s.io/app":"db"},"message":"disk 97% full","used_pct":92.5}"#;

#[test]
fn bridge_posts_updates_resolves_and_resumes_from_its_cursor() {
    support::init();
    let dir = TempDir::new("notify");
    let server = Redis::start(free_port(), &dir.join("srv"), Kind::Module);
    let mut conn = server.conn();
    for key in ["alerts:notify", "alerts:other"] {
        common::call(
            &mut conn,
            &["ALERT.CREATE", key, "RETENTION", "0", "DEDUP", "600000"],
        )
        .expect("ALERT.CREATE");
    }
    let am = Alertmanager::start();
    let state = dir.join("state");
    // Re-posts every second: a firing alert is posted to end 4 s later unless posted again.
    let args = bridge_args(
        &server.url(),
        &am.url(),
        &state,
        "alerts:notify,alerts:other",
        &["--block-ms", "200", "--repost-secs", "1"],
    );
    let mut bridge = Bridge::start(&args, &dir.join("bridge-1.log"));
    let resolved = "alertmanager_alerts_received_total{status=\"resolved\",version=\"v2\"}";

    // Added: it appears with the labels and annotations the document gives.
    let (outcome, disk) = add(&mut conn, "alerts:notify", DISK, 1_700_000_000_000);
    assert_eq!(outcome, "added");
    let alert = wait_for(Duration::from_secs(10), "the alert in Alertmanager", || {
        am.with_id(&disk).pop()
    });
    assert_eq!(
        alert["labels"],
        json!({"alertname": "disk_full", "severity": "critical", "source": "db-1",
               "mount": "/var", "k8s_io_app": "db", "vigil_key": "alerts:notify",
               "vigil_id": disk}),
        "{alert:#}"
    );
    assert_eq!(
        alert["annotations"],
        json!({"message": "disk 97% full", "used_pct": "92.5",
               "summary": "critical disk_full from db-1", "vigil_status": "active",
               "vigil_count": "1", "vigil_last_seen": "2023-11-14T22:13:20.000Z"}),
        "{alert:#}"
    );
    assert_eq!(alert["startsAt"], "2023-11-14T22:13:20.000Z");
    assert_eq!(
        alert["generatorURL"],
        format!("vigil://alerts/alerts%3Anotify/{disk}")
    );
    assert_eq!(alert["status"]["state"], "active");
    assert_eq!(alert["receivers"][0]["name"], "ops-critical");
    println!("GET /api/v2/alerts, the added alert:\n{alert:#}");
    let stored = wait_for(Duration::from_secs(5), "the cursor file", || {
        cursor_file(&state, "alerts:notify")
    });
    assert_eq!(stored["key"], "alerts:notify");

    // Re-posted: still firing after the end it was first posted with.
    let first_end = alert["endsAt"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(5_500));
    let alert = am.with_id(&disk).pop().expect("still firing after 5.5 s");
    assert!(
        alert["endsAt"].as_str().unwrap() > first_end.as_str(),
        "endsAt {} was {first_end}",
        alert["endsAt"]
    );

    // A duplicate folded into it, then an ACK: the same Alertmanager alert, updated.
    let (outcome, id) = add(&mut conn, "alerts:notify", DISK, 1_700_000_030_000);
    assert_eq!(
        (outcome.as_str(), id.as_str()),
        ("duplicate", disk.as_str())
    );
    wait_for(Duration::from_secs(10), "vigil_count 2", || {
        let a = am.with_id(&disk);
        (a.len() == 1 && a[0]["annotations"]["vigil_count"] == "2").then_some(())
    });
    let alert = am.with_id(&disk).pop().unwrap();
    assert_eq!(
        alert["annotations"]["vigil_last_seen"],
        "2023-11-14T22:13:50.000Z"
    );
    common::call(&mut conn, &["ALERT.ACK", "alerts:notify", &disk]).expect("ACK");
    wait_for(Duration::from_secs(10), "vigil_status acked", || {
        let a = am.with_id(&disk);
        (a.len() == 1 && a[0]["annotations"]["vigil_status"] == "acked").then_some(())
    });
    let same_name = |am: &Alertmanager, name: &str| {
        am.alerts()
            .iter()
            .filter(|a| a["labels"]["alertname"] == name)
            .count()
    };
    assert_eq!(same_name(&am, "disk_full"), 1, "{:#?}", am.alerts());
    assert_eq!(am.with_id(&disk)[0]["status"]["state"], "active");

    // A second key, followed by the same bridge.
    let (_, other) = add(
        &mut conn,
        "alerts:other",
        r#"{"severity":"low","source":"web-3","type":"slow_request"}"#,
        1_700_000_001_000,
    );
    let alert = wait_for(Duration::from_secs(10), "the other key's alert", || {
        am.with_id(&other).pop()
    });
    assert_eq!(alert["labels"]["vigil_key"], "alerts:other");
    assert_eq!(alert["receivers"][0]["name"], "ops");

    // Resolved: it ends (Alertmanager counts a resolved alert received and lists it no more).
    let resolved_before = am.metric(resolved);
    common::call(&mut conn, &["ALERT.RESOLVE", "alerts:notify", &disk]).expect("RESOLVE");
    wait_for(Duration::from_secs(3), "the resolved alert ended", || {
        (am.with_id(&disk).is_empty() && am.metric(resolved) > resolved_before).then_some(())
    });

    // One more firing alert, to be deleted while the bridge is down.
    let (_, gone) = add(
        &mut conn,
        "alerts:notify",
        r#"{"severity":"high","source":"db-2","type":"replica_lag"}"#,
        1_700_000_050_000,
    );
    wait_for(Duration::from_secs(10), "the alert to delete", || {
        am.with_id(&gone).pop()
    });

    // The bridge dies; meanwhile an alert is added, the other key's alert resolved and one
    // deleted.
    bridge.kill();
    let stored = cursor_file(&state, "alerts:notify").expect("cursor file");
    let (_, latency) = add(
        &mut conn,
        "alerts:notify",
        r#"{"severity":"high","source":"api-2","type":"latency","labels":{"path":"/login"}}"#,
        1_700_000_100_000,
    );
    common::call(&mut conn, &["ALERT.RESOLVE", "alerts:other", &other]).expect("RESOLVE");
    common::call(&mut conn, &["ALERT.DEL", "alerts:notify", &gone]).expect("DEL");
    assert!(am.with_id(&latency).is_empty());
    let resolved_before = am.metric(resolved);

    let bridge = Bridge::start(&args, &dir.join("bridge-2.log"));
    let alert = wait_for(
        Duration::from_secs(10),
        "the alert added while down",
        || am.with_id(&latency).pop(),
    );
    assert_eq!(alert["labels"]["alertname"], "latency");
    assert_eq!(alert["labels"]["path"], "/login");
    // The resolution arrives through the feed; the deleted alert, which the feed does not
    // report, is ended by the first round from the firing file: two resolved alerts received
    // (one that merely ran out at its `endsAt` would not count).
    wait_for(
        Duration::from_secs(3),
        "the resolution and the deletion made while down",
        || {
            (am.with_id(&other).is_empty()
                && am.with_id(&gone).is_empty()
                && am.metric(resolved) >= resolved_before + 2.0)
                .then_some(())
        },
    );
    let log = bridge.log();
    assert!(
        log.contains(&format!(
            "resuming from the stored cursor key=alerts:notify cursor={}",
            stored["cursor"].as_str().unwrap()
        )),
        "{log}"
    );
    // One Alertmanager alert per Vigil alert: nothing doubled by the restart.
    let listed = am.alerts();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    // The bridge stores its cursor after Alertmanager took the batch: wait for that write.
    wait_for(Duration::from_secs(3), "the cursor to move on", || {
        cursor_file(&state, "alerts:notify").filter(|next| next["cursor"] != stored["cursor"])
    });
    println!("bridge log after the restart:\n{log}");
}

#[test]
fn cursor_waits_for_alertmanager_and_once_reports_failure() {
    support::init();
    let (dir, server, mut conn, first) = server_with_alert(
        "notify-wait",
        "alerts:wait",
        r#"{"severity":"medium","source":"queue","type":"backlog"}"#,
    );
    let am_port = free_port();
    let am_url = format!("http://127.0.0.1:{am_port}");
    let state = dir.join("state");

    // Nothing listens yet: --once fails and stores no cursor.
    let once = |state: &Path| {
        run_bridge(bridge_args(
            &server.url(),
            &am_url,
            state,
            "alerts:wait",
            &["--once"],
        ))
    };
    let out = once(&state);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Connection refused"));
    assert!(cursor_file(&state, "alerts:wait").is_none());

    // The daemon retries, and its cursor stays put until Alertmanager takes the batch.
    let bridge = Bridge::start(
        &bridge_args(
            &server.url(),
            &am_url,
            &state,
            "alerts:wait",
            &["--block-ms", "200", "--repost-secs", "30"],
        ),
        &dir.join("bridge.log"),
    );
    wait_for(Duration::from_secs(10), "a failed POST", || {
        bridge.log().contains("POST failed").then_some(())
    });
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        cursor_file(&state, "alerts:wait").is_none(),
        "{}",
        bridge.log()
    );
    // A second bridge on the same state directory is refused.
    let out = once(&state);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("used by another vigil-notify"),
        "{out:?}"
    );

    let am = Alertmanager::start_on(am_port);
    wait_for(
        Duration::from_secs(20),
        "the alert once Alertmanager answers",
        || am.with_id(&first).pop(),
    );
    wait_for(Duration::from_secs(5), "the cursor file", || {
        cursor_file(&state, "alerts:wait")
    });
    drop(bridge);

    // --once with its own state: posts what the feed holds and the firing alerts, then exits 0;
    // run again, it has nothing new and still succeeds.
    let (_, second) = add(
        &mut conn,
        "alerts:wait",
        r#"{"severity":"high","source":"queue","type":"stalled"}"#,
        1_700_000_002_000,
    );
    let once_state = dir.join("state-once");
    for _ in 0..2 {
        let out = once(&once_state);
        assert!(out.status.success(), "{out:?}");
    }
    assert_eq!(am.with_id(&second).len(), 1);
    let stored = cursor_file(&once_state, "alerts:wait").expect("cursor file");
    assert_eq!(stored["key"], "alerts:wait");
}

#[test]
fn redis_outage_keeps_alerts_firing_and_the_feed_goes_on() {
    support::init();
    let dir = TempDir::new("notify-outage");
    let port = free_port();
    let mut server = Redis::start(port, &dir.join("srv"), Kind::ModuleAof);
    let mut conn = server.conn();
    common::call(&mut conn, &["ALERT.CREATE", "alerts:out", "RETENTION", "0"]).expect("CREATE");
    let (_, before) = add(
        &mut conn,
        "alerts:out",
        r#"{"severity":"critical","source":"db-1","type":"replica_lag"}"#,
        1_700_000_000_000,
    );
    let am = Alertmanager::start();
    let bridge = bridge_posting(&server, &am, &dir, "alerts:out", &before, &[]);

    // Redis dies for longer than the alert is posted valid for (4 s): the bridge re-posts the
    // alerts it knew, so the alert stays firing.
    server.kill();
    std::thread::sleep(Duration::from_millis(6_000));
    assert_eq!(am.with_id(&before).len(), 1, "{}", bridge.log());
    assert!(
        bridge.log().contains("redis unavailable"),
        "{}",
        bridge.log()
    );

    // Back from its AOF on the same port: the feed goes on from the bridge's cursor.
    server = Redis::start(port, &dir.join("srv"), Kind::ModuleAof);
    let mut conn = server.conn();
    let (_, after) = add(
        &mut conn,
        "alerts:out",
        r#"{"severity":"high","source":"db-2","type":"replica_lag"}"#,
        1_700_000_001_000,
    );
    wait_for(
        Duration::from_secs(15),
        "the alert added after the outage",
        || am.with_id(&after).pop(),
    );
    assert_eq!(am.with_id(&before).len(), 1);
    assert!(
        bridge.log().contains("redis answers again"),
        "{}",
        bridge.log()
    );
}

/// A 4xx that is not about the alerts (here 404, a wrong path prefix; an auth proxy's 401 or
/// 403 alike) is a failed POST: the alert is not skipped, the cursor does not move, and
/// `--once` exits 1. Before, every 4xx but 408 and 429 counted as "Alertmanager refuses this
/// alert": it was skipped, the cursor moved past it and `--once` exited 0.
#[test]
fn a_wrong_alertmanager_path_is_a_failure_not_a_refused_alert() {
    support::init();
    let (dir, server, _conn, id) = server_with_alert(
        "notify-404",
        "alerts:path",
        r#"{"severity":"critical","source":"db-7","type":"disk_full"}"#,
    );
    let am_port = free_port();
    let am = Alertmanager::start_on(am_port);
    let state = dir.join("state");
    let out = run_bridge(bridge_args(
        &server.url(),
        &format!("http://127.0.0.1:{am_port}/wrongprefix"),
        &state,
        "alerts:path",
        &["--once"],
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("404"), "{stderr}");
    assert!(!stderr.contains("it is skipped"), "{stderr}");
    assert!(cursor_file(&state, "alerts:path").is_none(), "{stderr}");
    assert!(am.with_id(&id).is_empty());
}

/// SIGTERM and SIGINT stop the bridge at once with status 0 (as `docker stop` and Ctrl-C
/// expect): it handles both. Without handlers, a bridge that is PID 1 in its container ignored
/// them, and every stop waited for the grace period and a SIGKILL.
#[test]
fn sigterm_and_sigint_stop_the_bridge_cleanly() {
    support::init();
    let dir = TempDir::new("notify-signals");
    let server = Redis::start(free_port(), &dir.join("srv"), Kind::Module);
    let am = Alertmanager::start();
    for signal in ["TERM", "INT"] {
        let state = dir.join(format!("state-{signal}"));
        let mut bridge = Bridge::start(
            &bridge_args(&server.url(), &am.url(), &state, "alerts:sig", &[]),
            &dir.join(format!("bridge-{signal}.log")),
        );
        wait_for(
            Duration::from_secs(10),
            "the bridge to follow its key",
            || bridge.log().contains("alerts:sig").then_some(()),
        );
        let status = bridge.signal_and_wait(signal, Duration::from_secs(5));
        let log = bridge.log();
        assert!(
            status.is_some_and(|s| s.success()),
            "SIG{signal}: {status:?}\n{log}"
        );
        assert!(
            log.contains(&format!("stopping signal=SIG{signal}")),
            "{log}"
        );
    }
}

/// A firing alert whose `ts` is ahead of the bridge's clock (here the year 10000) fires from
/// now until its span's end, as every firing alert does, so that it ends within 4 ×
/// `--repost-secs` of a stopped bridge. Before, it was posted with `startsAt` = `endsAt` = its
/// `ts` (refused by Alertmanager past the year 9999; nearer, left firing until then after the
/// bridge stopped; found by an audit).
#[test]
fn a_firing_alert_from_the_future_fires_for_its_span_only() {
    support::init();
    let (dir, server, mut conn, fine) = server_with_alert(
        "notify-future",
        "alerts:future",
        r#"{"severity":"high","source":"ok","type":"fine"}"#,
    );
    let (_, future) = add(
        &mut conn,
        "alerts:future",
        r#"{"severity":"high","source":"future","type":"y10k"}"#,
        253_402_300_800_000,
    );
    let am = Alertmanager::start();
    let bridge = bridge_posting(&server, &am, &dir, "alerts:future", &fine, &[]);
    let listed = wait_for(Duration::from_secs(10), "the future alert", || {
        am.with_id(&future).pop()
    });
    let at = |field: &str| -> i64 {
        let text = listed[field].as_str().expect("a time");
        text[..4].parse::<i64>().expect("a year")
    };
    // Now and now + 4 s, not the year 10000 (refused by Alertmanager before: never listed).
    assert!(at("startsAt") < 2100 && at("endsAt") < 2100, "{listed}");
    let log = bridge.log();
    assert!(!log.contains("refused"), "{log}");
}

/// An alert Alertmanager refuses (here a stand-in answers 400 to every request that holds the
/// alert `refused`) is skipped and logged once: the re-post rounds that post it again (it is
/// firing) do not log it again at `error`, and the alert beside it is delivered. Before, each
/// round logged it anew, for as long as the stream held it.
#[test]
fn a_refused_alert_is_logged_once_not_every_round() {
    support::init();
    let (dir, server, mut conn, fine) = server_with_alert(
        "notify-refused",
        "alerts:refused",
        r#"{"severity":"high","source":"ok","type":"fine"}"#,
    );
    add(
        &mut conn,
        "alerts:refused",
        r#"{"severity":"high","source":"bad","type":"refused"}"#,
        1_700_000_000_001,
    );
    let am = Recorder::refusing("refused");
    let flags = ["--block-ms", "200", "--repost-secs", "1"];
    let bridge = Bridge::start(
        &bridge_args(
            &server.url(),
            &am.url(),
            &dir.join("state"),
            "alerts:refused",
            &flags,
        ),
        &dir.join("bridge.log"),
    );
    // Three re-post rounds at least.
    std::thread::sleep(Duration::from_millis(3500));
    let log = bridge.log();
    let lines = log
        .matches("Alertmanager refused an alert; it is skipped")
        .count();
    assert_eq!(lines, 1, "{log}");
    let delivered: Vec<Value> = am.posts().into_iter().flatten().collect();
    assert!(
        delivered
            .iter()
            .any(|a| a["labels"]["vigil_id"] == fine.as_str()),
        "{delivered:?}"
    );
}

/// Sends `request` as is to the bridge's metrics port and reads the reply to its end.
fn raw_http(port: u16, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The bridge may answer and close before all of a large request is written.
    let _ = stream.write_all(request);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

/// The samples of `GET /metrics`: `name{labels}` -> value.
fn scrape(port: u16) -> std::collections::BTreeMap<String, f64> {
    let reply = raw_http(port, b"GET /metrics HTTP/1.1\r\nHost: bridge\r\n\r\n");
    let (head, body) = reply.split_once("\r\n\r\n").expect("a reply");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("name value");
            (name.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

/// `--metrics`: the bridge's figures move with what it does (posts, rounds, Redis lost), and
/// requests that are not a scrape (another path or method, junk, an endless head, a client
/// that sends nothing) get an error or are dropped, without stopping the bridge or its scrapes.
#[test]
fn the_bridge_serves_its_figures_and_shrugs_off_bad_requests() {
    support::init();
    let (dir, mut server, _conn, id) = server_with_alert(
        "notify-metrics",
        "alerts:m",
        r#"{"severity":"critical","source":"db-1","type":"disk_full"}"#,
    );
    let am = Alertmanager::start();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let bridge = bridge_posting(&server, &am, &dir, "alerts:m", &id, &["--metrics", &addr]);
    let key = |name: &str| format!("vigil_notify_{name}{{key=\"alerts:m\"}}");
    let figures = wait_for(Duration::from_secs(10), "a round in the figures", || {
        let m = scrape(port);
        (m[&key("changes_total")] >= 1.0
            && m[&key("last_round_timestamp_seconds")] > m["vigil_notify_start_time_seconds"])
            .then_some(m)
    });
    assert_eq!(figures[&key("redis_up")], 1.0, "{figures:?}");
    assert_eq!(figures[&key("firing_alerts")], 1.0, "{figures:?}");
    assert!(figures[&key("alerts_posted_total")] >= 1.0, "{figures:?}");
    assert_eq!(figures[&key("post_failures_total")], 0.0, "{figures:?}");
    assert_eq!(figures["vigil_notify_repost_seconds"], 1.0, "{figures:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - figures[&key("last_read_timestamp_seconds")]).abs() < 5.0,
        "{figures:?}"
    );

    // A client that connects and sends nothing holds one connection, not the listener.
    let idle = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    for (request, status) in [
        (&b"GET / HTTP/1.1\r\n\r\n"[..], "404"),
        (
            b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            "405",
        ),
        (b"\xff\xfe junk \x00\r\n\r\n", "400"),
        (b"GET /metrics HTTP/9\r\n\r\n", "400"),
    ] {
        let reply = raw_http(port, request);
        assert!(
            reply.starts_with(&format!("HTTP/1.1 {status} ")),
            "{request:?}: {reply}"
        );
    }
    let endless = vec![b'a'; 64 * 1024];
    let reply = raw_http(port, &endless);
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 431 "),
        "{reply}"
    );
    // A complete head of 8 KiB is read; one byte more is refused, also when its blank line
    // comes in the read that passes the limit (before, heads up to 9 KiB were answered).
    for (len, status) in [(8192, "200"), (8193, "431"), (9000, "431")] {
        let mut head = b"GET /metrics HTTP/1.1\r\nX-Pad: ".to_vec();
        head.resize(len - 4, b'a');
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(head.len(), len);
        let reply = raw_http(port, &head);
        assert!(
            reply.starts_with(&format!("HTTP/1.1 {status} ")),
            "{len} bytes: {}",
            reply.lines().next().unwrap_or("")
        );
    }
    assert!(scrape(port)[&key("redis_up")] == 1.0);
    drop(idle);

    // Redis gone: the key's redis_up falls to 0, and the endpoint still answers.
    server.kill();
    wait_for(Duration::from_secs(15), "redis_up 0", || {
        (scrape(port)[&key("redis_up")] == 0.0).then_some(())
    });
    assert!(
        bridge.log().contains("redis unavailable"),
        "{}",
        bridge.log()
    );
}

/// A numeric flag out of its range is a usage error (exit status 2, the flag named), checked
/// before anything runs. Found by the bridge audit: `--repost-secs 18446744073709551615` (or
/// 5e18) panicked ("overflow when multiplying duration by scalar") as soon as an alert was
/// rendered, and `--repost-secs 100000000000` ran but posted every alert to end in the year
/// 14702, which Alertmanager refused.
#[test]
fn out_of_range_numbers_are_usage_errors_not_panics() {
    support::init();
    let (dir, server, _conn, _id) = server_with_alert(
        "notify-ranges",
        "alerts:ranges",
        r#"{"severity":"high","source":"db-1","type":"disk_full"}"#,
    );
    // Nothing listens there: the bridge must stop before it posts.
    let am_url = format!("http://127.0.0.1:{}", free_port());
    for (flag, value) in [
        ("--repost-secs", "18446744073709551615"),
        ("--repost-secs", "5000000000000000000"),
        ("--repost-secs", "100000000000"),
        ("--block-ms", "18446744073709551615"),
        ("--count", "18446744073709551615"),
    ] {
        let out = run_bridge(bridge_args(
            &server.url(),
            &am_url,
            &dir.join("state"),
            "alerts:ranges",
            &["--once", flag, value],
        ));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(
            stderr.contains(&format!("vigil-notify: {flag} must be from ")),
            "{flag} {value}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// A stand-in for Alertmanager that records the alerts of every POST and answers 200 (one
/// request per connection, as the bridge sends them): what the real one cannot show, the
/// requests themselves. Its thread ends with the test process. `refusing` makes one that
/// answers 400, recording nothing, to a request holding an alert of that `alertname` (the
/// real one refuses nothing the bridge sends).
struct Recorder {
    port: u16,
    posts: std::sync::Arc<std::sync::Mutex<Vec<Vec<Value>>>>,
}

impl Recorder {
    fn start() -> Recorder {
        Recorder::refusing("")
    }

    fn refusing(alertname: &'static str) -> Recorder {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let posts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = posts.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 65536];
                let body = loop {
                    let Ok(n) = conn.read(&mut chunk) else {
                        break None;
                    };
                    if n == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|n| n.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + length {
                        break Some(buf[end + 4..end + 4 + length].to_vec());
                    }
                };
                let mut status = "200 OK";
                if let Some(Ok(Value::Array(alerts))) =
                    body.map(|b| serde_json::from_slice::<Value>(&b))
                {
                    let refused = !alertname.is_empty()
                        && alerts.iter().any(|a| a["labels"]["alertname"] == alertname);
                    if refused {
                        status = "400 Bad Request";
                    } else {
                        kept.lock().unwrap().push(alerts);
                    }
                }
                let reply =
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = conn.write_all(reply.as_bytes());
            }
        });
        Recorder { port, posts }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn posts(&self) -> Vec<Vec<Value>> {
        self.posts.lock().unwrap().clone()
    }
}

/// Every request carries `--count` alerts at most, a re-post round's too, so that an operator
/// behind a proxy with a body limit can bound it (found by the bridge audit: the round posted
/// every firing alert in one request of up to 500, refused with 413 by such a proxy each time,
/// so the alerts ran out in Alertmanager).
#[test]
fn every_request_carries_count_alerts_at_most() {
    support::init();
    let key = "alerts:chunks";
    let (dir, server, mut conn, _) = server_with_alert(
        "notify-chunks",
        key,
        r#"{"severity":"high","source":"s0","type":"t"}"#,
    );
    for i in 1..5 {
        let doc = format!(r#"{{"severity":"high","source":"s{i}","type":"t"}}"#);
        add(&mut conn, key, &doc, 1_700_000_000_000 + i);
    }
    let am = Recorder::start();
    let out = run_bridge(bridge_args(
        &server.url(),
        &am.url(),
        &dir.join("state"),
        key,
        &["--once", "--count", "2"],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let posts = am.posts();
    let sizes: Vec<usize> = posts.iter().map(Vec::len).collect();
    // The feed (2, 2, 1), then the round (2, 2, 1).
    assert_eq!(sizes, vec![2, 2, 1, 2, 2, 1], "{posts:?}");
}

/// An alert deduplicated thousands of times in a few seconds is posted about once a second,
/// each time in its latest state, not once per fold (found by the bridge audit: 8,550 folds
/// in 5 s made 1,688 POSTs and as many cursor fsyncs); the last POST has the final count.
/// A backlog is still read on at once: only a read of fewer than `--count` waits.
#[test]
fn a_flapping_alert_is_posted_about_once_a_second() {
    support::init();
    let key = "alerts:flap";
    let doc = r#"{"severity":"high","source":"flap","type":"t"}"#;
    let (dir, server, mut conn, _) = server_with_alert("notify-flap", key, doc);
    common::call(&mut conn, &["ALERT.ALTER", key, "DEDUP", "600000"]).expect("ALTER");
    let am = Recorder::start();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let _bridge = Bridge::start(
        &bridge_args(
            &server.url(),
            &am.url(),
            &dir.join("state"),
            key,
            &[
                "--block-ms",
                "200",
                "--repost-secs",
                "60",
                "--metrics",
                &addr,
            ],
        ),
        &dir.join("bridge.log"),
    );
    wait_for(Duration::from_secs(10), "the first POST", || {
        (!am.posts().is_empty()).then_some(())
    });
    let before = am.posts().len();
    let started = Instant::now();
    let mut folds = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let mut pipe = redis::pipe();
        for _ in 0..50 {
            pipe.cmd("ALERT.ADD").arg(key).arg(doc).ignore();
        }
        pipe.query::<()>(&mut conn).expect("ALERT.ADD");
        folds += 50;
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let count = |post: &Vec<Value>| {
        post.last()
            .and_then(|a| a["annotations"]["vigil_count"].as_str().map(str::to_owned))
    };
    // The first ADD makes an alert of now (the one of 2023 is out of the window): one, then
    // folds.
    let total = folds.to_string();
    wait_for(Duration::from_secs(5), "the final count posted", || {
        (am.posts().last().and_then(count) == Some(total.clone())).then_some(())
    });
    let posts = am.posts().len() - before;
    assert!(folds > 1000, "{folds} folds");
    assert!(
        (posts as f64) <= elapsed + 3.0,
        "{posts} POSTs for {folds} folds in {elapsed:.1} s"
    );
    // The round's reads count as reads: Redis is up, read just now.
    let m = scrape(port);
    assert_eq!(
        m["vigil_notify_redis_up{key=\"alerts:flap\"}"], 1.0,
        "{m:?}"
    );
}

/// A bridge that resumes on a quiet stream shows Redis up and a recent read as soon as its
/// first re-post round has read the stream (found by the bridge audit: both stayed 0 until the
/// first blocked read returned, up to `--block-ms` later).
#[test]
fn the_first_round_counts_as_a_read() {
    support::init();
    let key = "alerts:quiet";
    let (dir, server, _conn, _) = server_with_alert(
        "notify-quiet",
        key,
        r#"{"severity":"high","source":"q","type":"t"}"#,
    );
    let am = Recorder::start();
    let state = dir.join("state");
    let once = run_bridge(bridge_args(
        &server.url(),
        &am.url(),
        &state,
        key,
        &["--once"],
    ));
    assert!(once.status.success());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let _bridge = Bridge::start(
        &bridge_args(
            &server.url(),
            &am.url(),
            &state,
            key,
            &["--block-ms", "30000", "--metrics", &addr],
        ),
        &dir.join("bridge.log"),
    );
    let k = |name: &str| format!("vigil_notify_{name}{{key=\"{key}\"}}");
    // The round's POST (the feed, at the end of the stream, has nothing to post): its reads
    // were done by then. (Not `last_round_timestamp_seconds`, which starts at the start time.)
    let m = wait_for(Duration::from_secs(10), "the first round", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        let m = scrape(port);
        (m[&k("alerts_posted_total")] >= 1.0).then_some(m)
    });
    assert_eq!(m[&k("redis_up")], 1.0, "{m:?}");
    assert!(m[&k("last_read_timestamp_seconds")] > 0.0, "{m:?}");
}

/// A restarted bridge ends what an earlier run posted as firing and that stopped firing while
/// it was down: deleted (an alert of the first round and one the feed brought after it, kept
/// by the firing file's append), or left out by filters changed across the restart. Found by
/// the bridge audit: they stayed firing in Alertmanager until their `endsAt`, 4 × `--repost-secs`
/// after the earlier run last posted them.
#[test]
fn a_restarted_bridge_ends_what_stopped_firing_while_it_was_down() {
    support::init();
    let key = "alerts:takeover";
    let (dir, server, mut conn, a) = server_with_alert(
        "notify-takeover",
        key,
        r#"{"severity":"critical","source":"a","type":"t"}"#,
    );
    let (_, b) = add(
        &mut conn,
        key,
        r#"{"severity":"critical","source":"b","type":"t"}"#,
        1_700_000_000_001,
    );
    let (_, c) = add(
        &mut conn,
        key,
        r#"{"severity":"high","source":"c","type":"t"}"#,
        1_700_000_000_002,
    );
    let am = Recorder::start();
    let state = dir.join("state");
    let ids_posted = |from: usize| -> Vec<(String, String)> {
        am.posts()[from..]
            .iter()
            .flatten()
            .map(|a| {
                let id = a["labels"]["vigil_id"].as_str().unwrap_or_default();
                let end = a["endsAt"].as_str().unwrap_or_default();
                (id.to_owned(), end.to_owned())
            })
            .collect()
    };
    // The first run: its start round posts a, b and c; the feed then brings d.
    let mut first = Bridge::start(
        &bridge_args(
            &server.url(),
            &am.url(),
            &state,
            key,
            &["--block-ms", "200", "--repost-secs", "3600"],
        ),
        &dir.join("first.log"),
    );
    wait_for(Duration::from_secs(10), "the start round", || {
        let posted = ids_posted(0);
        [&a, &b, &c]
            .iter()
            .all(|id| posted.iter().any(|(p, _)| p == *id))
            .then_some(())
    });
    let (_, d) = add(
        &mut conn,
        key,
        r#"{"severity":"critical","source":"d","type":"t"}"#,
        1_700_000_000_003,
    );
    wait_for(Duration::from_secs(10), "d from the feed", || {
        ids_posted(0).iter().any(|(p, _)| *p == d).then_some(())
    });
    first.kill();
    // While it is down: b and d deleted; the next run leaves c out by its filter.
    common::call(&mut conn, &["ALERT.DEL", key, &b, &d]).expect("ALERT.DEL");
    let seen = am.posts().len();
    let before = vigil_client::notify::alertmanager::rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + 60_000,
    );
    let out = run_bridge(bridge_args(
        &server.url(),
        &am.url(),
        &state,
        key,
        &["--once", "--min-severity", "critical"],
    ));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let posted = ids_posted(seen);
    let end_of = |id: &str| {
        posted
            .iter()
            .filter(|(p, _)| p == id)
            .map(|(_, end)| end.clone())
            .next_back()
            .unwrap_or_else(|| panic!("{id} not posted by the second run: {posted:?}\n{log}"))
    };
    // Ended now (before the minute ahead), but a: firing (4 × 60 s ahead).
    for id in [&b, &c, &d] {
        assert!(end_of(id) < before, "{id} ended: {posted:?}");
    }
    assert!(end_of(&a) > before, "a still firing: {posted:?}");
    assert!(
        log.contains("taking over the alerts an earlier run posted"),
        "{log}"
    );
}
