//! Helpers for the client's tests on top of the root harness (`tests/common`): a redis-server
//! that restarts on the same port (the client keeps its URL), the `send` example as a child
//! process, and the exactly-once check.
#![allow(dead_code)]

use crate::common;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// The root harness finds the module through CARGO_MANIFEST_DIR, which is `client/` here:
/// point it at the workspace's build instead.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("VIGIL_MODULE").is_none() {
            let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/libvigil.so");
            std::env::set_var("VIGIL_MODULE", p);
        }
    });
}

/// A loopback port nothing listens on, never handed out twice in this process (the root
/// harness's).
pub fn free_port() -> u16 {
    common::free_port()
}

/// A redis-server on a fixed loopback port, stopped by its pid.
pub struct Redis {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

/// How to start a server.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The module loaded, AOF with `appendfsync always`.
    ModuleAof,
    /// The module loaded, no persistence.
    Module,
    /// No module, no persistence.
    Plain,
}

impl Redis {
    pub fn start(port: u16, dir: &Path, kind: Kind) -> Redis {
        init();
        std::fs::create_dir_all(dir).expect("server dir");
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--daemonize", "no", "--save", ""])
            .arg("--dir")
            .arg(dir)
            .args(["--logfile", "redis.log"]);
        match kind {
            Kind::ModuleAof => {
                cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
            }
            Kind::Module | Kind::Plain => {
                cmd.args(["--appendonly", "no"]);
            }
        }
        if kind != Kind::Plain {
            cmd.arg("--loadmodule").arg(common::module_path());
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        let mut r = Redis {
            port,
            dir: dir.to_owned(),
            child: Some(child),
        };
        r.wait_ready();
        r
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("redis-server exited ({status}); log:\n{}", self.log());
            }
            if let Ok(mut c) = self.try_conn() {
                let pong: redis::RedisResult<String> = redis::cmd("PING").query(&mut c);
                if pong.is_ok() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server on port {} not ready; log:\n{}",
            self.port,
            self.log()
        );
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn try_conn(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection_with_timeout(Duration::from_secs(5))
    }

    pub fn conn(&self) -> redis::Connection {
        self.try_conn().expect("connect to the test server")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).expect("running")
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP / SIGCONT: a server that accepts connections but does not answer.
    pub fn signal(&self, sig: &str) {
        signal_pid(sig, self.pid());
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = send_signal("CONT", self.pid());
        }
        self.kill();
    }
}

/// The `send` example, built by `cargo test` next to the test binaries.
pub fn send_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = profile_dir.join("examples").join("send");
    if !bin.exists() {
        // `cargo test --test e2e` alone does not build examples.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let release = profile_dir.ends_with("release");
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "vigil-client", "--example", "send"]);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("cargo build --example send");
        assert!(status.success(), "building the send example failed");
    }
    bin
}

/// A running `send` process; stderr lines are collected as they come.
pub struct Send {
    child: Option<Child>,
    stderr: Arc<Mutex<Vec<String>>>,
    stdout: Option<std::thread::JoinHandle<String>>,
}

impl Send {
    pub fn start(url: &str, journal: &Path, key: &str, count: u64, rate: u64) -> Send {
        Send::spawn(&["--url", url], journal, key, count, rate)
    }

    /// Against a cluster: `seeds` as `--url`s, alert i to `<key>:{i % keys}`.
    pub fn cluster(
        seeds: &[String],
        journal: &Path,
        key: &str,
        keys: u64,
        count: u64,
        rate: u64,
    ) -> Send {
        let keys = keys.to_string();
        let mut args: Vec<&str> = vec!["--cluster", "--keys", &keys];
        for s in seeds {
            args.extend(["--url", s.as_str()]);
        }
        Send::spawn(&args, journal, key, count, rate)
    }

    fn spawn(args: &[&str], journal: &Path, key: &str, count: u64, rate: u64) -> Send {
        let mut child = Command::new(send_binary())
            .args(args)
            .arg("--journal")
            .arg(journal)
            .args(["--key", key, "--count", &count.to_string()])
            .args(["--rate", &rate.to_string(), "--timeout-ms", "300"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the send example");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let err = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let mut out = child.stdout.take().expect("piped stdout");
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut s);
            s
        });
        Send {
            child: Some(child),
            stderr,
            stdout: Some(stdout),
        }
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until a stderr line starts with `prefix`.
    pub fn wait_for(&self, prefix: &str, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.stderr().iter().any(|l| l.starts_with(prefix)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "no '{prefix}' from send in {limit:?}; stderr: {:?}",
            self.stderr()
        );
    }

