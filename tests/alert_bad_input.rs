//! Bad input to every ALERT.* command: each case must answer an error, leave the stream (and
//! every other key) exactly as it was, and leave the server up. Plus a deterministic fuzz of
//! ALERT.ADD documents/options and ALERT.RANGE options.
//!
//! docs/contract.md, "General rules": bad input gets an error reply that says what is wrong
//! (`ERR ...`) and changes nothing; wrong arity is the standard arity error; a key of another type
//! answers `WRONGTYPE`; nothing a client sends may crash the server.

mod common;
use common::*;

use redis::Value;

type Conn = redis::Connection;

/// The stream under test: holds a few alerts with varied statuses and non-default settings.
const K: &str = "vigil:main";
/// A key that never exists: no failing command may create it.
const M: &str = "vigil:missing";
/// A plain string key: every ALERT command on it must answer WRONGTYPE (CREATE too).
const S: &str = "vigil:string";
const S_VALUE: &str = "plain value";

/// Non-default settings, so that a partly applied ALTER shows in the snapshot.
const RETENTION: &str = "31536000000"; // one year
const MAXLEN: &str = "1000";
const DEDUP: &str = "60000";
const RL_N: &str = "100";
const RL_WINDOW: &str = "60000";

const INFO_FIELDS: [&str; 8] = common::alerts::STREAM_FIELDS;

/// Numbers no count, size, duration or timestamp argument may accept.
const BAD_NUMS: [&str; 12] = [
    "-1",
    "abc",
    "1.5",
    "1e3",
    "+5",
    "",
    "99999999999999999999",
    " 5",
    "5 ",
    "0x10",
    "NaN",
    "-0.0",
];

/// Strings that are not a full `<ms>-<seq>` ID.
const BAD_IDS: [&str; 15] = [
    "abc",
    "1-",
    "-1",
    "1-2-3",
    "1.5-0",
    "",
    "5",
    "-",
    "1--1",
    "+1-0",
    "1-0x",
    "99999999999999999999-0",
    "1-99999999999999999999",
    "1-18446744073709551616",
    "9223372036854775808-0",
];

// ---------------------------------------------------------------------------------------------
// Plumbing

fn call_raw(c: &mut Conn, args: &[Vec<u8>]) -> redis::RedisResult<Value> {
    let mut cmd = redis::cmd(std::str::from_utf8(&args[0]).expect("ASCII command name"));
    for a in &args[1..] {
        cmd.arg(a.as_slice());
    }
    cmd.query(c)
}

fn err_text(e: &redis::RedisError) -> String {
    // A reply the client could not parse has no code: show the whole error.
    match e.code() {
        Some(code) => format!("{code} {}", e.detail().unwrap_or(""))
            .trim()
            .to_string(),
        None => e.to_string(),
    }
}

