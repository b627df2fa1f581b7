//! The side-by-side load run: each native command against the Lua script it replaces
//! (`benches/lua/`), on one redis-server with the module loaded, driven by the same load
//! generator (redis-benchmark), plus core commands as reference points and the memory each
//! layout takes per alert.
//!
//! `cargo bench --bench load` (after `cargo build --release`; `make bench` does both). Knobs,
//! from the environment:
//!   BENCH_SECONDS    seconds per run, at least (default 3)
//!   BENCH_REPEAT     runs of each (command, implementation, pipeline) (default 3)
//!   BENCH_PIPELINES  pipeline depths (default "1,16")
//!   BENCH_CLIENTS    connections (default 50)
//!   BENCH_ONLY       comma-separated substrings of scenario names to run (default: all)
//!   BENCH_MEMORY     0 skips the memory-per-alert measure
//!   BENCH_FLOW_ENTRIES  sizes of the tracked entries in the "make room" flow runs, comma-
//!                    separated (default "16,1024"; `BENCH_ONLY=flow` runs only those)
//!   BENCH_OUT        where the markdown report goes (default target/bench-load.md)
//!   BENCH_CPU        user or sys: count only that part of the server's CPU time (default both)
//!   VIGIL_MODULE     the module to load (default target/release/libvigil.so)
//!
//! The server runs on a free loopback port (never 6379), pinned to core 0 and the load
//! generator to core 1 when the machine has two cores or more; it is stopped by its pid.
//! Server CPU per op is read from /proc/<pid>/stat (utime + stime) before and after each run.
//!
//! The seeds' flow (a tenant at its limit storing a 1 KiB object) is a loop that the client
//! drives, which redis-benchmark cannot run: `flows` times it from this process, on one
//! connection at P=1, against one `QUOTA.INCR ... EVICT`.

#[path = "support/mod.rs"]
mod support;
use support::*;

use redis::Connection;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ALERT_ADD: &str = include_str!("lua/alert_add.lua");
const ALERT_RANGE: &str = include_str!("lua/alert_range.lua");
const QUOTA_INCR: &str = include_str!("lua/quota_incr.lua");
const LRU_TOUCH: &str = include_str!("lua/lru_touch.lua");
const LRU_EVICT: &str = include_str!("lua/lru_evict.lua");

/// Stream settings of the ALERT.ADD runs (both sides): 30-day retention, MAXLEN 10000, 5-minute
/// dedup, 100 alerts per source per second.
const ADD_SETTINGS: [&str; 5] = ["2592000000", "10000", "300000", "100", "1000"];
/// The ALERT.ADD (limited) runs: one alert per source per hour, so every add is limited.
const LIMITED_SETTINGS: [&str; 5] = ["2592000000", "10000", "300000", "1", "3600000"];

const MESSAGE: &str = "disk usage above threshold on volume; please investigate the growth of the data directory and the retention of logs and backups soon";

/// ~300-byte documents; `__rand_int__` becomes a 12-digit number in [0, r) (redis-benchmark
/// draws each occurrence on its own). 1000 sources, fingerprints all different.
fn doc_new() -> String {
    format!(
        r#"{{"severity":"high","source":"svc-__rand_int__","type":"disk_full","labels":{{"host":"h-__rand_int__","disk":"d-__rand_int__","pod":"p-__rand_int__"}},"message":"{MESSAGE}"}}"#
    )
}

/// 1000 sources, one fingerprint each: after the first 1000, every add is a duplicate.
fn doc_dup() -> String {
    format!(
        r#"{{"severity":"high","source":"svc-__rand_int__","type":"disk_full","labels":{{"host":"h-000000000001","disk":"d-000000000001","pod":"p-000000000001"}},"message":"{MESSAGE}"}}"#
    )
}

/// 1000 sources, never deduplicated (fingerprint ""): with one alert per source per hour,
/// every add after the first of each source is limited.
fn doc_limited() -> String {
    format!(
        r#"{{"severity":"high","source":"svc-__rand_int__","type":"disk_full","fingerprint":"","labels":{{"host":"h-000000000001","disk":"d-000000000001"}},"message":"{MESSAGE}"}}"#
    )
}

/// A document of exactly `len` bytes (padding the message), for the memory measure.
fn sized_doc(severity: &str, source: u64, unique: u64, len: usize) -> String {
    let head = format!(
        r#"{{"severity":"{severity}","source":"svc-{source:03}","type":"disk_full","labels":{{"host":"h-{unique:08}","mount":"/var"}},"message":""#
    );
    let tail = "\"}";
    let pad = len.saturating_sub(head.len() + tail.len());
    let mut msg: String = MESSAGE.chars().cycle().take(pad).collect();
    msg.truncate(pad);
    format!("{head}{msg}{tail}")
}

struct Options {
    seconds: f64,
    repeat: usize,
    pipelines: Vec<u32>,
    clients: u32,
    only: Vec<String>,
    memory: bool,
    /// Tracked entry sizes of the flow runs.
    flow_entries: Vec<u64>,
    out: PathBuf,
    module: PathBuf,
    /// (server core, load generator core) when pinning is possible.
    cores: Option<(u32, u32)>,
    clk_tck: f64,
}

impl Options {
    fn from_env() -> Options {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let has_taskset = Command::new("taskset")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        Options {
            seconds: env_or("BENCH_SECONDS", 3.0),
            repeat: env_or("BENCH_REPEAT", 3),
            pipelines: std::env::var("BENCH_PIPELINES")
                .unwrap_or_else(|_| "1,16".into())
                .split(',')
                .filter_map(|p| p.trim().parse().ok())
                .collect(),
            clients: env_or("BENCH_CLIENTS", 50),
            only: std::env::var("BENCH_ONLY")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
            memory: env_or("BENCH_MEMORY", 1) != 0,
            flow_entries: std::env::var("BENCH_FLOW_ENTRIES")
                .unwrap_or_else(|_| "16,1024".into())
                .split(',')
                .filter_map(|p| p.trim().parse().ok())
                .filter(|n| *n > 0)
                .collect(),
            out: std::env::var("BENCH_OUT")
                .map(PathBuf::from)
                .unwrap_or_else(|_| root.join("target/bench-load.md")),
            module: std::env::var("VIGIL_MODULE")
                .map(PathBuf::from)
                .unwrap_or_else(|_| root.join("target/release/libvigil.so")),
            cores: (cpus >= 2 && has_taskset).then_some((0, 1)),
            clk_tck: run_text("getconf", &["CLK_TCK"]).parse().unwrap_or(100.0),
        }
    }

    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| name.to_lowercase().contains(o))
    }

    /// `taskset -c <core>` in front of a command, when pinning.
    fn pinned(&self, server: bool, program: &str) -> Command {
        match self.cores {
            Some((s, c)) => {
                let mut cmd = Command::new("taskset");
                cmd.arg("-c")
                    .arg(if server { s } else { c }.to_string())
                    .arg(program);
                cmd
            }
            None => Command::new(program),
        }
    }
}

