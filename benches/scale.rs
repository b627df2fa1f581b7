//! The seeds' buffer at scale (issue 15, item 5): 2.7M alerts of ~300 bytes in one server, in
//! one stream and, separately, in 100 streams, with the AOF on as the seeds run it. For each
//! layout: used_memory (against the Lua ZSET+HASH layout of `benches/lua/alert_add.lua`,
//! measured the same way on a share of the alerts and scaled), the load rate, BGREWRITEAOF,
//! restarts from the AOF and from an RDB file with every alert back (counted, and a sample of
//! documents compared), RANGE/READ latency at that size, and the retention sweep while all the
//! alerts expire (the longest tick from `LATENCY LATEST`, event `vigil-sweep`, and the longest
//! PING a client saw meanwhile).
//!
//! `make bench-scale` (after `cargo build --release`); not part of `make test`. Knobs, from the
//! environment:
//!   SCALE_ALERTS     alerts per layout (default 2700000)
//!   SCALE_STREAMS    the layouts, comma-separated stream counts (default "1,100")
//!   SCALE_LUA_SHARE  the Lua layout loads SCALE_ALERTS / this many alerts, scaled back up
//!                    (default 5; 1 loads them all)
//!   SCALE_OUT        where the markdown report goes (default target/bench-scale.md)
//!   VIGIL_MODULE     the module to load (default target/release/libvigil.so)
//!
//! Each server runs on a free loopback port (never 6379) in its own directory under the
//! system's temporary directory, and is stopped by its pid.

#[path = "support/mod.rs"]
mod support;
use support::*;

use redis::Connection;
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ALERT_ADD: &str = include_str!("lua/alert_add.lua");

/// The seeds' buffer: 8 hours.
const BUFFER_MS: u64 = 8 * 3600 * 1000;
/// Alerts of the 8-hour load are 10 ms apart (2.7M span 7.5 hours).
const SPACING_MS: u64 = 10;
/// Sample of documents compared after each restart.
const SAMPLE: usize = 1000;
/// Timed calls per latency measure.
const LATENCY_CALLS: usize = 2000;

const MESSAGE: &str = "disk usage above threshold on volume; please investigate the growth of the data directory and the retention of logs and backups soon";
const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];
const TYPES: [&str; 10] = [
    "disk_full",
    "cpu_high",
    "mem_high",
    "oom_kill",
    "latency",
    "errors",
    "restart",
    "cert_expiry",
    "queue_depth",
    "replication_lag",
];

/// Alert `i`'s document: about 300 bytes, severities (uniform), 100 sources and 10 types
/// drawn from a hash of `i` (so that every stream of a layout gets them all), a host per alert
/// (so every fingerprint is new).
fn doc(i: u64) -> String {
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    let head = format!(
        r#"{{"severity":"{}","source":"svc-{:03}","type":"{}","labels":{{"host":"h-{i:08}","region":"r-{}"}},"message":""#,
        SEVERITIES[(x % 5) as usize],
        (x >> 3) % 100,
        TYPES[((x >> 10) % 10) as usize],
        (x >> 17) % 5,
    );
    let pad = 300usize.saturating_sub(head.len() + 2);
    let mut msg: String = MESSAGE.chars().cycle().take(pad).collect();
    msg.truncate(pad);
    format!("{head}{msg}\"}}")
}

fn stream_key(j: u64) -> String {
    format!("scale:{{t{j:03}}}:alerts")
}

/// The Lua layout's keys for stream `j` (as `benches/load.rs` names them).
fn lua_keys(j: u64) -> [String; 5] {
    ["ids", "docs", "meta", "fps", "rate"].map(|p| format!("lua:{{t{j:03}}}:{p}"))
}

struct Options {
    alerts: u64,
    layouts: Vec<u64>,
    lua_share: u64,
    out: PathBuf,
    module: PathBuf,
}

