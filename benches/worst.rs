//! The worst single calls: how long one call takes when its work is as large as a client can
//! make it (hostile-probe item 4), on one redis-server with the module loaded. Each call is
//! timed by the server (SLOWLOG, µs) and by the client (round trip), the median and the
//! largest of `WORST_REPEAT` runs. The report (markdown) goes to target/bench-worst.md; the
//! section "Worst single calls" of BENCHMARKS.md is taken from it.
//!
//! `cargo bench --bench worst` (after `cargo build --release`). Knobs, from the environment:
//!   WORST_ALERTS   alerts in the big stream (default 200000)
//!   WORST_KEYS     keys in the big tracker (default 100000)
//!   WORST_REPEAT   runs of each call (default 5)
//!   VIGIL_MODULE   the module to load (default target/release/libvigil.so)

#[path = "support/mod.rs"]
mod support;
use support::{create_keep_all, env_or};

#[path = "../tests/common/mod.rs"]
mod common;

use common::{call, Server};
use redis::Connection;
use std::fmt::Write as _;
use std::time::Instant;

fn int(v: &redis::Value) -> i64 {
    redis::from_redis_value(v).unwrap()
}

/// Server µs of the last command (SLOWLOG logs every command: threshold 0).
fn server_us(c: &mut Connection) -> f64 {
    let v = call(c, &["SLOWLOG", "GET", "1"]).unwrap();
    let entries: Vec<redis::Value> = redis::from_redis_value(&v).unwrap();
    let entry: Vec<redis::Value> = redis::from_redis_value(&entries[0]).unwrap();
    int(&entry[2]) as f64
}