/// One redis-server with the module, on a free loopback port, stopped by its pid on drop.
struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Server {
    fn start(opts: &Options) -> Server {
        assert!(
            opts.module.exists(),
            "{} is missing: run `cargo build --release` first (make bench does)",
            opts.module.display()
        );
        let dir = std::env::temp_dir().join(format!("vigil-load-{}", std::process::id()));
        for _ in 0..5 {
            std::fs::create_dir_all(&dir).expect("a temporary directory");
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free loopback port");
            if port == 6379 {
                continue;
            }
            // taskset execs redis-server: the child's pid is the server's.
            let child = opts
                .pinned(true, "redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(&dir)
                .args(["--logfile", "redis.log"])
                .arg("--loadmodule")
                .arg(&opts.module)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server on PATH");
            let mut server = Server {
                child,
                port,
                dir: dir.clone(),
            };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break;
                }
                if let Ok(mut c) = server.try_connect() {
                    if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                        return server;
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let log = std::fs::read_to_string(server.dir.join("redis.log")).unwrap_or_default();
            eprintln!("redis-server did not start on port {port}; log:\n{log}");
        }
        panic!("could not start redis-server");
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn try_connect(&self) -> redis::RedisResult<Connection> {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))?
            .get_connection_with_timeout(Duration::from_secs(5))
    }

    fn connect(&self) -> Connection {
        let c = self.try_connect().expect("connect to the bench server");
        c.set_read_timeout(Some(Duration::from_secs(600))).ok();
        c
    }

    /// utime + stime of the server process (all threads), in seconds.
    fn cpu_seconds(&self, clk_tck: f64) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .expect("/proc/<pid>/stat of the server");
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        let (user, sys) = (
            fields[11].parse::<f64>().unwrap_or(0.0),
            fields[12].parse::<f64>().unwrap_or(0.0),
        );
        // BENCH_CPU=user or sys counts only that part: how much of a command's cost is the
        // kernel's (reading requests, sending replies), which no change to the module can cut.
        let ticks = match std::env::var("BENCH_CPU").as_deref() {
            Ok("user") => user,
            Ok("sys") => sys,
            _ => user + sys,
        };
        ticks / clk_tck
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(mut c) = self.try_connect() {
            let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").arg("NOSAVE").query(&mut c);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Scripts {
    add: String,
    range: String,
    quota: String,
    touch: String,
    evict: String,
    ret1: String,
}

impl Scripts {
    fn load(c: &mut Connection) -> Scripts {
        let mut load = |src: &str| -> String {
            redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(src)
                .query(c)
                .expect("SCRIPT LOAD")
        };
        Scripts {
            add: load(ALERT_ADD),
            range: load(ALERT_RANGE),
            quota: load(QUOTA_INCR),
            touch: load(LRU_TOUCH),
            evict: load(LRU_EVICT),
            ret1: load("return 1"),
        }
    }
}

fn alert_keys(tag: &str) -> [String; 5] {
    ["ids", "docs", "meta", "fps", "rate"].map(|p| format!("l:{{{tag}}}:{p}"))
}

/// What the load generator sends for one implementation of a command.
struct Load {
    args: Vec<String>,
    /// `-r`: the range of `__rand_int__`.
    keyspace: Option<u64>,
}

/// Prepares the data a run of `ops` operations needs (the eviction runs consume their keys).
type PerRun = Box<dyn Fn(&mut Connection, u64)>;
/// Loads the data a scenario reads, on an empty server.
type Setup = Box<dyn Fn(&mut Connection)>;

struct Scenario {
    name: &'static str,
    native: Load,
    lua: Option<Load>,
    setup: Option<Setup>,
    per_run: Option<(PerRun, PerRun)>,
    /// Undoes what a run left (untimed).
    after_run: Option<(PerRun, PerRun)>,
}

impl Scenario {
    fn new(name: &'static str, native: Load) -> Scenario {
        Scenario {
            name,
            native,
            lua: None,
            setup: None,
            per_run: None,
            after_run: None,
        }
    }

    fn lua(mut self, lua: Load) -> Scenario {
        self.lua = Some(lua);
        self
    }

    fn setup(mut self, setup: impl Fn(&mut Connection) + 'static) -> Scenario {
        self.setup = Some(Box::new(setup));
        self
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Impl {
    Native,
    Lua,
}

#[derive(Clone, Debug)]
struct Sample {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us: f64,
    secs: f64,
    ops: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

struct Runner<'a> {
    opts: &'a Options,
    server: &'a Server,
    raw: String,
}

impl Runner<'_> {
    /// One redis-benchmark run of `ops` operations, with the server's CPU time around it.
    fn run(&mut self, label: &str, load: &Load, pipeline: u32, ops: u64) -> Sample {
        let mut cmd = self.opts.pinned(false, "redis-benchmark");
        cmd.args(["-h", "127.0.0.1", "-p", &self.server.port.to_string()])
            .args(["-c", &self.opts.clients.to_string()])
            .args(["-P", &pipeline.to_string(), "-n", &ops.to_string(), "--csv"]);
        if let Some(r) = load.keyspace {
            cmd.args(["-r", &r.to_string()]);
        }
        cmd.args(&load.args);
        let cpu0 = self.server.cpu_seconds(self.opts.clk_tck);
        let start = Instant::now();
        let out = cmd.output().expect("redis-benchmark on PATH");
        let secs = start.elapsed().as_secs_f64();
        let cpu1 = self.server.cpu_seconds(self.opts.clk_tck);
        let text = String::from_utf8_lossy(&out.stdout);
        // The test name holds unescaped quotes: read the last seven fields of the data line.
        let line = text
            .lines()
            .rev()
            .find(|l| l.ends_with('"') && !l.starts_with("\"test\""))
            .unwrap_or_else(|| {
                panic!(
                    "no result from redis-benchmark for {label}: {}\n{}",
                    text,
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        let fields: Vec<f64> = line
            .rsplitn(8, ',')
            .take(7)
            .map(|f| f.trim_matches('"').parse().unwrap_or(f64::NAN))
            .collect();
        // Reversed: max, p99, p95, p50, min, avg, rps.
        let sample = Sample {
            rps: fields[6],
            p50_ms: fields[3],
            p99_ms: fields[1],
            cpu_us: (cpu1 - cpu0) * 1e6 / ops as f64,
            secs,
            ops,
        };
        let _ = writeln!(
            self.raw,
            "{label},{pipeline},{ops},{:.3},{:.0},{:.3},{:.3},{:.3}",
            sample.secs, sample.rps, sample.p50_ms, sample.p99_ms, sample.cpu_us
        );
        eprintln!(
            "  {label:<34} P={pipeline:<2} {ops:>9} ops {secs:>5.2}s {:>10.0} ops/s p50 {:.3} p99 {:.3} ms  {:.2} µs/op",
            sample.rps, sample.p50_ms, sample.p99_ms, sample.cpu_us
        );
        sample
    }
}

struct Row {
    name: &'static str,
    imp: Impl,
    pipeline: u32,
    samples: Vec<Sample>,
}

impl Row {
    fn med(&self, f: impl Fn(&Sample) -> f64) -> f64 {
        median(self.samples.iter().map(f).collect())
    }
}

fn run_scenario(runner: &mut Runner, c: &mut Connection, s: &Scenario) -> Vec<Row> {
    let opts = runner.opts;
    eprintln!("{}", s.name);
    let mut impls = vec![(Impl::Native, &s.native)];
    if let Some(l) = &s.lua {
        impls.push((Impl::Lua, l));
    }
    let mut rows: Vec<Row> = Vec::new();
    // Expected rate of each (implementation, pipeline), from a probe, then from the last run.
    let mut rate: BTreeMap<(Impl, u32), f64> = BTreeMap::new();
    let prepare = |c: &mut Connection, imp: Impl, ops: u64| {
        if let Some((n, l)) = &s.per_run {
            match imp {
                Impl::Native => n(c, ops),
                Impl::Lua => l(c, ops),
            }
        }
    };
    let cleanup = |c: &mut Connection, imp: Impl| {
        if let Some((n, l)) = &s.after_run {
            match imp {
                Impl::Native => n(c, 0),
                Impl::Lua => l(c, 0),
            }
        }
    };
    for &p in &opts.pipelines {
        for (imp, load) in &impls {
            // Probes: 1000 ops, then one of about half a second; they also warm the data up.
            let mut ops = 1000u64;
            for _ in 0..2 {
                prepare(c, *imp, ops);
                let probe = runner.run(&format!("{} {imp:?} (probe)", s.name), load, p, ops);
                cleanup(c, *imp);
                let r = probe.ops as f64 / probe.secs.max(1e-3);
                rate.insert((*imp, p), r);
                if probe.secs > 0.4 {
                    break;
                }
                ops = ((r * 0.5) as u64).max(1000);
            }
        }
    }
    for rep in 0..opts.repeat {
        for &p in &opts.pipelines {
            let mut order = impls.clone();
            if rep % 2 == 1 {
                order.reverse();
            }
            for (imp, load) in order {
                // A run shorter than the minimum (the machine got faster meanwhile) is done
                // again with more operations.
                let mut sample = None;
                for _ in 0..4 {
                    let r = rate[&(imp, p)];
                    let ops = ((r * opts.seconds * 1.25) as u64).max(1000);
                    prepare(c, imp, ops);
                    let run = runner.run(&format!("{} {imp:?}", s.name), load, p, ops);
                    cleanup(c, imp);
                    rate.insert((imp, p), run.ops as f64 / run.secs.max(1e-3));
                    let long_enough = run.secs >= opts.seconds;
                    sample = Some(run);
                    if long_enough {
                        break;
                    }
                    eprintln!("    (shorter than {} s: again)", opts.seconds);
                }
                let Some(sample) = sample else { continue };
                match rows.iter_mut().find(|r| r.imp == imp && r.pipeline == p) {
                    Some(row) => row.samples.push(sample),
                    None => rows.push(Row {
                        name: s.name,
                        imp,
                        pipeline: p,
                        samples: vec![sample],
                    }),
                }
            }
        }
    }
    rows
}

/// `count` string keys `<prefix><i>` for i in [from, from + count), set by the server itself.
fn make_keys(c: &mut Connection, prefix: &str, from: u64, count: u64) {
    const SET: &str = "for i = tonumber(ARGV[2]), tonumber(ARGV[3]) do redis.call('SET', ARGV[1] .. string.format('%012d', i), 'v') end";
    let mut i = from;
    while i < from + count {
        let end = (i + 50_000).min(from + count);
        exec(
            c,
            &[
                "EVAL",
                SET,
                "0",
                prefix,
                &i.to_string(),
                &(end - 1).to_string(),
            ],
        );
        i = end;
    }
}

/// Tracks keys `<prefix><i>` (size 100) in the native tracker, with LRU.TOUCH calls of 500 keys
/// made by the server.
fn native_track(c: &mut Connection, tracker: &str, prefix: &str, from: u64, count: u64) {
    const TOUCH: &str = "local a = {KEYS[1]} for i = tonumber(ARGV[2]), tonumber(ARGV[3]) do a[#a+1] = ARGV[1] .. string.format('%012d', i) a[#a+1] = '100' if #a > 1000 then redis.call('LRU.TOUCH', unpack(a)) a = {KEYS[1]} end end if #a > 1 then redis.call('LRU.TOUCH', unpack(a)) end";
    let mut i = from;
    while i < from + count {
        let end = (i + 50_000).min(from + count);
        exec(
            c,
            &[
                "EVAL",
                TOUCH,
                "1",
                tracker,
                prefix,
                &i.to_string(),
                &(end - 1).to_string(),
            ],
        );
        i = end;
    }
}

/// The same in the Lua layout (what lru_touch.lua leaves), written directly by the server.
fn lua_track(c: &mut Connection, keys: [&str; 3], prefix: &str, from: u64, count: u64) {
    const TRACK: &str = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) for i = tonumber(ARGV[2]), tonumber(ARGV[3]) do local k = ARGV[1] .. string.format('%012d', i) if redis.call('HSETNX', KEYS[2], k, '100') == 1 then redis.call('INCRBYFLOAT', KEYS[3], 100) end redis.call('ZADD', KEYS[1], now, k) end";
    let mut i = from;
    while i < from + count {
        let end = (i + 50_000).min(from + count);
        exec(
            c,
            &[
                "EVAL",
                TRACK,
                "3",
                keys[0],
                keys[1],
                keys[2],
                prefix,
                &i.to_string(),
                &(end - 1).to_string(),
            ],
        );
        i = end;
    }
}

fn range_docs(n: u64) -> impl Iterator<Item = (u64, String)> {
    const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n).map(move |i| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (i, sized_doc(SEVERITIES[(x % 5) as usize], i % 100, i, 300))
    })
}

fn native(args: &[&str], keyspace: Option<u64>) -> Load {
    Load {
        args: strings(args),
        keyspace,
    }
}

fn lua(sha: &str, keys: &[&str], args: &[&str], keyspace: Option<u64>) -> Load {
    Load {
        args: evalsha(sha, keys, args),
        keyspace,
    }
}

fn create_stream(c: &mut Connection, key: &str, settings: &[&str; 5]) {
    exec(
        c,
        &[
            "ALERT.CREATE",
            key,
            "RETENTION",
            settings[0],
            "MAXLEN",
            settings[1],
            "DEDUP",
            settings[2],
            "RATELIMIT",
            settings[3],
            settings[4],
        ],
    );
}

/// 100k alerts in both layouts, the same documents and IDs; checks both answer the query alike.
fn load_range_data(c: &mut Connection, add_sha: &str, range_sha: &str, query: &[&str]) {
    let rk = alert_keys("rng");
    let rk: Vec<&str> = rk.iter().map(String::as_str).collect();
    exec(
        c,
        &["ALERT.CREATE", "n:{rng}:s", "RETENTION", "0", "MAXLEN", "0"],
    );
    let base = now_ms() - 200_000;
    let native_adds = range_docs(100_000)
        .map(|(i, d)| strings(&["ALERT.ADD", "n:{rng}:s", &d, "TS", &(base + i).to_string()]));
    pipelined(c, native_adds);
    let lua_adds = range_docs(100_000).map(|(i, d)| {
        let ts = (base + i).to_string();
        evalsha(add_sha, &rk, &[&d, "0", "0", "300000", "0", "0", &ts, "-"])
    });
    pipelined(c, lua_adds);
    // Both answer the same 100 alerts: the comparison is fair.
    let mut q = vec!["ALERT.RANGE", "n:{rng}:s"];
    q.extend_from_slice(query);
    let want = exec(c, &q);
    let mut e = vec!["EVALSHA", range_sha, "3"];
    e.extend_from_slice(&rk[..3]);
    e.extend_from_slice(query);
    let got = exec(c, &e);
    assert_eq!(want, got, "ALERT.RANGE and alert_range.lua disagree");
    let n: Vec<String> = redis::from_redis_value(&want).expect("strings");
    assert_eq!(n.len(), 100);
}

/// Every scenario: reference points first, then each native command with its Lua script.
/// Each runs on a server flushed before its setup, so that it holds only the scenario's data.
fn scenarios(sh: &Scripts) -> Vec<Scenario> {
    let mut list = Vec::new();

    // Reference points: the dispatch floor and the nearest core commands.
    list.push(Scenario::new("PING", native(&["PING"], None)));
    list.push(Scenario::new(
        "EVALSHA return 1",
        native(&["EVALSHA", &sh.ret1, "0"], None),
    ));
    list.push(Scenario::new(
        "XADD 300 B MAXLEN ~ 10000",
        native(
            &[
                "XADD",
                "ref:{x}:s",
                "MAXLEN",
                "~",
                "10000",
                "*",
                "doc",
                &doc_new(),
            ],
            Some(1000),
        ),
    ));
    list.push(
        Scenario::new(
            "XREVRANGE 100 of 100k",
            native(&["XREVRANGE", "ref:{xr}:s", "+", "-", "COUNT", "100"], None),
        )
        .setup(|c| {
            let entries =
                range_docs(100_000).map(|(_, d)| strings(&["XADD", "ref:{xr}:s", "*", "doc", &d]));
            pipelined(c, entries);
        }),
    );
    list.push(Scenario::new(
        "INCRBYFLOAT",
        native(&["INCRBYFLOAT", "ref:{f}:__rand_int__", "1.5"], Some(1000)),
    ));
    list.push(
        Scenario::new(
            "ZADD (100k members)",
            native(
                &["ZADD", "ref:{z}:z", "__rand_int__", "ref:{z}:k__rand_int__"],
                Some(100_000),
            ),
        )
        .setup(|c| {
            const FILL: &str = "for i = 0, 99999 do redis.call('ZADD', KEYS[1], i, 'ref:{z}:k' .. string.format('%012d', i)) end";
            exec(c, &["EVAL", FILL, "1", "ref:{z}:z"]);
        }),
    );

    // ALERT.ADD, three paths.
    let adds = [
        ("ALERT.ADD new", "add", doc_new(), ADD_SETTINGS),
        ("ALERT.ADD duplicate", "dup", doc_dup(), ADD_SETTINGS),
        ("ALERT.ADD limited", "lim", doc_limited(), LIMITED_SETTINGS),
    ];
    for (name, tag, doc, settings) in adds {
        let key = format!("n:{{{tag}}}:s");
        let lk = alert_keys(tag);
        let lk: Vec<&str> = lk.iter().map(String::as_str).collect();
        let mut largs = vec![doc.as_str()];
        largs.extend_from_slice(&settings);
        largs.extend_from_slice(&["-", "-"]);
        let created = key.clone();
        list.push(
            Scenario::new(name, native(&["ALERT.ADD", &key, &doc], Some(1000)))
                .lua(lua(&sh.add, &lk, &largs, Some(1000)))
                .setup(move |c| create_stream(c, &created, &settings)),
        );
    }

    // ALERT.RANGE: the 100 newest of 100k with MINSEVERITY high (two alerts in five qualify).
    let rk = alert_keys("rng");
    let rk: Vec<&str> = rk.iter().map(String::as_str).collect();
    let query = ["-", "+", "REV", "COUNT", "100", "MINSEVERITY", "high"];
    let mut nq = vec!["ALERT.RANGE", "n:{rng}:s"];
    nq.extend_from_slice(&query);
    let (add_sha, range_sha) = (sh.add.clone(), sh.range.clone());
    list.push(
        Scenario::new("ALERT.RANGE 100 newest high of 100k", native(&nq, None))
            .lua(lua(&sh.range, &rk[..3], &query, None))
            .setup(move |c| {
                eprintln!("loading 100k alerts for ALERT.RANGE (native and Lua)");
                load_range_data(c, &add_sha, &range_sha, &query);
            }),
    );

    // ALERT.READ of 100 changes of a 100k-alert stream, against ALERT.RANGE of 100 alerts of
    // the same stream (unfiltered, and XREVRANGE of 100 above as the core anchor). The stream's
    // revisions start at 0 (REVISION 0), so the cursor 99900 leaves exactly 100 changes.
    let feed_setup = |c: &mut Connection| {
        eprintln!("loading 100k alerts for ALERT.READ");
        exec(
            c,
            &[
                "ALERT.CREATE",
                "n:{rd}:s",
                "RETENTION",
                "0",
                "MAXLEN",
                "0",
                "REVISION",
                "0",
            ],
        );
        let base = now_ms() - 200_000;
        let adds = range_docs(100_000)
            .map(|(i, d)| strings(&["ALERT.ADD", "n:{rd}:s", &d, "TS", &(base + i).to_string()]));
        pipelined(c, adds);
        let r = exec(
            c,
            &["ALERT.READ", "n:{rd}:s", "AFTER", "99900", "COUNT", "100"],
        );
        let (_, items): (String, Vec<(String, String)>) =
            redis::from_redis_value(&r).expect("a READ reply");
        assert_eq!(items.len(), 100, "READ returns 100 changes");
    };
    list.push(
        Scenario::new(
            "ALERT.READ 100 changes of 100k",
            native(
                &["ALERT.READ", "n:{rd}:s", "AFTER", "99900", "COUNT", "100"],
                None,
            ),
        )
        .setup(feed_setup),
    );
    list.push(
        Scenario::new(
            "ALERT.RANGE 100 newest of 100k",
            native(
                &["ALERT.RANGE", "n:{rd}:s", "-", "+", "REV", "COUNT", "100"],
                None,
            ),
        )
        .setup(feed_setup),
    );

    // Indexed filters: COUNT 10 of 1M alerts with a SOURCE that 0.1% of them have, against
    // an unfiltered COUNT 10 of the same stream.
    let sparse_setup = |c: &mut Connection| {
        eprintln!("loading 1M alerts for the filtered ALERT.RANGE");
        exec(
            c,
            &[
                "ALERT.CREATE",
                "n:{fx}:s",
                "RETENTION",
                "0",
                "MAXLEN",
                "0",
                "DEDUP",
                "0",
            ],
        );
        let base = now_ms() - 2_000_000;
        let adds = (0..1_000_000u64).map(|i| {
            let source = if i % 1000 == 7 { "rare".to_string() } else { format!("svc-{}", i % 50) };
            let d = format!(
                r#"{{"severity":"low","source":"{source}","type":"disk_full","labels":{{"host":"h-{i}"}},"message":"{MESSAGE}"}}"#
            );
            strings(&["ALERT.ADD", "n:{fx}:s", &d, "TS", &(base + i).to_string()])
        });
        pipelined(c, adds);
    };
    list.push(
        Scenario::new(
            "ALERT.RANGE COUNT 10 SOURCE 0.1% of 1M",
            native(
                &[
                    "ALERT.RANGE",
                    "n:{fx}:s",
                    "-",
                    "+",
                    "REV",
                    "COUNT",
                    "10",
                    "SOURCE",
                    "rare",
                ],
                None,
            ),
        )
        .setup(sparse_setup),
    );
    list.push(
        Scenario::new(
            "ALERT.RANGE COUNT 10 unfiltered of 1M",
            native(
                &["ALERT.RANGE", "n:{fx}:s", "-", "+", "REV", "COUNT", "10"],
                None,
            ),
        )
        .setup(sparse_setup),
    );

    // QUOTA.INCR: a cumulative quota with a limit never reached, 1000 tenants.
    list.push(
        Scenario::new(
            "QUOTA.INCR",
            native(
                &[
                    "QUOTA.INCR",
                    "n:{q}:__rand_int__",
                    "1.5",
                    "LIMIT",
                    "1000000000000",
                ],
                Some(1000),
            ),
        )
        .lua(lua(
            &sh.quota,
            &["l:{q}:__rand_int__"],
            &["1.5", "1000000000000"],
            Some(1000),
        )),
    );

    // LRU.TOUCH: one key of 100k tracked (all existing).
    list.push(
        Scenario::new(
            "LRU.TOUCH (100k tracked)",
            native(
                &["LRU.TOUCH", "n:{t}:lru", "n:{t}:k__rand_int__", "100"],
                Some(100_000),
            ),
        )
        .lua(lua(
            &sh.touch,
            &[
                "l:{t}:lru",
                "l:{t}:sizes",
                "l:{t}:total",
                "l:{t}:k__rand_int__",
            ],
            &["-", "100"],
            Some(100_000),
        ))
        .setup(|c| {
            eprintln!("creating and tracking 100k keys for LRU.TOUCH (native and Lua)");
            make_keys(c, "n:{t}:k", 0, 100_000);
            make_keys(c, "l:{t}:k", 0, 100_000);
            native_track(c, "n:{t}:lru", "n:{t}:k", 0, 100_000);
            lua_track(
                c,
                ["l:{t}:lru", "l:{t}:sizes", "l:{t}:total"],
                "l:{t}:k",
                0,
                100_000,
            );
        }),
    );

    // LRU.EVICT of 10 keys per call, with the quota lowered: each run gets 10 keys per
    // operation it will make (plus 10%), created and tracked before the run.
    let keys_for = |ops: u64| ops * 11 + 1000;
    let native_prep: PerRun = Box::new(move |c, ops| {
        let n = keys_for(ops);
        make_keys(c, "n:{e}:k", 0, n);
        native_track(c, "n:{e}:lru", "n:{e}:k", 0, n);
        exec(c, &["DEL", "n:{e}:quota"]);
        exec(c, &["QUOTA.INCR", "n:{e}:quota", &(n * 100).to_string()]);
    });
    let lua_prep: PerRun = Box::new(move |c, ops| {
        let n = keys_for(ops);
        make_keys(c, "l:{e}:k", 0, n);
        lua_track(
            c,
            ["l:{e}:lru", "l:{e}:sizes", "l:{e}:total"],
            "l:{e}:k",
            0,
            n,
        );
        exec(c, &["SET", "l:{e}:quota", &(n * 100).to_string()]);
    });
    // What a run did not evict goes, untimed.
    let native_clean: PerRun = Box::new(|c, _| {
        exec(c, &["LRU.EVICT", "n:{e}:lru", "0", "MAX", "100000000"]);
    });
    let lua_clean: PerRun = Box::new(|c, _| {
        const CLEAN: &str = "while true do local k = redis.call('ZRANGE', KEYS[1], 0, 999) if #k == 0 then break end redis.call('DEL', unpack(k)) redis.call('ZREM', KEYS[1], unpack(k)) redis.call('HDEL', KEYS[2], unpack(k)) end redis.call('DEL', KEYS[3])";
        exec(
            c,
            &[
                "EVAL",
                CLEAN,
                "3",
                "l:{e}:lru",
                "l:{e}:sizes",
                "l:{e}:total",
            ],
        );
    });
    let mut evict = Scenario::new(
        "LRU.EVICT 10 keys (with QUOTA)",
        native(
            &[
                "LRU.EVICT",
                "n:{e}:lru",
                "0",
                "MAX",
                "10",
                "QUOTA",
                "n:{e}:quota",
            ],
            None,
        ),
    )
    .lua(lua(
        &sh.evict,
        &["l:{e}:lru", "l:{e}:sizes", "l:{e}:total", "l:{e}:quota"],
        &["0", "10"],
        None,
    ));
    evict.per_run = Some((native_prep, lua_prep));
    evict.after_run = Some((native_clean, lua_clean));
    list.push(evict);
    list
}

/// Wake-up latency: a writer adds, a reader blocked in ALERT.READ ... BLOCK 0 (or XREAD BLOCK
/// on a stream, the anchor) receives it; the time from before the write is sent to the
/// reader's reply, one write at a time (P=1), as p50/p99 over `n` writes.
fn wakeup_latency(server: &Server, report: &mut String) {
    use std::sync::mpsc;
    use std::time::Instant;
    let n: usize = env_or("BENCH_WAKEUPS", 2000);
    let mut rows = Vec::new();
    for (name, native) in [
        ("ALERT.ADD -> ALERT.READ BLOCK", true),
        ("XADD -> XREAD BLOCK", false),
    ] {
        let mut writer = server.connect();
        exec(&mut writer, &["FLUSHALL"]);
        let mut reader = server.connect();
        let (go_tx, go_rx) = mpsc::channel::<Instant>();
        let (done_tx, done_rx) = mpsc::channel::<f64>();
        let handle = std::thread::spawn(move || {
            let mut cursor = if native {
                "0".to_string()
            } else {
                "$".to_string()
            };
            for _ in 0..n {
                let v = if native {
                    exec(
                        &mut reader,
                        &["ALERT.READ", "lat:{w}:s", "AFTER", &cursor, "BLOCK", "0"],
                    )
                } else {
                    exec(
                        &mut reader,
                        &["XREAD", "BLOCK", "0", "STREAMS", "lat:{w}:x", &cursor],
                    )
                };
                let sent: Instant = go_rx.recv().expect("the writer's time");
                let _ = done_tx.send(sent.elapsed().as_secs_f64() * 1000.0);
                cursor = if native {
                    let (next, _): (String, Vec<(String, String)>) =
                        redis::from_redis_value(&v).expect("a READ reply");
                    next
                } else {
                    // [[key, [[id, [field, value]]]]]: the ID of the one entry.
                    fn first(v: &redis::Value) -> &redis::Value {
                        match v {
                            redis::Value::Array(items) => &items[0],
                            other => panic!("an XREAD reply, not {other:?}"),
                        }
                    }
                    let key_entries = first(&v);
                    let entries = match key_entries {
                        redis::Value::Array(items) => &items[1],
                        other => panic!("[key, entries], not {other:?}"),
                    };
                    redis::from_redis_value(first(first(entries))).expect("an entry ID")
                };
            }
        });
        if native {
            exec(
                &mut writer,
                &[
                    "ALERT.CREATE",
                    "lat:{w}:s",
                    "RETENTION",
                    "0",
                    "REVISION",
                    "0",
                ],
            );
        }
        let mut samples = Vec::with_capacity(n);
        for i in 0..n {
            // Let the reader block first.
            std::thread::sleep(std::time::Duration::from_micros(300));
            let t = Instant::now();
            let _ = go_tx.send(t);
            if native {
                let d = format!("{{\"source\":\"s{i}\",\"fingerprint\":\"\"}}");
                exec(&mut writer, &["ALERT.ADD", "lat:{w}:s", &d]);
            } else {
                exec(
                    &mut writer,
                    &["XADD", "lat:{w}:x", "*", "source", &format!("s{i}")],
                );
            }
            samples.push(done_rx.recv().expect("the reader's latency"));
        }
        let _ = handle.join();
        samples.sort_by(|a, b| a.total_cmp(b));
        let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
        rows.push((name, p(0.5), p(0.99)));
    }
    let _ = writeln!(
        report,
        "\n### Wake-up latency of a blocked reader (P=1, {n} writes)\n"
    );
    let _ = writeln!(report, "| path | p50 ms | p99 ms |\n|---|---:|---:|");
    for (name, p50, p99) in rows {
        let _ = writeln!(report, "| {name} | {p50:.3} | {p99:.3} |");
    }
}

/// Memory per alert: 100,000 alerts of ~300-byte documents in each layout, as the growth of
/// used_memory divided by the count.
fn memory(c: &mut Connection, sh: &Scripts, report: &mut String) {
    const N: u64 = 100_000;
    const DOC_LEN: usize = 303;
    exec(c, &["FLUSHALL"]);
    let docs: Vec<String> = (0..N)
        .map(|i| sized_doc("high", i % 100, i, DOC_LEN))
        .collect();
    let base = now_ms() - 2 * N;
    let mut rows: Vec<(String, f64, Option<f64>)> = Vec::new();
    let mut measure = |c: &mut Connection,
                       name: &str,
                       cmds: &mut dyn Iterator<Item = Vec<String>>,
                       key: Option<&str>| {
        exec(c, &["FLUSHALL"]);
        let before = used_memory(c);
        pipelined(c, cmds);
        let after = used_memory(c);
        let usage = key.map(|k| {
            let v: i64 = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(k)
                .query(c)
                .unwrap_or(0);
            v as f64 / N as f64
        });
        let per = (after - before) as f64 / N as f64;
        eprintln!("  {name:<44} {per:>8.0} B/alert");
        rows.push((name.to_string(), per, usage));
    };
    eprintln!("memory per alert ({N} alerts of {DOC_LEN}-byte documents)");
    let ts = |i: u64| (base + i).to_string();
    for (name, rl) in [
        ("native ALERT.ADD (dedup on)", false),
        ("native ALERT.ADD (dedup and rate limit on)", true),
    ] {
        let mut create = vec!["ALERT.CREATE", "m:{n}:s", "RETENTION", "0", "MAXLEN", "0"];
        if rl {
            create.extend_from_slice(&["RATELIMIT", "1000000", "1000"]);
        }
        let create = strings(&create);
        let mut cmds = std::iter::once(create).chain(
            docs.iter()
                .enumerate()
                .map(|(i, d)| strings(&["ALERT.ADD", "m:{n}:s", d, "TS", &ts(i as u64)])),
        );
        measure(c, name, &mut cmds, Some("m:{n}:s"));
    }
    let lk = alert_keys("m");
    let lk: Vec<&str> = lk.iter().map(String::as_str).collect();
    for (name, rl) in [
        ("Lua ZSET+HASH (dedup on)", "0"),
        ("Lua ZSET+HASH (dedup and rate limit on)", "1000000"),
    ] {
        let mut cmds = docs.iter().enumerate().map(|(i, d)| {
            evalsha(
                &sh.add,
                &lk,
                &[d, "0", "0", "300000", rl, "1000", &ts(i as u64), "-"],
            )
        });
        measure(c, name, &mut cmds, None);
    }
    let mut cmds = docs
        .iter()
        .map(|d| strings(&["XADD", "m:{x}:s", "*", "doc", d]));
    measure(c, "XADD (one field)", &mut cmds, Some("m:{x}:s"));
    let mut cmds = docs
        .iter()
        .enumerate()
        .map(|(i, d)| strings(&["SET", &format!("m:{{s}}:{i:06}"), d]));
    measure(c, "plain SET (one key per alert)", &mut cmds, None);
    exec(c, &["FLUSHALL"]);

    let _ = writeln!(
        report,
        "\n## Memory per alert ({N} alerts, {DOC_LEN}-byte documents)\n"
    );
    let _ = writeln!(
        report,
        "| layout | used_memory growth / alert | MEMORY USAGE / alert |"
    );
    let _ = writeln!(report, "|---|---:|---:|");
    for (name, per, usage) in &rows {
        let u = usage.map_or("".to_string(), |u| format!("{u:.0} B"));
        let _ = writeln!(report, "| {name} | {per:.0} B | {u} |");
    }
    if let Some((_, per, Some(usage))) = rows.first() {
        if *per < usage * 0.5 {
            let _ = writeln!(
                report,
                "\n**Warning**: used_memory grew much less than MEMORY USAGE: the module was \
                 probably built with the system-alloc feature, whose allocations Redis does not \
                 count. Run `cargo build --release` and measure again."
            );
        }
    }
}

/// The seeds' flow: a tenant at its limit stores a 1 KiB object. Its tracker holds entries of
/// `entry` bytes (a pool of 64 KiB worth, at least 64 entries), and usage is at the limit, so
/// room must be made first:
/// - the seeds' loop: quota_incr.lua (the INCRBYFLOAT check) refuses, lru_evict.lua takes the 10
///   least recently used entries (ZRANGE, DEL, the decrement), and again until the check
///   passes: two round trips per iteration, each as cheap as a script makes it;
/// - native: one `QUOTA.INCR ... EVICT`.
///
/// One connection, P=1: an operation's latency is the time from its first request to its last
/// reply. After each operation, untimed, the pool gets back as many entries as went (new keys,
/// tracked now), so every operation finds the same state.
const OBJECT: u64 = 1024;
const FLOW_POOL_BYTES: u64 = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Native,
    SeedLoop,
}

struct FlowSample {
    ops: u64,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    round_trips: f64,
    evicted: f64,
}

/// Keys of one side: (prefix of the entries, tracker or ZSET, sizes, total, quota).
fn flow_keys(side: Side) -> [&'static str; 5] {
    match side {
        Side::Native => ["f:{n}:e", "f:{n}:lru", "", "", "f:{n}:bytes"],
        Side::SeedLoop => [
            "f:{l}:e",
            "f:{l}:lru",
            "f:{l}:sizes",
            "f:{l}:total",
            "f:{l}:bytes",
        ],
    }
}

/// Creates entries [from, from + n) of `entry` bytes and tracks them now, in one script call.
fn flow_refill(c: &mut Connection, side: Side, entry: u64, from: u64, n: u64) {
    const NATIVE: &str = "local a = {KEYS[1]} for i = tonumber(ARGV[2]), tonumber(ARGV[3]) do local k = ARGV[1] .. i redis.call('SET', k, 'v') a[#a+1] = k a[#a+1] = ARGV[4] if #a > 1000 then redis.call('LRU.TOUCH', unpack(a)) a = {KEYS[1]} end end if #a > 1 then redis.call('LRU.TOUCH', unpack(a)) end";
    const LUA: &str = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) for i = tonumber(ARGV[2]), tonumber(ARGV[3]) do local k = ARGV[1] .. i redis.call('SET', k, 'v') if redis.call('HSETNX', KEYS[2], k, ARGV[4]) == 1 then redis.call('INCRBYFLOAT', KEYS[3], ARGV[4]) end redis.call('ZADD', KEYS[1], now, k) end";
    if n == 0 {
        return;
    }
    let [prefix, lru, sizes, total, _] = flow_keys(side);
    let (from_s, to_s, size) = (
        from.to_string(),
        (from + n - 1).to_string(),
        entry.to_string(),
    );
    match side {
        Side::Native => exec(
            c,
            &["EVAL", NATIVE, "1", lru, prefix, &from_s, &to_s, &size],
        ),
        Side::SeedLoop => exec(
            c,
            &[
                "EVAL", LUA, "3", lru, sizes, total, prefix, &from_s, &to_s, &size,
            ],
        ),
    };
}

