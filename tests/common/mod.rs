//! Test harness: a real redis-server with the module loaded, on a free loopback port, in its
//! own temporary directory, stopped by its process id when the guard drops.
#![allow(dead_code)]

pub mod alerts;
pub mod dump;
pub mod http;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub fn module_path() -> PathBuf {
    if let Ok(p) = std::env::var("VIGIL_MODULE") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/libvigil.so");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --release` (make test does)",
        p.display()
    );
    p
}

/// The server binary: `VIGIL_REDIS_SERVER` (e.g. a valkey-server) or `redis-server` on PATH.
pub fn server_binary() -> String {
    std::env::var("VIGIL_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

/// Whether the server under test is Valkey (whose allocator and INFO differ slightly).
pub fn is_valkey() -> bool {
    server_binary().contains("valkey")
}

/// A loopback port nothing listens on now, and not handed out before in this process: a test
/// that keeps a port free on purpose (a server it stopped, or one it has not started yet) must
/// not see another test's server start on it.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
    panic!("no loopback port left that this process did not use before");
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory under the system temp dir, removed by `Server`'s drop.
pub fn temp_dir(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("vigil-{tag}-{}-{n}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

pub struct Server {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
    /// Arguments the server was started with, for restarts.
    args: Vec<String>,
    keep_dir: bool,
}

impl Server {
    /// A server with the module loaded and no persistence.
    pub fn start() -> Server {
        Server::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// A server with the module loaded and these extra arguments (after the defaults).
    pub fn start_with(extra: &[&str]) -> Server {
        Server::start_in(temp_dir("srv"), extra, true)
    }

    /// A server with the module, no RDB snapshots and AOF on, with (`preamble` true) or
    /// without an RDB preamble in its rewrites.
    pub fn with_aof(preamble: bool) -> Server {
        Server::start_with(&[
            "--save",
            "",
            "--appendonly",
            "yes",
            "--aof-use-rdb-preamble",
            if preamble { "yes" } else { "no" },
        ])
    }

    /// Starts a server in `dir` (a restart reuses the directory and its files).
    pub fn start_in(dir: PathBuf, extra: &[&str], load_module: bool) -> Server {
        let mut args: Vec<String> = vec![
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--enable-debug-command".into(),
            "local".into(),
            "--logfile".into(),
            "redis.log".into(),
            "--daemonize".into(),
            "no".into(),
        ];
        if load_module {
            args.push("--loadmodule".into());
            args.push(module_path().display().to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut server = Server {
            port: 0,
            dir,
            child: None,
            args,
            keep_dir: false,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(server_binary())
                .arg("--port")
                .arg(port.to_string())
                .args(&self.args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server on PATH (make test installs it)");
            self.port = port;
            self.child = Some(child);
            if self.wait_ready(Duration::from_secs(20)) {
                return;
            }
            self.kill();
        }
        panic!("redis-server did not start; log:\n{}", self.log());
    }

    fn wait_ready(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    return false;
                }
            }
            if let Ok(mut c) = self.try_client() {
                let pong: redis::RedisResult<String> = redis::cmd("PING").query(&mut c);
                if pong.is_ok() {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn try_client(&self) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(self.url())?;
        client.get_connection_with_timeout(Duration::from_secs(5))
    }

    pub fn client(&self) -> redis::Connection {
        self.try_client().expect("connect to the test server")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A clean stop: SHUTDOWN (which saves when `save` is configured), then wait for exit.
    pub fn shutdown(&mut self, save: bool) {
        if let Ok(mut c) = self.try_client() {
            let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN")
                .arg(if save { "SAVE" } else { "NOSAVE" })
                .query(&mut c);
        }
        if let Some(mut child) = self.child.take() {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again in the same directory with the same arguments plus `extra`.
    pub fn restart(&mut self, extra: &[&str]) {
        self.shutdown(false);
        self.args.extend(extra.iter().map(|s| s.to_string()));
        self.spawn();
    }

    /// Stops this server but keeps its directory (to start another server on its files).
    pub fn stop_keep_dir(mut self) -> PathBuf {
        self.shutdown(false);
        self.keep_dir = true;
        self.dir.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Runs a command and returns its reply as a redis::Value (errors as Err).
pub fn call(c: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c)
}

/// The error text of a command expected to fail.
pub fn error_of(c: &mut redis::Connection, args: &[&str]) -> String {
    match call(c, args) {
        Ok(v) => panic!("{args:?} succeeded with {v:?}, expected an error"),
        Err(e) => {
            let code = e.code().unwrap_or("");
            let detail = e.detail().unwrap_or("");
            format!("{code} {detail}").trim().to_string()
        }
    }
}

/// Parses each JSON string of an ALERT.RANGE/GET reply.
pub fn alerts(v: redis::Value) -> Vec<serde_json::Value> {
    let items: Vec<Option<String>> = redis::from_redis_value(&v).expect("an array of strings");
    items
        .into_iter()
        .map(|s| match s {
            Some(s) => serde_json::from_str(&s).expect("valid JSON"),
            None => serde_json::Value::Null,
        })
        .collect()
}

/// A flat field/value reply (RESP2 map) as pairs.
pub fn map_of(v: redis::Value) -> std::collections::HashMap<String, redis::Value> {
    match v {
        redis::Value::Map(pairs) => pairs
            .into_iter()
            .map(|(k, v)| (redis::from_redis_value(&k).expect("string key"), v))
            .collect(),
        redis::Value::Array(items) => items
            .chunks(2)
            .map(|p| {
                (
                    redis::from_redis_value(&p[0]).expect("string key"),
                    p[1].clone(),
                )
            })
            .collect(),
        other => panic!("not a map: {other:?}"),
    }
}

pub fn int(v: &redis::Value) -> i64 {
    redis::from_redis_value(v).expect("an integer")
}

/// A field of `INFO section`, as text.
pub fn info_field(c: &mut redis::Connection, section: &str, field: &str) -> Option<String> {
    let info: String = redis::from_redis_value(&call(c, &["INFO", section]).ok()?).ok()?;
    let prefix = format!("{field}:");
    info.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map(|v| v.trim().to_string())
}

/// The server's `used_memory`.
pub fn used_memory(c: &mut redis::Connection) -> i64 {
    info_field(c, "memory", "used_memory")
        .and_then(|v| v.parse().ok())
        .expect("used_memory")
}

/// Waits until a BGREWRITEAOF has finished, and asserts it succeeded.
pub fn wait_rewrite(c: &mut redis::Connection) {
    let start = Instant::now();
    loop {
        let busy = info_field(c, "persistence", "aof_rewrite_in_progress").as_deref() != Some("0")
            || info_field(c, "persistence", "aof_rewrite_scheduled").as_deref() != Some("0");
        if !busy {
            let status = info_field(c, "persistence", "aof_last_bgrewrite_status");
            assert_eq!(status.as_deref(), Some("ok"), "the AOF rewrite failed");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "AOF rewrite did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the primary's replica acknowledged everything written so far.
pub fn wait_synced(primary: &mut redis::Connection) {
    let n: i64 = redis::from_redis_value(&call(primary, &["WAIT", "1", "5000"]).unwrap()).unwrap();
    assert_eq!(n, 1, "the replica acknowledged");
}

impl Server {
    /// A replica of this server, the module loaded with `module_args` (configs of its own),
    /// returned once its link to the primary is up.
    pub fn replica(&self, module_args: &[&str]) -> Server {
        let module = module_path().display().to_string();
        let port = self.port.to_string();
        let mut args = vec!["--save", "", "--appendonly", "no", "--loadmodule", &module];
        args.extend_from_slice(module_args);
        args.extend(["--replicaof", "127.0.0.1", &port]);
        let replica = Server::start_in(temp_dir("replica"), &args, false);
        let mut c = replica.client();
        let start = Instant::now();
        while info_field(&mut c, "replication", "master_link_status").as_deref() != Some("up") {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "replica did not connect"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        replica
    }
}

/// Runs `workload` on a server with AOF on (with and without the RDB preamble), and checks that
/// `snapshot` is unchanged after an AOF replay, after BGREWRITEAOF and a restart, and after
/// DEBUG RELOAD; `after` then runs on the reloaded server for checks of its own.
pub fn check_aof_and_reload(
    workload: impl Fn(&mut redis::Connection),
    snapshot: impl Fn(&mut redis::Connection) -> Vec<String>,
    after: impl Fn(&mut redis::Connection),
) {
    for preamble in [true, false] {
        let mut s = Server::with_aof(preamble);
        let mut c = s.client();
        workload(&mut c);
        let before = snapshot(&mut c);
        s.restart(&[]);
        let mut c = s.client();
        assert_eq!(
            snapshot(&mut c),
            before,
            "AOF replay (RDB preamble: {preamble})"
        );
        call(&mut c, &["BGREWRITEAOF"]).unwrap();
        wait_rewrite(&mut c);
        s.restart(&[]);
        let mut c = s.client();
        assert_eq!(
            snapshot(&mut c),
            before,
            "rewritten AOF (RDB preamble: {preamble})"
        );
        call(&mut c, &["DEBUG", "RELOAD"]).unwrap();
        assert_eq!(
            snapshot(&mut c),
            before,
            "DEBUG RELOAD (RDB preamble: {preamble})"
        );
        after(&mut c);
    }
}

/// Writes the RDB fixture `path` from what `workload` makes, when VIGIL_WRITE_FIXTURE is set
/// (the `write_fixture` tests are `#[ignore]`d: fixtures are regenerated on purpose only).
pub fn write_fixture_if_asked(path: &str, workload: impl Fn(&mut redis::Connection)) {
    if std::env::var("VIGIL_WRITE_FIXTURE").is_err() {
        return;
    }
    let s = Server::start();
    let mut c = s.client();
    workload(&mut c);
    call(&mut c, &["SAVE"]).unwrap();
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::copy(s.dir.join("dump.rdb"), path).unwrap();
}

/// A server started on a copy of the RDB file `fixture`.
pub fn server_from_fixture(fixture: &str) -> Server {
    let dir = temp_dir("fixture");
    std::fs::copy(fixture, dir.join("dump.rdb")).expect("fixture present");
    Server::start_in(dir, &["--save", "", "--appendonly", "no"], true)
}

/// A cluster-enabled server that holds every slot itself, once the cluster is up: commands
/// whose declared keys span slots get CROSSSLOT from Redis, as in a real cluster.
pub fn single_node_cluster() -> Server {
    let s = Server::start_with(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
    ]);
    let mut c = s.client();
    call(&mut c, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]).unwrap();
    let start = Instant::now();
    while !matches!(
        call(&mut c, &["CLUSTER", "INFO"]).map(|v| format!("{v:?}")),
        Ok(text) if text.contains("cluster_state:ok")
    ) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "cluster did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    s
}
