//! Sends N alerts through the cascade and does not stop until every one is in Redis.
//!
//! ```text
//! cargo run --release -p vigil-client --example send -- \
//!     --url redis://127.0.0.1:6379 --journal /var/tmp/vigil-journal --key alerts:demo \
//!     --count 10000 [--rate 2000] [--cluster] [--keys K]
//! ```
//!
//! Alert i has the fingerprint `seq-i` and a field `"seq": i`. With `--keys K` it goes to the
//! key `<key>:{i % K}` (one hash tag each, so that the keys spread over a cluster's slots);
//! with `--cluster` the `--url`s (repeatable) are seeds of a Redis Cluster. Progress goes to stderr
//! (`progress sent=1000 mode=redis`, then `sent N, waiting for replay`); the last line on
//! stdout is one JSON object of counters:
//! `{"sent":N,"added":..,"duplicate":..,"exists":..,"fallback":..,"replayed":..,"pending":..,"mode":".."}`.
//! `added`, `duplicate` and `exists` are the outcomes Redis gave, directly or on replay.
//! With `--count 0` it only replays what the journal holds, then exits.

use std::time::{Duration, Instant};
use vigil_client::{Client, Config};

struct Args {
    urls: Vec<String>,
    cluster: bool,
    keys: u64,
    journal: String,
    key: String,
    count: u64,
    rate: Option<f64>,
    timeout_ms: u64,
}

fn usage(why: &str) -> ! {
    eprintln!("send: {why}");
    eprintln!(
        "usage: send --url URL [--url URL ...] [--cluster] --journal DIR --key KEY [--keys K] --count N [--rate PER_SEC] [--timeout-ms MS]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        urls: Vec::new(),
        cluster: false,
        keys: 0,
        journal: String::new(),
        key: String::new(),
        count: 0,
        rate: None,
        timeout_ms: 500,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--url" => args.urls.push(value()),
            "--cluster" => args.cluster = true,
            "--keys" => {
                args.keys = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--keys takes a number"))
            }
            "--journal" => args.journal = value(),
            "--key" => args.key = value(),
            "--count" => {
                args.count = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--count takes a number"))
            }
            "--rate" => {
                let rate: f64 = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--rate takes a number"));
                args.rate = (rate > 0.0).then_some(rate);
            }
            "--timeout-ms" => {
                args.timeout_ms = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--timeout-ms takes a number"))
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if args.urls.is_empty() || args.journal.is_empty() || args.key.is_empty() {
        usage("--url, --journal and --key are required");
    }
    args
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = parse_args();
    let base = if args.cluster {
        Config::cluster(args.urls.clone())
    } else {
        Config::new(&args.urls[0])
    };
    let config = base
        .journal_dir(&args.journal)
        .command_timeout(Duration::from_millis(args.timeout_ms))
        .connect_timeout(Duration::from_millis(args.timeout_ms))
        .probe_interval(Duration::from_millis(100));
    let client = match Client::open(config).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("send: {e}");
            std::process::exit(1);
        }
    };

    let start = Instant::now();
    for i in 0..args.count {
        if let Some(rate) = args.rate {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let doc = format!(
            r#"{{"severity":"info","source":"send","type":"seq","fingerprint":"seq-{i}","seq":{i}}}"#
        );
        let key = match args.keys {
            0 => args.key.clone(),
            k => format!("{}:{{{}}}", args.key, i % k),
        };
        // Only input errors come back as errors, and this document is valid: retry anyway
        // rather than lose alert i.
        while let Err(e) = client.add(&key, &doc).await {
            eprintln!("send: alert {i}: {e}; retrying");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if (i + 1) % 1000 == 0 {
            eprintln!("progress sent={} mode={}", i + 1, client.mode());
        }
    }
    eprintln!("sent {}, waiting for replay", args.count);

    let mut last_note = Instant::now();
    loop {
        match client.flush(Duration::from_secs(1)).await {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => eprintln!("send: replay: {e}"),
        }
        if last_note.elapsed() >= Duration::from_secs(5) {
            eprintln!(
                "waiting: pending={} mode={}",
                client.pending(),
                client.mode()
            );
            last_note = Instant::now();
        }
    }

    let m = client.metrics();
    // Written by hand to keep the documented key order.
    let line = format!(
        r#"{{"sent":{},"added":{},"duplicate":{},"exists":{},"fallback":{},"replayed":{},"pending":{},"mode":"{}"}}"#,
        args.count,
        m.added,
        m.duplicate,
        m.exists,
        m.fallbacks,
        m.replayed,
        m.pending,
        m.mode.as_str()
    );
    println!("{line}");
}