/// One operation; returns (round trips, entries evicted).
fn flow_op(c: &mut Connection, sh: &Scripts, side: Side, limit: &str) -> (u64, u64) {
    let [_, lru, sizes, total, quota] = flow_keys(side);
    let object = OBJECT.to_string();
    match side {
        Side::Native => {
            let v: (i64, String, String, String, i64, Vec<String>) = redis::cmd("QUOTA.INCR")
                .arg(quota)
                .arg(&object)
                .arg("EVICT")
                .arg(lru)
                .query(c)
                .expect("QUOTA.INCR ... EVICT");
            assert_eq!(v.0, 1, "the object did not fit: {v:?}");
            (1, v.5.len() as u64)
        }
        Side::SeedLoop => {
            let (mut trips, mut evicted) = (0, 0);
            loop {
                let r: (i64, String, String, String, i64) = redis::cmd("EVALSHA")
                    .arg(&sh.quota)
                    .arg(1)
                    .arg(quota)
                    .arg(&object)
                    .arg(limit)
                    .query(c)
                    .expect("quota_incr.lua");
                trips += 1;
                if r.0 == 1 {
                    return (trips, evicted);
                }
                let e: (i64, String, String, Vec<String>) = redis::cmd("EVALSHA")
                    .arg(&sh.evict)
                    .arg(4)
                    .arg(lru)
                    .arg(sizes)
                    .arg(total)
                    .arg(quota)
                    .arg(0)
                    .arg(10)
                    .query(c)
                    .expect("lru_evict.lua");
                trips += 1;
                assert!(e.0 > 0, "the seeds' loop ran out of entries");
                evicted += e.0 as u64;
            }
        }
    }
}