impl Options {
    fn from_env() -> Options {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        Options {
            alerts: env_or("SCALE_ALERTS", 2_700_000),
            layouts: std::env::var("SCALE_STREAMS")
                .unwrap_or_else(|_| "1,100".into())
                .split(',')
                .filter_map(|s| s.trim().parse().ok())
                .filter(|n| *n > 0)
                .collect(),
            lua_share: env_or("SCALE_LUA_SHARE", 5u64).max(1),
            out: std::env::var("SCALE_OUT")
                .map(PathBuf::from)
                .unwrap_or_else(|_| root.join("target/bench-scale.md")),
            module: std::env::var("VIGIL_MODULE")
                .map(PathBuf::from)
                .unwrap_or_else(|_| root.join("target/release/libvigil.so")),
        }
    }
}

/// One redis-server with the module in its own directory, on a free loopback port, stopped
/// by its pid. `restart` keeps the directory (its AOF and RDB files).
struct Server {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    module: PathBuf,
}

impl Server {
    fn new(module: &Path, name: &str) -> Server {
        assert!(
            module.exists(),
            "{} is missing: run `cargo build --release` first (make bench-scale does)",
            module.display()
        );
        let dir = std::env::temp_dir().join(format!("vigil-scale-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Server {
            child: None,
            port: 0,
            dir,
            module: module.to_path_buf(),
        }
    }

    /// Starts the server with `args`; returns the time until it answered PING (not LOADING).
    fn start(&mut self, args: &[&str]) -> Duration {
        assert!(self.child.is_none());
        let port = loop {
            let p = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free loopback port");
            if p != 6379 {
                break p;
            }
        };
        let started = Instant::now();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--daemonize", "no", "--logfile", "redis.log"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--loadmodule")
            .arg(&self.module)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        self.child = Some(child);
        self.port = port;
        while started.elapsed() < Duration::from_secs(1800) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("redis-server exited ({status}); log:\n{}", self.log());
            }
            if let Ok(mut c) = self.try_connect() {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return started.elapsed();
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not start; log:\n{}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    fn try_connect(&self) -> redis::RedisResult<Connection> {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))?
            .get_connection_with_timeout(Duration::from_secs(5))
    }

    fn connect(&self) -> Connection {
        let c = self.try_connect().expect("connect to the bench server");
        c.set_read_timeout(Some(Duration::from_secs(1800))).ok();
        c
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// utime + stime of the server, in seconds.
    fn cpu_seconds(&self) -> f64 {
        let clk_tck: f64 = run_text("getconf", &["CLK_TCK"]).parse().unwrap_or(100.0);
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
            + fields
                .get(12)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
        ticks / clk_tck
    }

    /// SHUTDOWN NOSAVE (the AOF, when on, is flushed and fsynced by the shutdown), then waits
    /// for the process by its pid.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(mut c) = self.try_connect() {
            let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").arg("NOSAVE").query(&mut c);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(120) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// p50, p99 and max in ms of `LATENCY_CALLS` calls of `args`, one at a time.
fn latency(c: &mut Connection, args: &[String]) -> (f64, f64, f64) {
    let mut cmd = redis::cmd(&args[0]);
    for a in &args[1..] {
        cmd.arg(a);
    }
    let _: redis::Value = cmd.query(c).expect("a latency call");
    let mut times: Vec<f64> = (0..LATENCY_CALLS)
        .map(|_| {
            let t = Instant::now();
            let _: redis::Value = cmd.query(c).expect("a latency call");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        *times.last().unwrap_or(&0.0),
    )
}

/// The alerts every stream holds, summed, from ALERT.INFO.
fn held(c: &mut Connection, streams: u64) -> u64 {
    (0..streams)
        .map(|j| {
            let v = exec(c, &["ALERT.INFO", &stream_key(j)]);
            let m: std::collections::HashMap<String, redis::Value> =
                redis::from_redis_value(&v).unwrap_or_default();
            m.get("length")
                .and_then(|v| redis::from_redis_value::<u64>(v).ok())
                .unwrap_or(0)
        })
        .sum()
}

fn revision(c: &mut Connection, key: &str) -> u64 {
    let v = exec(c, &["ALERT.INFO", key]);
    let m: std::collections::HashMap<String, redis::Value> =
        redis::from_redis_value(&v).unwrap_or_default();
    m.get("revision")
        .and_then(|v| redis::from_redis_value::<u64>(v).ok())
        .unwrap_or(0)
}

/// `SAMPLE` alerts spread over the load, as ALERT.GET returns them: (key, id, reply).
fn sample(c: &mut Connection, n: u64, streams: u64, base: u64) -> Vec<(String, String, String)> {
    let step = (n / SAMPLE as u64).max(1);
    (0..n)
        .step_by(step as usize)
        .map(|i| {
            let key = stream_key(i % streams);
            let id = format!("{}-0", base + i * SPACING_MS);
            let v: Vec<Option<String>> =
                redis::from_redis_value(&exec(c, &["ALERT.GET", &key, &id])).expect("ALERT.GET");
            let doc = v.into_iter().next().flatten().expect("a sampled alert");
            (key, id, doc)
        })
        .collect()
}

fn sample_matches(c: &mut Connection, sample: &[(String, String, String)]) -> usize {
    sample
        .iter()
        .filter(|(key, id, doc)| {
            let v: Vec<Option<String>> =
                redis::from_redis_value(&exec(c, &["ALERT.GET", key, id])).unwrap_or_default();
            v.first().and_then(|d| d.as_deref()) == Some(doc.as_str())
        })
        .count()
}

/// Waits for a background rewrite or save to end; its duration.
fn wait_background(c: &mut Connection, field: &str) -> Duration {
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(10));
        if info_field(c, "persistence", field) == "0" {
            return start.elapsed();
        }
    }
}

