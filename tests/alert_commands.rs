//! ALERT.* against a real redis-server: replies, semantics, flags and key specs, configs,
//! INFO and keyspace events.

mod common;
use common::*;
use redis::Value;
use std::time::{SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn add(c: &mut redis::Connection, args: &[&str]) -> (String, Option<String>, i64) {
    let mut all = vec!["ALERT.ADD"];
    all.extend_from_slice(args);
    let v = call(c, &all).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    redis::from_redis_value(&v).expect("[outcome, id, n]")
}

#[test]
fn add_outcomes_and_reply_shapes() {
    let s = Server::start();
    let mut c = s.client();
    let t = now_ms();
    let ts = t.to_string();
    let doc = r#"{"severity":"high","source":"db","type":"disk","labels":{"host":"a"}}"#;
    let (o, id, n) = add(&mut c, &["k", doc, "TS", &ts]);
    assert_eq!((o.as_str(), n), ("added", 1));
    let id = id.unwrap();
    assert_eq!(id, format!("{t}-0"));
    // Same fingerprint (label order does not matter) within the window: a duplicate.
    let doc2 = r#"{"labels":{"host":"a"},"type":"disk","source":"db","severity":"high"}"#;
    let later = (t + 10).to_string();
    assert_eq!(
        add(&mut c, &["k", doc2, "TS", &later]),
        ("duplicate".into(), Some(id.clone()), 2)
    );
    // An explicit ID is idempotent.
    let eid = format!("{}-42", t + 20);
    let other = r#"{"source":"web","fingerprint":"f1"}"#;
    assert_eq!(
        add(&mut c, &["k", other, "ID", &eid]),
        ("added".into(), Some(eid.clone()), 1)
    );
    assert_eq!(
        add(&mut c, &["k", other, "ID", &eid]),
        ("exists".into(), Some(eid.clone()), 1)
    );
    // Expired: older than retention.
    assert_eq!(
        add(&mut c, &["k", "{}", "TS", "1000"]),
        ("expired".into(), None, 0)
    );
    let got = alerts(call(&mut c, &["ALERT.GET", "k", &id, "1-1", &eid]).unwrap());
    assert_eq!(got.len(), 3);
    assert_eq!(got[0]["count"], 2);
    assert_eq!(got[0]["last_seen"], t + 10);
    assert_eq!(got[0]["status"], "active");
    assert_eq!(got[0]["ts"], t);
    assert_eq!(got[0]["id"], id);
    assert_eq!(got[0]["labels"]["host"], "a");
    assert!(got[1].is_null());
    assert_eq!(got[2]["fingerprint"], "f1");
}

#[test]
fn numbers_and_unknown_fields_are_kept_verbatim() {
    let s = Server::start();
    let mut c = s.client();
    let doc = r#"{ "big": 123456789012345678901234567890, "dec": 1.250000000000000000001, "nested": {"a": [1, "x", null, true]} }"#;
    let (_, id, _) = add(&mut c, &["k", doc]);
    let got: Vec<String> =
        redis::from_redis_value(&call(&mut c, &["ALERT.GET", "k", &id.unwrap()]).unwrap()).unwrap();
    // Numbers come back exactly as sent (no float round trip), other fields unchanged.
    assert!(
        got[0].contains("123456789012345678901234567890"),
        "{}",
        got[0]
    );
    assert!(got[0].contains("1.250000000000000000001"), "{}", got[0]);
    let v: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(v["nested"], serde_json::json!({"a": [1, "x", null, true]}));
    // A pretty-printed document is stored compacted.
    let pretty = "{\n  \"a\": 1,\n  \"s\": \"x  y\",\n\t\"fingerprint\": \"\"\n}";
    let (_, id, _) = add(&mut c, &["k", pretty]);
    let got: Vec<String> =
        redis::from_redis_value(&call(&mut c, &["ALERT.GET", "k", &id.unwrap()]).unwrap()).unwrap();
    assert!(
        got[0].starts_with(r#"{"a":1,"s":"x  y","fingerprint":"","id":"#),
        "{}",
        got[0]
    );
}

#[test]
fn rate_limit_per_source_with_retry_after() {
    let s = Server::start();
    let mut c = s.client();
    call(
        &mut c,
        &["ALERT.CREATE", "k", "RATELIMIT", "2", "1000", "DEDUP", "0"],
    )
    .unwrap();
    let t = now_ms();
    let a = r#"{"source":"a"}"#;
    assert_eq!(add(&mut c, &["k", a, "TS", &t.to_string()]).0, "added");
    assert_eq!(
        add(&mut c, &["k", a, "TS", &(t + 400).to_string()]).0,
        "added"
    );
    assert_eq!(
        add(&mut c, &["k", a, "TS", &(t + 600).to_string()]),
        ("limited".into(), None, 400)
    );
    assert_eq!(
        add(
            &mut c,
            &["k", r#"{"source":"b"}"#, "TS", &(t + 600).to_string()]
        )
        .0,
        "added"
    );
    assert_eq!(
        add(&mut c, &["k", a, "TS", &(t + 1000).to_string()]).0,
        "added"
    );
    let info = map_of(call(&mut c, &["ALERT.INFO", "k"]).unwrap());
    assert_eq!(int(&info["limited"]), 1);
    assert_eq!(int(&info["added"]), 4);
    assert_eq!(int(&info["ratelimit_n"]), 2);
    assert_eq!(int(&info["ratelimit_window"]), 1000);
}

#[test]
fn maxlen_trims_oldest_and_refuses_older_than_all() {
    let s = Server::start();
    let mut c = s.client();
    call(&mut c, &["ALERT.CREATE", "k", "MAXLEN", "3", "DEDUP", "0"]).unwrap();
    let t = now_ms();
    for i in 0..5 {
        assert_eq!(
            add(&mut c, &["k", "{}", "TS", &(t + i).to_string()]).0,
            "added"
        );
    }
    assert_eq!(
        add(&mut c, &["k", "{}", "TS", &(t - 5).to_string()]).0,
        "expired"
    );
    let all = alerts(call(&mut c, &["ALERT.RANGE", "k", "-", "+"]).unwrap());
    let ts: Vec<i64> = all.iter().map(|a| a["ts"].as_i64().unwrap()).collect();
    assert_eq!(ts, [t + 2, t + 3, t + 4]);
    let info = map_of(call(&mut c, &["ALERT.INFO", "k"]).unwrap());
    assert_eq!(int(&info["length"]), 3);
    assert_eq!(int(&info["trimmed"]), 2);
    assert_eq!(int(&info["expired"]), 1);
    assert_eq!(int(&info["first_ts"]), t + 2);
    assert_eq!(int(&info["last_ts"]), t + 4);
}

#[test]
fn range_bounds_filters_rev_and_count() {
    let s = Server::start();
    let mut c = s.client();
    call(&mut c, &["ALERT.CREATE", "k", "DEDUP", "0"]).unwrap();
    let t = now_ms();
    let docs = [
        r#"{"severity":"low","source":"a","type":"cpu","labels":{"h":"1"}}"#,
        r#"{"severity":"HIGH","source":"b","type":"disk","labels":{"h":"2"}}"#,
        r#"{"severity":"critical","source":"a","type":"disk","labels":{"h":"1","k":"v=w"}}"#,
        r#"{"severity":"medium","source":"b","type":"cpu"}"#,
    ];
    for (i, d) in docs.iter().enumerate() {
        add(&mut c, &["k", d, "TS", &(t + i as i64).to_string()]);
    }
    add(&mut c, &["k", docs[0], "TS", &(t + 1).to_string()]); // second alert at t+1: t+1-1
    let ts = |c: &mut redis::Connection, extra: &[&str]| -> Vec<String> {
        let mut args = vec!["ALERT.RANGE", "k"];
        args.extend_from_slice(extra);
        alerts(call(c, &args).unwrap())
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    let id = |d: i64, seq: u64| format!("{}-{seq}", t + d);
    assert_eq!(
        ts(&mut c, &["-", "+"]),
        [id(0, 0), id(1, 0), id(1, 1), id(2, 0), id(3, 0)]
    );
    // A bare timestamp covers its whole millisecond, at either end.
    let t1 = (t + 1).to_string();
    assert_eq!(ts(&mut c, &[&t1, &t1]), [id(1, 0), id(1, 1)]);
    assert_eq!(
        ts(&mut c, &[&id(1, 1), "+", "COUNT", "2"]),
        [id(1, 1), id(2, 0)]
    );
    assert_eq!(
        ts(&mut c, &["-", "+", "REV", "COUNT", "2"]),
        [id(3, 0), id(2, 0)]
    );
    assert_eq!(
        ts(&mut c, &[&id(0, 0), &t1, "REV"]),
        [id(1, 1), id(1, 0), id(0, 0)]
    );
    assert_eq!(
        ts(&mut c, &["-", "+", "MINSEVERITY", "high"]),
        [id(1, 0), id(2, 0)]
    );
    assert_eq!(
        ts(&mut c, &["-", "+", "minseverity", "HIGH", "SOURCE", "a"]),
        [id(2, 0)]
    );
    assert_eq!(
        ts(&mut c, &["-", "+", "TYPE", "cpu"]),
        [id(0, 0), id(1, 1), id(3, 0)]
    );
    assert_eq!(
        ts(&mut c, &["-", "+", "LABEL", "h=1", "LABEL", "k=v=w"]),
        [id(2, 0)]
    );
    assert_eq!(
        ts(&mut c, &["-", "+", "LABEL", "h=1", "COUNT", "1", "REV"]),
        [id(2, 0)]
    );
    assert!(ts(&mut c, &["+", "-"]).is_empty());
    assert!(ts(&mut c, &["-", "+", "SOURCE", "nobody"]).is_empty());
    assert!(ts(&mut c, &["-", "+", "COUNT", "0"]).is_empty());
    call(&mut c, &["ALERT.ACK", "k", &id(3, 0)]).unwrap();
    assert_eq!(ts(&mut c, &["-", "+", "STATUS", "acked"]), [id(3, 0)]);
    // Missing key: an empty array, and no key created.
    assert!(alerts(call(&mut c, &["ALERT.RANGE", "nokey", "-", "+"]).unwrap()).is_empty());
    assert_eq!(int(&call(&mut c, &["EXISTS", "nokey"]).unwrap()), 0);
}

#[test]
fn ack_resolve_del_trim() {
    let s = Server::start();
    let mut c = s.client();
    let t = now_ms();
    let d = r#"{"source":"x"}"#;
    let (_, id, _) = add(&mut c, &["k", d, "TS", &t.to_string()]);
    let id = id.unwrap();
    let ack = |c: &mut redis::Connection, cmd: &str, ids: &[&str]| -> i64 {
        let mut args = vec![cmd, "k"];
        args.extend_from_slice(ids);
        int(&call(c, &args).unwrap())
    };
    assert_eq!(ack(&mut c, "ALERT.ACK", &[&id, &id, "1-1"]), 1);
    assert_eq!(ack(&mut c, "ALERT.ACK", &[&id]), 0);
    // Acked alerts still absorb duplicates; their status stays.
    assert_eq!(
        add(&mut c, &["k", d, "TS", &(t + 1).to_string()]).0,
        "duplicate"
    );
    assert_eq!(ack(&mut c, "ALERT.RESOLVE", &[&id]), 1);
    assert_eq!(ack(&mut c, "ALERT.RESOLVE", &[&id]), 0);
    assert_eq!(ack(&mut c, "ALERT.ACK", &[&id]), 0, "ack does not reopen");
    // Resolved: no longer a dedup target.
    let (o, id2, _) = add(&mut c, &["k", d, "TS", &(t + 2).to_string()]);
    assert_eq!(o, "added");
    let got = alerts(call(&mut c, &["ALERT.GET", "k", &id]).unwrap());
    assert_eq!(got[0]["status"], "resolved");
    assert_eq!(ack(&mut c, "ALERT.DEL", &[&id, "5-5"]), 1);
    assert_eq!(ack(&mut c, "ALERT.DEL", &[&id]), 0);
    for i in 3..10 {
        add(
            &mut c,
            &[
                "k",
                &format!(r#"{{"n":{i},"fingerprint":""}}"#),
                "TS",
                &(t + i).to_string(),
            ],
        );
    }
    assert_eq!(
        int(&call(&mut c, &["ALERT.TRIM", "k", "MAXLEN", "5"]).unwrap()),
        3
    );
    assert_eq!(
        int(&call(&mut c, &["ALERT.TRIM", "k", "MINTS", &(t + 7).to_string()]).unwrap()),
        2
    );
    let left = alerts(call(&mut c, &["ALERT.RANGE", "k", "-", "+"]).unwrap());
    assert_eq!(left.len(), 3);
    assert!(left.iter().all(|a| a["ts"].as_i64().unwrap() >= t + 7));
    assert_ne!(id2.unwrap(), id);
    assert_eq!(
        int(&call(&mut c, &["ALERT.TRIM", "k", "maxlen", "0"]).unwrap()),
        3
    );
    assert!(alerts(call(&mut c, &["ALERT.RANGE", "k", "-", "+"]).unwrap()).is_empty());
    // Missing key: 0 for every writer, and nothing created.
    for cmd in ["ALERT.ACK", "ALERT.RESOLVE", "ALERT.DEL"] {
        assert_eq!(int(&call(&mut c, &[cmd, "nokey", "1-1"]).unwrap()), 0);
    }
    assert_eq!(
        int(&call(&mut c, &["ALERT.TRIM", "nokey", "MAXLEN", "1"]).unwrap()),
        0
    );
    assert_eq!(int(&call(&mut c, &["EXISTS", "nokey"]).unwrap()), 0);
}

#[test]
fn create_alter_and_info() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(
        call(
            &mut c,
            &[
                "ALERT.CREATE",
                "k",
                "RETENTION",
                "0",
                "MAXLEN",
                "0",
                "DEDUP",
                "0"
            ]
        )
        .unwrap(),
        Value::Okay
    );
    assert_eq!(
        call(&mut c, &["TYPE", "k"]).unwrap(),
        Value::SimpleString("vigil-alr".into())
    );
    let info = map_of(call(&mut c, &["ALERT.INFO", "k"]).unwrap());
    for f in [
        "length",
        "first_ts",
        "last_ts",
        "retention",
        "maxlen",
        "dedup",
        "ratelimit_n",
        "ratelimit_window",
        "added",
        "duplicates",
        "limited",
        "expired",
        "trimmed",
        "memory",
    ] {
        assert!(info.contains_key(f), "ALERT.INFO lacks {f}");
    }
    assert_eq!(int(&info["length"]), 0);
    assert_eq!(info["first_ts"], Value::Nil);
    for i in 0..10 {
        add(&mut c, &["k", "{}", "TS", &(1000 + i).to_string()]);
    }
    // Old timestamps are fine with RETENTION 0; a smaller MAXLEN trims at once.
    assert_eq!(
        call(&mut c, &["ALERT.ALTER", "k", "MAXLEN", "4"]).unwrap(),
        Value::Okay
    );
    let info = map_of(call(&mut c, &["ALERT.INFO", "k"]).unwrap());
    assert_eq!(int(&info["length"]), 4);
    assert_eq!(int(&info["maxlen"]), 4);
    assert_eq!(int(&info["trimmed"]), 6);
    // RETENTION trims by the server clock.
    call(&mut c, &["ALERT.ALTER", "k", "RETENTION", "60000"]).unwrap();
    let info = map_of(call(&mut c, &["ALERT.INFO", "k"]).unwrap());
    assert_eq!(int(&info["length"]), 0);
    assert!(int(&info["memory"]) > 0);
    // Defaults come from the configs at creation time.
    call(&mut c, &["CONFIG", "SET", "vigil.alert-max-len", "77"]).unwrap();
    call(
        &mut c,
        &["CONFIG", "SET", "vigil.alert-dedup-window-ms", "5"],
    )
    .unwrap();
    add(&mut c, &["k2", "{}"]);
    let info = map_of(call(&mut c, &["ALERT.INFO", "k2"]).unwrap());
    assert_eq!(int(&info["maxlen"]), 77);
    assert_eq!(int(&info["dedup"]), 5);
    assert_eq!(int(&info["retention"]), 2_592_000_000);
    let info = map_of(call(&mut c, &["ALERT.INFO", "k"]).unwrap());
    assert_eq!(
        int(&info["maxlen"]),
        4,
        "existing streams keep their settings"
    );
}

#[test]
fn resp3_info_is_a_map() {
    let s = Server::start();
    let mut c = redis::Client::open(format!("{}?protocol=resp3", s.url()))
        .unwrap()
        .get_connection()
        .unwrap();
    call(&mut c, &["ALERT.CREATE", "k"]).unwrap();
    let v = call(&mut c, &["ALERT.INFO", "k"]).unwrap();
    assert!(matches!(v, Value::Map(_)), "{v:?}");
    let v = call(&mut c, &["ALERT.ADD", "k", "{}", "TS", "1", "NOW", "2"]).unwrap();
    assert!(matches!(v, Value::Array(_)), "{v:?}");
}

#[test]
fn configs_from_loadmodule_arguments() {
    let dir = temp_dir("cfg");
    let module = module_path().display().to_string();
    let s = Server::start_in(
        dir,
        &[
            "--save",
            "",
            "--loadmodule",
            &module,
            "alert-max-len",
            "123",
            "max-document-bytes",
            "50",
            // A redis.conf line for the same config: the argument wins, as a command-line
            // option wins over the config file.
            "--vigil.alert-max-len",
            "7",
            "--vigil.alert-dedup-window-ms",
            "9",
        ],
        false,
    );
    let mut c = s.client();
    let get = |c: &mut redis::Connection, name: &str| -> Vec<String> {
        redis::from_redis_value(&call(c, &["CONFIG", "GET", name]).unwrap()).unwrap()
    };
    assert_eq!(
        get(&mut c, "vigil.alert-max-len"),
        ["vigil.alert-max-len", "123"]
    );
    assert_eq!(
        get(&mut c, "vigil.alert-dedup-window-ms"),
        ["vigil.alert-dedup-window-ms", "9"]
    );
    let big = format!(r#"{{"x":"{}"}}"#, "a".repeat(60));
    assert!(error_of(&mut c, &["ALERT.ADD", "k", &big]).contains("max-document-bytes"));
    assert!(error_of(&mut c, &["CONFIG", "SET", "vigil.alert-max-len", "-1"]).starts_with("ERR"));
}

/// loadmodule arguments are checked as CONFIG SET checks a value: out of range, not an
/// integer, unknown, without a value or given twice, the module does not load (a negative
/// MAXLEN or `max-document-bytes 0` once started the server with the limit off).
#[test]
fn bad_loadmodule_arguments_stop_the_load() {
    let dir = temp_dir("cfg-bad");
    let s = Server::start_in(
        dir,
        &["--save", "", "--enable-module-command", "yes"],
        false,
    );
    let mut c = s.client();
    let module = module_path().display().to_string();
    for bad in [
        &["alert-max-len", "-1"][..],
        &["max-document-bytes", "0"],
        &["max-document-bytes", "999999999999"],
        &["alert-retention-ms", "-5"],
        &["alert-dedup-window-ms", "+5"],
        &["alert-max-len", "abc"],
        &["alert-max-len", ""],
        &["bogus-name", "5"],
        &["vigil.alert-max-len", "5"],
        &["alert-max-len"],
        &["alert-max-len", "1", "alert-max-len", "2"],
    ] {
        let mut args = vec!["MODULE", "LOAD", &module];
        args.extend_from_slice(bad);
        assert!(
            call(&mut c, &args).is_err(),
            "{bad:?} loaded the module: {:?}",
            call(&mut c, &["CONFIG", "GET", "vigil.*"])
        );
        let list = format!("{:?}", call(&mut c, &["MODULE", "LIST"]).unwrap());
        assert!(!list.contains("vigil"), "{bad:?}: {list}");
    }
    let log = s.log();
    assert!(
        log.contains("vigil: invalid loadmodule argument alert-max-len '-1'"),
        "{log}"
    );
    assert!(
        log.contains("vigil: invalid loadmodule argument alert-max-len 'abc'"),
        "{log}"
    );
    assert!(
        log.contains("unknown loadmodule argument 'bogus-name'"),
        "{log}"
    );
    // Good arguments still load, and the module works.
    call(
        &mut c,
        &[
            "MODULE",
            "LOAD",
            &module,
            "max-document-bytes",
            "1",
            "alert-max-len",
            "7",
        ],
    )
    .unwrap();
    let v: Vec<String> =
        redis::from_redis_value(&call(&mut c, &["CONFIG", "GET", "vigil.alert-max-len"]).unwrap())
            .unwrap();
    assert_eq!(v, ["vigil.alert-max-len", "7"]);
    assert!(error_of(&mut c, &["ALERT.ADD", "k", "{}"]).contains("max-document-bytes"));
}

/// A server whose loadmodule line has a bad argument does not start (as with a bad
/// redis.conf line), and its log says why.
#[test]
fn server_with_a_bad_loadmodule_argument_does_not_start() {
    let dir = temp_dir("cfg-start");
    let port = free_port().to_string();
    let mut child = std::process::Command::new(server_binary())
        .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
        .args([
            "--dir",
            &dir.display().to_string(),
            "--logfile",
            "redis.log",
        ])
        .args(["--loadmodule", &module_path().display().to_string()])
        .args(["max-document-bytes", "0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-server");
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if start.elapsed() > std::time::Duration::from_secs(20) {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let status = status.expect("the server started with max-document-bytes 0");
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("invalid loadmodule argument max-document-bytes '0'"),
        "{log}"
    );
}

#[test]
fn command_info_flags_and_getkeys() {
    let s = Server::start();
    let mut c = s.client();
    let cases: &[(&str, &[&str], &str)] = &[
        ("alert.create", &["write", "denyoom", "fast"], "RW"),
        ("alert.alter", &["write"], "RW"),
        ("alert.add", &["write", "denyoom", "fast"], "RW"),
        ("alert.get", &["readonly", "fast"], "RO"),
        ("alert.range", &["readonly"], "RO"),
        ("alert.ack", &["write", "fast"], "RW"),
        ("alert.resolve", &["write", "fast"], "RW"),
        ("alert.del", &["write", "fast"], "RW"),
        ("alert.trim", &["write"], "RW"),
        ("alert.info", &["readonly"], "RO"),
        ("alert.import", &["write", "denyoom"], "RW"),
    ];
    for (name, flags, access) in cases {
        let v = call(&mut c, &["COMMAND", "INFO", name]).unwrap();
        let text = format!("{v:?}");
        for f in *flags {
            assert!(
                text.contains(&format!("\"{f}\"")),
                "{name} lacks flag {f}: {text}"
            );
        }
        let other = if *access == "RO" { "write" } else { "readonly" };
        assert!(
            !text.contains(&format!("\"{other}\"")),
            "{name} has {other}: {text}"
        );
        assert!(
            text.contains(&format!("\"{access}\"")),
            "{name} key spec is not {access}: {text}"
        );
        let mut args = vec!["COMMAND", "GETKEYS", name, "tenant:{a}:alerts"];
        match *name {
            "alert.info" => {}
            "alert.trim" => args.extend(["MAXLEN", "1"]),
            _ => args.extend(["x", "y", "z"]),
        }
        let keys: Vec<String> = redis::from_redis_value(&call(&mut c, &args).unwrap()).unwrap();
        assert_eq!(keys, ["tenant:{a}:alerts"], "{name}");
    }
}

#[test]
fn acl_key_patterns_apply() {
    let s = Server::start();
    let mut c = s.client();
    call(
        &mut c,
        &[
            "ACL",
            "SETUSER",
            "acme",
            "on",
            ">pw",
            "~tenant:{acme}:*",
            "+@all",
        ],
    )
    .unwrap();
    let mut u = s.client();
    call(&mut u, &["AUTH", "acme", "pw"]).unwrap();
    assert_eq!(add(&mut u, &["tenant:{acme}:alerts", "{}"]).0, "added");
    let e = error_of(&mut u, &["ALERT.ADD", "tenant:{other}:alerts", "{}"]);
    assert!(e.starts_with("NOPERM"), "{e}");
    let e = error_of(&mut u, &["ALERT.RANGE", "tenant:{other}:alerts", "-", "+"]);
    assert!(e.starts_with("NOPERM"), "{e}");
}

#[test]
fn keyspace_events() {
    let s = Server::start();
    let mut c = s.client();
    call(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Kd"]).unwrap();
    let mut sub = s.client();
    let mut pubsub = sub.as_pubsub();
    pubsub.psubscribe("__keyspace@0__:k").unwrap();
    pubsub
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    call(&mut c, &["ALERT.CREATE", "k", "MAXLEN", "1"]).unwrap();
    let t = now_ms();
    let (_, id, _) = add(&mut c, &["k", "{}", "TS", &t.to_string()]);
    add(&mut c, &["k", "{}", "TS", &(t + 1).to_string()]);
    add(
        &mut c,
        &["k", r#"{"fingerprint":""}"#, "TS", &(t + 2).to_string()],
    );
    assert!(id.is_some());
    let cur = alerts(call(&mut c, &["ALERT.RANGE", "k", "-", "+"]).unwrap());
    let cur_id = cur[0]["id"].as_str().unwrap().to_string();
    call(&mut c, &["ALERT.ACK", "k", &cur_id]).unwrap();
    call(&mut c, &["ALERT.RESOLVE", "k", &cur_id]).unwrap();
    call(&mut c, &["ALERT.DEL", "k", &cur_id]).unwrap();
    let mut events = Vec::new();
    while events.len() < 7 {
        let msg = pubsub.get_message().expect("an event");
        events.push(msg.get_payload::<String>().unwrap());
    }
    assert_eq!(
        events,
        [
            "alert.add",
            "alert.dup",
            "alert.add",
            "alert.expire",
            "alert.ack",
            "alert.resolve",
            "alert.del"
        ]
    );
}

#[test]
fn info_section_counts() {
    let s = Server::start();
    let mut c = s.client();
    add(&mut c, &["a", "{}"]);
    add(&mut c, &["a", "{}"]);
    add(&mut c, &["b", r#"{"x":1}"#]);
    let _ = error_of(&mut c, &["ALERT.ADD", "a", "nope"]);
    let info: String = redis::from_redis_value(&call(&mut c, &["INFO", "vigil"]).unwrap()).unwrap();
    let field = |name: &str| -> i64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("vigil_{name}:")))
            .unwrap_or_else(|| panic!("no vigil_{name} in {info}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(field("alert_keys"), 2);
    assert_eq!(field("alerts_held"), 2);
    assert_eq!(field("alerts_added"), 2);
    assert_eq!(field("alerts_deduplicated"), 1);
    assert_eq!(field("alert_add_calls"), 4);
    assert_eq!(field("alert_add_errors"), 1);
    call(&mut c, &["DEL", "a"]).unwrap();
    let info: String =
        redis::from_redis_value(&call(&mut c, &["INFO", "modules"]).unwrap()).unwrap();
    assert!(info.contains("vigil_alert_keys:1"), "{info}");
    assert!(info.contains("vigil_alerts_held:1"), "{info}");
}

#[test]
fn retention_sweep_trims_idle_streams() {
    let s = Server::start();
    let mut c = s.client();
    call(
        &mut c,
        &["ALERT.CREATE", "k", "RETENTION", "300", "DEDUP", "0"],
    )
    .unwrap();
    call(&mut c, &["SELECT", "3"]).unwrap();
    call(
        &mut c,
        &["ALERT.CREATE", "k3", "RETENTION", "300", "DEDUP", "0"],
    )
    .unwrap();
    for _ in 0..5 {
        add(&mut c, &["k3", "{}"]);
    }
    call(&mut c, &["SELECT", "0"]).unwrap();
    for _ in 0..5 {
        add(&mut c, &["k", "{}"]);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let n0 = alerts(call(&mut c, &["ALERT.RANGE", "k", "-", "+"]).unwrap()).len();
        call(&mut c, &["SELECT", "3"]).unwrap();
        let n3 = alerts(call(&mut c, &["ALERT.RANGE", "k3", "-", "+"]).unwrap()).len();
        call(&mut c, &["SELECT", "0"]).unwrap();
        if n0 == 0 && n3 == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sweep left {n0} + {n3} alerts"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let info: String = redis::from_redis_value(&call(&mut c, &["INFO", "vigil"]).unwrap()).unwrap();
    assert!(info.contains("vigil_alerts_swept:10"), "{info}");
    assert!(info.contains("vigil_alerts_held:0"), "{info}");
}

#[test]
fn keys_work_with_core_key_commands() {
    let s = Server::start();
    let mut c = s.client();
    let t = now_ms();
    add(&mut c, &["k", r#"{"a":1}"#, "TS", &t.to_string()]);
    call(&mut c, &["COPY", "k", "k2"]).unwrap();
    call(&mut c, &["RENAME", "k", "k3"]).unwrap();
    let dump: Vec<u8> = redis::from_redis_value(&call(&mut c, &["DUMP", "k3"]).unwrap()).unwrap();
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg("k4").arg(0).arg(dump);
    let _: () = cmd.query(&mut c).unwrap();
    call(&mut c, &["MOVE", "k2", "1"]).unwrap();
    for key in ["k3", "k4"] {
        let got = alerts(call(&mut c, &["ALERT.RANGE", key, "-", "+"]).unwrap());
        assert_eq!(got.len(), 1, "{key}");
        assert_eq!(got[0]["a"], 1);
    }
    call(&mut c, &["SELECT", "1"]).unwrap();
    assert_eq!(
        alerts(call(&mut c, &["ALERT.RANGE", "k2", "-", "+"]).unwrap()).len(),
        1
    );
    call(&mut c, &["PEXPIRE", "k2", "1"]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(alerts(call(&mut c, &["ALERT.RANGE", "k2", "-", "+"]).unwrap()).is_empty());
    call(&mut c, &["SELECT", "0"]).unwrap();
    call(&mut c, &["UNLINK", "k3"]).unwrap();
    assert_eq!(int(&call(&mut c, &["EXISTS", "k3", "k4"]).unwrap()), 1);
}

/// After a load the module scans the keyspace once (to find trackers and streams): the scan
/// must keep nothing of the keys it visits (the redis-module crate's scan cursor retained each
/// key name, 32 bytes per key per scan), and the sweep, which visits streams, nothing either.
#[test]
fn scans_hold_no_memory_of_the_keys_they_visit() {
    let s = Server::start();
    let mut c = s.client();
    call(&mut c, &["ALERT.CREATE", "stream", "RETENTION", "100000"]).unwrap();
    {
        let mut loader = s.client();
        let mut pipe = redis::pipe();
        for i in 0..20_000 {
            pipe.cmd("SET").arg(format!("key:{i}")).arg("v").ignore();
        }
        let _: () = pipe.query(&mut loader).unwrap();
    }
    call(&mut c, &["DEBUG", "RELOAD"]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = used_memory(&mut c);
    for _ in 0..3 {
        call(&mut c, &["DEBUG", "RELOAD"]).unwrap();
    }
    // Some sweep ticks too.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let grown = used_memory(&mut c) - before;
    assert!(
        grown < 256 * 1024,
        "used_memory grew {grown} bytes over three reloads"
    );
}

/// The sweep finds streams however they came to their key: created, renamed, moved, copied,
/// restored or swapped.
#[test]
fn the_sweep_finds_streams_that_moved() {
    let s = Server::start();
    let mut c = s.client();
    let fill = |c: &mut redis::Connection, key: &str| {
        call(c, &["ALERT.CREATE", key, "RETENTION", "400", "DEDUP", "0"]).unwrap();
        for _ in 0..3 {
            add(c, &[key, "{}"]);
        }
    };
    for key in ["a", "b", "c", "d", "e"] {
        fill(&mut c, key);
    }
    call(&mut c, &["RENAME", "a", "a2"]).unwrap();
    call(&mut c, &["MOVE", "b", "1"]).unwrap();
    call(&mut c, &["COPY", "c", "c2"]).unwrap();
    let dump: Vec<u8> = redis::from_redis_value(&call(&mut c, &["DUMP", "d"]).unwrap()).unwrap();
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg("d2").arg(0).arg(dump);
    let _: () = cmd.query(&mut c).unwrap();
    call(&mut c, &["SELECT", "2"]).unwrap();
    fill(&mut c, "f");
    call(&mut c, &["SWAPDB", "2", "3"]).unwrap();
    call(&mut c, &["SELECT", "0"]).unwrap();
    let held = |c: &mut redis::Connection, db: &str, key: &str| -> usize {
        call(c, &["SELECT", db]).unwrap();
        let n = alerts(call(c, &["ALERT.RANGE", key, "-", "+"]).unwrap()).len();
        call(c, &["SELECT", "0"]).unwrap();
        n
    };
    let places = [
        ("0", "a2"),
        ("1", "b"),
        ("0", "c2"),
        ("0", "d2"),
        ("3", "f"),
        ("0", "e"),
    ];
    assert!(
        places.iter().all(|(db, k)| held(&mut c, db, k) == 3),
        "all there first"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let left: Vec<_> = places
            .iter()
            .filter(|(db, k)| held(&mut c, db, k) > 0)
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not swept: {left:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Streams loaded from an RDB (here by DEBUG RELOAD) are swept too.
#[test]
fn the_sweep_finds_streams_after_a_load() {
    let s = Server::start();
    let mut c = s.client();
    call(
        &mut c,
        &["ALERT.CREATE", "k", "RETENTION", "400", "DEDUP", "0"],
    )
    .unwrap();
    call(&mut c, &["SELECT", "4"]).unwrap();
    call(
        &mut c,
        &["ALERT.CREATE", "k", "RETENTION", "400", "DEDUP", "0"],
    )
    .unwrap();
    add(&mut c, &["k", "{}"]);
    call(&mut c, &["SELECT", "0"]).unwrap();
    add(&mut c, &["k", "{}"]);
    call(&mut c, &["DEBUG", "RELOAD"]).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let n0 = alerts(call(&mut c, &["ALERT.RANGE", "k", "-", "+"]).unwrap()).len();
        call(&mut c, &["SELECT", "4"]).unwrap();
        let n4 = alerts(call(&mut c, &["ALERT.RANGE", "k", "-", "+"]).unwrap()).len();
        call(&mut c, &["SELECT", "0"]).unwrap();
        if n0 + n4 == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not swept after the load"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The stored form of a document leaves out its leading severity, source and type members
/// (BENCHMARKS.md, memory): what comes back is the document as sent, key order included, also
/// after DUMP/RESTORE and a reload from the RDB.
/// Member names are stored as codes of the stream's key table (docs/commands.md, "Key
/// table"): documents come back as sent whether a name was coded or, once the table is full,
/// written out; filters, groups and silences read the names; saving and loading, trimming to
/// none and adding again keep the texts.
#[test]
fn member_names_are_coded_and_come_back() {
    let s = Server::start();
    let mut c = s.client();
    call(
        &mut c,
        &["ALERT.CREATE", "k", "RETENTION", "0", "MAXLEN", "0"],
    )
    .unwrap();
    let t = now_ms();
    // 130 documents, each with names of its own (the table holds 120), shared names at every
    // depth, a name with a space before its colon, an escaped name and a long one.
    let long = "n".repeat(40);
    let docs: Vec<String> = (0..130)
        .map(|i| {
            format!(
                r#"{{"severity":"high","source":"s{m}","labels":{{"host":"h{i}","k{i}":"v"}},"k{i}":{{"n{i}":[{{"deep":true}}]}},"message":"m {i}","spaced" : 1,"esc\u0061pe":2,"{long}":3}}"#,
                m = i % 3
            )
        })
        .collect();
    let mut ids = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let ts = (t + i as i64).to_string();
        let (o, id, _) = add(&mut c, &["k", d, "TS", &ts]);
        assert_eq!(o, "added", "{d}");
        ids.push(id.unwrap());
    }
    let check = |c: &mut redis::Connection, ids: &[String], when: &str| {
        let mut args = vec!["ALERT.GET", "k"];
        args.extend(ids.iter().map(String::as_str));
        let got: Vec<String> = redis::from_redis_value(&call(c, &args).unwrap()).unwrap();
        for ((d, id), text) in docs.iter().zip(ids).zip(got) {
            let body = d.strip_suffix('}').unwrap();
            assert!(
                text.starts_with(&format!("{body},\"id\":\"{id}\"")),
                "{when}: {d} came back as {text}"
            );
        }
        // LABEL reads label names, coded (early documents) or written out (late ones).
        for (i, name) in [
            (5, "host=h5"),
            (5, "k5=v"),
            (129, "k129=v"),
            (129, "host=h129"),
        ] {
            let v = call(c, &["ALERT.RANGE", "k", "-", "+", "LABEL", name]).unwrap();
            let found = alerts(v);
            assert_eq!(found.len(), 1, "{when}: LABEL {name}");
            assert_eq!(found[0]["id"], ids[i].as_str(), "{when}: LABEL {name}");
        }
        let v = call(c, &["ALERT.GROUPS", "k", "-", "+", "BY", "label:k7"]).unwrap();
        let groups: Vec<(Option<String>, i64, i64, i64)> = redis::from_redis_value(&v).unwrap();
        let sizes: Vec<(Option<String>, i64)> =
            groups.into_iter().map(|(v, n, _, _)| (v, n)).collect();
        assert_eq!(sizes, [(None, 129), (Some("v".into()), 1)], "{when}");
    };
    check(&mut c, &ids, "as added");
    let until = (t + 3_600_000).to_string();
    call(
        &mut c,
        &["ALERT.SILENCE", "k", "UNTIL", &until, "LABEL", "k3=v"],
    )
    .unwrap();
    // RESP2: one flat array of fields per silence; `covered` counts the alerts it matches.
    let v = call(&mut c, &["ALERT.SILENCES", "k"]).unwrap();
    let silences: Vec<Vec<redis::Value>> = redis::from_redis_value(&v).unwrap();
    let fields = &silences[0];
    let at = fields
        .iter()
        .position(|f| redis::from_redis_value::<String>(f).is_ok_and(|f| f == "covered"))
        .expect("a covered field");
    let covered: i64 = redis::from_redis_value(&fields[at + 1]).unwrap();
    assert_eq!(covered, 1, "the silence on label k3 covers one alert");
    call(&mut c, &["DEBUG", "RELOAD"]).unwrap();
    check(&mut c, &ids, "after DEBUG RELOAD");
    // Trimmed to none (the table starts again), then the same documents again.
    call(&mut c, &["ALERT.TRIM", "k", "MAXLEN", "0"]).unwrap();
    ids.clear();
    for (i, d) in docs.iter().enumerate() {
        let ts = (t + 1000 + i as i64).to_string();
        let (o, id, _) = add(&mut c, &["k", d, "TS", &ts]);
        assert_eq!(o, "added", "{d}");
        ids.push(id.unwrap());
    }
    check(&mut c, &ids, "after a trim to none");
}

#[test]
fn documents_come_back_as_sent() {
    let s = Server::start();
    let mut c = s.client();
    let docs = [
        r#"{"severity":"high","source":"db-1","type":"disk","labels":{"host":"a"},"m":"x"}"#,
        r#"{"type":"cpu","source":"db-2","severity":"low","n":[1,{"source":"inner"}]}"#,
        r#"{"source":"db-3","x":1,"severity":"medium","type":"mem"}"#,
        r#"{"severity":"CRITICAL","source":"db-4"}"#,
        r#"{"source":"d\u00e9","type":"io"}"#,
        r#"{"type":"only"}"#,
        r#"{"m":"no known field first","source":"db-5"}"#,
        "{}",
    ];
    let mut ids = Vec::new();
    let t = now_ms();
    for (i, d) in docs.iter().enumerate() {
        let ts = (t + i as i64).to_string();
        let (o, id, _) = add(&mut c, &["k", d, "TS", &ts]);
        assert_eq!(o, "added", "{d}");
        ids.push(id.unwrap());
    }
    let texts = |c: &mut redis::Connection, key: &str| -> Vec<String> {
        let mut args = vec!["ALERT.GET", key];
        args.extend(ids.iter().map(String::as_str));
        redis::from_redis_value(&call(c, &args).unwrap()).unwrap()
    };
    let check = |got: Vec<String>| {
        for ((d, id), text) in docs.iter().zip(&ids).zip(got) {
            let body = d.strip_suffix('}').unwrap();
            let sep = if body == "{" { "" } else { "," };
            assert!(
                text.starts_with(&format!("{body}{sep}\"id\":\"{id}\"")),
                "{d} came back as {text}"
            );
        }
    };
    check(texts(&mut c, "k"));
    let dump: Vec<u8> = redis::from_redis_value(&call(&mut c, &["DUMP", "k"]).unwrap()).unwrap();
    redis::cmd("RESTORE")
        .arg("k2")
        .arg(0)
        .arg(dump)
        .query::<()>(&mut c)
        .unwrap();
    check(texts(&mut c, "k2"));
    call(&mut c, &["DEBUG", "RELOAD"]).unwrap();
    check(texts(&mut c, "k"));
    check(texts(&mut c, "k2"));
    // Filters and groups read the fields left out of the stored text.
    let v = call(&mut c, &["ALERT.RANGE", "k", "-", "+", "TYPE", "cpu"]).unwrap();
    assert_eq!(alerts(v).len(), 1);
    let v = call(
        &mut c,
        &[
            "ALERT.RANGE",
            "k",
            "-",
            "+",
            "SOURCE",
            "db-3",
            "MINSEVERITY",
            "medium",
        ],
    )
    .unwrap();
    assert_eq!(alerts(v).len(), 1);
}
