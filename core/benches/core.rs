//! Criterion benchmarks of the core, in an ordinary process (no Redis): what each command costs
//! before the Redis API (argument strings, reply, replication) adds its share. Kept short so
//! that `make bench` stays within minutes: 1 s of measurement per benchmark.
//!
//! Run alone: `cargo bench -p vigil-core --bench core`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::{Duration, Instant};
use vigil_core::alert::doc::{parse_document, Severity};
use vigil_core::alert::stream::{Outcome, RangeQuery, Settings, Stream};
use vigil_core::amount::Amount;
use vigil_core::lru::tracker::Tracker;
use vigil_core::quota::meter::Quota;

const BASE_MS: u64 = 1_700_000_000_000;
const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];

/// xorshift64: the same workload on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A ~300-byte alert document, as the load run sends them. `unique` makes its fingerprint one
/// of its own; `fingerprint` overrides it.
fn document(severity: &str, source: u64, unique: u64, fingerprint: Option<&str>) -> String {
    let fp = fingerprint.map_or(String::new(), |f| format!(r#","fingerprint":"{f}""#));
    format!(
        r#"{{"severity":"{severity}","source":"svc-{source:012}","type":"disk_full","labels":{{"host":"h-{unique:012}","disk":"d-{source:012}","pod":"p-000000000001"}}{fp},"message":"disk usage above threshold on volume; please investigate the growth of the data directory and the retention of logs and backups"}}"#
    )
}

fn add(stream: &mut Stream, doc: &str, ts: u64) -> Outcome {
    let parsed = parse_document(doc.as_bytes(), 65536).expect("valid document");
    stream
        .add(parsed, Some(ts), None, ts)
        .expect("add succeeds")
        .outcome
}

/// Times `routine` over batches of documents made (untimed) by `make(i)`.
fn time_batches(
    iters: u64,
    next: &mut u64,
    make: impl Fn(u64) -> String,
    mut routine: impl FnMut(&str, u64),
) -> Duration {
    const BATCH: u64 = 4096;
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        let docs: Vec<(String, u64)> = (0..n)
            .map(|k| {
                let i = *next + k;
                (make(i), i)
            })
            .collect();
        let start = Instant::now();
        for (doc, i) in &docs {
            routine(doc, *i);
        }
        total += start.elapsed();
        *next += n;
        left -= n;
    }
    total
}

fn alert_add(c: &mut Criterion) {
    let mut g = c.benchmark_group("alert/add");
    // New alerts: a dedup miss, a rate check (never limited), the store, and a MAXLEN trim of
    // one, in a stream at its MAXLEN of 10000, 1000 sources.
    g.bench_function("new", |b| {
        let settings = Settings {
            retention_ms: 0,
            maxlen: 10_000,
            dedup_ms: 300_000,
            ratelimit_n: 100,
            ratelimit_window_ms: 1_000,
            ..Settings::default()
        };
        let mut stream = Stream::new(settings);
        let make = |i: u64| document("high", i % 1000, i, None);
        for i in 0..10_000 {
            add(&mut stream, &make(i), BASE_MS + i);
        }
        let mut next = 10_000;
        b.iter_custom(|iters| {
            time_batches(iters, &mut next, make, |doc, i| {
                let out = add(&mut stream, doc, BASE_MS + i);
                debug_assert!(matches!(out, Outcome::Added(_)));
                black_box(out);
            })
        });
    });
    // Duplicates: 1000 fingerprints, each already held.
    g.bench_function("duplicate", |b| {
        let settings = Settings {
            retention_ms: 0,
            maxlen: 10_000,
            dedup_ms: 300_000,
            ratelimit_n: 100,
            ratelimit_window_ms: 1_000,
            ..Settings::default()
        };
        let mut stream = Stream::new(settings);
        let make = |i: u64| document("high", i % 1000, i % 1000, None);
        for i in 0..1000 {
            add(&mut stream, &make(i), BASE_MS);
        }
        let mut next = 1000;
        b.iter_custom(|iters| {
            // The clock moves 1 ms per 1000 adds: always within the dedup window.
            time_batches(iters, &mut next, make, |doc, i| {
                let out = add(&mut stream, doc, BASE_MS + i / 1000);
                debug_assert!(matches!(out, Outcome::Duplicate(..)));
                black_box(out);
            })
        });
    });
    // Rate-limited: RATELIMIT 1 per hour, 1000 sources that each sent one; no dedup
    // (fingerprint ""), so every add is limited and computes its retry-after.
    g.bench_function("limited", |b| {
        let settings = Settings {
            retention_ms: 0,
            maxlen: 10_000,
            dedup_ms: 300_000,
            ratelimit_n: 1,
            ratelimit_window_ms: 3_600_000,
            ..Settings::default()
        };
        let mut stream = Stream::new(settings);
        let make = |i: u64| document("high", i % 1000, i, Some(""));
        for i in 0..1000 {
            add(&mut stream, &make(i), BASE_MS);
        }
        let mut next = 1000;
        b.iter_custom(|iters| {
            time_batches(iters, &mut next, make, |doc, i| {
                let out = add(&mut stream, doc, BASE_MS + 1 + i / 1000);
                debug_assert!(matches!(out, Outcome::Limited(_)));
                black_box(out);
            })
        });
    });
    g.finish();
}

/// 100,000 alerts, severities uniform (two in five are high or critical), 100 sources.
fn big_stream() -> Stream {
    let mut stream = Stream::new(Settings {
        retention_ms: 0,
        maxlen: 0,
        dedup_ms: 300_000,
        ratelimit_n: 0,
        ratelimit_window_ms: 0,
        ..Settings::default()
    });
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..100_000 {
        let sev = SEVERITIES[rng.below(5) as usize];
        add(&mut stream, &document(sev, i % 100, i, None), BASE_MS + i);
    }
    stream
}

fn alert_range_and_trim(c: &mut Criterion) {
    let mut g = c.benchmark_group("alert");
    let stream = big_stream();
    let query = RangeQuery {
        rev: true,
        count: Some(100),
        min_severity: Some(Severity::High),
        ..RangeQuery::all()
    };
    // ALERT.RANGE key - + REV COUNT 100 MINSEVERITY high: the walk, and each alert rendered
    // as the reply carries it.
    g.bench_function("range_100_newest_high_of_100k", |b| {
        b.iter(|| {
            let hits = stream.range(black_box(&query));
            assert_eq!(hits.len(), 100);
            let bytes: usize = hits.iter().map(|(id, a)| stream.render(id, a).len()).sum();
            black_box(bytes)
        })
    });
    drop(stream);
    // ALERT.TRIM MAXLEN on a stream of 100k: 1000 oldest alerts removed (with their index
    // entries). Each batch of 1000 is added back first, untimed.
    g.bench_function("trim_1000_of_100k", |b| {
        let mut stream = big_stream();
        let mut next = 100_000u64;
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for i in next..next + 1000 {
                    add(&mut stream, &document("low", i % 100, i, None), BASE_MS + i);
                }
                next += 1000;
                let start = Instant::now();
                let removed = stream.trim_maxlen(100_000);
                total += start.elapsed();
                assert_eq!(removed, 1000);
            }
            total
        });
    });
    g.finish();
}

