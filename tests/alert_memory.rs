//! MEMORY USAGE of a stream is within 25% of the memory the server really holds for it: with
//! alerts (dedup on or off, rate index), with many remembered IDs, with many silences.

mod common;
use common::*;

/// Creates stream `k` with `create`, runs the commands `load` queues, and compares MEMORY
/// USAGE with what used_memory grew by.
fn check(what: &str, create: &[&str], load: impl FnOnce(&mut redis::Pipeline)) {
    // MEMORY USAGE models jemalloc's size classes (Redis's allocator); the Valkey binary used
    // for compatibility runs is built with libc malloc, whose overheads differ.
    if is_valkey() {
        return;
    }
    let s = Server::start();
    let mut c = s.client();
    let mut args = vec!["ALERT.CREATE", "k"];
    args.extend_from_slice(create);
    call(&mut c, &args).unwrap();
    let before = used_memory(&mut c);
    let mut pipe = redis::pipe();
    load(&mut pipe);
    // On a connection of its own, closed before measuring: its query buffer would count.
    {
        let mut loader = s.client();
        let _: () = pipe.query(&mut loader).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let after = used_memory(&mut c);
    let real = after - before;
    let reported: i64 =
        redis::from_redis_value(&call(&mut c, &["MEMORY", "USAGE", "k", "SAMPLES", "0"]).unwrap())
            .unwrap();
    let ratio = reported as f64 / real as f64;
    eprintln!("{what}: MEMORY USAGE {reported}, really held {real}: {ratio:.2}");
    assert!(
        (0.75..=1.25).contains(&ratio),
        "{what}: MEMORY USAGE {reported} vs really held {real} (ratio {ratio:.2})"
    );
}

fn alerts(dedup: &str, ratelimit: &[&str], n: usize) {
    let mut create = vec!["RETENTION", "0", "MAXLEN", "0", "DEDUP", dedup];
    create.extend_from_slice(ratelimit);
    check(&format!("dedup {dedup} {ratelimit:?}"), &create, |pipe| {
        let pad = "x".repeat(200);
        for i in 0..n {
            let doc = format!(
                r#"{{"severity":"high","source":"svc-{}","type":"latency","labels":{{"host":"h{i}"}},"pad":"{pad}"}}"#,
                i % 20
            );
            pipe.cmd("ALERT.ADD")
                .arg("k")
                .arg(doc)
                .arg("TS")
                .arg(1_000_000 + i as u64)
                .ignore();
        }
    });
}

#[test]
fn memory_usage_is_realistic_with_dedup() {
    alerts("300000", &[], 20_000);
}

#[test]
fn memory_usage_is_realistic_without_dedup() {
    alerts("0", &[], 20_000);
}

#[test]
fn memory_usage_is_realistic_with_rate_index() {
    alerts("300000", &["RATELIMIT", "100000", "1000"], 20_000);
}

#[test]
fn memory_usage_is_realistic_with_many_remembered_ids() {
    // 20000 explicit IDs folded into a few alerts, remembered as long as their alert exists
    // (MEMORY USAGE had counted 0.70 of them).
    let create = [
        "RETENTION",
        "0",
        "MAXLEN",
        "0",
        "IDMEMORY",
        "0",
        "DEDUP",
        "1000000000",
    ];
    check("remembered IDs", &create, |pipe| {
        for i in 0..20_000u64 {
            let doc = format!(r#"{{"source":"s{}"}}"#, i % 3);
            let id = format!("{}-0", 1_700_000_000_000 + i);
            pipe.cmd("ALERT.ADD")
                .arg("k")
                .arg(doc)
                .arg("ID")
                .arg(id)
                .ignore();
        }
    });
}

#[test]
fn memory_usage_is_realistic_with_many_silences() {
    // The most a stream holds, with matchers and comments of some size (MEMORY USAGE had
    // counted 0.45 of them).
    check("silences", &["RETENTION", "0"], |pipe| {
        let until = (common::alerts::now_ms() + 3_600_000).to_string();
        for i in 0..1000 {
            pipe.cmd("ALERT.SILENCE")
                .arg("k")
                .arg("UNTIL")
                .arg(&until)
                .arg("SOURCE")
                .arg(format!("service-of-the-payments-team-number-{i:08}"))
                .arg("TYPE")
                .arg("disk_full")
                .arg("LABEL")
                .arg(format!("host=h{i}"))
                .arg("LABEL")
                .arg("env=production")
                .arg("COMMENT")
                .arg(format!("maintenance window {i}: {}", "y".repeat(120)))
                .ignore();
        }
    });
}

/// Small streams: a few alerts, a silence. A small B-tree allocates one whole leaf (11 slots),
/// which the estimate of 1.5 slots an entry missed: 0.79 of what 200 streams of one alert
/// hold. The contract allows 25%; small streams are held to 10% here, as large ones come out.
#[test]
fn memory_usage_is_realistic_for_small_streams() {
    if is_valkey() {
        return;
    }
    let s = Server::start();
    let mut c = s.client();
    const STREAMS: usize = 200;
    let until = (common::alerts::now_ms() + 3_600_000).to_string();
    for (what, alerts, silence) in [("1 alert", 1, false), ("3 alerts and a silence", 3, true)] {
        call(&mut c, &["FLUSHALL"]).unwrap();
        // The first round of creates grows tables a flush leaves empty: not the streams'.
        for j in 0..STREAMS {
            call(
                &mut c,
                &["ALERT.CREATE", &format!("s{j}"), "RETENTION", "0"],
            )
            .unwrap();
        }
        let before = used_memory(&mut c);
        {
            let mut loader = s.client();
            let mut pipe = redis::pipe();
            for j in 0..STREAMS {
                let key = format!("s{j}");
                for i in 0..alerts {
                    let doc = format!(r#"{{"severity":"high","source":"svc-{i}","type":"t"}}"#);
                    pipe.cmd("ALERT.ADD")
                        .arg(&key)
                        .arg(doc)
                        .arg("TS")
                        .arg(1_000 + i)
                        .ignore();
                }
                if silence {
                    pipe.cmd("ALERT.SILENCE")
                        .arg(&key)
                        .arg("UNTIL")
                        .arg(&until)
                        .arg("SOURCE")
                        .arg("svc-0")
                        .ignore();
                }
            }
            let _: () = pipe.query(&mut loader).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let real = used_memory(&mut c) - before;
        let grown: i64 = (0..STREAMS)
            .map(|j| {
                let v = call(
                    &mut c,
                    &["MEMORY", "USAGE", &format!("s{j}"), "SAMPLES", "0"],
                );
                redis::from_redis_value::<i64>(&v.unwrap()).unwrap()
            })
            .sum::<i64>()
            - (STREAMS as i64) * empty_usage(&mut c);
        let ratio = grown as f64 / real as f64;
        eprintln!("{what}: MEMORY USAGE grew {grown}, really held {real}: {ratio:.2}");
        assert!(
            (0.9..=1.1).contains(&ratio),
            "{what}: MEMORY USAGE grew {grown} vs really held {real} (ratio {ratio:.2})"
        );
    }
}

/// MEMORY USAGE of a stream just created (the streams above, before their alerts).
fn empty_usage(c: &mut redis::Connection) -> i64 {
    call(c, &["ALERT.CREATE", "empty", "RETENTION", "0"]).unwrap();
    let v = call(c, &["MEMORY", "USAGE", "empty", "SAMPLES", "0"]).unwrap();
    call(c, &["DEL", "empty"]).unwrap();
    redis::from_redis_value(&v).unwrap()
}