    /// The highest `progress sent=N` seen.
    pub fn progress(&self) -> u64 {
        self.stderr()
            .iter()
            .filter_map(|l| l.strip_prefix("progress sent="))
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .max()
            .unwrap_or(0)
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for a clean exit and returns the JSON counters line.
    pub fn finish(&mut self, limit: Duration) -> serde_json::Value {
        let mut child = self.child.take().expect("running");
        let start = Instant::now();
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "send did not finish in {limit:?}; stderr: {:?}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = self
            .stdout
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        assert!(
            status.success(),
            "send failed: {status}; stderr: {:?}",
            self.stderr()
        );
        let last = out.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("last line {last:?}: {e}"))
    }
}

impl Drop for Send {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `seq` field of every alert ALERT.RANGE finds in `key`, in stream order.
pub fn seqs(conn: &mut redis::Connection, key: &str) -> Vec<u64> {
    let v = common::call(conn, &["ALERT.RANGE", key, "-", "+"]).expect("ALERT.RANGE");
    common::alerts(v)
        .iter()
        .map(|a| a["seq"].as_u64().expect("a seq field"))
        .collect()
}

/// Asserts that ALERT.RANGE finds each seq of 0..n exactly once, and nothing else.
pub fn assert_each_seq_once(conn: &mut redis::Connection, key: &str, n: u64) {
    let found = seqs(conn, key);
    let mut counts = vec![0u32; n as usize];
    let mut stray = Vec::new();
    for s in &found {
        match counts.get_mut(*s as usize) {
            Some(c) => *c += 1,
            None => stray.push(*s),
        }
    }
    let missing: Vec<usize> = (0..n as usize).filter(|i| counts[*i] == 0).collect();
    let doubled: Vec<usize> = (0..n as usize).filter(|i| counts[*i] > 1).collect();
    assert!(
        missing.is_empty() && doubled.is_empty() && stray.is_empty(),
        "{} alerts found; missing {} (first {:?}), doubled {} (first {:?}), stray {:?}",
        found.len(),
        missing.len(),
        &missing[..missing.len().min(10)],
        doubled.len(),
        &doubled[..doubled.len().min(10)],
        &stray[..stray.len().min(10)]
    );
}

/// A stream that holds every alert sent (MAXLEN 0: the default 10000 would trim).
pub fn create_unbounded(conn: &mut redis::Connection, key: &str) {
    common::call(conn, &["ALERT.CREATE", key, "MAXLEN", "0"]).expect("ALERT.CREATE");
}

pub fn json_u64(v: &serde_json::Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

/// A temporary directory (from the root harness) removed on drop, also when a test fails.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        TempDir(common::temp_dir(tag))
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Processes stopped with SIGSTOP, let go again (SIGCONT) at the latest when this drops: a
/// server that accepts connections and answers nothing.
pub struct Stopped(Vec<u32>);

impl Stopped {
    pub fn stop(pids: Vec<u32>) -> Stopped {
        for pid in &pids {
            signal_pid("STOP", *pid);
        }
        Stopped(pids)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        for pid in self.0.drain(..) {
            signal_pid("CONT", pid);
        }
    }
}

fn signal_pid(sig: &str, pid: u32) {
    assert!(send_signal(sig, pid), "kill -{sig} {pid}");
}

/// `kill -<sig> <pid>` through the shell's builtin: a minimal Debian has no /bin/kill (procps),
/// but always a POSIX sh (dash is essential). Whether the signal was sent.
fn send_signal(sig: &str, pid: u32) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("kill -{sig} {pid}"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The process id of the server behind a connection (`INFO server`).
pub fn server_pid(conn: &mut redis::Connection) -> u32 {
    common::info_field(conn, "server", "process_id")
        .and_then(|p| p.parse().ok())
        .expect("the server's process id")
}