fn load_native(c: &mut Connection, n: u64, streams: u64, ts: impl Fn(u64) -> u64) {
    pipelined_cmds(
        c,
        (0..n).map(|i| {
            let mut cmd = redis::cmd("ALERT.ADD");
            cmd.arg(stream_key(i % streams))
                .arg(doc(i))
                .arg("TS")
                .arg(ts(i));
            cmd
        }),
    );
}

fn create_streams(c: &mut Connection, streams: u64, retention: u64) {
    for j in 0..streams {
        exec(
            c,
            &[
                "ALERT.CREATE",
                &stream_key(j),
                "RETENTION",
                &retention.to_string(),
                "MAXLEN",
                "0",
            ],
        );
    }
}

#[derive(Default)]
struct LayoutResult {
    streams: u64,
    alerts: u64,
    load_s: f64,
    load_cpu_s: f64,
    memory: i64,
    memory_usage: i64,
    lua_memory_per_alert: f64,
    lua_alerts: u64,
    lua_load_s: f64,
    latencies: Vec<(String, (f64, f64, f64))>,
    rewrite_s: f64,
    aof_bytes: u64,
    aof_restart_s: f64,
    aof_back: (u64, usize),
    save_s: f64,
    rdb_bytes: u64,
    rdb_restart_s: f64,
    rdb_back: (u64, usize),
    alter_all_ms: f64,
    sweep_s: f64,
    sweep_tick_max_ms: i64,
    sweep_command_max_ms: i64,
    ping_max_ms: f64,
    sweep_left: u64,
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

const AOF_ARGS: [&str; 8] = [
    "--save",
    "",
    "--appendonly",
    "yes",
    "--appendfsync",
    "everysec",
    "--aof-use-rdb-preamble",
    "yes",
];

fn native_layout(opts: &Options, streams: u64) -> LayoutResult {
    let n = opts.alerts;
    let mut r = LayoutResult {
        streams,
        alerts: n,
        ..Default::default()
    };
    let mut s = Server::new(&opts.module, &format!("native-{streams}"));
    s.start(&AOF_ARGS);
    let mut c = s.connect();
    let before = used_memory(&mut c);
    // The 8-hour buffer: alerts 10 ms apart ending now, streams keeping 8 hours.
    let base = now_ms() - n * SPACING_MS;
    create_streams(&mut c, streams, BUFFER_MS);
    eprintln!("[{streams} streams] loading {n} alerts");
    let (t, cpu) = (Instant::now(), s.cpu_seconds());
    load_native(&mut c, n, streams, |i| base + i * SPACING_MS);
    r.load_s = t.elapsed().as_secs_f64();
    r.load_cpu_s = s.cpu_seconds() - cpu;
    r.memory = used_memory(&mut c) - before;
    r.memory_usage = (0..streams)
        .map(|j| {
            redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(stream_key(j))
                .query::<i64>(&mut c)
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(held(&mut c, streams), n, "every alert stored");
    eprintln!(
        "[{streams} streams] {:.1} s, {:.0} alerts/s, {:.0} B/alert",
        r.load_s,
        n as f64 / r.load_s,
        r.memory as f64 / n as f64
    );

    // Reads at that size, on the first stream.
    let key = stream_key(0);
    let per_stream = n / streams;
    let mid = (base + (per_stream / 2) * streams * SPACING_MS).to_string();
    let rev = revision(&mut c, &key);
    let reads: Vec<(String, Vec<&str>)> = vec![
        (
            "ALERT.RANGE newest 100".into(),
            vec!["ALERT.RANGE", &key, "-", "+", "REV", "COUNT", "100"],
        ),
        (
            "ALERT.RANGE newest 100 MINSEVERITY high".into(),
            vec![
                "ALERT.RANGE",
                &key,
                "-",
                "+",
                "REV",
                "COUNT",
                "100",
                "MINSEVERITY",
                "high",
            ],
        ),
        (
            "ALERT.RANGE 100 from the middle".into(),
            vec!["ALERT.RANGE", &key, &mid, "+", "COUNT", "100"],
        ),
        (
            "ALERT.RANGE newest 10 SOURCE (1% of alerts)".into(),
            vec![
                "ALERT.RANGE",
                &key,
                "-",
                "+",
                "REV",
                "COUNT",
                "10",
                "SOURCE",
                "svc-042",
            ],
        ),
    ];
    let after = rev.saturating_sub(100).to_string();
    let mut reads = reads;
    reads.push((
        "ALERT.READ 100 changes".into(),
        vec!["ALERT.READ", &key, "AFTER", &after, "COUNT", "100"],
    ));
    for (name, args) in &reads {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let l = latency(&mut c, &args);
        eprintln!(
            "[{streams} streams] {name}: p50 {:.3} p99 {:.3} ms",
            l.0, l.1
        );
        r.latencies.push((name.clone(), l));
    }

    let sampled = sample(&mut c, n, streams, base);

    // BGREWRITEAOF (RDB preamble, the default). An automatic rewrite the load started
    // (auto-aof-rewrite-percentage) is let finish first: BGREWRITEAOF would be refused.
    wait_background(&mut c, "aof_rewrite_in_progress");
    let t = Instant::now();
    exec(&mut c, &["BGREWRITEAOF"]);
    wait_background(&mut c, "aof_rewrite_in_progress");
    r.rewrite_s = t.elapsed().as_secs_f64();
    assert_eq!(
        info_field(&mut c, "persistence", "aof_last_bgrewrite_status"),
        "ok"
    );
    r.aof_bytes = dir_bytes(&s.dir.join("appendonlydir"));
    eprintln!("[{streams} streams] BGREWRITEAOF {:.1} s", r.rewrite_s);

    // Restart from the AOF.
    drop(c);
    s.stop();
    r.aof_restart_s = s.start(&AOF_ARGS).as_secs_f64();
    let mut c = s.connect();
    r.aof_back = (held(&mut c, streams), sample_matches(&mut c, &sampled));
    eprintln!(
        "[{streams} streams] restart from AOF {:.1} s, {} alerts, {}/{} sampled documents",
        r.aof_restart_s,
        r.aof_back.0,
        r.aof_back.1,
        sampled.len()
    );

    // An RDB file (SAVE, timed), and a restart from it alone.
    let t = Instant::now();
    exec(&mut c, &["SAVE"]);
    r.save_s = t.elapsed().as_secs_f64();
    r.rdb_bytes = std::fs::metadata(s.dir.join("dump.rdb")).map_or(0, |m| m.len());
    drop(c);
    s.stop();
    r.rdb_restart_s = s.start(&["--save", "", "--appendonly", "no"]).as_secs_f64();
    let mut c = s.connect();
    r.rdb_back = (held(&mut c, streams), sample_matches(&mut c, &sampled));
    eprintln!(
        "[{streams} streams] restart from RDB {:.1} s, {} alerts, {}/{} sampled documents",
        r.rdb_restart_s,
        r.rdb_back.0,
        r.rdb_back.1,
        sampled.len()
    );

    // ALERT.ALTER to a retention every alert is older than: the command trims them all.
    let t = Instant::now();
    for j in 0..streams {
        exec(&mut c, &["ALERT.ALTER", &stream_key(j), "RETENTION", "1"]);
    }
    r.alter_all_ms = t.elapsed().as_secs_f64() * 1000.0 / streams as f64;
    assert_eq!(held(&mut c, streams), 0);
    eprintln!(
        "[{streams} streams] ALERT.ALTER RETENTION 1: {:.0} ms a stream",
        r.alter_all_ms
    );
    drop(c);
    s.stop();

    // The sweep: every alert expires at once by the clock, no command trims.
    sweep_run(opts, streams, &mut r);
    r
}

/// Loads the alerts 1000 to the millisecond (as in a burst), sets a retention they all leave
/// 10 s later, and watches the sweep remove them: its longest tick (LATENCY LATEST, event
/// vigil-sweep) and the longest PING a client saw meanwhile.
fn sweep_run(opts: &Options, streams: u64, r: &mut LayoutResult) {
    let n = opts.alerts;
    let mut s = Server::new(&opts.module, &format!("sweep-{streams}"));
    s.start(&AOF_ARGS);
    let mut c = s.connect();
    create_streams(&mut c, streams, 0);
    let t0 = now_ms();
    eprintln!("[{streams} streams] loading {n} alerts for the sweep");
    load_native(&mut c, n, streams, |i| t0 + i / 1000);
    let newest = t0 + (n - 1) / 1000;
    // Nothing is older than the retention when it is set; everything is 10 s later.
    let retention = now_ms() - t0 + 10_000;
    for j in 0..streams {
        exec(
            &mut c,
            &[
                "ALERT.ALTER",
                &stream_key(j),
                "RETENTION",
                &retention.to_string(),
            ],
        );
    }
    assert_eq!(
        held(&mut c, streams),
        n,
        "the retention trimmed nothing yet"
    );
    exec(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "1"]);
    exec(&mut c, &["LATENCY", "RESET"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probe = {
        let stop = stop.clone();
        let mut p = s.connect();
        std::thread::spawn(move || {
            let mut worst: f64 = 0.0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                let _: redis::RedisResult<String> = redis::cmd("PING").query(&mut p);
                worst = worst.max(t.elapsed().as_secs_f64() * 1000.0);
                std::thread::sleep(Duration::from_millis(1));
            }
            worst
        })
    };
    // Timed from the first alert's expiry (the last expires (n - 1) / 1000 ms later).
    let _ = newest;
    while now_ms() <= t0 + retention {
        std::thread::sleep(Duration::from_millis(10));
    }
    let t = Instant::now();
    let mut left = n;
    while t.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(100));
        left = held(&mut c, streams);
        if left == 0 {
            break;
        }
    }
    r.sweep_s = t.elapsed().as_secs_f64();
    r.sweep_left = left;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    r.ping_max_ms = probe.join().unwrap_or(0.0);
    let latest: Vec<(String, i64, i64, i64)> =
        redis::from_redis_value(&exec(&mut c, &["LATENCY", "LATEST"])).unwrap_or_default();
    for (event, _, _, max) in latest {
        match event.as_str() {
            "vigil-sweep" => r.sweep_tick_max_ms = max,
            "command" => r.sweep_command_max_ms = max,
            _ => {}
        }
    }
    eprintln!(
        "[{streams} streams] sweep: {:.1} s, longest tick {} ms, longest PING {:.1} ms, {} left",
        r.sweep_s, r.sweep_tick_max_ms, r.ping_max_ms, r.sweep_left
    );
}

/// The Lua ZSET+HASH layout, loaded with `alert_add.lua` (dedup on, no rate limit), on a
/// server of its own: used_memory per alert and the load time of its share of the alerts.
fn lua_layout(opts: &Options, streams: u64, r: &mut LayoutResult) {
    let n = opts.alerts / opts.lua_share;
    let mut s = Server::new(&opts.module, &format!("lua-{streams}"));
    s.start(&["--save", "", "--appendonly", "no"]);
    let mut c = s.connect();
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(ALERT_ADD)
        .query(&mut c)
        .expect("SCRIPT LOAD");
    let before = used_memory(&mut c);
    let base = now_ms() - n * SPACING_MS;
    let retention = BUFFER_MS.to_string();
    eprintln!("[{streams} streams] Lua layout: loading {n} alerts");
    let t = Instant::now();
    pipelined_cmds(
        &mut c,
        (0..n).map(|i| {
            let keys = lua_keys(i % streams);
            let mut cmd = redis::cmd("EVALSHA");
            cmd.arg(&sha).arg(5);
            for k in &keys {
                cmd.arg(k);
            }
            cmd.arg(doc(i))
                .arg(&retention)
                .arg("0")
                .arg("300000")
                .arg("0")
                .arg("1000")
                .arg(base + i * SPACING_MS)
                .arg("-");
            cmd
        }),
    );
    r.lua_load_s = t.elapsed().as_secs_f64();
    r.lua_alerts = n;
    r.lua_memory_per_alert = (used_memory(&mut c) - before) as f64 / n as f64;
    eprintln!(
        "[{streams} streams] Lua layout: {:.0} B/alert, {:.0} alerts/s",
        r.lua_memory_per_alert,
        n as f64 / r.lua_load_s
    );
}

fn mib(bytes: f64) -> String {
    format!("{:.0} MiB", bytes / 1024.0 / 1024.0)
}

fn report(opts: &Options, results: &[LayoutResult], out: &mut String) {
    let _ = writeln!(
        out,
        "\n## {} alerts of ~300 bytes, AOF on (appendfsync everysec, RDB preamble)\n",
        opts.alerts
    );
    let _ = writeln!(out, "| | {} |", {
        let cols: Vec<String> = results
            .iter()
            .map(|r| {
                format!(
                    "{} stream{}",
                    r.streams,
                    if r.streams == 1 { "" } else { "s" }
                )
            })
            .collect();
        cols.join(" | ")
    });
    let _ = writeln!(out, "|---|{}", "---:|".repeat(results.len()));
    let row = |out: &mut String, name: &str, f: &dyn Fn(&LayoutResult) -> String| {
        let cells: Vec<String> = results.iter().map(f).collect();
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    };
    row(out, "used_memory growth (goal < 1 GiB)", &|r| {
        mib(r.memory as f64)
    });
    row(out, "per alert", &|r| {
        format!("{:.0} B", r.memory as f64 / r.alerts as f64)
    });
    row(out, "MEMORY USAGE, summed", &|r| mib(r.memory_usage as f64));
    row(out, "Lua ZSET+HASH per alert (same documents)", &|r| {
        format!("{:.0} B ({} alerts)", r.lua_memory_per_alert, r.lua_alerts)
    });
    row(out, "Lua ZSET+HASH, scaled to the same count", &|r| {
        mib(r.lua_memory_per_alert * r.alerts as f64)
    });
    row(out, "native / Lua memory", &|r| {
        format!(
            "{:.2}",
            r.memory as f64 / (r.lua_memory_per_alert * r.alerts as f64)
        )
    });
    row(out, "load rate (pipelined 1000, one connection)", &|r| {
        format!("{:.0} alerts/s", r.alerts as f64 / r.load_s)
    });
    row(out, "server CPU per alert while loading", &|r| {
        format!("{:.2} µs", r.load_cpu_s * 1e6 / r.alerts as f64)
    });
    row(out, "Lua load rate (same way)", &|r| {
        format!("{:.0} alerts/s", r.lua_alerts as f64 / r.lua_load_s)
    });
    for (i, (name, _)) in results[0].latencies.iter().enumerate() {
        row(out, &format!("{name}: p50 / p99 / max (P=1)"), &|r| {
            r.latencies
                .get(i)
                .map(|(_, (p50, p99, max))| format!("{p50:.3} / {p99:.3} / {max:.1} ms"))
                .unwrap_or_default()
        });
    }
    row(out, "BGREWRITEAOF", &|r| {
        format!("{:.1} s ({})", r.rewrite_s, mib(r.aof_bytes as f64))
    });
    row(out, "restart from the AOF", &|r| {
        format!("{:.1} s", r.aof_restart_s)
    });
    row(out, "alerts back / sample equal", &|r| {
        format!("{} / {}", r.aof_back.0, r.aof_back.1)
    });
    row(out, "SAVE (RDB)", &|r| {
        format!("{:.1} s ({})", r.save_s, mib(r.rdb_bytes as f64))
    });
    row(out, "restart from the RDB", &|r| {
        format!("{:.1} s", r.rdb_restart_s)
    });
    row(out, "alerts back / sample equal", &|r| {
        format!("{} / {}", r.rdb_back.0, r.rdb_back.1)
    });
    row(
        out,
        "ALERT.ALTER RETENTION 1 (trims all at once), per stream",
        &|r| format!("{:.0} ms", r.alter_all_ms),
    );
    row(out, "sweep: all alerts expired at once, gone after", &|r| {
        format!("{:.1} s ({} left)", r.sweep_s, r.sweep_left)
    });
    row(
        out,
        "sweep: longest tick (LATENCY LATEST vigil-sweep)",
        &|r| format!("{} ms", r.sweep_tick_max_ms),
    );
    row(out, "sweep: longest PING meanwhile (1 ms apart)", &|r| {
        format!("{:.1} ms", r.ping_max_ms)
    });
}

fn main() {
    let opts = Options::from_env();
    let mut out = String::new();
    let _ = writeln!(out, "# Vigil at scale\n");
    let _ = writeln!(
        out,
        "- date: {}\n- machine: {} cores, {}\n- server: {}\n- module: {}\n- load average at start: {}\n- Lua layout: {} of the alerts loaded, scaled",
        run_text("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        run_text("sh", &["-c", "lscpu | sed -n 's/^Model name: *//p' | head -1"]),
        run_text("redis-server", &["--version"]),
        opts.module.display(),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        if opts.lua_share == 1 { "all".to_string() } else { format!("1/{}", opts.lua_share) },
    );
    let mut results = Vec::new();
    for &streams in &opts.layouts {
        let mut r = native_layout(&opts, streams);
        lua_layout(&opts, streams, &mut r);
        results.push(r);
    }
    if !results.is_empty() {
        report(&opts, &results, &mut out);
    }
    let _ = writeln!(
        out,
        "\nload average at the end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!("{out}");
    if let Some(dir) = opts.out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&opts.out, &out).expect("write the report");
    eprintln!("report: {}", opts.out.display());
}
