//! The Lua scripts of the benchmarks (`benches/lua/`) answer as the native commands do, on
//! small deterministic workloads, so that the side-by-side load run compares equals.

mod common;
use common::*;
use redis::Value;

const ALERT_ADD: &str = include_str!("../benches/lua/alert_add.lua");
const ALERT_RANGE: &str = include_str!("../benches/lua/alert_range.lua");
const QUOTA_INCR: &str = include_str!("../benches/lua/quota_incr.lua");
const LRU_TOUCH: &str = include_str!("../benches/lua/lru_touch.lua");
const LRU_EVICT: &str = include_str!("../benches/lua/lru_evict.lua");

/// A reply as text, blind to the bulk/simple string distinction: `"x"`, `7`, `nil`, `[..]`.
fn shape(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Int(i) => i.to_string(),
        Value::BulkString(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Value::SimpleString(s) => format!("{s:?}"),
        Value::Okay => "\"OK\"".into(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(shape).collect();
            format!("[{}]", inner.join(", "))
        }
        other => format!("{other:?}"),
    }
}

fn eval(c: &mut redis::Connection, script: &str, keys: &[&str], args: &[&str]) -> Value {
    let n = keys.len().to_string();
    let mut all = vec!["EVAL", script, &n];
    all.extend_from_slice(keys);
    all.extend_from_slice(args);
    call(c, &all).unwrap_or_else(|e| panic!("script with {keys:?} {args:?}: {e}"))
}