fn quota_incr(c: &mut Criterion) {
    let mut g = c.benchmark_group("quota/incr");
    let limit = Some(Amount::parse(b"1000000000000").unwrap());
    // QUOTA.INCR key 1.5: parse the amount, check and add, the reply's three amounts rendered.
    let step = |q: &mut Quota, now: u64| {
        let amount = Amount::parse(black_box(b"1.5")).unwrap();
        let d = q.incr(amount, false, now).unwrap();
        let r = q.report(d.applied, now);
        black_box((
            r.usage.to_string(),
            r.limit.map(|l| l.to_string()),
            r.remaining.map(|l| l.to_string()),
        ))
    };
    g.bench_function("counter", |b| {
        let mut q = Quota::new(limit, None);
        b.iter(|| step(&mut q, BASE_MS))
    });
    // A 60 s window: 100 buckets of 600 ms, all in use; the clock moves 1 ms per 10 calls.
    g.bench_function("window_60s", |b| {
        let mut q = Quota::new(limit, Some(60_000));
        let mut i = 0u64;
        for k in 0..600_000 {
            step(&mut q, BASE_MS + k / 10);
        }
        b.iter(|| {
            i += 1;
            q.prune(BASE_MS + 60_000 + i / 10);
            step(&mut q, BASE_MS + 60_000 + i / 10)
        })
    });
    g.finish();
}

fn tracker_names(n: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("t:{{b}}:k{i:012}").into_bytes())
        .collect()
}

fn lru(c: &mut Criterion) {
    let mut g = c.benchmark_group("lru");
    let size = Amount::parse(b"100").unwrap();
    // LRU.TOUCH of one key among 100k tracked: remove from and append to the age order.
    g.bench_function("touch_of_100k", |b| {
        let names = tracker_names(100_000);
        let mut t = Tracker::new();
        for name in &names {
            let _ = t.touch(name, size, BASE_MS);
        }
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            let name = &names[rng.below(100_000) as usize];
            black_box(t.touch(name, size, BASE_MS + i / 10))
        })
    });
    // LRU.EVICT target 0 MAX 10 on 100k tracked keys; 10 new keys are touched (untimed) before
    // each eviction so the tracker stays at 100k.
    g.bench_function("evict_10_of_100k", |b| {
        let mut t = Tracker::new();
        for name in tracker_names(100_000) {
            let _ = t.touch(&name, size, BASE_MS);
        }
        let mut next = 100_000u64;
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for k in next..next + 10 {
                    let _ = t.touch(format!("t:{{b}}:k{k:012}").as_bytes(), size, BASE_MS + k);
                }
                next += 10;
                let start = Instant::now();
                let out = t.evict(Amount::ZERO, 10, |_| false);
                total += start.elapsed();
                assert_eq!(out.len(), 10);
                black_box(out);
            }
            total
        });
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = alert_add, alert_range_and_trim, quota_incr, lru
}
criterion_main!(benches);