fn show(args: &[Vec<u8>]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|a| {
            let s = String::from_utf8_lossy(a);
            let s = if s.chars().count() > 80 {
                format!(
                    "{}...({} bytes)",
                    s.chars().take(80).collect::<String>(),
                    a.len()
                )
            } else {
                s.into_owned()
            };
            format!("{s:?}")
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

fn now_ms(c: &mut Conn) -> u64 {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query(c).expect("TIME");
    secs * 1000 + micros / 1000
}

#[derive(Clone, Debug, PartialEq)]
struct Snapshot {
    range: Value,
    info: Vec<(String, Value)>,
}

fn snapshot(c: &mut Conn) -> Snapshot {
    let range = call(c, &["ALERT.RANGE", K, "-", "+"]).expect("ALERT.RANGE of the stream");
    let info = map_of(call(c, &["ALERT.INFO", K]).expect("ALERT.INFO of the stream"));
    let info = INFO_FIELDS
        .iter()
        .map(|f| {
            let v = info
                .get(*f)
                .unwrap_or_else(|| panic!("ALERT.INFO lacks {f}"))
                .clone();
            (f.to_string(), v)
        })
        .collect();
    Snapshot { range, info }
}

fn exists(c: &mut Conn, key: &str) -> i64 {
    int(&call(c, &["EXISTS", key]).expect("EXISTS"))
}

/// What a case must answer.
#[derive(Clone, Debug)]
enum Want {
    /// The standard arity error.
    Arity,
    /// An error starting with WRONGTYPE.
    WrongType,
    /// An error starting with ERR and containing this text (case-insensitive; "" = any).
    Msg(&'static str),
}

#[derive(Clone, Debug)]
struct Case {
    args: Vec<Vec<u8>>,
    want: Want,
}

fn case(want: Want, args: &[&str]) -> Case {
    Case {
        args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
        want,
    }
}

fn case_bytes(want: Want, args: Vec<Vec<u8>>) -> Case {
    Case { args, want }
}

fn check_reply(reply: &redis::RedisResult<Value>, want: &Want) -> Result<(), String> {
    let e = match reply {
        Ok(v) => return Err(format!("succeeded with {v:?}, expected an error")),
        Err(e) => err_text(e),
    };
    let lower = e.to_lowercase();
    if lower.contains("internal error") || lower.contains("panic") {
        return Err(format!("answered an internal error: {e:?}"));
    }
    match want {
        Want::Arity => {
            if !(e.starts_with("ERR") && lower.contains("wrong number of arguments")) {
                return Err(format!("answered {e:?}, expected the standard arity error"));
            }
        }
        Want::WrongType => {
            if !e.starts_with("WRONGTYPE") {
                return Err(format!("answered {e:?}, expected WRONGTYPE"));
            }
        }
        Want::Msg(sub) => {
            if !e.starts_with("ERR") {
                return Err(format!("answered {e:?}, expected an ERR error"));
            }
            if !lower.contains(&sub.to_lowercase()) {
                return Err(format!("answered {e:?}, expected it to mention {sub:?}"));
            }
        }
    }
    Ok(())
}

/// Everything a failing command must leave as it was.
fn check_unchanged(c: &mut Conn, before: &Snapshot) -> Result<(), String> {
    let pong: redis::RedisResult<String> = redis::cmd("PING").query(c);
    if pong.as_deref() != Ok("PONG") {
        return Err(format!("server not answering PING: {pong:?}"));
    }
    let after = snapshot(c);
    if &after != before {
        return Err(format!(
            "the stream changed:\n  before {before:?}\n  after  {after:?}"
        ));
    }
    if exists(c, M) != 0 {
        return Err(format!("{M} was created"));
    }
    let keys = int(&call(c, &["DBSIZE"]).expect("DBSIZE"));
    if keys != 2 {
        let all = call(c, &["KEYS", "*"]);
        return Err(format!("DBSIZE is {keys}, not 2 ({K} and {S}): {all:?}"));
    }
    let s: redis::RedisResult<Option<String>> = redis::cmd("GET").arg(S).query(c);
    if s.as_ref().ok().and_then(|v| v.as_deref()) != Some(S_VALUE) {
        return Err(format!("{S} changed: {s:?}"));
    }
    Ok(())
}

/// Runs every case; returns the failures (each with its input and what went wrong).
fn run_cases(c: &mut Conn, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        let before = snapshot(c);
        let reply = call_raw(c, &case.args);
        let mut problems = Vec::new();
        if let Err(p) = check_reply(&reply, &case.want) {
            problems.push(p);
        }
        if let Err(p) = check_unchanged(c, &before) {
            problems.push(p);
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}", show(&case.args), problems.join("; ")));
            // Put the fixture back so one failure does not cascade into every later case.
            let _ = call(c, &["DEL", M]);
        }
    }
    failures
}

fn assert_no_failures(server: &Server, total: usize, failures: &[String]) {
    let log = server.log();
    let panics: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("panic") || l.contains("internal error"))
        .collect();
    assert!(
        failures.is_empty() && panics.is_empty(),
        "{} of {total} cases failed:\n{}\npanics in the server log:\n{}",
        failures.len(),
        failures.join("\n"),
        panics.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Fixture

struct Fixture {
    now: u64,
    /// severity high, source db, count 3 (two duplicates folded in), active.
    id0: String,
    /// severity low, source web, acked.
    id1: String,
    /// explicit ID, source api, resolved.
    id2: String,
    /// An ADD ID folded into id0 as a duplicate (the stream remembers it).
    alias: String,
}

const DOC0: &str = r#"{"severity":"high","source":"db","type":"disk","labels":{"host":"a"},"n":1}"#;
const DOC1: &str =
    r#"{"severity":"low","source":"web","labels":{"x":"y"},"extra":[1,2,{"z":null}]}"#;
const DOC2: &str = r#"{"source":"api","fingerprint":"","big":123456789012345678901234567890}"#;

fn added_id(v: Value, want: &str) -> String {
    let (outcome, id, _n): (String, Option<String>, i64) =
        redis::from_redis_value(&v).expect("ALERT.ADD reply [outcome, id, n]");
    assert_eq!(outcome, want, "setup ALERT.ADD outcome");
    id.expect("an ID")
}

fn setup(c: &mut Conn) -> Fixture {
    let _: () = redis::cmd("SET").arg(S).arg(S_VALUE).query(c).expect("SET");
    call(
        c,
        &[
            "ALERT.CREATE",
            K,
            "RETENTION",
            RETENTION,
            "MAXLEN",
            MAXLEN,
            "DEDUP",
            DEDUP,
            "RATELIMIT",
            RL_N,
            RL_WINDOW,
        ],
    )
    .expect("ALERT.CREATE");
    let now = now_ms(c);
    let ts = |d: u64| (now - d).to_string();
    let id0 = added_id(
        call(c, &["ALERT.ADD", K, DOC0, "TS", &ts(5000)]).expect("add 0"),
        "added",
    );
    let id1 = added_id(
        call(c, &["ALERT.ADD", K, DOC1, "TS", &ts(4000)]).expect("add 1"),
        "added",
    );
    let dup = added_id(
        call(c, &["ALERT.ADD", K, DOC0, "TS", &ts(3000)]).expect("add dup"),
        "duplicate",
    );
    assert_eq!(dup, id0);
    let id2 = format!("{}-7", now - 2000);
    assert_eq!(
        added_id(
            call(c, &["ALERT.ADD", K, DOC2, "ID", &id2]).expect("add 2"),
            "added"
        ),
        id2
    );
    let alias = format!("{}-0", now - 1000);
    assert_eq!(
        added_id(
            call(c, &["ALERT.ADD", K, DOC0, "ID", &alias]).expect("add alias"),
            "duplicate"
        ),
        id0
    );
    assert_eq!(int(&call(c, &["ALERT.ACK", K, &id1]).unwrap()), 1);
    assert_eq!(int(&call(c, &["ALERT.RESOLVE", K, &id2]).unwrap()), 1);

    // The fixture is what the cases assume.
    let snap = snapshot(c);
    let info: std::collections::HashMap<_, _> = snap.info.iter().cloned().collect();
    assert_eq!(int(&info["length"]), 3);
    assert_eq!(int(&info["retention"]).to_string(), RETENTION);
    assert_eq!(int(&info["ratelimit_n"]).to_string(), RL_N);
    let all = alerts(snap.range);
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["count"], 3);
    assert_eq!(all[1]["status"], "acked");
    assert_eq!(all[2]["status"], "resolved");
    assert_eq!(exists(c, M), 0);
    Fixture {
        now,
        id0,
        id1,
        id2,
        alias,
    }
}

// ---------------------------------------------------------------------------------------------
// The table

/// Documents that are not valid JSON.
const INVALID_JSON: [&str; 12] = [
    "{",
    "}",
    "{\"a\":}",
    "{\"a\":1,}",
    "{\"a\" 1}",
    "{'a':1}",
    "{a:1}",
    "{\"a\":1}x",
    "{\"a\":1}{}",
    "{\"a\":\"unterminated}",
    "{\"a\":tru}",
    "{\"a\":\"\\x\"}",
];

/// Valid JSON that is not an object.
const NOT_OBJECTS: [&str; 11] = [
    "[]",
    "[{\"a\":1}]",
    "\"x\"",
    "\"{}\"",
    "5",
    "-1.5",
    "null",
    "true",
    "",
    "   ",
    " [1]",
];

/// Documents with a known field of the wrong type: (document, field the message names).
const WRONG_FIELD_TYPES: [(&str, &str); 16] = [
    (r#"{"severity":5}"#, "'severity'"),
    (r#"{"severity":null}"#, "'severity'"),
    (r#"{"severity":["high"]}"#, "'severity'"),
    (r#"{"severity":true}"#, "'severity'"),
    (r#"{"labels":{"a":1}}"#, "'labels'"),
    (r#"{"labels":{"a":null}}"#, "'labels'"),
    (r#"{"labels":{"a":{"b":"c"}}}"#, "'labels'"),
    (r#"{"labels":[]}"#, "'labels'"),
    (r#"{"labels":"a=b"}"#, "'labels'"),
    (r#"{"labels":null}"#, "'labels'"),
    (r#"{"source":null}"#, "'source'"),
    (r#"{"source":1}"#, "'source'"),
    (r#"{"source":{}}"#, "'source'"),
    (r#"{"fingerprint":7}"#, "'fingerprint'"),
    (r#"{"fingerprint":null}"#, "'fingerprint'"),
    (r#"{"type":[]}"#, "'type'"),
];

const BAD_SEVERITIES: [&str; 8] = [
    "urgent", "", "5", "crit", "info ", " high", "HIGHEST", "none",
];
const BAD_STATUSES: [&str; 7] = ["open", "", "closed", "ack", "resolve", "active ", "1"];

/// Every bad document, with the text its error must contain.
fn bad_documents() -> Vec<(String, &'static str)> {
    let mut docs: Vec<(String, &'static str)> = Vec::new();
    for d in INVALID_JSON {
        docs.push((d.to_string(), "document"));
    }
    for d in NOT_OBJECTS {
        docs.push((d.to_string(), "object"));
    }
    // The message names the field, quoted ('id', not the "id" of "invalid").
    for (name, quoted) in [
        ("id", "'id'"),
        ("ts", "'ts'"),
        ("status", "'status'"),
        ("count", "'count'"),
        ("last_seen", "'last_seen'"),
    ] {
        docs.push((format!(r#"{{"{name}":1}}"#), quoted));
        docs.push((format!(r#"{{"severity":"high","{name}":"x"}}"#), quoted));
        docs.push((format!(r#"{{"{name}":null,"a":1}}"#), quoted));
        docs.push((format!(r#"{{"a":{{"{name}":1}},"{name}":{{}}}}"#), quoted));
    }
    for (d, field) in WRONG_FIELD_TYPES {
        docs.push((d.to_string(), field));
    }
    for s in BAD_SEVERITIES {
        docs.push((
            format!(r#"{{"severity":{}}}"#, serde_json::json!(s)),
            "severity",
        ));
    }
    // A known field sent twice is ambiguous.
    docs.push((
        r#"{"severity":"low","severity":"high"}"#.to_string(),
        "severity",
    ));
    // Nesting past 128 levels (the document's own object the first), however small the
    // document: the message gives the limit (`document_nesting_is_bounded_at_128_levels`
    // adds the one just inside it).
    docs.push((nested(128), "nested deeper than 128 levels at byte 133"));
    docs.push((nested(10_000), "nested deeper than 128 levels"));
    docs
}

/// `{"x":[[...]]}` with `arrays` arrays: 1 + `arrays` levels.
fn nested(arrays: usize) -> String {
    format!(r#"{{"x":{}{}}}"#, "[".repeat(arrays), "]".repeat(arrays))
}

/// 128 levels are taken (and come back as sent); the 129th is refused.
#[test]
fn document_nesting_is_bounded_at_128_levels() {
    let server = Server::start();
    let mut c = server.client();
    let doc = nested(127);
    let added = call_raw(
        &mut c,
        &[
            b"ALERT.ADD".to_vec(),
            b"k".to_vec(),
            doc.clone().into_bytes(),
        ],
    );
    let Ok(Value::Array(v)) = added else {
        panic!("{added:?}")
    };
    let id = match &v[1] {
        Value::BulkString(b) => b.clone(),
        other => panic!("{other:?}"),
    };
    let got = call_raw(&mut c, &[b"ALERT.GET".to_vec(), b"k".to_vec(), id]);
    let Ok(Value::Array(got)) = got else {
        panic!("{got:?}")
    };
    let Value::BulkString(json) = &got[0] else {
        panic!("{got:?}")
    };
    // (Deeper than serde_json reads by default: compared as text.)
    let inner = format!(r#""x":{}{}"#, "[".repeat(127), "]".repeat(127));
    let back = String::from_utf8_lossy(json);
    assert!(back.contains(&inner), "{back}");
    let refused = call_raw(
        &mut c,
        &[
            b"ALERT.ADD".to_vec(),
            b"k".to_vec(),
            nested(128).into_bytes(),
        ],
    );
    let e = refused.unwrap_err();
    assert_eq!(
        err_text(&e),
        "ERR invalid document: nested deeper than 128 levels at byte 133"
    );
}

/// Cases that must fail the same way whether their key is the stream or a missing key: each
/// is run on K with `want`, and mirrored on M (any ERR, arity stays arity).
fn mirrored_cases(fx: &Fixture) -> Vec<Case> {
    let now = fx.now.to_string();
    let id0 = fx.id0.as_str();
    let mut v: Vec<Case> = Vec::new();
    use Want::*;

    // --- arity (too few) ---
    for args in [
        &["ALERT.ADD", K][..],
        &["ALERT.GET", K],
        &["ALERT.RANGE", K],
        &["ALERT.RANGE", K, "-"],
        &["ALERT.ACK", K],
        &["ALERT.RESOLVE", K],
        &["ALERT.DEL", K],
        &["ALERT.TRIM", K],
        &["ALERT.TRIM", K, "MAXLEN"],
        &["ALERT.IMPORT", K],
        &["ALERT.IMPORT", K, "5-0"],
        // too many
        &["ALERT.TRIM", K, "MAXLEN", "1", "extra"],
        &["ALERT.TRIM", K, "MAXLEN", "1", "MINTS", "1"],
    ] {
        v.push(case(Arity, args));
    }

    // --- ALERT.ADD ---
    for (doc, sub) in bad_documents() {
        v.push(case(Msg(sub), &["ALERT.ADD", K, &doc]));
        // A valid option list does not rescue a bad document.
        v.push(case(Msg(sub), &["ALERT.ADD", K, &doc, "TS", &now]));
    }
    // Invalid UTF-8 inside a string and outside one.
    v.push(case_bytes(
        Msg("document"),
        vec![
            b"ALERT.ADD".to_vec(),
            K.into(),
            b"{\"a\":\"\xff\xfe\"}".to_vec(),
        ],
    ));
    v.push(case_bytes(
        Msg("document"),
        vec![b"ALERT.ADD".to_vec(), K.into(), b"{\"a\":1\x00}".to_vec()],
    ));
    v.push(case_bytes(
        Msg("document"),
        vec![b"ALERT.ADD".to_vec(), K.into(), b"\xef\xbb\xbf{}".to_vec()],
    ));
    for opt in ["BOGUS", "COUNT", "REV", "ts=5", "-"] {
        v.push(case(Msg(""), &["ALERT.ADD", K, "{}", opt]));
        v.push(case(Msg(""), &["ALERT.ADD", K, "{}", opt, "1"]));
    }
    v.push(case(Msg("bogus"), &["ALERT.ADD", K, "{}", "BOGUS", "1"]));
    v.push(case(
        Msg("bogus"),
        &["ALERT.ADD", K, "{}", "TS", &now, "BOGUS"],
    ));
    v.push(case(Msg(" ts"), &["ALERT.ADD", K, "{}", "TS"]));
    v.push(case(Msg(" id"), &["ALERT.ADD", K, "{}", "ID"]));
    v.push(case(Msg(" ts"), &["ALERT.ADD", K, "{}", "ID", id0, "TS"]));
    for n in BAD_NUMS {
        v.push(case(Msg(" ts"), &["ALERT.ADD", K, "{}", "TS", n]));
        v.push(case(Msg(" ts"), &["ALERT.ADD", K, DOC1, "TS", n]));
    }
    for id in BAD_IDS {
        v.push(case(Msg(" id"), &["ALERT.ADD", K, "{}", "ID", id]));
        v.push(case(
            Msg(" id"),
            &["ALERT.ADD", K, "{}", "TS", &now, "ID", id],
        ));
    }
    // TS disagreeing with ID, in both orders; also an ID the stream holds.
    let other = (fx.now - 1).to_string();
    let id_now = format!("{now}-0");
    v.push(case(
        Msg("disagree"),
        &["ALERT.ADD", K, "{}", "TS", &other, "ID", &id_now],
    ));
    v.push(case(
        Msg("disagree"),
        &["ALERT.ADD", K, "{}", "ID", &id_now, "TS", &other],
    ));
    v.push(case(
        Msg("disagree"),
        &["ALERT.ADD", K, "{}", "ID", id0, "TS", &now],
    ));
    v.push(case(
        Msg("disagree"),
        &["ALERT.ADD", K, "{}", "ID", "5-0", "TS", "6"],
    ));

    // --- ALERT.GET / ACK / RESOLVE / DEL: bad IDs, alone and after a good one ---
    for cmd in ["ALERT.GET", "ALERT.ACK", "ALERT.RESOLVE", "ALERT.DEL"] {
        for id in BAD_IDS {
            v.push(case(Msg(" id"), &[cmd, K, id]));
            v.push(case(Msg(" id"), &[cmd, K, id0, &fx.id1, &fx.id2, id]));
        }
    }

    // --- ALERT.RANGE ---
    for b in BAD_NUMS.iter().chain(BAD_IDS.iter()) {
        if *b == "-" || *b == "5" {
            continue; // valid bounds
        }
        v.push(case(Msg("invalid"), &["ALERT.RANGE", K, b, "+"]));
        v.push(case(Msg("invalid"), &["ALERT.RANGE", K, "-", b]));
    }
    for b in ["--", "++", "+-", "*", "$", "0-", "1-0-", "MIN"] {
        v.push(case(Msg("invalid"), &["ALERT.RANGE", K, b, "+"]));
        v.push(case(Msg("invalid"), &["ALERT.RANGE", K, "-", b]));
    }
    for opt in [
        "BOGUS",
        "LIMIT",
        "WITHSCORES",
        "MAXLEN",
        "-",
        "+",
        "REVERSE",
        "TS",
    ] {
        v.push(case(Msg(""), &["ALERT.RANGE", K, "-", "+", opt]));
        v.push(case(
            Msg(""),
            &["ALERT.RANGE", K, "-", "+", "REV", opt, "1"],
        ));
    }
    v.push(case(Msg("bogus"), &["ALERT.RANGE", K, "-", "+", "BOGUS"]));
    for opt in ["COUNT", "MINSEVERITY", "SOURCE", "TYPE", "STATUS", "LABEL"] {
        v.push(case(Msg(opt), &["ALERT.RANGE", K, "-", "+", opt]));
        v.push(case(Msg(opt), &["ALERT.RANGE", K, "-", "+", "REV", opt]));
    }
    for n in BAD_NUMS {
        v.push(case(
            Msg("count"),
            &["ALERT.RANGE", K, "-", "+", "COUNT", n],
        ));
        v.push(case(
            Msg("count"),
            &["ALERT.RANGE", K, "-", "+", "COUNT", n, "REV"],
        ));
    }
    for s in BAD_SEVERITIES {
        v.push(case(
            Msg("severity"),
            &["ALERT.RANGE", K, "-", "+", "MINSEVERITY", s],
        ));
    }
    for s in BAD_STATUSES {
        v.push(case(
            Msg("status"),
            &["ALERT.RANGE", K, "-", "+", "STATUS", s],
        ));
    }
    for l in ["host", "", "host:a", "host==a"] {
        // "host==a" is name "host", value "=a": valid. The others have no '='.
        if l.contains('=') {
            continue;
        }
        v.push(case(
            Msg("label"),
            &["ALERT.RANGE", K, "-", "+", "LABEL", l],
        ));
        v.push(case(
            Msg("label"),
            &["ALERT.RANGE", K, "-", "+", "LABEL", "host=a", "LABEL", l],
        ));
    }

    // --- ALERT.TRIM ---
    for mode in ["BOGUS", "COUNT", "MINID", "maxlenx", ""] {
        v.push(case(Msg(""), &["ALERT.TRIM", K, mode, "1"]));
    }
    v.push(case(Msg("bogus"), &["ALERT.TRIM", K, "BOGUS", "1"]));
    for n in BAD_NUMS {
        v.push(case(Msg("maxlen"), &["ALERT.TRIM", K, "MAXLEN", n]));
        v.push(case(Msg("mints"), &["ALERT.TRIM", K, "MINTS", n]));
    }

    // --- ALERT.IMPORT ---
    let fresh = format!("{}-3", fx.now - 500);
    for id in BAD_IDS {
        v.push(case(Msg(" id"), &["ALERT.IMPORT", K, id, "{}"]));
    }
    for (doc, sub) in bad_documents() {
        v.push(case(Msg(sub), &["ALERT.IMPORT", K, &fresh, &doc]));
    }
    v.push(case(
        Msg("bogus"),
        &["ALERT.IMPORT", K, &fresh, "{}", "BOGUS"],
    ));
    v.push(case(
        Msg("bogus"),
        &["ALERT.IMPORT", K, &fresh, "{}", "BOGUS", "1"],
    ));
    for opt in ["STATUS", "COUNT", "LASTSEEN", "ALIAS"] {
        v.push(case(Msg(opt), &["ALERT.IMPORT", K, &fresh, "{}", opt]));
        v.push(case(
            Msg(opt),
            &["ALERT.IMPORT", K, &fresh, "{}", "STATUS", "acked", opt],
        ));
    }
    for s in BAD_STATUSES {
        v.push(case(
            Msg("status"),
            &["ALERT.IMPORT", K, &fresh, "{}", "STATUS", s],
        ));
    }
    for n in BAD_NUMS.iter().chain(["0"].iter()) {
        v.push(case(
            Msg("count"),
            &["ALERT.IMPORT", K, &fresh, "{}", "COUNT", n],
        ));
    }
    for n in BAD_NUMS {
        v.push(case(
            Msg("lastseen"),
            &["ALERT.IMPORT", K, &fresh, "{}", "LASTSEEN", n],
        ));
    }
    for id in BAD_IDS {
        v.push(case(
            Msg(" id"),
            &["ALERT.IMPORT", K, &fresh, "{}", "ALIAS", id],
        ));
        v.push(case(
            Msg(" id"),
            &["ALERT.IMPORT", K, &fresh, "{}", "ALIAS", "1-1", "ALIAS", id],
        ));
    }
    v.push(case(
        Msg("alias"),
        &["ALERT.IMPORT", K, &fresh, "{}", "ALIAS", &fresh],
    ));
    v.push(case(
        Msg("alias"),
        &[
            "ALERT.IMPORT",
            K,
            &fresh,
            "{}",
            "ALIAS",
            "1-1",
            "ALIAS",
            &fresh,
        ],
    ));
    v
}

/// Cases that depend on the stream's contents (run on K only), on options of CREATE (run on M
/// where no "exists" error can hide them), on missing keys, and WRONGTYPE.
fn direct_cases(fx: &Fixture) -> Vec<Case> {
    let now = fx.now.to_string();
    let (id0, id1, id2, alias) = (&*fx.id0, &*fx.id1, &*fx.id2, &*fx.alias);
    let mut v: Vec<Case> = Vec::new();
    use Want::*;

    // --- arity without a key at all ---
    for cmd in [
        "ALERT.CREATE",
        "ALERT.ALTER",
        "ALERT.ADD",
        "ALERT.GET",
        "ALERT.RANGE",
        "ALERT.ACK",
        "ALERT.RESOLVE",
        "ALERT.DEL",
        "ALERT.TRIM",
        "ALERT.INFO",
        "ALERT.IMPORT",
    ] {
        v.push(case(Arity, &[cmd]));
    }
    v.push(case(Arity, &["ALERT.INFO", K, "extra"]));
    v.push(case(Arity, &["ALERT.INFO", M, "extra"]));
    v.push(case(Arity, &["ALERT.INFO", K, K]));

    // --- ALERT.CREATE: existing key, then bad options on a missing key ---
    v.push(case(Msg("exists"), &["ALERT.CREATE", K]));
    v.push(case(Msg("exists"), &["ALERT.CREATE", K, "RETENTION", "5"]));
    v.push(case(
        Msg("exists"),
        &["ALERT.CREATE", K, "MAXLEN", "1", "RATELIMIT", "0", "0"],
    ));
    v.push(case(WrongType, &["ALERT.CREATE", S]));
    v.push(case(WrongType, &["ALERT.CREATE", S, "MAXLEN", "5"]));
    let mut settings_cases = |cmd: &'static str, key: &'static str, generic: bool| {
        let w = |s: &'static str| if generic { Msg("") } else { Msg(s) };
        for opt in ["RETENTION", "MAXLEN", "DEDUP", "RATELIMIT"] {
            v.push(case(w(opt), &[cmd, key, opt]));
            for n in BAD_NUMS {
                v.push(case(w(opt), &[cmd, key, opt, n]));
                // A good option first does not get applied.
                v.push(case(w(opt), &[cmd, key, "MAXLEN", "1", opt, n]));
            }
        }
        v.push(case(w("ratelimit"), &[cmd, key, "RATELIMIT", "5"]));
        v.push(case(
            w("ratelimit"),
            &[cmd, key, "RETENTION", "1", "RATELIMIT", "5"],
        ));
        for n in BAD_NUMS {
            v.push(case(w("ratelimit"), &[cmd, key, "RATELIMIT", "5", n]));
        }
        for (n, win) in [("0", "5"), ("5", "0"), ("0", "1"), ("1", "0")] {
            v.push(case(w("ratelimit"), &[cmd, key, "RATELIMIT", n, win]));
            v.push(case(
                w("ratelimit"),
                &[cmd, key, "MAXLEN", "1", "RATELIMIT", n, win],
            ));
            v.push(case(
                w("ratelimit"),
                &[cmd, key, "RATELIMIT", n, win, "DEDUP", "0"],
            ));
        }
        for opt in ["BOGUS", "COUNT", "TS", "ID", "REV", "retention=5"] {
            v.push(case(w(""), &[cmd, key, opt]));
            v.push(case(w(""), &[cmd, key, opt, "5"]));
            v.push(case(w(""), &[cmd, key, "RETENTION", "0", opt, "5"]));
        }
        v.push(case(w("bogus"), &[cmd, key, "BOGUS", "5"]));
        v.push(case(w("bogus"), &[cmd, key, "MAXLEN", "5", "BOGUS"]));
    };
    settings_cases("ALERT.CREATE", M, false);
    settings_cases("ALERT.ALTER", K, false);
    // Bad options on a missing key: either complaint is right, nothing may be created.
    settings_cases("ALERT.ALTER", M, true);

    // --- ALERT.ALTER / ALERT.INFO on a missing key ---
    v.push(case(Msg("no such key"), &["ALERT.ALTER", M]));
    v.push(case(
        Msg("no such key"),
        &["ALERT.ALTER", M, "RETENTION", "5"],
    ));
    v.push(case(
        Msg("no such key"),
        &["ALERT.ALTER", M, "RATELIMIT", "0", "0"],
    ));
    v.push(case(Msg("no such key"), &["ALERT.INFO", M]));

    // --- ALERT.IMPORT against what the stream holds ---
    for id in [id0, id1, id2] {
        v.push(case(Msg("exists"), &["ALERT.IMPORT", K, id, "{}"]));
        v.push(case(
            Msg("exists"),
            &["ALERT.IMPORT", K, id, DOC2, "STATUS", "resolved"],
        ));
    }
    // An ID folded into id0 as a duplicate is taken too: as the ID and as an alias.
    let fresh = format!("{}-3", fx.now - 500);
    v.push(case(Msg("exists"), &["ALERT.IMPORT", K, alias, "{}"]));
    v.push(case(
        Msg("exists"),
        &["ALERT.IMPORT", K, &fresh, "{}", "ALIAS", alias],
    ));
    v.push(case(
        Msg("exists"),
        &["ALERT.IMPORT", K, &fresh, "{}", "ALIAS", id1],
    ));
    v.push(case(
        Msg("exists"),
        &[
            "ALERT.IMPORT",
            K,
            &fresh,
            "{}",
            "ALIAS",
            "1-1",
            "ALIAS",
            id2,
        ],
    ));

    // --- WRONGTYPE: otherwise valid calls on a string key ---
    let ts = (fx.now - 100).to_string();
    for args in [
        &["ALERT.ALTER", S][..],
        &["ALERT.ALTER", S, "RETENTION", "5"],
        &["ALERT.ADD", S, "{}"],
        &["ALERT.ADD", S, DOC0, "TS", &ts],
        &["ALERT.ADD", S, DOC0, "ID", id0],
        &["ALERT.GET", S, id0],
        &["ALERT.GET", S, "1-0", "2-0"],
        &["ALERT.RANGE", S, "-", "+"],
        &[
            "ALERT.RANGE",
            S,
            "0",
            &now,
            "REV",
            "COUNT",
            "1",
            "MINSEVERITY",
            "low",
        ],
        &["ALERT.ACK", S, id0],
        &["ALERT.RESOLVE", S, id0],
        &["ALERT.DEL", S, id0],
        &["ALERT.TRIM", S, "MAXLEN", "0"],
        &["ALERT.TRIM", S, "MINTS", &now],
        &["ALERT.INFO", S],
        &["ALERT.IMPORT", S, "5-0", "{}"],
        &[
            "ALERT.IMPORT",
            S,
            &fresh,
            DOC1,
            "STATUS",
            "acked",
            "COUNT",
            "2",
            "LASTSEEN",
            &now,
        ],
    ] {
        v.push(case(WrongType, args));
    }
    v
}

fn all_cases(fx: &Fixture) -> Vec<Case> {
    let mut cases = Vec::new();
    for c in mirrored_cases(fx) {
        assert_eq!(c.args[1], K.as_bytes(), "mirrored cases target K");
        let mut on_missing = c.clone();
        on_missing.args[1] = M.as_bytes().to_vec();
        if !matches!(on_missing.want, Want::Arity) {
            on_missing.want = Want::Msg("");
        }
        cases.push(c);
        cases.push(on_missing);
    }
    cases.extend(direct_cases(fx));
    cases
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn every_alert_command_refuses_bad_input_and_changes_nothing() {
    let server = Server::start();
    let mut c = server.client();
    let fx = setup(&mut c);
    let cases = all_cases(&fx);
    let failures = run_cases(&mut c, &cases);
    eprintln!("alert_bad_input: {} table cases", cases.len());
    assert_no_failures(&server, cases.len(), &failures);
}

/// Documents over vigil.max-document-bytes, with the limit set small; the config is restored.
#[test]
fn oversize_documents_are_refused() {
    let server = Server::start();
    let mut c = server.client();
    let fx = setup(&mut c);
    let old: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("vigil.max-document-bytes")
        .query(&mut c)
        .expect("CONFIG GET");
    assert_eq!(old.len(), 2, "CONFIG GET vigil.max-document-bytes: {old:?}");
    call(
        &mut c,
        &["CONFIG", "SET", "vigil.max-document-bytes", "100"],
    )
    .expect("CONFIG SET");

    let pad = |n: usize| format!(r#"{{"x":"{}"}}"#, "a".repeat(n - 8));
    let mut docs = vec![pad(101), pad(150), pad(4096), pad(70_000)];
    // Over the limit only because of whitespace, and over it with a valid tail.
    docs.push(format!("{{{}\"a\":1}}", " ".repeat(120)));
    docs.push(format!(
        r#"{{"severity":"high","labels":{{"k":"{}"}}}}"#,
        "v".repeat(100)
    ));
    assert!(docs.iter().all(|d| d.len() > 100));
    let mut cases = Vec::new();
    for d in &docs {
        for key in [K, M] {
            cases.push(case(
                Want::Msg("max-document-bytes"),
                &["ALERT.ADD", key, d],
            ));
            cases.push(case(
                Want::Msg("max-document-bytes"),
                &["ALERT.ADD", key, d, "TS", &fx.now.to_string()],
            ));
        }
    }
    let failures = run_cases(&mut c, &cases);

    // At the limit is fine (on a scratch key, so the stream under test stays as it was).
    let at_limit = pad(100);
    assert_eq!(at_limit.len(), 100);
    let ok = call(&mut c, &["ALERT.ADD", "vigil:scratch", &at_limit]);
    call(&mut c, &["DEL", "vigil:scratch"]).expect("DEL");
    call(
        &mut c,
        &["CONFIG", "SET", "vigil.max-document-bytes", &old[1]],
    )
    .expect("restore");
    let now: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("vigil.max-document-bytes")
        .query(&mut c)
        .expect("CONFIG GET");
    assert_eq!(now, old, "config restored");
    assert!(
        ok.is_ok(),
        "a document of exactly the limit was refused: {ok:?}"
    );
    eprintln!("alert_bad_input: {} oversize cases", cases.len());
    assert_no_failures(&server, cases.len(), &failures);
}

/// BUG (reported): ALERT.IMPORT from a client ignores vigil.max-document-bytes (it calls
/// `parse_document(&raw_doc, 0)`), so any client can store a document larger than the limit
/// that docs/contract.md "Alerts" says is refused. ALERT.ADD applies the limit except to commands
/// from the primary or the AOF (`from_primary`); IMPORT does the same (was a bug, fixed).
#[test]
fn import_refuses_oversize_documents() {
    let server = Server::start();
    let mut c = server.client();
    let fx = setup(&mut c);
    call(
        &mut c,
        &["CONFIG", "SET", "vigil.max-document-bytes", "100"],
    )
    .expect("CONFIG SET");
    let big = format!(r#"{{"x":"{}"}}"#, "a".repeat(200));
    let fresh = format!("{}-3", fx.now - 500);
    let cases = vec![
        case(
            Want::Msg("max-document-bytes"),
            &["ALERT.IMPORT", K, &fresh, &big],
        ),
        case(
            Want::Msg("max-document-bytes"),
            &["ALERT.IMPORT", M, &fresh, &big],
        ),
    ];
    let failures = run_cases(&mut c, &cases);
    call(
        &mut c,
        &["CONFIG", "SET", "vigil.max-document-bytes", "65536"],
    )
    .expect("restore");
    assert_no_failures(&server, cases.len(), &failures);
}

/// Regression (fixed in guard::printable): an argument holding a character whose code point is a multiple of 256
/// (U+0100 'Ā', U+0400 'Ѐ', U+4E00 '一', U+1F600 '😀', ...) crashes redis-server (SIGABRT) when
/// the command's error message quotes it, on any key, existing or not. Log:
/// `vigil: internal error (panic): panicked at redis-module-2.0.8/src/context/mod.rs:480:10:
/// called Result::unwrap() on an Err value: NulError(..)` then `fatal runtime error: failed to
/// initiate panic, error 5, aborting`. Cause: redis-module's `str_as_legal_resp_string` maps each
/// char to `c as u8` (U+4E00 -> 0x00) and unwraps `CString::new`; the panic happens while the
/// reply is written, after Vigil's `guard::run` returned, and cannot unwind through the C caller.
/// docs/contract.md "General rules": nothing a client sends may crash the server.
/// The fix escapes everything but printable ASCII in error texts at the FFI boundary.
#[test]
fn non_ascii_quoted_in_an_error_does_not_crash_the_server() {
    let cases: Vec<Vec<String>> = [
        &["ALERT.ADD", M, "{}", "一"][..],
        &["ALERT.ADD", K, "{}", "Ā"],
        &["ALERT.ADD", K, "{}", "TS", "1一"],
        &["ALERT.ADD", K, "{}", "ID", "1-😀"],
        &["ALERT.ADD", K, r#"{"severity":"一"}"#],
        &["ALERT.GET", K, "Ѐ"],
        &["ALERT.ACK", K, "一"],
        &["ALERT.RESOLVE", K, "一"],
        &["ALERT.DEL", K, "一"],
        &["ALERT.RANGE", K, "😀", "+"],
        &["ALERT.RANGE", M, "-", "+", "MINSEVERITY", "一"],
        &["ALERT.RANGE", K, "-", "+", "STATUS", "一"],
        &["ALERT.RANGE", K, "-", "+", "LABEL", "一"],
        &["ALERT.RANGE", K, "-", "+", "一"],
        &["ALERT.TRIM", K, "一", "1"],
        &["ALERT.CREATE", M, "一"],
        &["ALERT.ALTER", K, "RETENTION", "一"],
        &["ALERT.IMPORT", K, "一", "{}"],
        &["ALERT.IMPORT", K, "5-3", "{}", "STATUS", "一"],
    ]
    .iter()
    .map(|a| a.iter().map(|s| s.to_string()).collect())
    .collect();
    let mut failures = Vec::new();
    for args in &cases {
        // A server per case: a crash must not hide the next one.
        let server = Server::start();
        let mut c = server.client();
        setup(&mut c);
        let before = snapshot(&mut c);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let reply = call(&mut server.client(), &argv);
        let alive = server.pid().is_some()
            && redis::Client::open(server.url())
                .and_then(|cl| cl.get_connection_with_timeout(std::time::Duration::from_secs(2)))
                .and_then(|mut cn| redis::cmd("PING").query::<String>(&mut cn))
                .is_ok();
        if !alive {
            let why: Vec<String> = server
                .log()
                .lines()
                .filter(|l| l.contains("panic") || l.contains("crashed"))
                .map(str::to_owned)
                .collect();
            failures.push(format!(
                "{argv:?}: server crashed ({reply:?}); log: {why:?}"
            ));
            continue;
        }
        if let Err(p) = check_unchanged(&mut server.client(), &before) {
            failures.push(format!("{argv:?}: {p}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Regression (fixed in guard::printable): an error reply that quotes a non-ASCII argument is not valid UTF-8, and the
/// `redis` crate (the client the spec's vigil-client is built on) then fails to parse it and the
/// connection stays broken: every later command on it fails with the same parse error.
/// Cause: redis-module's `Context::str_as_legal_resp_string` maps each `char` to `c as u8`, so
/// `'é'` (U+00E9) goes out as the lone byte 0xE9 and the U+FFFD of a lossy conversion as 0xFD;
/// Vigil quotes client input in its messages (`unknown option '{opt}'`, `invalid alert ID '{v}'`,
/// `invalid severity '{s}'`, ...). docs/contract.md "General rules": bad input gets an error reply
/// that says what is wrong; a reply no client can read (and that breaks the connection) is not
/// that.
/// The fix escapes everything but printable ASCII in error texts at the FFI boundary.
#[test]
fn error_replies_quoting_non_ascii_input_are_readable() {
    let server = Server::start();
    let mut c = server.client();
    let fx = setup(&mut c);
    let fresh = format!("{}-3", fx.now - 500);
    let kb = K.as_bytes();
    let bytes = |parts: &[&[u8]]| parts.iter().map(|p| p.to_vec()).collect::<Vec<Vec<u8>>>();
    let cases: Vec<Vec<Vec<u8>>> = vec![
        // Valid UTF-8 that is not ASCII.
        bytes(&[b"ALERT.ADD", kb, b"{}", "é".as_bytes()]),
        bytes(&[b"ALERT.ADD", kb, b"{}", b"TS", "1٣".as_bytes()]),
        bytes(&[b"ALERT.ADD", kb, r#"{"severity":"élevé"}"#.as_bytes()]),
        bytes(&[b"ALERT.GET", kb, "1-0€".as_bytes()]),
        bytes(&[b"ALERT.RANGE", kb, "ü".as_bytes(), b"+"]),
        bytes(&[
            b"ALERT.RANGE",
            kb,
            b"-",
            b"+",
            b"MINSEVERITY",
            "très".as_bytes(),
        ]),
        bytes(&[b"ALERT.RANGE", kb, b"-", b"+", b"LABEL", "hôte".as_bytes()]),
        bytes(&[b"ALERT.TRIM", kb, "MAXLÉN".as_bytes(), b"1"]),
        bytes(&[
            b"ALERT.IMPORT",
            kb,
            fresh.as_bytes(),
            b"{}",
            b"STATUS",
            "résolu".as_bytes(),
        ]),
        bytes(&[b"ALERT.CREATE", M.as_bytes(), "RÉTENTION".as_bytes(), b"1"]),
        // Not UTF-8 at all.
        bytes(&[b"ALERT.ADD", kb, b"{}", b"\xff"]),
        bytes(&[b"ALERT.ADD", kb, b"{}", b"ID", b"1-\xff"]),
        bytes(&[b"ALERT.ACK", kb, b"1-0\xff"]),
        bytes(&[b"ALERT.RANGE", kb, b"-", b"+", b"STATUS", b"\xff"]),
        bytes(&[b"ALERT.IMPORT", kb, b"1-\xff", b"{}"]),
    ];
    let mut failures = Vec::new();
    for args in &cases {
        let before = snapshot(&mut c);
        // A connection of its own: a broken one must not hide the next case.
        let mut own = server.client();
        let reply = call_raw(&mut own, args);
        let mut problems = Vec::new();
        match &reply {
            Err(e) if e.code() == Some("ERR") => {}
            other => problems.push(format!("not a readable ERR reply: {other:?}")),
        }
        let pong: redis::RedisResult<String> = redis::cmd("PING").query(&mut own);
        if pong.as_deref() != Ok("PONG") {
            problems.push(format!(
                "the connection is broken afterwards: PING gave {pong:?}"
            ));
        }
        if let Err(p) = check_unchanged(&mut c, &before) {
            problems.push(p);
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}", show(args), problems.join("; ")));
        }
    }
    assert_no_failures(&server, cases.len(), &failures);
}

/// docs/commands.md "Conventions": error messages quote what was sent, each byte outside
/// printable ASCII as `\xNN`. Bytes that are not UTF-8 were turned into U+FFFD before the
/// escaping, so that the message named `\xef\xbf\xbd`, which the client never sent.
#[test]
fn error_replies_quote_the_bytes_that_were_sent() {
    let server = Server::start();
    let mut c = server.client();
    setup(&mut c);
    let kb = K.as_bytes();
    let bytes = |parts: &[&[u8]]| parts.iter().map(|p| p.to_vec()).collect::<Vec<Vec<u8>>>();
    let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
        (bytes(&[b"ALERT.ADD", kb, b"{}", b"\xe9"]), "'\\xe9'"),
        (bytes(&[b"ALERT.ACK", kb, b"1-0\xff"]), "'1-0\\xff'"),
        (
            bytes(&[b"ALERT.RANGE", kb, b"-", b"+", b"STATUS", b"a\xffb"]),
            "'a\\xffb'",
        ),
        (bytes(&[b"ALERT.READ", kb, b"AFTER", b"\xc3"]), "'\\xc3'"),
        // Valid UTF-8 beside a broken sequence: é is its two bytes, the lone one its own.
        (
            bytes(&[b"ALERT.ADD", kb, b"{}", b"\xc3\xa9\xe9"]),
            "'\\xc3\\xa9\\xe9'",
        ),
        (bytes(&[b"QUOTA.INCR", b"q:b", b"\xe9"]), "'\\xe9'"),
        (
            bytes(&[b"QUOTA.SET", b"q:b", b"LIMIT", b"-\xe9"]),
            "'-\\xe9'",
        ),
        (
            bytes(&[b"LRU.TOUCH", b"t:{a}:lru", b"t:{\xff}:k", b"1"]),
            "'t:{\\xff}:k'",
        ),
        (bytes(&[b"LRU.EVICT", b"t:{a}:lru", b"\xfe"]), "'\\xfe'"),
        (bytes(&[b"LRU.CANDIDATES", b"\xff", b"1"]), "'\\xff'"),
        // Text options that are not UTF-8 are refused, not matched as U+FFFD: a document's
        // strings always are UTF-8, so a silence or filter on such bytes would hide or find
        // alerts of another source (seen: SOURCE "\xff\xfe" silenced "\u{fffd}\u{fffd}").
        (
            bytes(&[b"ALERT.RANGE", kb, b"-", b"+", b"SOURCE", b"\xff\xfe"]),
            "'\\xff\\xfe': not UTF-8",
        ),
        (
            bytes(&[b"ALERT.READ", kb, b"AFTER", b"0", b"TYPE", b"\x80"]),
            "'\\x80': not UTF-8",
        ),
        (
            bytes(&[
                b"ALERT.GROUPS",
                kb,
                b"-",
                b"+",
                b"BY",
                b"source",
                b"LABEL",
                b"k=\x80",
            ]),
            "'k=\\x80': not UTF-8",
        ),
        (
            bytes(&[
                b"ALERT.SILENCE",
                kb,
                b"UNTIL",
                b"99999999999999",
                b"SOURCE",
                b"\xff",
            ]),
            "'\\xff': not UTF-8",
        ),
        (
            bytes(&[
                b"ALERT.SILENCE",
                kb,
                b"UNTIL",
                b"99999999999999",
                b"SOURCE",
                b"s",
                b"COMMENT",
                b"a\xffb",
            ]),
            "'a\\xffb': not UTF-8",
        ),
    ];
    let mut failures = Vec::new();
    for (args, quoted) in &cases {
        let before = snapshot(&mut c);
        match call_raw(&mut c, args) {
            Err(e)
                if err_text(&e).contains(quoted) && !err_text(&e).contains("\\xef\\xbf\\xbd") => {}
            other => failures.push(format!(
                "{}: want {quoted} quoted, got {other:?}",
                show(args)
            )),
        }
        if let Err(p) = check_unchanged(&mut c, &before) {
            failures.push(format!("{}: {p}", show(args)));
        }
    }
    assert_no_failures(&server, cases.len(), &failures);
}

// ---------------------------------------------------------------------------------------------
// Fuzz

/// xorshift64: deterministic, no crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\\",
    "\"severity\"",
    "\"source\"",
    "\"type\"",
    "\"labels\"",
    "\"fingerprint\"",
    "\"id\"",
    "\"ts\"",
    "\"status\"",
    "\"count\"",
    "\"last_seen\"",
    "\"x\"",
    "\"high\"",
    "\"HIGH\"",
    "\"urgent\"",
    "\"\"",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1.5e308",
    "1e999",
    "123456789012345678901234567890",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"é€😀\"",
    " ",
    "\n",
    "\t",
    "{}",
    "[]",
    "{\"a\":\"b\"}",
    "NaN",
    "'",
];
const KEYS: &[&str] = &[
    "severity",
    "source",
    "type",
    "labels",
    "fingerprint",
    "id",
    "ts",
    "status",
    "count",
    "last_seen",
    "x",
    "",
    "Severity",
    "ID",
    "labels ",
    "\\u0069d",
];
const VALUES: &[&str] = &[
    "\"high\"",
    "\"Critical\"",
    "\"bogus\"",
    "\"\"",
    "5",
    "null",
    "true",
    "[]",
    "{}",
    "{\"a\":\"b\"}",
    "{\"a\":1}",
    "[\"a\"]",
    "\"db\"",
    "-0",
    "1e3",
    "123456789012345678901234567890",
    "{\"a\":{\"b\":[1,{\"c\":null}]}}",
    "\"\\\"\"",
];
const VALID_DOCS: &[&str] = &[DOC0, DOC1, DOC2, "{}", r#"{"severity":"info","labels":{}}"#];

fn gen_doc(r: &mut Rng) -> Vec<u8> {
    match r.below(5) {
        0 => (0..r.below(48)).map(|_| r.next() as u8).collect(),
        1 => {
            let mut s = String::new();
            for _ in 0..r.below(30) {
                let token: &&str = r.pick(JSON_TOKENS);
                s.push_str(token);
            }
            s.into_bytes()
        }
        2 | 3 => {
            let mut s = String::from("{");
            for i in 0..r.below(5) {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(&format!("\"{}\":{}", r.pick(KEYS), r.pick(VALUES)));
            }
            if !r.chance(8) {
                s.push('}');
            }
            s.into_bytes()
        }
        _ => {
            let mut d = r.pick(VALID_DOCS).as_bytes().to_vec();
            for _ in 0..1 + r.below(3) {
                let at = r.below(d.len() + 1);
                match r.below(4) {
                    0 if !d.is_empty() => {
                        d.remove(at.min(d.len() - 1));
                    }
                    1 => d.insert(at, r.next() as u8),
                    2 => d.truncate(at),
                    _ => {
                        let tok = r.pick(JSON_TOKENS).as_bytes().to_vec();
                        d.splice(at..at, tok);
                    }
                }
            }
            d
        }
    }
}

fn gen_num(r: &mut Rng, now: u64) -> String {
    match r.below(6) {
        0 => (now - r.below(100_000) as u64).to_string(),
        1 => r.pick(&BAD_NUMS).to_string(),
        2 => r
            .pick(&[
                "0",
                "1",
                "007",
                "9223372036854775807",
                "9223372036854775808",
                "18446744073709551615",
            ])
            .to_string(),
        3 => (r.next() % 1_000_000_000).to_string(),
        4 => (0..1 + r.below(25))
            .map(|_| char::from(b'0' + r.below(10) as u8))
            .collect(),
        _ => {
            let mut s = (now as i64 - r.below(1000) as i64).to_string();
            s.insert(
                r.below(s.len() + 1),
                *r.pick(&['.', '-', '+', 'e', ' ', 'x']),
            );
            s
        }
    }
}

fn gen_id(r: &mut Rng, now: u64, ids: &[String]) -> String {
    match r.below(4) {
        0 => r.pick(ids).clone(),
        1 => r.pick(&BAD_IDS).to_string(),
        2 => format!("{}-{}", gen_num(r, now), gen_num(r, now)),
        _ => format!("{}-{}", now - r.below(10_000) as u64, r.below(3)),
    }
}

const ADD_OPTS: &[&str] = &["TS", "ID", "ts", "id", "Ts", "BOGUS", "COUNT", "REV", ""];
const RANGE_OPTS: &[&str] = &[
    "REV",
    "COUNT",
    "MINSEVERITY",
    "SOURCE",
    "TYPE",
    "STATUS",
    "LABEL",
    "rev",
    "count",
    "label",
    "BOGUS",
    "TS",
    "",
];

fn gen_add(r: &mut Rng, now: u64, ids: &[String]) -> Vec<Vec<u8>> {
    let key = if r.chance(6) { M } else { K };
    let mut args = vec![b"ALERT.ADD".to_vec(), key.as_bytes().to_vec(), gen_doc(r)];
    for _ in 0..r.below(4) {
        let opt = *r.pick(ADD_OPTS);
        args.push(opt.as_bytes().to_vec());
        if r.chance(6) {
            continue; // option without its value
        }
        let val = match opt.to_ascii_uppercase().as_str() {
            "TS" => gen_num(r, now),
            "ID" => gen_id(r, now, ids),
            _ => gen_num(r, now),
        };
        args.push(val.into_bytes());
    }
    args
}

fn gen_bound(r: &mut Rng, now: u64, ids: &[String]) -> String {
    match r.below(4) {
        0 => r.pick(&["-", "+"]).to_string(),
        1 => gen_num(r, now),
        _ => gen_id(r, now, ids),
    }
}

fn gen_range(r: &mut Rng, now: u64, ids: &[String]) -> Vec<Vec<u8>> {
    let key = if r.chance(6) { M } else { K };
    let mut args = vec![
        b"ALERT.RANGE".to_vec(),
        key.as_bytes().to_vec(),
        gen_bound(r, now, ids).into_bytes(),
        gen_bound(r, now, ids).into_bytes(),
    ];
    for _ in 0..r.below(6) {
        let opt = *r.pick(RANGE_OPTS);
        args.push(opt.as_bytes().to_vec());
        if opt.eq_ignore_ascii_case("REV") || r.chance(8) {
            continue;
        }
        let val: Vec<u8> = match opt.to_ascii_uppercase().as_str() {
            "COUNT" => gen_num(r, now).into_bytes(),
            "MINSEVERITY" => r
                .pick(&["high", "LOW", "critical", "urgent", "", "info "])
                .as_bytes()
                .to_vec(),
            "STATUS" => r
                .pick(&["active", "ACKED", "resolved", "open", ""])
                .as_bytes()
                .to_vec(),
            "LABEL" => r
                .pick(&["host=a", "x=y", "host", "=", "", "a==b", "noeq"])
                .as_bytes()
                .to_vec(),
            "SOURCE" | "TYPE" => gen_doc(r),
            _ => gen_num(r, now).into_bytes(),
        };
        args.push(val);
    }
    args
}

/// Random garbage as ALERT.ADD documents and options and ALERT.RANGE bounds and options: the
/// server stays up, an erroring command changes nothing, RANGE never changes anything, and no
/// reply is an internal error.
#[test]
fn random_garbage_never_crashes_or_half_applies() {
    let server = Server::start();
    let mut c = server.client();
    let fx = setup(&mut c);
    let ids = vec![
        fx.id0.clone(),
        fx.id1.clone(),
        fx.id2.clone(),
        fx.alias.clone(),
    ];
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let mut failures = Vec::new();
    let (mut errors, mut successes) = (0usize, 0usize);
    const ITERATIONS: usize = 2000;
    for i in 0..ITERATIONS {
        let cmd = if i % 2 == 0 {
            gen_add(&mut r, fx.now, &ids)
        } else {
            gen_range(&mut r, fx.now, &ids)
        };
        let is_range = cmd[0] == b"ALERT.RANGE";
        let before = snapshot(&mut c);
        let reply = call_raw(&mut c, &cmd);
        match &reply {
            Err(e) => {
                errors += 1;
                let text = err_text(e);
                let mut problems = Vec::new();
                if !text.starts_with("ERR") && !text.contains("wrong number of arguments") {
                    problems.push(format!("error without ERR: {text:?}"));
                }
                if text.contains("internal error") {
                    problems.push(format!("internal error: {text:?}"));
                }
                if let Err(p) = check_unchanged(&mut c, &before) {
                    problems.push(p);
                }
                if !problems.is_empty() {
                    failures.push(format!("#{i} {}: {}", show(&cmd), problems.join("; ")));
                }
            }
            Ok(_) => {
                successes += 1;
                let pong: redis::RedisResult<String> = redis::cmd("PING").query(&mut c);
                if pong.as_deref() != Ok("PONG") {
                    failures.push(format!("#{i} {}: server down: {pong:?}", show(&cmd)));
                    break;
                }
                if is_range {
                    if let Err(p) = check_unchanged(&mut c, &before) {
                        failures.push(format!("#{i} {}: {p}", show(&cmd)));
                    }
                } else {
                    // An ADD that succeeded may change the stream (or create M): start over
                    // from the new state.
                    let _ = call(&mut c, &["DEL", M]);
                }
            }
        }
        if failures.len() > 50 {
            break;
        }
    }
    eprintln!("alert_bad_input fuzz: {ITERATIONS} commands, {errors} errors, {successes} accepted");
    assert!(
        errors > ITERATIONS / 2,
        "the generator should mostly produce bad input"
    );
    assert_no_failures(&server, ITERATIONS, &failures);
}

/// Valid but hostile documents: deep nesting, huge numbers, long strings, many fields. They may
/// be accepted or refused, but the server must stay up and answer.
#[test]
fn hostile_documents_do_not_crash() {
    let server = Server::start();
    let mut c = server.client();
    let _fx = setup(&mut c);
    let deep = |n: usize| format!("{{\"x\":{}{}}}", "[".repeat(n), "]".repeat(n));
    let deep_obj = |n: usize| {
        format!(
            "{}{}",
            "{\"a\":".repeat(n),
            "1".to_string() + &"}".repeat(n)
        )
    };
    let docs = vec![
        deep(128),
        deep(1000),
        deep(30_000),
        deep_obj(1000),
        deep_obj(10_000),
        format!("{{\"labels\":{{\"a\":{}}}}}", "[".repeat(30_000)),
        format!("{{\"severity\":{}", "[".repeat(30_000)),
        format!("{{\"n\":1{}}}", "0".repeat(60_000)),
        format!("{{\"s\":\"{}\"}}", "\\u0041".repeat(10_000)),
        format!(
            "{{{}}}",
            (0..5000)
                .map(|i| format!("\"k{i}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        ),
        format!(
            "{{\"labels\":{{{}}}}}",
            (0..3000)
                .map(|i| format!("\"k{i}\":\"v\""))
                .collect::<Vec<_>>()
                .join(",")
        ),
    ];
    let mut failures = Vec::new();
    for d in &docs {
        let reply = call(&mut c, &["ALERT.ADD", "vigil:hostile", d]);
        if let Err(e) = &reply {
            let text = err_text(e);
            if !text.starts_with("ERR") || text.contains("internal error") {
                failures.push(format!("{}: {text:?}", show(&[d.as_bytes().to_vec()])));
            }
        }
        let pong: redis::RedisResult<String> = redis::cmd("PING").query(&mut c);
        assert_eq!(
            pong.as_deref(),
            Ok("PONG"),
            "server down after a document of {} bytes",
            d.len()
        );
    }
    assert_no_failures(&server, docs.len(), &failures);
}

/// NOW (the clock the primary decided by, replicated with ADD and ALTER) may not run ahead of
/// the server clock when a client sends it: a future NOW would expire alerts that are not old.
#[test]
fn now_from_a_client_may_not_be_in_the_future() {
    let server = Server::start();
    let mut c = server.client();
    call(
        &mut c,
        &["ALERT.CREATE", "k", "RETENTION", "1000", "DEDUP", "0"],
    )
    .unwrap();
    call(&mut c, &["ALERT.ADD", "k", "{}"]).unwrap();
    let e = error_of(&mut c, &["ALERT.ADD", "k", "{}", "NOW", "9000000000000000"]);
    assert!(e.starts_with("ERR NOW"), "{e}");
    let e = error_of(&mut c, &["ALERT.ALTER", "k", "NOW", "9000000000000000"]);
    assert!(e.starts_with("ERR NOW"), "{e}");
    assert_eq!(
        alerts(call(&mut c, &["ALERT.RANGE", "k", "-", "+"]).unwrap()).len(),
        1
    );
    // A NOW in the past is accepted (replays decide by the time they were first decided).
    let v = call(
        &mut c,
        &["ALERT.ADD", "k", "{}", "TS", "5000", "NOW", "5500"],
    )
    .unwrap();
    let (o, _, _): (String, Option<String>, i64) = redis::from_redis_value(&v).unwrap();
    assert_eq!(o, "added");
}