struct Timing {
    server_ms: Vec<f64>,
    client_ms: Vec<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn max(v: &[f64]) -> f64 {
    v.iter().cloned().fold(0.0, f64::max)
}

/// Runs `setup` (untimed) then `args` (timed), `repeat` times.
fn time(
    c: &mut Connection,
    repeat: u64,
    mut setup: impl FnMut(&mut Connection),
    args: &[&str],
) -> Timing {
    let mut t = Timing {
        server_ms: vec![],
        client_ms: vec![],
    };
    for _ in 0..repeat {
        setup(c);
        let start = Instant::now();
        call(c, args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        t.client_ms.push(start.elapsed().as_secs_f64() * 1e3);
        t.server_ms.push(server_us(c) / 1e3);
    }
    t
}

/// The longest sweep tick (LATENCY HISTORY vigil-sweep) while 1000 silences of `key`, all
/// ending at the same moment, are ended; its silences are replaced by those first. One run;
/// the client column is the time until the last one ended.
fn sweep_ends_silences(c: &mut Connection, key: &str) -> Timing {
    let list = call(c, &["ALERT.SILENCES", key]).unwrap();
    let ids: Vec<String> = match list {
        redis::Value::Array(items) => items
            .into_iter()
            .filter_map(|m| match m {
                redis::Value::Array(kv) => kv.chunks(2).find_map(|p| match p {
                    [k, v] if redis::from_redis_value::<String>(k).ok()? == "id" => {
                        Some(int(v).to_string())
                    }
                    _ => None,
                }),
                redis::Value::Map(kv) => kv.iter().find_map(|(k, v)| {
                    (redis::from_redis_value::<String>(k).ok()? == "id").then(|| int(v).to_string())
                }),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut unsilence = vec!["ALERT.UNSILENCE", key];
    unsilence.extend(ids.iter().map(String::as_str));
    if !ids.is_empty() {
        call(c, &unsilence).unwrap();
    }
    let until = (common::alerts::now_ms() + 2000).to_string();
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("ALERT.SILENCE")
            .arg(key)
            .arg("UNTIL")
            .arg(&until)
            .arg("LABEL")
            .arg(format!("gone=v{i}"))
            .ignore();
    }
    let _: () = pipe.query(c).unwrap();
    call(c, &["CONFIG", "SET", "latency-monitor-threshold", "1"]).unwrap();
    call(c, &["LATENCY", "RESET"]).unwrap();
    let start = Instant::now();
    loop {
        let info = call(c, &["ALERT.INFO", key]).unwrap();
        let left = match info {
            redis::Value::Array(kv) => kv.chunks(2).find_map(|p| match p {
                [k, v] if redis::from_redis_value::<String>(k).ok()? == "silences" => Some(int(v)),
                _ => None,
            }),
            _ => None,
        };
        if left == Some(0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let waited = start.elapsed().as_secs_f64() * 1e3;
    let history = call(c, &["LATENCY", "HISTORY", "vigil-sweep"]).unwrap();
    let longest = match history {
        redis::Value::Array(samples) => samples
            .iter()
            .filter_map(|s| match s {
                redis::Value::Array(p) if p.len() == 2 => Some(int(&p[1])),
                _ => None,
            })
            .max()
            .unwrap_or(0),
        _ => 0,
    };
    call(c, &["CONFIG", "SET", "latency-monitor-threshold", "0"]).unwrap();
    Timing {
        server_ms: vec![longest as f64],
        client_ms: vec![waited],
    }
}

/// Adds `n` alerts to `key` in batches of one EVAL each: ~300-byte documents, 100 sources,
/// 1000 label values, one alert of TYPE `rare` with LABEL `rare=1`, the newest.
fn fill_stream(c: &mut Connection, key: &str, n: u64) {
    create_keep_all(c, key);
    let script = r#"
        local from, to = tonumber(ARGV[1]), tonumber(ARGV[2])
        for i = from, to do
            redis.call('ALERT.ADD', KEYS[1], '{"severity":"high","source":"svc-' .. (i % 100) ..
                '","type":"disk_full","labels":{"host":"h-' .. i .. '","dc":"dc-' .. (i % 1000) ..
                '"},"message":"disk usage above threshold on volume; please investigate the growth of the data directory"}',
                'TS', tostring(1700000000000 + i))
        end"#;
    let mut from = 1;
    while from < n {
        let to = (from + 9_999).min(n - 1);
        call(
            c,
            &["EVAL", script, "1", key, &from.to_string(), &to.to_string()],
        )
        .unwrap();
        from = to + 1;
    }
    let rare = r#"{"severity":"low","source":"svc-rare","type":"rare","labels":{"rare":"1"}}"#;
    let ts = (1_700_000_000_000 + n).to_string();
    call(c, &["ALERT.ADD", key, rare, "TS", &ts]).unwrap();
}

fn fill_tracker(c: &mut Connection, tracker: &str, n: u64) {
    let script = r#"
        local from, to = tonumber(ARGV[1]), tonumber(ARGV[2])
        local pairs = {}
        for i = from, to do
            local k = 't:{w}:k' .. i
            redis.call('SET', k, 'v')
            pairs[#pairs + 1] = k
            pairs[#pairs + 1] = '1'
            if #pairs >= 200 then
                redis.call('LRU.TOUCH', KEYS[1], unpack(pairs))
                pairs = {}
            end
        end
        if #pairs > 0 then redis.call('LRU.TOUCH', KEYS[1], unpack(pairs)) end"#;
    let mut from = 0;
    while from < n {
        let to = (from + 9_999).min(n - 1);
        call(
            c,
            &[
                "EVAL",
                script,
                "1",
                tracker,
                &from.to_string(),
                &to.to_string(),
            ],
        )
        .unwrap();
        from = to + 1;
    }
}

/// RESTORE of `payload` under `key` (deleted first, untimed), `repeat` times.
fn time_restore(c: &mut Connection, repeat: u64, key: &str, payload: &[u8]) -> Timing {
    let mut t = Timing {
        server_ms: vec![],
        client_ms: vec![],
    };
    for _ in 0..repeat {
        call(c, &["DEL", key]).unwrap();
        let start = Instant::now();
        let mut cmd = redis::cmd("RESTORE");
        cmd.arg(key).arg(0).arg(payload);
        let _: () = cmd.query(c).unwrap();
        t.client_ms.push(start.elapsed().as_secs_f64() * 1e3);
        t.server_ms.push(server_us(c) / 1e3);
    }
    t
}

fn main() {
    let alerts = env_or("WORST_ALERTS", 200_000);
    let keys = env_or("WORST_KEYS", 100_000);
    let repeat = env_or("WORST_REPEAT", 5);
    let server = Server::start_with(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--lazyfree-lazy-user-del",
        "no",
    ]);
    let mut c = server.client();
    call(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]).unwrap();
    let mut rows: Vec<(String, Timing)> = Vec::new();
    let start = Instant::now();
    fill_stream(&mut c, "big", alerts);
    eprintln!("{alerts} alerts in {:.1} s", start.elapsed().as_secs_f64());
    let a = alerts.to_string();
    let no_setup = |_: &mut Connection| {};

    // Reads a client can make as long as the stream.
    for (what, args) in [
        (
            "ALERT.RANGE - + TYPE rare COUNT 1",
            vec!["ALERT.RANGE", "big", "-", "+", "TYPE", "rare", "COUNT", "1"],
        ),
        (
            "ALERT.RANGE - + LABEL rare=1 COUNT 1",
            vec![
                "ALERT.RANGE",
                "big",
                "-",
                "+",
                "LABEL",
                "rare=1",
                "COUNT",
                "1",
            ],
        ),
        (
            "ALERT.RANGE - + SOURCE svc-rare COUNT 1",
            vec![
                "ALERT.RANGE",
                "big",
                "-",
                "+",
                "SOURCE",
                "svc-rare",
                "COUNT",
                "1",
            ],
        ),
        (
            "ALERT.READ AFTER 0 TYPE rare COUNT 1",
            vec![
                "ALERT.READ",
                "big",
                "AFTER",
                "0",
                "TYPE",
                "rare",
                "COUNT",
                "1",
            ],
        ),
        (
            "ALERT.GROUPS - + BY label:dc",
            vec!["ALERT.GROUPS", "big", "-", "+", "BY", "label:dc"],
        ),
        (
            "ALERT.RANGE - + COUNT 100",
            vec!["ALERT.RANGE", "big", "-", "+", "COUNT", "100"],
        ),
        ("ALERT.INFO", vec!["ALERT.INFO", "big"]),
        ("MEMORY USAGE", vec!["MEMORY", "USAGE", "big"]),
    ] {
        rows.push((
            format!("{what} ({a} alerts)"),
            time(&mut c, repeat, no_setup, &args),
        ));
    }
    // The stream as a payload: DUMP, RESTORE (validates every alert and rebuilds indexes).
    let payload: Vec<u8> =
        redis::from_redis_value(&call(&mut c, &["DUMP", "big"]).unwrap()).unwrap();
    rows.push((
        format!("DUMP ({a} alerts, {} MB)", payload.len() / 1_000_000),
        time(&mut c, repeat, no_setup, &["DUMP", "big"]),
    ));
    let t = time_restore(&mut c, repeat, "copy", &payload);
    rows.push((format!("RESTORE ({a} alerts)"), t));
    // Settings changes that rebuild indexes over every alert.
    rows.push((
        format!("ALERT.ALTER DEDUP then RATELIMIT ({a} alerts)"),
        time(
            &mut c,
            repeat,
            |c| {
                call(
                    c,
                    &["ALERT.ALTER", "copy", "DEDUP", "0", "RATELIMIT", "0", "0"],
                )
                .unwrap();
            },
            &[
                "ALERT.ALTER",
                "copy",
                "DEDUP",
                "600000",
                "RATELIMIT",
                "1000000",
                "1000",
            ],
        ),
    ));
    // Silences: each SILENCES lists what every silence covers; UNSILENCE re-revisions them.
    let until = (common::alerts::now_ms() + 3_600_000).to_string();
    for i in 0..100 {
        call(
            &mut c,
            &[
                "ALERT.SILENCE",
                "copy",
                "UNTIL",
                &until,
                "LABEL",
                &format!("dc=dc-{i}"),
            ],
        )
        .unwrap();
    }
    rows.push((
        format!("ALERT.SILENCES, 100 label silences ({a} alerts)"),
        time(&mut c, repeat, no_setup, &["ALERT.SILENCES", "copy"]),
    ));
    rows.push((
        format!("ALERT.READ AFTER 0 COUNT 100, 100 silences ({a} alerts)"),
        time(
            &mut c,
            repeat,
            no_setup,
            &["ALERT.READ", "copy", "AFTER", "0", "COUNT", "100"],
        ),
    ));
    let mut t = Timing {
        server_ms: vec![],
        client_ms: vec![],
    };
    for _ in 0..repeat {
        let id: i64 = int(&call(
            &mut c,
            &["ALERT.SILENCE", "copy", "UNTIL", &until, "SOURCE", "svc-1"],
        )
        .unwrap());
        let start = Instant::now();
        call(&mut c, &["ALERT.UNSILENCE", "copy", &id.to_string()]).unwrap();
        t.client_ms.push(start.elapsed().as_secs_f64() * 1e3);
        t.server_ms.push(server_us(&mut c) / 1e3);
    }
    rows.push((
        format!(
            "ALERT.UNSILENCE of a silence over {} alerts, 100 others",
            alerts / 100
        ),
        t,
    ));
    // The most silences a stream holds: 900 more on a label no alert has.
    for i in 100..1000 {
        let label = format!("none=v{i}");
        call(
            &mut c,
            &["ALERT.SILENCE", "copy", "UNTIL", &until, "LABEL", &label],
        )
        .unwrap();
    }
    rows.push((
        format!("ALERT.SILENCES, 1000 label silences ({a} alerts)"),
        time(&mut c, repeat, no_setup, &["ALERT.SILENCES", "copy"]),
    ));
    rows.push((
        format!("sweep tick ending 1000 label silences at once ({a} alerts)"),
        sweep_ends_silences(&mut c, "copy"),
    ));
    // Removing everything at once.
    rows.push((
        format!("ALERT.TRIM MAXLEN 0 ({a} alerts)"),
        time(
            &mut c,
            1,
            |c| {
                let mut cmd = redis::cmd("RESTORE");
                cmd.arg("trim").arg(0).arg(&payload);
                let _: () = cmd.query(c).unwrap();
            },
            &["ALERT.TRIM", "trim", "MAXLEN", "0"],
        ),
    ));
    rows.push((
        format!("DEL ({a} alerts, lazyfree-lazy-user-del no)"),
        time(
            &mut c,
            1,
            |c| {
                let mut cmd = redis::cmd("RESTORE");
                cmd.arg("gone").arg(0).arg(&payload);
                let _: () = cmd.query(c).unwrap();
            },
            &["DEL", "gone"],
        ),
    ));
    rows.push((
        format!("UNLINK ({a} alerts, freed in the background)"),
        time(
            &mut c,
            1,
            |c| {
                let mut cmd = redis::cmd("RESTORE");
                cmd.arg("gone").arg(0).arg(&payload);
                let _: () = cmd.query(c).unwrap();
            },
            &["UNLINK", "gone"],
        ),
    ));
    call(&mut c, &["FLUSHALL"]).unwrap();

    // A tracker: EVICT with the largest MAX, CANDIDATES with the largest count.
    let k = keys.to_string();
    let start = Instant::now();
    fill_tracker(&mut c, "t:{w}:lru", keys);
    eprintln!(
        "{keys} tracked keys in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let tracker_payload: Vec<u8> =
        redis::from_redis_value(&call(&mut c, &["DUMP", "t:{w}:lru"]).unwrap()).unwrap();
    for (what, args) in [
        (
            "LRU.CANDIDATES 9223372036854775807",
            vec!["LRU.CANDIDATES", "t:{w}:lru", "9223372036854775807"],
        ),
        ("LRU.INFO", vec!["LRU.INFO", "t:{w}:lru"]),
    ] {
        rows.push((
            format!("{what} ({k} keys)"),
            time(&mut c, repeat, no_setup, &args),
        ));
    }
    rows.push((
        format!("RESTORE of a tracker ({k} keys, all present)"),
        time_restore(&mut c, repeat, "t:{w}:copy", &tracker_payload),
    ));
    rows.push((
        format!("LRU.EVICT 0 MAX 9223372036854775807 ({k} keys deleted)"),
        time(
            &mut c,
            1,
            no_setup,
            &["LRU.EVICT", "t:{w}:lru", "0", "MAX", "9223372036854775807"],
        ),
    ));

    let mut report = String::new();
    let _ = writeln!(
        report,
        "| call | server ms (median / max) | client ms (median / max) | runs |"
    );
    let _ = writeln!(report, "|---|---:|---:|---:|");
    for (what, t) in &rows {
        let _ = writeln!(
            report,
            "| {what} | {:.1} / {:.1} | {:.1} / {:.1} | {} |",
            median(&t.server_ms),
            max(&t.server_ms),
            median(&t.client_ms),
            max(&t.client_ms),
            t.server_ms.len()
        );
    }
    println!("{report}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-worst.md");
    std::fs::write(&out, &report).unwrap();
    eprintln!("report: {}", out.display());
}
