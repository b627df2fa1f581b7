//! MEMORY USAGE of a stream is within 25% of the memory the server really holds for it.

mod common;
use common::*;

fn check(dedup: &str, ratelimit: &[&str], n: usize) {
    // MEMORY USAGE models jemalloc's size classes (Redis's allocator); the Valkey binary used
    // for compatibility runs is built with libc malloc, whose overheads differ.
    if is_valkey() {
        return;
    }
    let s = Server::start();
    let mut c = s.client();
    let mut create = vec![
        "ALERT.CREATE",
        "k",
        "RETENTION",
        "0",
        "MAXLEN",
        "0",
        "DEDUP",
        dedup,
    ];
    create.extend_from_slice(ratelimit);
    call(&mut c, &create).unwrap();
    let before = used_memory(&mut c);
    let pad = "x".repeat(200);
    let mut pipe = redis::pipe();
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
    assert!(
        (0.75..=1.25).contains(&ratio),
        "dedup {dedup} {ratelimit:?}: MEMORY USAGE {reported} vs really held {real} (ratio {ratio:.2})"
    );
}

#[test]
fn memory_usage_is_realistic_with_dedup() {
    check("300000", &[], 20_000);
}

#[test]
fn memory_usage_is_realistic_without_dedup() {
    check("0", &[], 20_000);
}

#[test]
fn memory_usage_is_realistic_with_rate_index() {
    check("300000", &["RATELIMIT", "100000", "1000"], 20_000);
}
