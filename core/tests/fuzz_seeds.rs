//! Writes the seed corpus of the fuzz targets (fuzz/corpus/<target>/): a few valid inputs of
//! each, from which cargo-fuzz mutates. Ignored: seeds are regenerated on purpose only, with
//! `VIGIL_WRITE_SEEDS=1 cargo test -p vigil-core --test fuzz_seeds -- --ignored`.

use std::path::PathBuf;
use vigil_core::alert::doc::parse_document;
use vigil_core::alert::{codec as alert_codec, AlertId, Filter, Settings, Stream};
use vigil_core::amount::Amount;
use vigil_core::codec::VecSink;
use vigil_core::lru::{codec as lru_codec, tracker::Tracker};
use vigil_core::quota::{codec as quota_codec, meter::Quota};

const DOCS: [&str; 7] = [
    r#"{}"#,
    r#"{"severity":"critical","source":"db","type":"disk","labels":{"host":"a","dc":"eu"}}"#,
    r#"{"source":"web","fingerprint":"f-1","big":12345678901234567890123,"n":[1,2.5e-3,{"x":null}]}"#,
    "{\n  \"severity\": \"LOW\",\n  \"text\": \"caf\\u00e9 \\\"q\\\" \\\\\",\n  \"ok\": true\n}",
    r#"{"fingerprint":"","labels":{}}"#,
    r#"{"source":"ünïcödé","labels":{"k":"v\n"}}"#,
    // JSON that a serde_json::Value cannot hold, kept as sent (found by the fuzz target).
    r#"{"lone":"\udddd","big":1e400}"#,
];

fn amount(s: &str) -> Amount {
    Amount::parse(s.as_bytes()).unwrap()
}

fn stream() -> Stream {
    let mut s = Stream::new(Settings {
        retention_ms: 0,
        maxlen: 100,
        dedup_ms: 60_000,
        ratelimit_n: 5,
        ratelimit_window_ms: 1000,
        autoresolve_ms: 3_600_000,
        id_memory_ms: 86_400_000,
    });
    let t = 1_700_000_000_000;
    for (i, d) in DOCS.iter().enumerate() {
        let doc = parse_document(d.as_bytes(), 0).unwrap();
        s.add(doc, Some(t + i as u64), None, t + 10).unwrap();
    }
    let doc = parse_document(DOCS[1].as_bytes(), 0).unwrap();
    s.add(doc, None, Some(AlertId::new(t + 20, 7)), t + 20)
        .unwrap();
    s.ack(&AlertId::new(t + 2, 0));
    s.resolve(&AlertId::new(t + 3, 0));
    let matchers = Filter {
        source: Some("db".into()),
        labels: vec![("host".into(), "a".into())],
        ..Filter::default()
    };
    s.silence(t + 100_000, matchers, Some("maintenance".into()), None)
        .unwrap();
    s
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// `prefix` then the encoding `encode` writes.
fn encoded(prefix: u8, encode: impl FnOnce(&mut VecSink)) -> Vec<u8> {
    let mut out = VecSink::default();
    encode(&mut out);
    let mut bytes = vec![prefix];
    bytes.extend(out.0);
    bytes
}

#[test]
#[ignore]
fn write_seeds() {
    if std::env::var("VIGIL_WRITE_SEEDS").is_err() {
        return;
    }
    for (i, d) in DOCS.iter().enumerate() {
        write("document", &format!("doc-{i}"), d.as_bytes());
    }
    for (i, a) in [
        "0",
        "-1.5",
        "007",
        "0.000001",
        "1000000000000000000",
        "-999999999999.999999",
    ]
    .iter()
    .enumerate()
    {
        write("amount", &format!("amount-{i}"), a.as_bytes());
    }
    for (i, a) in [
        "1700000000000-0",
        "0-0",
        "9223372036854775807-18446744073709551615",
        "42",
    ]
    .iter()
    .enumerate()
    {
        write("alert_id", &format!("id-{i}"), a.as_bytes());
    }
    // Version byte: 1 + byte % latest, so byte 1 is encoding 2 of a stream, 0 encoding 1.
    let streams = [stream(), Stream::new(Settings::default())];
    for (i, s) in streams.iter().enumerate() {
        let latest = (alert_codec::ENC_LATEST - 1) as u8;
        write(
            "decode_alert",
            &format!("stream-{i}"),
            &encoded(latest, |o| alert_codec::encode(s, o)),
        );
        // round_trip: kind 0 (alert), version byte 3 * (latest - 1).
        write(
            "round_trip",
            &format!("stream-{i}"),
            &encoded(3 * latest, |o| alert_codec::encode(s, o)),
        );
    }
    let now = 1_700_000_000_000;
    let mut window = Quota::new(Some(amount("50.5")), Some(600_000));
    for (i, a) in ["1", "2.5", "0.000001", "7"].iter().enumerate() {
        window
            .incr(amount(a), true, now + i as u64 * 60_000)
            .unwrap();
    }
    let mut cumulative = Quota::new(None, None);
    cumulative.incr(amount("123456.5"), false, now).unwrap();
    for (i, q) in [window, cumulative].iter().enumerate() {
        write(
            "decode_quota",
            &format!("quota-{i}"),
            &encoded(0, |o| quota_codec::encode(q, o)),
        );
        write(
            "round_trip",
            &format!("quota-{i}"),
            &encoded(1, |o| quota_codec::encode(q, o)),
        );
    }
    let mut t = Tracker::new();
    for (i, size) in ["1.5", "600", "0", "123456.000001"].iter().enumerate() {
        t.touch(
            format!("t:{{a}}:k{i}").as_bytes(),
            amount(size),
            now + i as u64 / 2,
        )
        .unwrap();
    }
    write(
        "decode_lru",
        "tracker-0",
        &encoded(0, |o| lru_codec::encode(&t, o)),
    );
    write(
        "round_trip",
        "tracker-0",
        &encoded(2, |o| lru_codec::encode(&t, o)),
    );
}
