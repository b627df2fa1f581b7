//! Helpers the load, scale and size benches share (each includes this file with `#[path]`):
//! knobs from the environment, the clock, commands built from strings, pipelined loads,
//! INFO fields and percentiles. Not every bench uses every helper.
#![allow(dead_code)]

use redis::Connection;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// A knob from the environment, or `default` when unset or unparsable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What `cmd args` prints on stdout, trimmed ("" when it cannot run).
pub fn run_text(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// A command from its name and arguments.
pub fn command<S: AsRef<str>>(args: &[S]) -> redis::Cmd {
    let mut cmd = redis::cmd(args[0].as_ref());
    for a in &args[1..] {
        cmd.arg(a.as_ref());
    }
    cmd
}

/// Runs one command; a failure stops the bench with the command's first words.
pub fn exec(c: &mut Connection, args: &[&str]) -> redis::Value {
    command(args)
        .query(c)
        .unwrap_or_else(|e| panic!("{:?}: {e}", &args[..args.len().min(4)]))
}

/// `ALERT.CREATE key RETENTION 0 MAXLEN 0 DEDUP 300000`: a stream that keeps every alert,
/// with dedup on (what the size and worst-call runs fill).
pub fn create_keep_all(c: &mut Connection, key: &str) {
    exec(
        c,
        &[
            "ALERT.CREATE",
            key,
            "RETENTION",
            "0",
            "MAXLEN",
            "0",
            "DEDUP",
            "300000",
        ],
    );
}

/// `EVALSHA sha <keys> <args>` as strings.
pub fn evalsha(sha: &str, keys: &[&str], args: &[&str]) -> Vec<String> {
    let mut v = vec![
        "EVALSHA".to_string(),
        sha.to_string(),
        keys.len().to_string(),
    ];
    v.extend(keys.iter().map(|s| s.to_string()));
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

/// Sends `commands` in pipelined batches of 1000, replies ignored (an error stops the bench).
pub fn pipelined_cmds(c: &mut Connection, commands: impl Iterator<Item = redis::Cmd>) {
    let mut pipe = redis::pipe();
    let mut n = 0;
    for cmd in commands {
        pipe.add_command(cmd).ignore();
        n += 1;
        if n == 1000 {
            pipe.query::<()>(c).expect("pipelined load");
            pipe = redis::pipe();
            n = 0;
        }
    }
    if n > 0 {
        pipe.query::<()>(c).expect("pipelined load");
    }
}

/// [`pipelined_cmds`] for commands given as strings.
pub fn pipelined(c: &mut Connection, commands: impl Iterator<Item = Vec<String>>) {
    pipelined_cmds(c, commands.map(|args| command(&args)));
}

/// One field of an INFO section ("" when absent).
pub fn info_field(c: &mut Connection, section: &str, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg(section).query(c).expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or("")
        .trim()
        .to_string()
}

pub fn used_memory(c: &mut Connection) -> i64 {
    info_field(c, "memory", "used_memory")
        .parse()
        .expect("used_memory in INFO")
}

/// The `p` quantile of sorted values, nearest rank (NaN for none).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}
