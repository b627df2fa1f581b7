//! Streams survive SAVE/restart, DEBUG RELOAD, AOF (with and without the RDB preamble) and
//! BGREWRITEAOF with every alert, count, status and folded ID unchanged; the RDB written by
//! encoding version 1 (tests/fixtures) still loads.

mod common;
use common::alerts::{snapshot, workload};
use common::*;
use std::time::{Duration, Instant};

#[test]
fn rdb_save_and_restart() {
    let mut s = Server::start_with(&["--save", "", "--appendonly", "no"]);
    let mut c = s.client();
    let aliases = workload(&mut c, "");
    let before = snapshot(&mut c, &aliases);
    call(&mut c, &["SAVE"]).unwrap();
    s.restart(&[]);
    let mut c = s.client();
    assert_eq!(snapshot(&mut c, &aliases), before);
    assert!(s.log().contains("Done loading RDB"), "{}", s.log());
}

#[test]
fn debug_reload() {
    let s = Server::start();
    let mut c = s.client();
    let aliases = workload(&mut c, "x:");
    let before = snapshot(&mut c, &aliases);
    call(&mut c, &["DEBUG", "RELOAD"]).unwrap();
    assert_eq!(snapshot(&mut c, &aliases), before);
    // The old dataset may be freed in the background (Valkey): wait for the gauge to settle.
    let start = Instant::now();
    loop {
        let info: String =
            redis::from_redis_value(&call(&mut c, &["INFO", "vigil"]).unwrap()).unwrap();
        if info.contains("vigil_alert_keys:3") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{info}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn aof_roundtrip(preamble: &str) {
    let mut s = Server::start_with(&[
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--aof-use-rdb-preamble",
        preamble,
    ]);
    let mut c = s.client();
    let aliases = workload(&mut c, "");
    let before = snapshot(&mut c, &aliases);
    // Replay of the commands as the module replicated them.
    s.restart(&[]);
    let mut c = s.client();
    assert_eq!(snapshot(&mut c, &aliases), before, "after AOF replay");
    // A rewritten AOF (the module's aof_rewrite, or the RDB preamble) plus later commands.
    call(&mut c, &["BGREWRITEAOF"]).unwrap();
    wait_rewrite(&mut c);
    let more = workload(&mut c, "after:");
    let mut all = aliases.clone();
    all.extend(more);
    let before = snapshot(&mut c, &all);
    s.restart(&[]);
    let mut c = s.client();
    assert_eq!(snapshot(&mut c, &all), before, "after BGREWRITEAOF");
}

#[test]
fn aof_with_rdb_preamble() {
    aof_roundtrip("yes");
}

#[test]
fn aof_without_rdb_preamble() {
    aof_roundtrip("no");
}

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/alerts-encver1.rdb"
);

/// The commands that made the fixture; explicit times so its content is fixed.
fn fixture_workload(c: &mut redis::Connection) {
    let cmds: &[&[&str]] = &[
        &[
            "ALERT.CREATE",
            "fx",
            "RETENTION",
            "0",
            "MAXLEN",
            "100",
            "DEDUP",
            "1000",
            "RATELIMIT",
            "5",
            "60000",
        ],
        &[
            "ALERT.ADD",
            "fx",
            r#"{"severity":"critical","source":"db","labels":{"h":"1"},"big":12345678901234567890123}"#,
            "TS",
            "1700000000000",
            "NOW",
            "1700000000000",
        ],
        &[
            "ALERT.ADD",
            "fx",
            r#"{"severity":"critical","source":"db","labels":{"h":"1"},"big":12345678901234567890123}"#,
            "ID",
            "1700000000500-7",
            "NOW",
            "1700000000500",
        ],
        &[
            "ALERT.ADD",
            "fx",
            r#"{"severity":"low","source":"web","fingerprint":"x"}"#,
            "TS",
            "1700000001000",
            "NOW",
            "1700000001000",
        ],
        &[
            "ALERT.ADD",
            "fx",
            r#"{"fingerprint":""}"#,
            "TS",
            "1700000001000",
            "NOW",
            "1700000001000",
        ],
        &["ALERT.ACK", "fx", "1700000001000-0"],
        &["ALERT.RESOLVE", "fx", "1700000001000-1"],
    ];
    for cmd in cmds {
        call(c, cmd).unwrap();
    }
}

fn fixture_expected() -> Vec<String> {
    vec![
        r#"{"severity":"critical","source":"db","labels":{"h":"1"},"big":12345678901234567890123,"id":"1700000000000-0","ts":1700000000000,"status":"active","count":2,"last_seen":1700000000500}"#.into(),
        r#"{"severity":"low","source":"web","fingerprint":"x","id":"1700000001000-0","ts":1700000001000,"status":"acked","count":1,"last_seen":1700000001000}"#.into(),
        r#"{"fingerprint":"","id":"1700000001000-1","ts":1700000001000,"status":"resolved","count":1,"last_seen":1700000001000}"#.into(),
    ]
}

/// Regenerates the fixture: `VIGIL_WRITE_FIXTURE=1 cargo test --test alert_persistence write_fixture -- --ignored`.
#[test]
#[ignore]
fn write_fixture() {
    write_fixture_if_asked(FIXTURE, fixture_workload);
}

#[test]
fn fixture_rdb_of_encoding_version_1_loads() {
    let s = server_from_fixture(FIXTURE);
    let mut c = s.client();
    let got: Vec<String> =
        redis::from_redis_value(&call(&mut c, &["ALERT.RANGE", "fx", "-", "+"]).unwrap()).unwrap();
    assert_eq!(got, fixture_expected());
    // Indexes were rebuilt: dedup, folded IDs and the rate limit act as before.
    let doc =
        r#"{"severity":"critical","source":"db","labels":{"h":"1"},"big":12345678901234567890123}"#;
    let v: (String, Option<String>, i64) = redis::from_redis_value(
        &call(&mut c, &["ALERT.ADD", "fx", doc, "ID", "1700000000500-7"]).unwrap(),
    )
    .unwrap();
    assert_eq!(v, ("exists".into(), Some("1700000000000-0".into()), 2));
    let v: (String, Option<String>, i64) = redis::from_redis_value(
        &call(
            &mut c,
            &[
                "ALERT.ADD",
                "fx",
                doc,
                "TS",
                "1700000001400",
                "NOW",
                "1700000001400",
            ],
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(v, ("duplicate".into(), Some("1700000000000-0".into()), 3));
    let info = map_of(call(&mut c, &["ALERT.INFO", "fx"]).unwrap());
    assert_eq!(int(&info["ratelimit_n"]), 5);
    assert_eq!(int(&info["maxlen"]), 100);
}

#[test]
fn fixture_workload_matches_expected() {
    // Keeps fixture_expected honest against the current code, not only against the file.
    let s = Server::start();
    let mut c = s.client();
    fixture_workload(&mut c);
    let got: Vec<String> =
        redis::from_redis_value(&call(&mut c, &["ALERT.RANGE", "fx", "-", "+"]).unwrap()).unwrap();
    assert_eq!(got, fixture_expected());
}

#[test]
fn unknown_encoding_version_is_refused() {
    // A DUMP payload carries the module type's encoding version; one from the future must be
    // refused with a logged warning, not misread.
    let s = Server::start();
    let mut c = s.client();
    fixture_workload(&mut c);
    let dump: Vec<u8> = redis::from_redis_value(&call(&mut c, &["DUMP", "fx"]).unwrap()).unwrap();
    // Module type id: 54-bit type signature + 10-bit encver, right after the type byte (7).
    let mut forged = dump.clone();
    let mut id = u64::from_be_bytes(forged[2..10].try_into().unwrap());
    id = (id & !0x3ff) | 999;
    forged[2..10].copy_from_slice(&id.to_be_bytes());
    // The payload ends with a CRC-64 (Jones, reflected) of everything before it.
    let n = dump.len();
    assert_eq!(
        crc64(&dump[..n - 8]).to_le_bytes(),
        dump[n - 8..],
        "checksum model"
    );
    let crc = crc64(&forged[..n - 8]).to_le_bytes();
    forged[n - 8..].copy_from_slice(&crc);
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg("forged").arg(0).arg(forged);
    let r: redis::RedisResult<()> = cmd.query(&mut c);
    assert!(r.is_err(), "a future encoding must not load");
    assert_eq!(int(&call(&mut c, &["EXISTS", "forged"]).unwrap()), 0);
    assert!(call(&mut c, &["PING"]).is_ok());
    assert!(
        s.log().contains("newer than this module knows"),
        "{}",
        s.log()
    );
}

fn crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for b in data {
        crc ^= u64::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x95AC_9329_AC4B_C9B5
            } else {
                crc >> 1
            };
        }
    }
    crc
}

