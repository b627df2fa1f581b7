//! A RESTORE payload is whatever a client sends (and the same loader reads RDB files and full
//! syncs). Hostile-probe row 1: 325 of 900 damaged payloads killed the server; row 9: a
//! payload could hold what the commands refuse (RATELIMIT 1 0), after which every second ADD
//! hit a caught panic. Here hundreds of damaged payloads of each type (cut short, bits flipped,
//! fields of the wrong type or out of range, with the CRC-64 recomputed) are restored: the
//! server stays up, a refused payload leaves no key, and every accepted key reads, survives
//! DEBUG RELOAD unchanged and takes writes, without a panic. Forged payloads that hold what
//! the commands would refuse are refused.

mod common;
use common::dump::{dump, mutations, restore, Field, Payload};
use common::*;
use redis::Value;

/// Mutated payloads per sample value.
const MUTATIONS: usize = 300;

fn now_ms() -> u64 {
    common::alerts::now_ms() as u64
}

fn start() -> Server {
    // Uncompressed strings, so that tests/common/dump.rs can take payloads apart.
    Server::start_with(&["--rdbcompression", "no"])
}

/// A reply as text, with fields that are not state (memory, clock-dependent reset times)
/// masked, for comparisons across a reload.
fn shown(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let mut parts = Vec::new();
            let mut skip_next = false;
            for item in items {
                if skip_next {
                    skip_next = false;
                    parts.push("-".to_string());
                    continue;
                }
                if matches!(item, Value::BulkString(b) if b == b"memory") {
                    skip_next = true;
                }
                parts.push(shown(item));
            }
            format!("[{}]", parts.join(","))
        }
        Value::Map(pairs) => {
            let parts: Vec<String> = pairs
                .iter()
                .map(|(k, v)| {
                    let masked = matches!(k, Value::BulkString(b) if b == b"memory");
                    format!(
                        "{}:{}",
                        shown(k),
                        if masked { "-".into() } else { shown(v) }
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::BulkString(b) => format!("{:?}", String::from_utf8_lossy(b)),
        other => format!("{other:?}"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Alert,
    Quota,
    Lru,
}

/// The reads whose replies must be the same after a reload.
fn reads(kind: Kind, key: &str) -> Vec<Vec<String>> {
    let k = key.to_string();
    let v = |a: &[&str]| -> Vec<String> {
        let mut out = vec![a[0].to_string(), k.clone()];
        out.extend(a[1..].iter().map(|s| s.to_string()));
        out
    };
    let mut out = match kind {
        Kind::Alert => vec![
            v(&["ALERT.RANGE", "-", "+"]),
            v(&["ALERT.RANGE", "+", "-", "REV", "COUNT", "3", "SOURCE", "db"]),
            v(&["ALERT.READ", "AFTER", "0", "COUNT", "1000", "WITHSILENCED"]),
            v(&["ALERT.READ", "AFTER", "0", "LABEL", "h=1"]),
            v(&["ALERT.SILENCES"]),
            v(&["ALERT.GROUPS", "-", "+", "BY", "label:h"]),
            v(&["ALERT.INFO"]),
        ],
        Kind::Quota => vec![v(&["QUOTA.GET"])],
        Kind::Lru => vec![v(&["LRU.CANDIDATES", "1000"]), v(&["LRU.INFO"])],
    };
    out.push(vec!["TYPE".into(), k.clone()]);
    out
}

/// Writes an accepted value must take without an internal error (an error reply of the
/// command's own, such as a total out of range, is allowed).
fn writes(kind: Kind, key: &str, now: u64) -> Vec<Vec<String>> {
    let k = key.to_string();
    let s = |a: &[&str]| -> Vec<String> { a.iter().map(|x| x.to_string()).collect() };
    match kind {
        Kind::Alert => vec![
            s(&["ALERT.ADD", &k, r#"{"source":"db","labels":{"h":"1"}}"#]),
            s(&["ALERT.ADD", &k, r#"{"source":"db","labels":{"h":"1"}}"#]),
            s(&[
                "ALERT.ADD",
                &k,
                r#"{"source":"x"}"#,
                "ID",
                &format!("{}-5", now - 10),
            ]),
            s(&[
                "ALERT.ADD",
                &k,
                r#"{"source":"x"}"#,
                "ID",
                &format!("{}-6", now - 9),
            ]),
            s(&["ALERT.ACK", &k, &format!("{}-5", now - 10)]),
            s(&[
                "ALERT.SILENCE",
                &k,
                "UNTIL",
                &(now + 60_000).to_string(),
                "SOURCE",
                "x",
            ]),
            s(&[
                "ALERT.ALTER",
                &k,
                "MAXLEN",
                "3",
                "DEDUP",
                "1000",
                "RATELIMIT",
                "2",
                "10",
            ]),
            s(&["ALERT.RESOLVE", &k, &format!("{}-6", now - 9)]),
            s(&["ALERT.TRIM", &k, "MAXLEN", "1"]),
            s(&["ALERT.UNSILENCE", &k, "1"]),
        ],
        Kind::Quota => vec![
            s(&["QUOTA.INCR", &k, "1"]),
            s(&["QUOTA.INCR", &k, "-1"]),
            s(&["QUOTA.INCR", &k, "1000", "FORCE"]),
            s(&["QUOTA.GET", &k]),
            s(&["QUOTA.RESET", &k]),
            s(&["QUOTA.SET", &k, "LIMIT", "5"]),
            s(&["QUOTA.INCR", &k, "3"]),
        ],
        Kind::Lru => vec![
            s(&["LRU.TOUCH", &k, "t:{a}:k0", "2"]),
            s(&["LRU.FORGET", &k, "t:{a}:k1"]),
            s(&["LRU.EVICT", &k, "1", "MAX", "2"]),
            s(&["LRU.TOUCH", &k, "t:{a}:k4", "1"]),
        ],
    }
}

fn run(c: &mut redis::Connection, args: &[String]) -> redis::RedisResult<Value> {
    let mut cmd = redis::cmd(&args[0]);
    for a in &args[1..] {
        cmd.arg(a.as_str());
    }
    cmd.query(c)
}

/// Every read of every key as text, then DEBUG RELOAD, then every read again, in one
/// transaction: no sweep tick runs between them (an accepted payload may hold alerts the sweep
/// would trim or resolve).
fn reads_across_reload(
    c: &mut redis::Connection,
    keys: &[(Kind, String)],
) -> (Vec<String>, Vec<String>) {
    let mut pipe = redis::pipe();
    pipe.atomic();
    let mut shown_cmds = Vec::new();
    for round in 0..2 {
        if round == 1 {
            pipe.cmd("DEBUG").arg("RELOAD");
        }
        for (kind, key) in keys {
            let mut rs = reads(*kind, key);
            rs.push(vec!["DEBUG".into(), "DIGEST-VALUE".into(), key.clone()]);
            for r in rs {
                let mut cmd = redis::cmd(&r[0]);
                for a in &r[1..] {
                    cmd.arg(a.as_str());
                }
                pipe.add_command(cmd);
                if round == 0 {
                    shown_cmds.push(r.join(" "));
                }
            }
        }
    }
    let mut replies: Vec<Value> = pipe.query(c).expect("the reads of accepted keys");
    let n = shown_cmds.len();
    assert_eq!(replies.len(), 2 * n + 1);
    assert_eq!(replies[n], Value::Okay, "DEBUG RELOAD");
    let after = replies.split_off(n + 1);
    replies.truncate(n);
    let show = |replies: Vec<Value>| -> Vec<String> {
        shown_cmds
            .iter()
            .zip(replies)
            .map(|(cmd, v)| {
                if let Value::ServerError(e) = &v {
                    panic!("{cmd}: {e:?}");
                }
                // QUOTA.GET's reset_ms moves with the clock; its sign is state.
                let v = match (cmd.starts_with("QUOTA.GET"), v) {
                    (true, Value::Array(mut items)) if items.len() == 5 => {
                        let reset: i64 = redis::from_redis_value(&items[4]).unwrap();
                        items[4] = Value::Int(reset.signum());
                        Value::Array(items)
                    }
                    (_, v) => v,
                };
                format!("{cmd} -> {}", shown(&v))
            })
            .collect()
    };
    (show(replies), show(after))
}

fn panics(c: &mut redis::Connection) -> String {
    info_field(c, "vigil", "vigil_panics").unwrap_or_default()
}

/// Restores every mutation of `sample` (a key of `kind`); checks the server after each, then
/// reads, reloads and writes every accepted key. Returns (accepted, refused).
fn hammer(s: &Server, kind: Kind, sample: &str, key_prefix: &str, seed: u64) -> (usize, usize) {
    let mut c = s.client();
    let payload = Payload::parse(&dump(&mut c, sample));
    // VIGIL_MUTATION_SEED explores other mutations than the fixed ones `make test` runs.
    let extra: u64 = std::env::var("VIGIL_MUTATION_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut cases = mutations(&payload, MUTATIONS, seed ^ extra);
    // Encoding versions it was not written with, and none at all.
    for encver in [0, 1, 2, 3, 1023] {
        if encver != payload.encver() {
            let mut q = payload.clone();
            q.module_id = (q.module_id & !1023) | encver;
            cases.push((format!("encver {encver}"), q.encode()));
        }
    }
    let mut q = payload.clone();
    q.fields.clear();
    cases.push(("no field at all".into(), q.encode()));
    let mut accepted: Vec<(Kind, String)> = Vec::new();
    let mut refused = 0;
    for (i, (what, bytes)) in cases.iter().enumerate() {
        let key = format!("{key_prefix}{i}");
        let r = restore(&mut c, &key, bytes);
        if std::env::var("SHOW_MUTATIONS").is_ok() {
            eprintln!("{key}: {what}: {r:?}");
        }
        if call(&mut c, &["PING"]).is_err() {
            panic!(
                "the server died restoring {kind:?} mutation {i} ({what}); log:\n{}",
                s.log()
            );
        }
        let exists = int(&call(&mut c, &["EXISTS", &key]).unwrap()) == 1;
        match r {
            Ok(()) => {
                // A tracker restored here keeps only the keys that exist: it may be empty,
                // but it exists.
                assert!(exists, "{kind:?} mutation {i} ({what}): accepted, no key");
                accepted.push((kind, key));
            }
            Err(e) => {
                assert!(e.contains("Bad data format"), "{what}: {e}");
                assert!(!exists, "{kind:?} mutation {i} ({what}): refused, key left");
                refused += 1;
            }
        }
    }
    assert_eq!(
        panics(&mut c),
        "0",
        "panics while restoring; log:\n{}",
        s.log()
    );
    // Every accepted key reads, and reads the same after DEBUG RELOAD.
    let (before, after) = reads_across_reload(&mut c, &accepted);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "changed by DEBUG RELOAD");
    }
    // And takes writes; then reloads again.
    let now = now_ms();
    for (kind, key) in &accepted {
        for w in writes(*kind, key, now) {
            if let Err(e) = run(&mut c, &w) {
                assert!(
                    !e.to_string().contains("internal error"),
                    "{}: {e}",
                    w.join(" ")
                );
            }
        }
    }
    reads_across_reload(&mut c, &accepted);
    assert_eq!(
        panics(&mut c),
        "0",
        "panics reading or writing accepted keys"
    );
    eprintln!(
        "{kind:?} {sample}: {} payloads, {} accepted, {refused} refused",
        cases.len(),
        accepted.len()
    );
    (accepted.len(), refused)
}

fn alert_sample(c: &mut redis::Connection, key: &str) {
    let t = now_ms() - 60_000;
    call(
        c,
        &[
            "ALERT.CREATE",
            key,
            "RETENTION",
            "0",
            "DEDUP",
            "600000",
            "RATELIMIT",
            "5",
            "60000",
            "AUTORESOLVE",
            "3600000",
            "IDMEMORY",
            "86400000",
        ],
    )
    .unwrap();
    let docs = [
        r#"{"severity":"critical","source":"db","labels":{"h":"1","z":"q"},"big":12345678901234567890}"#,
        r#"{"severity":"low","source":"web","type":"disk","fingerprint":"fp"}"#,
        r#"{"source":"db","fingerprint":"","note":"never folded"}"#,
        r#"{"severity":"HIGH","source":"db","labels":{"h":"2"}}"#,
    ];
    for (i, d) in docs.iter().enumerate() {
        let ts = (t + i as u64 * 10).to_string();
        call(c, &["ALERT.ADD", key, d, "TS", &ts]).unwrap();
    }
    // A folded explicit ID, a status of each kind, a silence with every matcher.
    let id = format!("{}-7", t + 50);
    call(c, &["ALERT.ADD", key, docs[0], "ID", &id]).unwrap();
    call(c, &["ALERT.ACK", key, &format!("{}-0", t + 10)]).unwrap();
    call(c, &["ALERT.RESOLVE", key, &format!("{}-0", t + 20)]).unwrap();
    let until = (now_ms() + 3_600_000).to_string();
    call(
        c,
        &[
            "ALERT.SILENCE",
            key,
            "UNTIL",
            &until,
            "MINSEVERITY",
            "high",
            "SOURCE",
            "db",
            "TYPE",
            "",
            "LABEL",
            "h=2",
            "COMMENT",
            "maintenance",
        ],
    )
    .unwrap();
}

#[test]
fn damaged_alert_stream_payloads_never_crash_and_accepted_ones_hold() {
    let s = start();
    let mut c = s.client();
    alert_sample(&mut c, "sample");
    let (accepted, refused) = hammer(&s, Kind::Alert, "sample", "m", 0xa1e7);
    assert!(
        refused > MUTATIONS / 2,
        "accepted {accepted}, refused {refused}"
    );
}

#[test]
fn damaged_quota_payloads_never_crash_and_accepted_ones_hold() {
    let s = start();
    let mut c = s.client();
    let t = now_ms();
    call(
        &mut c,
        &["QUOTA.SET", "win", "LIMIT", "50.5", "WINDOW", "600000"],
    )
    .unwrap();
    for (i, amount) in ["1", "2.5", "0.000001", "7", "1000"].iter().enumerate() {
        let at = (t - 500_000 + i as u64 * 60_000).to_string();
        call(&mut c, &["QUOTA.INCR", "win", amount, "FORCE", "NOW", &at]).unwrap();
    }
    call(
        &mut c,
        &["QUOTA.INCR", "cum", "123456.5", "LIMIT", "1000000"],
    )
    .unwrap();
    let (a1, r1) = hammer(&s, Kind::Quota, "win", "w", 0x9007);
    let (a2, r2) = hammer(&s, Kind::Quota, "cum", "c", 0x51);
    assert!(
        r1 + r2 > MUTATIONS,
        "accepted {}, refused {}",
        a1 + a2,
        r1 + r2
    );
}

#[test]
fn damaged_tracker_payloads_never_crash_and_accepted_ones_hold() {
    let s = start();
    let mut c = s.client();
    let sizes = ["1.5", "600", "0", "123456.000001", "999999999999"];
    for (i, size) in sizes.iter().enumerate() {
        let key = format!("t:{{a}}:k{i}");
        call(&mut c, &["SET", &key, "v"]).unwrap();
        let at = (1_700_000_000_000u64 + (i as u64 / 2)).to_string();
        call(&mut c, &["LRU.TOUCHAT", "t:{a}:lru", &at, &key, size]).unwrap();
    }
    let (accepted, refused) = hammer(&s, Kind::Lru, "t:{a}:lru", "t:{a}:m", 0x1e0);
    assert!(
        refused > MUTATIONS / 3,
        "accepted {accepted}, refused {refused}"
    );
}

/// A forged payload: what it holds, the payload it starts from, (field index, new field).
type Forged<'a> = (&'a str, &'a Payload, Vec<(usize, Field)>);

/// Payloads that decode field by field but hold what no command could have built are
/// refused (hostile-probe row 9: a stream with RATELIMIT 1 0 made every second ADD panic).
#[test]
fn payloads_holding_what_the_commands_refuse_are_refused() {
    let s = start();
    let mut c = s.client();
    alert_sample(&mut c, "s");
    call(
        &mut c,
        &["QUOTA.SET", "q", "LIMIT", "10", "WINDOW", "60000"],
    )
    .unwrap();
    call(&mut c, &["QUOTA.INCR", "q", "3"]).unwrap();
    call(&mut c, &["QUOTA.INCR", "cq", "3", "LIMIT", "10"]).unwrap();
    for i in 0..3 {
        call(&mut c, &["SET", &format!("t:{{a}}:k{i}"), "v"]).unwrap();
    }
    call(
        &mut c,
        &[
            "LRU.TOUCHAT",
            "t:{a}:lru",
            "1700000000000",
            "t:{a}:k0",
            "5",
            "t:{a}:k1",
            "6",
        ],
    )
    .unwrap();
    call(
        &mut c,
        &["LRU.TOUCHAT", "t:{a}:lru", "1700000000001", "t:{a}:k2", "7"],
    )
    .unwrap();
    let alert = Payload::parse(&dump(&mut c, "s"));
    let quota = Payload::parse(&dump(&mut c, "q"));
    let cquota = Payload::parse(&dump(&mut c, "cq"));
    let lru = Payload::parse(&dump(&mut c, "t:{a}:lru"));

    // The alert stream's fields (encoding 2): 0-6 settings (retention, maxlen, dedup,
    // ratelimit n, ratelimit window, autoresolve, id memory), 7-12 statistics, 13 revision,
    // 14 next silence ID, 15 alert count, then per alert ts, seq, last_seen, count, status,
    // rev, document.
    let u = Field::Uint;
    let st = |s: &str| Field::Str(s.as_bytes().to_vec());
    let first_alert = 16;
    let mut cases: Vec<Forged> = vec![
        ("RATELIMIT 1 0", &alert, vec![(3, u(1)), (4, u(0))]),
        ("RATELIMIT 0 5", &alert, vec![(3, u(0)), (4, u(5))]),
        ("a retention past i64", &alert, vec![(0, u(1 << 63))]),
        ("an id memory past i64", &alert, vec![(6, u(u64::MAX))]),
        ("next silence ID 0", &alert, vec![(14, u(0))]),
        (
            "a next silence ID past one after the last (2^63)",
            &alert,
            vec![(14, u((1 << 63) + 1))],
        ),
        ("revision counter 0", &alert, vec![(13, u(0))]),
        ("an alert count of 0", &alert, vec![(first_alert + 3, u(0))]),
        ("an unknown status", &alert, vec![(first_alert + 4, u(9))]),
        ("revision 0", &alert, vec![(first_alert + 5, u(0))]),
        ("a ts past i64", &alert, vec![(first_alert, u(1 << 63))]),
        (
            "alerts out of order",
            &alert,
            vec![(first_alert, u(u64::MAX >> 2))],
        ),
        (
            "a document that is no object",
            &alert,
            vec![(first_alert + 6, st("[1,2]"))],
        ),
        (
            "a document with a reserved field",
            &alert,
            vec![(first_alert + 6, st(r#"{"id":"1-1"}"#))],
        ),
        (
            "a document with a known field of the wrong type",
            &alert,
            vec![(first_alert + 6, st(r#"{"severity":5}"#))],
        ),
        (
            "a document with an unknown severity",
            &alert,
            vec![(first_alert + 6, st(r#"{"severity":"urgent"}"#))],
        ),
        (
            "a document with duplicate label names",
            &alert,
            vec![(first_alert + 6, st(r#"{"labels":{"a":"1","a":"2"}}"#))],
        ),
        (
            "a document with a duplicate known field",
            &alert,
            vec![(first_alert + 6, st(r#"{"source":"a","source":"b"}"#))],
        ),
        (
            "a document that is not UTF-8",
            &alert,
            vec![(first_alert + 6, Field::Str(b"{\"a\":\"\xff\"}".to_vec()))],
        ),
    ];
    // Quota (encoding 1): 0 limit flag, 1 limit, 2 window, 3 usage, 4 bucket count, then
    // (start, amount) per bucket.
    cases.extend([
        ("a limit flag of 2", &quota, vec![(0, u(2))]),
        ("a negative limit", &quota, vec![(1, st("-1"))]),
        (
            "a limit with 7 decimals",
            &quota,
            vec![(1, st("1.0000001"))],
        ),
        (
            "a limit past the amount range",
            &quota,
            vec![(1, st("99999999999999999999"))],
        ),
        ("a window past i64", &quota, vec![(2, u(1 << 63))]),
        ("a negative bucket", &quota, vec![(6, st("-3"))]),
        ("a bucket that is no amount", &quota, vec![(6, st("3e0"))]),
        ("a negative usage", &cquota, vec![(3, st("-3"))]),
        (
            "buckets on a cumulative quota",
            &cquota,
            vec![(4, u(1)), (5, u(1)), (6, st("1"))],
        ),
    ]);
    // Tracker (encoding 1): 0 evicted, 1 key count, then per key name, size, last used.
    cases.extend([
        ("a negative size", &lru, vec![(3, st("-5"))]),
        ("a size with 7 decimals", &lru, vec![(3, st("0.0000001"))]),
        ("a size that is no amount", &lru, vec![(3, st("5."))]),
        (
            "keys out of time order",
            &lru,
            vec![(4, u(1_800_000_000_000))],
        ),
        ("a time past i64", &lru, vec![(10, u(1 << 63))]),
        ("a key tracked twice", &lru, vec![(5, st("t:{a}:k0"))]),
        (
            "a total past 10^18",
            &lru,
            vec![(3, st("600000000000000000")), (6, st("600000000000000000"))],
        ),
        ("a count larger than the keys", &lru, vec![(1, u(4))]),
    ]);
    for (i, (what, base, changes)) in cases.into_iter().enumerate() {
        let mut p = base.clone();
        for (at, f) in changes {
            if at == p.fields.len() {
                p.fields.push(f);
                continue;
            }
            // Fields of the type they replace: the decoder, not the RDB layer, must refuse.
            assert_eq!(
                std::mem::discriminant(&p.fields[at]),
                std::mem::discriminant(&f),
                "{what}: field {at} is {:?}",
                p.fields[at]
            );
            p.fields[at] = f;
        }
        let key = format!("forged{i}");
        let r = restore(&mut c, &key, &p.encode());
        assert!(r.is_err(), "{what}: accepted");
        assert_eq!(int(&call(&mut c, &["EXISTS", &key]).unwrap()), 0, "{what}");
        assert!(call(&mut c, &["PING"]).is_ok(), "{what}: server gone");
    }
    // The originals still restore: what was refused was the forged field.
    for (base, kind) in [
        (&alert, "s"),
        (&quota, "q"),
        (&cquota, "cq"),
        (&lru, "t:{a}:lru"),
    ] {
        restore(&mut c, &format!("{kind}-copy"), &base.encode()).unwrap();
    }
    assert!(s.log().contains("cannot load"), "{}", s.log());
    assert_eq!(panics(&mut c), "0");
}