fn native(c: &mut redis::Connection, args: &[&str]) -> Value {
    call(c, args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// xorshift64: the same workload on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const STREAM_KEYS: [&str; 5] = [
    "lua:{a}:ids",
    "lua:{a}:docs",
    "lua:{a}:meta",
    "lua:{a}:fps",
    "lua:{a}:rate",
];

#[test]
fn alert_scripts_answer_as_alert_add_and_range() {
    let s = Server::start();
    let mut c = s.client();
    // retention, maxlen, dedup, ratelimit n and window: small, so that every outcome occurs.
    let settings = ["10000", "40", "50", "4", "30"];
    native(
        &mut c,
        &[
            "ALERT.CREATE",
            "native:{a}",
            "RETENTION",
            settings[0],
            "MAXLEN",
            settings[1],
            "DEDUP",
            settings[2],
            "RATELIMIT",
            settings[3],
            settings[4],
        ],
    );
    let severities = ["info", "low", "medium", "high", "critical", "HIGH"];
    let sources = ["db-1", "db-2", "web-1"];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Near the server clock: the retention sweep runs on the real clock, and NOW may not be
    // later than it. 500 adds advance at most 1.5 s.
    let mut now = alerts::now_ms() as u64 - 3_000;
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    let mut ids = Vec::new();
    for i in 0..500 {
        now += rng.below(4);
        let mut ts = now;
        let sev = severities[rng.below(6) as usize];
        let src = sources[rng.below(3) as usize];
        let kind = ["disk", "cpu"][rng.below(2) as usize];
        let fingerprint = match rng.below(10) {
            0 => r#","fingerprint":"""#.to_string(),
            1 => format!(r#","fingerprint":"fp-{}""#, rng.below(4)),
            _ => String::new(),
        };
        match rng.below(25) {
            // Older than the retention: expired.
            0 => ts = now - 20_000,
            // Late, with a fingerprint of its own: placed in order (or expired behind a
            // full stream).
            1 => ts = now - rng.below(40),
            _ => {}
        }
        let fingerprint = if ts < now {
            format!(r#","fingerprint":"late-{i}""#)
        } else {
            fingerprint
        };
        let doc = format!(
            r#"{{"severity":"{sev}","source":"{src}","type":"{kind}","labels":{{"host":"h{}","dc":"eu"}}{fingerprint},"n":{i}}}"#,
            rng.below(3)
        );
        let (ts_s, now_s) = (ts.to_string(), now.to_string());
        let want = native(
            &mut c,
            &["ALERT.ADD", "native:{a}", &doc, "TS", &ts_s, "NOW", &now_s],
        );
        let mut args = vec![doc.as_str()];
        args.extend_from_slice(&settings);
        args.extend_from_slice(&[&ts_s, &now_s]);
        let got = eval(&mut c, ALERT_ADD, &STREAM_KEYS, &args);
        assert_eq!(
            shape(&got),
            shape(&want),
            "add {i}: {doc} TS {ts} NOW {now}"
        );
        if let Value::Array(items) = &want {
            let outcome: String = redis::from_redis_value(&items[0]).unwrap();
            *outcomes.entry(outcome).or_default() += 1;
            if let Ok(id) = redis::from_redis_value::<String>(&items[1]) {
                ids.push(id);
            }
        }
    }
    for outcome in ["added", "duplicate", "limited", "expired"] {
        assert!(
            outcomes.get(outcome).copied().unwrap_or(0) > 0,
            "the workload never answered {outcome}: {outcomes:?}"
        );
    }

    let mid_ts = (now - 60).to_string();
    let (lo_id, hi_id) = (ids[ids.len() - 30].clone(), ids[ids.len() - 5].clone());
    let queries: Vec<Vec<&str>> = vec![
        vec!["-", "+"],
        vec!["-", "+", "REV"],
        vec!["-", "+", "REV", "COUNT", "10", "MINSEVERITY", "high"],
        vec![
            "-",
            "+",
            "MINSEVERITY",
            "Medium",
            "SOURCE",
            "web-1",
            "COUNT",
            "5",
        ],
        vec!["-", "+", "SOURCE", "db-1"],
        vec!["-", "+", "SOURCE", "nobody"],
        vec!["-", "+", "STATUS", "active", "COUNT", "3"],
        vec![&mid_ts, "+"],
        vec!["-", &mid_ts, "REV", "COUNT", "4"],
        vec![&lo_id, &hi_id],
        vec![&lo_id, &hi_id, "REV", "MINSEVERITY", "critical"],
        vec!["-", "+", "TYPE", "disk", "LABEL", "host=h1"],
        vec!["-", "+", "COUNT", "0"],
    ];
    for q in queries {
        let mut args = vec!["ALERT.RANGE", "native:{a}"];
        args.extend_from_slice(&q);
        let want = native(&mut c, &args);
        let got = eval(&mut c, ALERT_RANGE, &STREAM_KEYS[..3], &q);
        assert_eq!(shape(&got), shape(&want), "ALERT.RANGE {q:?}");
    }
    let all = native(&mut c, &["ALERT.RANGE", "native:{a}", "-", "+"]);
    assert!(
        alerts(all).len() > 20,
        "the stream the ranges ran on is not empty"
    );

    // With the server clock, as the load run calls it.
    let doc = r#"{"severity":"low","source":"clock"}"#;
    let mut args = vec![doc];
    args.extend_from_slice(&["0", "0", "0", "0", "0", "-", "-"]);
    let got = eval(&mut c, ALERT_ADD, &STREAM_KEYS, &args);
    assert!(shape(&got).starts_with("[\"added\""), "{}", shape(&got));
}

#[test]
fn quota_script_answers_as_quota_incr() {
    let s = Server::start();
    let mut c = s.client();
    let steps = [
        ("400", "1000"),
        ("700", "1000"),
        ("-0.5", "1000"),
        ("600.5", "1000"),
        ("0.25", "1000"),
        ("0", "1000"),
        ("-2000", "1000"),
        ("12.75", "-1"),
        ("3", "10"),
        ("0", "10"),
        ("-1.25", "10"),
        ("1.5", "0"),
        ("999", "5000"),
        ("4000", "5000"),
    ];
    for (amount, limit) in steps {
        let want = native(
            &mut c,
            &["QUOTA.INCR", "native:{q}", amount, "LIMIT", limit],
        );
        let got = eval(&mut c, QUOTA_INCR, &["lua:{q}"], &[amount, limit]);
        assert_eq!(
            shape(&got),
            shape(&want),
            "QUOTA.INCR {amount} LIMIT {limit}"
        );
    }
}

#[test]
fn lru_scripts_answer_as_touch_and_evict() {
    let s = Server::start();
    let mut c = s.client();
    let (times, sizes, total, lua_quota) = (
        "lua:{l}:lru",
        "lua:{l}:sizes",
        "lua:{l}:total",
        "lua:{l}:quota",
    );
    native(&mut c, &["QUOTA.INCR", "native:{l}:quota", "1000"]);
    native(&mut c, &["SET", lua_quota, "1000"]);
    let create = |c: &mut redis::Connection, i: u64| {
        // k20..k24 never exist: TOUCH skips them.
        if i < 20 {
            native(c, &["SET", &format!("native:{{l}}:k{i}"), "v"]);
            native(c, &["SET", &format!("lua:{{l}}:k{i}"), "v"]);
        }
    };
    for i in 0..25 {
        create(&mut c, i);
    }
    let strip = |v: &Value| shape(v).replace("native:{l}:", "").replace("lua:{l}:", "");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut ms: u64 = 1_700_000_000_000;
    let sizes_of = ["10", "2.5", "7", "0", "1.25"];
    let mut evictions = 0;
    for step in 0..300 {
        ms += 1;
        if rng.below(12) == 0 {
            let target = ["0", "20", "35.5", "60"][rng.below(4) as usize];
            let max = ["1", "3", "1000"][rng.below(3) as usize];
            let want = native(
                &mut c,
                &[
                    "LRU.EVICT",
                    "native:{l}:lru",
                    target,
                    "MAX",
                    max,
                    "QUOTA",
                    "native:{l}:quota",
                ],
            );
            let got = eval(
                &mut c,
                LRU_EVICT,
                &[times, sizes, total, lua_quota],
                &[target, max],
            );
            assert_eq!(
                strip(&got),
                strip(&want),
                "step {step}: EVICT {target} MAX {max}"
            );
            evictions += 1;
            // The quota went down by the same amount.
            let q = native(&mut c, &["QUOTA.GET", "native:{l}:quota"]);
            let usage: Vec<Value> = redis::from_redis_value(&q).unwrap();
            let lua_usage = native(&mut c, &["GET", lua_quota]);
            assert_eq!(
                shape(&usage[1]),
                shape(&lua_usage),
                "step {step}: quota usage"
            );
            // Evicted keys come back, to be touched again.
            for i in 0..20 {
                create(&mut c, i);
            }
            continue;
        }
        // One to three keys, named in name order (keys touched in the same ms are ordered by
        // touch order natively and by name in the ZSET), a key possibly twice.
        let mut picks: Vec<(String, &str)> = (0..1 + rng.below(3))
            .map(|_| {
                (
                    format!("k{}", rng.below(25)),
                    sizes_of[rng.below(5) as usize],
                )
            })
            .collect();
        picks.sort_by(|a, b| a.0.cmp(&b.0));
        let ms_s = ms.to_string();
        let mut args = vec![
            "LRU.TOUCHAT".to_string(),
            "native:{l}:lru".into(),
            ms_s.clone(),
        ];
        let mut lua_keys = vec![times.to_string(), sizes.into(), total.into()];
        let mut lua_args = vec![ms_s.clone()];
        for (k, size) in &picks {
            args.push(format!("native:{{l}}:{k}"));
            args.push(size.to_string());
            lua_keys.push(format!("lua:{{l}}:{k}"));
            lua_args.push(size.to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let want = native(&mut c, &args);
        let keys: Vec<&str> = lua_keys.iter().map(String::as_str).collect();
        let lua_args: Vec<&str> = lua_args.iter().map(String::as_str).collect();
        let got = eval(&mut c, LRU_TOUCH, &keys, &lua_args);
        assert_eq!(shape(&got), shape(&want), "step {step}: TOUCH {picks:?}");
    }
    assert!(evictions > 5);
    // What is left is evicted in the same order.
    let want = native(&mut c, &["LRU.EVICT", "native:{l}:lru", "0"]);
    let got = eval(&mut c, LRU_EVICT, &[times, sizes, total], &["0", "1000"]);
    assert_eq!(strip(&got), strip(&want), "final EVICT");
    // A key outside the namespace is refused by both.
    let err = error_of(
        &mut c,
        &["LRU.TOUCH", "native:{l}:lru", "other:{x}:k1", "1"],
    );
    assert!(err.contains("outside the tracker's namespace"), "{err}");
    let lua_err = call(
        &mut c,
        &[
            "EVAL",
            LRU_TOUCH,
            "4",
            times,
            sizes,
            total,
            "other:{x}:k1",
            "-",
            "1",
        ],
    )
    .unwrap_err();
    assert!(
        lua_err
            .to_string()
            .contains("outside the tracker's namespace"),
        "{lua_err}"
    );
}