fn changes_since_save(c: &mut redis::Connection) -> i64 {
    info_field(c, "persistence", "rdb_changes_since_last_save")
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

/// With no AOF, no replica and no backlog, the module replicates nothing (nobody would hear
/// it), but each write still counts as a change, as a core command's does: Redis's save points
/// count changes, and a write that counted for nothing would never be saved by them.
#[test]
fn every_write_counts_toward_the_save_points() {
    let s = Server::start();
    let mut c = s.client();
    // `$1` and `$2` stand for the IDs of the alerts added first and second.
    let until = (4_000_000_000_000u64).to_string();
    let writes: [&[&str]; 18] = [
        &["ALERT.CREATE", "s", "MAXLEN", "100"],
        &[
            "ALERT.ADD",
            "s",
            r#"{"severity":"high","source":"db","type":"disk"}"#,
        ],
        &[
            "ALERT.ADD",
            "s",
            r#"{"severity":"low","source":"web","type":"cpu"}"#,
        ],
        &["ALERT.ALTER", "s", "MAXLEN", "50"],
        &["ALERT.ACK", "s", "$1"],
        &["ALERT.RESOLVE", "s", "$1"],
        &["ALERT.DEL", "s", "$2"],
        &[
            "ALERT.SILENCE",
            "s",
            "UNTIL",
            &until,
            "SOURCE",
            "db",
            "ID",
            "7",
        ],
        &["ALERT.UNSILENCE", "s", "7"],
        &["ALERT.TRIM", "s", "MAXLEN", "0"],
        &["QUOTA.SET", "t:q", "LIMIT", "100"],
        &["QUOTA.INCR", "t:q", "5"],
        &["QUOTA.RESET", "t:q"],
        &["LRU.TOUCH", "t:lru", "t:a", "10", "t:b", "20"],
        &["LRU.TOUCHAT", "t:lru", "1000", "t:c", "5"],
        &["LRU.FORGET", "t:lru", "t:c"],
        &["LRU.EVICT", "t:lru", "0", "MAX", "1"],
        &["LRU.EVICTED", "t:lru", "2"],
    ];
    // The keys the trackers track.
    for k in ["t:a", "t:b", "t:c"] {
        call(&mut c, &["SET", k, "v"]).unwrap();
    }
    let mut ids: Vec<String> = Vec::new();
    for w in writes {
        let a: Vec<&str> = w
            .iter()
            .map(|&a| match a {
                "$1" => ids[0].as_str(),
                "$2" => ids[1].as_str(),
                a => a,
            })
            .collect();
        let before = changes_since_save(&mut c);
        let reply = call(&mut c, &a).unwrap_or_else(|e| panic!("{a:?}: {e}"));
        let after = changes_since_save(&mut c);
        assert!(
            after > before,
            "{a:?} left the changes since the last save at {after}"
        );
        if a[0] == "ALERT.ADD" {
            let v: Vec<String> = redis::from_redis_value(&reply).unwrap();
            ids.push(v[1].clone());
        }
    }
    // A failed or unchanged write counts nothing.
    let before = changes_since_save(&mut c);
    let _ = call(&mut c, &["ALERT.ADD", "s", "{"]);
    let _ = call(&mut c, &["ALERT.ACK", "s", "1-0"]);
    assert_eq!(changes_since_save(&mut c), before);
}

/// The save point a user sets is met by module writes alone, and what it saved comes back
/// after a restart.
#[test]
fn a_save_point_met_by_module_writes_saves_them() {
    let mut s = Server::start_with(&["--save", "1 1", "--appendonly", "no"]);
    let mut c = s.client();
    let saves = |c: &mut redis::Connection| -> i64 {
        info_field(c, "stats", "total_forks")
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1)
    };
    let forks = saves(&mut c);
    call(
        &mut c,
        &["ALERT.ADD", "s", r#"{"severity":"high","source":"db"}"#],
    )
    .unwrap();
    let start = Instant::now();
    while changes_since_save(&mut c) != 0 || saves(&mut c) == forks {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no save after a module write: {} changes since the last",
            changes_since_save(&mut c)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A crash: only what the save point saved comes back.
    s.kill();
    s.restart(&[]);
    let mut c = s.client();
    let back = alerts(call(&mut c, &["ALERT.RANGE", "s", "-", "+"]).unwrap());
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0]["source"], "db");
}

