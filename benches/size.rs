//! Cost against size: how one call's server time and the memory per alert grow with the
//! stream, for the native stream, the Lua ZSET+HASH layout it replaces (benches/lua/) and a
//! core stream (XADD), at each size in `SIZE_STEPS`. At each size every layout is loaded with
//! the same ~300-byte documents (dedup on, 100 sources, a fifth of them `high`), then:
//! - memory: used_memory growth per alert;
//! - a read: the newest 100 alerts of severity high or above (ALERT.RANGE / alert_range.lua),
//!   and the newest 100 entries (XREVRANGE);
//! - a write: one more alert (ALERT.ADD / alert_add.lua / XADD);
//!
//! each call timed by the server (SLOWLOG, µs), the median of `SIZE_CALLS` calls. Report:
//! target/bench-size.md and target/bench-size.csv; `scripts/bench_chart.py --size` draws the
//! CSV as docs/bench-size.svg.
//!
//! `cargo bench --bench size` (after `cargo build --release`); not part of `make test`.
//! Knobs: SIZE_STEPS (default "1000,10000,100000,1000000"), SIZE_CALLS (default 200),
//! VIGIL_MODULE (default target/release/libvigil.so).

#[path = "support/mod.rs"]
mod support;
use support::*;

#[path = "../tests/common/mod.rs"]
mod common;

use common::{call, Server};
use redis::Connection;
use std::fmt::Write as _;

const ADD_LUA: &str = include_str!("lua/alert_add.lua");
const RANGE_LUA: &str = include_str!("lua/alert_range.lua");
const MESSAGE: &str = "disk usage above threshold on volume; please investigate the growth of the data directory and the retention of logs and backups soon";
const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];
const BASE_TS: u64 = 1_700_000_000_000;

/// Alert `i`: ~300 bytes, a severity and a source from a hash of `i`, a host of its own (so
/// every fingerprint is new).
fn doc(i: u64) -> String {
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    format!(
        r#"{{"severity":"{}","source":"svc-{:03}","type":"disk_full","labels":{{"host":"h-{i:08}","mount":"/var"}},"message":"{MESSAGE}"}}"#,
        SEVERITIES[(x % 5) as usize],
        (x >> 8) % 100
    )
}

fn lua_keys(tag: &str) -> Vec<String> {
    ["ids", "docs", "meta", "fps", "rate"]
        .iter()
        .map(|p| format!("l:{{{tag}}}:{p}"))
        .collect()
}