/// Times `op` (which answers its round trips and the entries it evicted) until `seconds` of
/// it have passed; `after` runs untimed after each, with the entries evicted.
fn time_ops(
    c: &mut Connection,
    seconds: f64,
    mut op: impl FnMut(&mut Connection) -> (u64, u64),
    mut after: impl FnMut(&mut Connection, u64),
) -> FlowSample {
    let mut lat: Vec<f64> = Vec::new();
    let (mut timed, mut trips, mut evicted) = (0.0, 0, 0);
    while timed < seconds {
        let start = Instant::now();
        let (t, e) = op(c);
        let took = start.elapsed().as_secs_f64();
        timed += took;
        lat.push(took * 1000.0);
        trips += t;
        evicted += e;
        after(c, e);
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let ops = lat.len() as u64;
    FlowSample {
        ops,
        secs: timed,
        p50_ms: percentile(&lat, 0.50),
        p99_ms: percentile(&lat, 0.99),
        round_trips: trips as f64 / ops as f64,
        evicted: evicted as f64 / ops as f64,
    }
}

/// Sets up one side's tenant at its limit and times its operations for `seconds`.
fn flow_run(c: &mut Connection, sh: &Scripts, side: Side, entry: u64, seconds: f64) -> FlowSample {
    let pool = (FLOW_POOL_BYTES / entry).max(64);
    let limit = (pool * entry).to_string();
    let [_, lru, sizes, total, quota] = flow_keys(side);
    for key in [lru, sizes, total, quota].iter().filter(|k| !k.is_empty()) {
        exec(c, &["DEL", key]);
    }
    let mut next = 0;
    while next < pool {
        let n = (pool - next).min(50_000);
        flow_refill(c, side, entry, next, n);
        next += n;
    }
    match side {
        Side::Native => exec(c, &["QUOTA.INCR", quota, &limit, "LIMIT", &limit]),
        Side::SeedLoop => exec(c, &["SET", quota, &limit]),
    };
    let sample = time_ops(
        c,
        seconds,
        |c| flow_op(c, sh, side, &limit),
        |c, evicted| {
            flow_refill(c, side, entry, next, evicted);
            next += evicted;
        },
    );
    // The keys this side made go, untimed.
    exec(c, &["FLUSHALL"]);
    sample
}

/// PING on the same connection, timed the same way: what one round trip costs on this machine
/// now, the floor under both sides' latencies.
fn ping_run(c: &mut Connection, seconds: f64) -> FlowSample {
    time_ops(
        c,
        seconds,
        |c| {
            let _: String = redis::cmd("PING").query(c).expect("PING");
            (1, 0)
        },
        |_, _| {},
    )
}

/// The flow runs, both sides interleaved, and their report section.
fn flows(c: &mut Connection, sh: &Scripts, opts: &Options, report: &mut String) {
    // This process drives the flow: it goes where redis-benchmark would.
    if let Some((_, client)) = opts.cores {
        let _ = Command::new("taskset")
            .args([
                "-p",
                "-c",
                &client.to_string(),
                &std::process::id().to_string(),
            ])
            .stdout(Stdio::null())
            .status();
    }
    let mut pings: Vec<FlowSample> = Vec::new();
    let mut rows: Vec<(u64, Side, Vec<FlowSample>)> = Vec::new();
    let show = |label: &str, s: &FlowSample| {
        eprintln!(
            "  {label:<9} P=1 {:>7} ops {:>5.2}s {:>9.0} ops/s p50 {:.3} p99 {:.3} ms  {:.1} round trips, {:.1} evicted /op",
            s.ops, s.secs, s.ops as f64 / s.secs, s.p50_ms, s.p99_ms, s.round_trips, s.evicted
        );
    };
    for &entry in &opts.flow_entries {
        eprintln!("make room: 1 KiB object over {entry}-byte entries");
        for rep in 0..opts.repeat {
            let s = ping_run(c, opts.seconds.min(1.0));
            show("PING", &s);
            pings.push(s);
            let mut order = [Side::Native, Side::SeedLoop];
            if rep % 2 == 1 {
                order.reverse();
            }
            for side in order {
                let s = flow_run(c, sh, side, entry, opts.seconds);
                show(&format!("{side:?}"), &s);
                match rows.iter_mut().find(|r| r.0 == entry && r.1 == side) {
                    Some(r) => r.2.push(s),
                    None => rows.push((entry, side, vec![s])),
                }
            }
        }
    }
    let med = |v: &[FlowSample], f: &dyn Fn(&FlowSample) -> f64| median(v.iter().map(f).collect());
    let rate = |v: &[FlowSample]| med(v, &|s| s.ops as f64 / s.secs);
    let _ = writeln!(
        report,
        "\n## Making room: a tenant at its limit stores a 1 KiB object (one connection, P=1, medians)\n"
    );
    let _ = writeln!(
        report,
        "| tracked entries | impl | ops/s | p50 ms | p99 ms | round trips / op | entries evicted / op | runs × s |"
    );
    let _ = writeln!(report, "|---|---|---:|---:|---:|---:|---:|---|");
    let line = |report: &mut String, entry: &str, label: &str, samples: &[FlowSample]| {
        let secs: Vec<String> = samples.iter().map(|s| format!("{:.1}", s.secs)).collect();
        let _ = writeln!(
            report,
            "| {entry} | {label} | {} | {:.3} | {:.3} | {:.1} | {:.1} | {} |",
            fmt_rate(rate(samples)),
            med(samples, &|s| s.p50_ms),
            med(samples, &|s| s.p99_ms),
            med(samples, &|s| s.round_trips),
            med(samples, &|s| s.evicted),
            secs.join(" ")
        );
    };
    line(report, "—", "PING (reference: one round trip)", &pings);
    for (entry, side, samples) in &rows {
        let label = match side {
            Side::Native => "QUOTA.INCR ... EVICT",
            Side::SeedLoop => "seeds' loop (Lua check + Lua evict 10)",
        };
        line(report, &format!("{entry} B"), label, samples);
    }
    let _ = writeln!(
        report,
        "\n| tracked entries | ops/s, native / seeds' loop | p99 native | p99 seeds' loop | p99 PING |"
    );
    let _ = writeln!(report, "|---|---:|---:|---:|---:|");
    for &entry in &opts.flow_entries {
        let find = |side| rows.iter().find(|r| r.0 == entry && r.1 == side);
        if let (Some(n), Some(l)) = (find(Side::Native), find(Side::SeedLoop)) {
            let _ = writeln!(
                report,
                "| {entry} B | {:.1}× | {:.3} ms | {:.3} ms | {:.3} ms |",
                rate(&n.2) / rate(&l.2),
                med(&n.2, &|s| s.p99_ms),
                med(&l.2, &|s| s.p99_ms),
                med(&pings, &|s| s.p99_ms)
            );
        }
    }
}

fn fmt_rate(r: f64) -> String {
    if r >= 100_000.0 {
        format!("{:.0}k", r / 1000.0)
    } else if r >= 1000.0 {
        format!("{:.1}k", r / 1000.0)
    } else {
        format!("{r:.0}")
    }
}

fn report_tables(rows: &[Row], pipelines: &[u32], report: &mut String) {
    let _ = writeln!(report, "\n## Load (medians of the runs)\n");
    let _ = writeln!(
        report,
        "| command | impl | P | ops/s | p50 ms | p99 ms | server µs/op | runs × s |"
    );
    let _ = writeln!(report, "|---|---|---:|---:|---:|---:|---:|---|");
    for r in rows {
        let secs: Vec<String> = r.samples.iter().map(|s| format!("{:.1}", s.secs)).collect();
        let _ = writeln!(
            report,
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.2} | {} |",
            r.name,
            match r.imp {
                Impl::Native => "native",
                Impl::Lua => "Lua",
            },
            r.pipeline,
            fmt_rate(r.med(|s| s.rps)),
            r.med(|s| s.p50_ms),
            r.med(|s| s.p99_ms),
            r.med(|s| s.cpu_us),
            secs.join(" ")
        );
    }
    let _ = writeln!(report, "\n## Native / Lua\n");
    let mut head = "| command |".to_string();
    let mut sep = "|---|".to_string();
    for p in pipelines {
        let _ = write!(head, " ops/s ×, P={p} | server CPU ×, P={p} |");
        sep.push_str("---:|---:|");
    }
    let _ = writeln!(report, "{head}\n{sep}");
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if r.imp == Impl::Lua && !names.contains(&r.name) {
            names.push(r.name);
        }
    }
    for name in names {
        let mut line = format!("| {name} |");
        for p in pipelines {
            let find = |imp| {
                rows.iter()
                    .find(|r| r.name == name && r.imp == imp && r.pipeline == *p)
            };
            match (find(Impl::Native), find(Impl::Lua)) {
                (Some(n), Some(l)) => {
                    let _ = write!(
                        line,
                        " {:.1} | {:.1} |",
                        n.med(|s| s.rps) / l.med(|s| s.rps),
                        l.med(|s| s.cpu_us) / n.med(|s| s.cpu_us)
                    );
                }
                _ => line.push_str(" | |"),
            }
        }
        let _ = writeln!(report, "{line}");
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let opts = Options::from_env();
    let server = Server::start(&opts);
    let mut c = server.connect();
    let scripts = Scripts::load(&mut c);

    let mut report = String::new();
    let _ = writeln!(report, "# Vigil load run\n");
    let _ = writeln!(
        report,
        "- date: {}\n- machine: {} cores, {}\n- kernel: {}\n- server: {}\n- module: {}\n- pinning: {}\n- load generator: redis-benchmark, {} connections, pipelines {:?}, ≥ {} s per run, {} runs each, native and Lua interleaved\n- load average at start: {}",
        run_text("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        run_text("sh", &["-c", "lscpu | sed -n 's/^Model name: *//p' | head -1"]),
        run_text("uname", &["-sr"]),
        run_text("redis-server", &["--version"]),
        opts.module.display(),
        opts.cores.map_or("none".to_string(), |(s, c)| format!("server on core {s}, load generator on core {c} (taskset)")),
        opts.clients,
        opts.pipelines,
        opts.seconds,
        opts.repeat,
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    );

    let list = scenarios(&scripts);
    let mut runner = Runner {
        opts: &opts,
        server: &server,
        raw: "label,pipeline,ops,secs,rps,p50_ms,p99_ms,server_us_per_op\n".to_string(),
    };
    let mut rows = Vec::new();
    for s in list.iter().filter(|s| opts.wants(s.name)) {
        exec(&mut c, &["FLUSHALL"]);
        if let Some(setup) = &s.setup {
            setup(&mut c);
        }
        rows.extend(run_scenario(&mut runner, &mut c, s));
    }
    if !rows.is_empty() {
        report_tables(&rows, &opts.pipelines, &mut report);
    }
    if opts.wants("wakeup") {
        wakeup_latency(&server, &mut report);
    }
    if opts.wants("flow: make room") && !opts.flow_entries.is_empty() {
        exec(&mut c, &["FLUSHALL"]);
        flows(&mut c, &scripts, &opts, &mut report);
    }
    if opts.memory {
        memory(&mut c, &scripts, &mut report);
    }
    let _ = writeln!(
        report,
        "\nload average at the end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!("{report}");
    if let Some(dir) = opts.out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&opts.out, &report).expect("write the report");
    let raw_path = opts.out.with_extension("csv");
    std::fs::write(&raw_path, &runner.raw).expect("write the runs");
    eprintln!(
        "report: {} (every run: {})",
        opts.out.display(),
        raw_path.display()
    );
}