/// An ID deleted or trimmed at the stream's newest millisecond is not given out again, as a
/// Redis stream's last ID does after XDEL, across DEBUG RELOAD, an AOF rewrite and restart,
/// and on a replica. Before, the next alert of that millisecond took the deleted alert's ID,
/// and a client that kept it acked or resolved another alert (found by a black-box audit).
#[test]
fn deleted_ids_are_not_given_out_again() {
    let mut s = Server::with_aof(false);
    let replica = s.replica(&[]);
    let mut c = s.client();
    let ts = "1700000000000";
    let add = |c: &mut redis::Connection| -> String {
        let v = call(c, &["ALERT.ADD", "ids", "{}", "TS", ts]).unwrap();
        let (outcome, id, _): (String, Option<String>, i64) = redis::from_redis_value(&v).unwrap();
        assert_eq!(outcome, "added");
        id.unwrap()
    };
    call(
        &mut c,
        &["ALERT.CREATE", "ids", "RETENTION", "0", "DEDUP", "0"],
    )
    .unwrap();
    assert_eq!(add(&mut c), format!("{ts}-0"));
    assert_eq!(add(&mut c), format!("{ts}-1"));
    call(&mut c, &["ALERT.DEL", "ids", &format!("{ts}-1")]).unwrap();
    assert_eq!(add(&mut c), format!("{ts}-2"), "after ALERT.DEL");
    call(&mut c, &["ALERT.TRIM", "ids", "MAXLEN", "0"]).unwrap();
    assert_eq!(add(&mut c), format!("{ts}-3"), "after ALERT.TRIM");
    call(&mut c, &["ALERT.DEL", "ids", &format!("{ts}-3")]).unwrap();
    call(&mut c, &["DEBUG", "RELOAD"]).unwrap();
    assert_eq!(add(&mut c), format!("{ts}-4"), "after DEBUG RELOAD");
    call(&mut c, &["ALERT.DEL", "ids", &format!("{ts}-4")]).unwrap();
    call(&mut c, &["BGREWRITEAOF"]).unwrap();
    wait_rewrite(&mut c);
    wait_synced(&mut c);
    let digest = |c: &mut redis::Connection| -> Vec<String> {
        redis::from_redis_value(&call(c, &["DEBUG", "DIGEST-VALUE", "ids"]).unwrap()).unwrap()
    };
    assert_eq!(digest(&mut replica.client()), digest(&mut c), "the replica");
    s.restart(&[]);
    let mut c = s.client();
    assert_eq!(
        add(&mut c),
        format!("{ts}-5"),
        "after an AOF rewrite and restart"
    );
}