/// Server µs of `args`, the median of `calls` calls (SLOWLOG logs every command: threshold 0);
/// `vary(i)` may change the arguments of call `i` (a new alert each time).
fn server_us(c: &mut Connection, calls: u64, mut args: impl FnMut(u64) -> Vec<String>) -> f64 {
    let mut v = Vec::with_capacity(calls as usize);
    for i in 0..calls {
        let a = args(i);
        let mut cmd = redis::cmd(&a[0]);
        for x in &a[1..] {
            cmd.arg(x);
        }
        let _: redis::Value = cmd.query(c).unwrap_or_else(|e| panic!("{}: {e}", a[0]));
        let log: Vec<Vec<redis::Value>> = redis::cmd("SLOWLOG").arg("GET").arg(1).query(c).unwrap();
        v.push(redis::from_redis_value::<i64>(&log[0][2]).unwrap() as f64);
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

struct Row {
    alerts: u64,
    layout: &'static str,
    bytes_per_alert: f64,
    read_us: f64,
    write_us: f64,
}

fn main() {
    let steps: Vec<u64> = std::env::var("SIZE_STEPS")
        .unwrap_or_else(|_| "1000,10000,100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let calls: u64 = env_or("SIZE_CALLS", 200);
    let s = Server::start();
    let mut c = s.client();
    for cfg in [
        ["slowlog-log-slower-than", "0"],
        ["slowlog-max-len", "16"],
        ["save", ""],
        ["appendonly", "no"],
    ] {
        call(&mut c, &["CONFIG", "SET", cfg[0], cfg[1]]).unwrap();
    }
    let add_sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(ADD_LUA)
        .query(&mut c)
        .unwrap();
    let range_sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(RANGE_LUA)
        .query(&mut c)
        .unwrap();
    let query = ["-", "+", "REV", "COUNT", "100", "MINSEVERITY", "high"];
    let mut rows = Vec::new();
    for &n in &steps {
        eprintln!("size {n}");
        // The native stream.
        call(&mut c, &["FLUSHALL"]).unwrap();
        let before = used_memory(&mut c);
        create_keep_all(&mut c, "n:{s}");
        pipelined(
            &mut c,
            (0..n).map(|i| {
                strings(&[
                    "ALERT.ADD",
                    "n:{s}",
                    &doc(i),
                    "TS",
                    &(BASE_TS + i).to_string(),
                ])
            }),
        );
        let native_bytes = (used_memory(&mut c) - before) as f64 / n as f64;
        let mut nq = strings(&["ALERT.RANGE", "n:{s}"]);
        nq.extend(strings(&query));
        let native_read = server_us(&mut c, calls, |_| nq.clone());
        let native_write = server_us(&mut c, calls, |i| {
            strings(&[
                "ALERT.ADD",
                "n:{s}",
                &doc(n + i),
                "TS",
                &(BASE_TS + n + i).to_string(),
            ])
        });
        rows.push(Row {
            alerts: n,
            layout: "native",
            bytes_per_alert: native_bytes,
            read_us: native_read,
            write_us: native_write,
        });

        // The Lua layout, the same documents and settings (dedup 300 s, no retention).
        call(&mut c, &["FLUSHALL"]).unwrap();
        let keys = lua_keys("s");
        let before = used_memory(&mut c);
        let lua_add = |i: u64| {
            let mut v = strings(&["EVALSHA", &add_sha, "5"]);
            v.extend(keys.iter().cloned());
            let ts = (BASE_TS + i).to_string();
            v.extend(strings(&[&doc(i), "0", "0", "300000", "0", "0", &ts, "-"]));
            v
        };
        pipelined(&mut c, (0..n).map(lua_add));
        let lua_bytes = (used_memory(&mut c) - before) as f64 / n as f64;
        let mut lq = strings(&["EVALSHA", &range_sha, "3"]);
        lq.extend(keys[..3].iter().cloned());
        lq.extend(strings(&query));
        let lua_read = server_us(&mut c, calls, |_| lq.clone());
        let lua_write = server_us(&mut c, calls, |i| lua_add(n + i));
        rows.push(Row {
            alerts: n,
            layout: "Lua ZSET+HASH",
            bytes_per_alert: lua_bytes,
            read_us: lua_read,
            write_us: lua_write,
        });

        // A core stream holding the same documents in one field.
        call(&mut c, &["FLUSHALL"]).unwrap();
        let before = used_memory(&mut c);
        pipelined(
            &mut c,
            (0..n).map(|i| {
                strings(&[
                    "XADD",
                    "x:{s}",
                    &format!("{}-1", BASE_TS + i),
                    "doc",
                    &doc(i),
                ])
            }),
        );
        let x_bytes = (used_memory(&mut c) - before) as f64 / n as f64;
        let x_read = server_us(&mut c, calls, |_| {
            strings(&["XREVRANGE", "x:{s}", "+", "-", "COUNT", "100"])
        });
        let x_write = server_us(&mut c, calls, |i| {
            strings(&["XADD", "x:{s}", "*", "doc", &doc(n + i)])
        });
        rows.push(Row {
            alerts: n,
            layout: "XADD",
            bytes_per_alert: x_bytes,
            read_us: x_read,
            write_us: x_write,
        });
    }

    let mut csv = String::from("alerts,layout,bytes_per_alert,read_us,write_us\n");
    let mut md = String::new();
    let version: String = redis::cmd("INFO")
        .arg("server")
        .query::<String>(&mut c)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:").map(str::to_string))
        .unwrap_or_default();
    let _ = writeln!(md, "# Vigil: cost against size\n");
    let _ = writeln!(
        md,
        "- server: {version}; median server time of {calls} calls (SLOWLOG)\n\
         - read: the newest 100 alerts of severity high or above (ALERT.RANGE, \
         alert_range.lua); XREVRANGE of the newest 100 entries\n\
         - write: one more ~300-byte alert (ALERT.ADD with dedup on, alert_add.lua, XADD)\n"
    );
    let _ = writeln!(
        md,
        "| alerts | layout | bytes / alert | read µs | write µs |\n|---:|---|---:|---:|---:|"
    );
    for r in &rows {
        let _ = writeln!(
            csv,
            "{},{},{:.1},{:.1},{:.1}",
            r.alerts, r.layout, r.bytes_per_alert, r.read_us, r.write_us
        );
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {:.1} | {:.1} |",
            r.alerts, r.layout, r.bytes_per_alert, r.read_us, r.write_us
        );
    }
    std::fs::create_dir_all("target").unwrap();
    std::fs::write("target/bench-size.csv", csv).unwrap();
    std::fs::write("target/bench-size.md", &md).unwrap();
    println!("{md}");
    println!("report: target/bench-size.md (CSV: target/bench-size.csv)");
}
