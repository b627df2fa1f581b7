//! ACL selectors with read-only and write-only key permissions (`%R~`, `%W~`) against every
//! command: Redis allows a command by its key specs' access flags, so these tests hold each
//! command's declared flags to what it does. Hostile-probe row 5: every key spec was `RW access
//! update` or had no access flags, and a write-only user read usage and existing IDs through
//! QUOTA.INCR and ALERT.ADD. Row 4: two QUOTA options let ACL check one quota and the module
//! use the other.

mod common;
use common::*;

/// What a key spec needs from a user's key permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Needs {
    /// RO ACCESS: the command reads the key.
    Read,
    /// RW INSERT / UPDATE / DELETE: it writes, and its reply shows nothing the key held.
    Write,
    /// RW ACCESS ...: it writes, and its reply shows what the key held.
    ReadWrite,
}

use Needs::*;

fn commands(now: u64) -> Vec<(Needs, Vec<String>)> {
    let s = |a: &[&str]| -> Vec<String> { a.iter().map(|x| x.to_string()).collect() };
    let id = format!("{now}-1");
    let until = (now + 60_000).to_string();
    vec![
        (Write, s(&["ALERT.CREATE", "t:{a}:new", "RETENTION", "0"])),
        (Write, s(&["ALERT.ALTER", "t:{a}:s", "MAXLEN", "100"])),
        (ReadWrite, s(&["ALERT.ADD", "t:{a}:s", "{}", "ID", &id])),
        (Read, s(&["ALERT.GET", "t:{a}:s", &id])),
        (Read, s(&["ALERT.RANGE", "t:{a}:s", "-", "+"])),
        (Write, s(&["ALERT.ACK", "t:{a}:s", &id])),
        (Write, s(&["ALERT.RESOLVE", "t:{a}:s", &id])),
        (Write, s(&["ALERT.DEL", "t:{a}:s", "1-1"])),
        (Write, s(&["ALERT.TRIM", "t:{a}:s", "MINTS", "1"])),
        (Read, s(&["ALERT.INFO", "t:{a}:s"])),
        (Write, s(&["ALERT.IMPORT", "t:{a}:s", "2-2", "{}"])),
        (Read, s(&["ALERT.READ", "t:{a}:s", "AFTER", "0"])),
        (
            Write,
            s(&["ALERT.SILENCE", "t:{a}:s", "UNTIL", &until, "SOURCE", "x"]),
        ),
        (Write, s(&["ALERT.UNSILENCE", "t:{a}:s", "999"])),
        (Read, s(&["ALERT.SILENCES", "t:{a}:s"])),
        (
            Read,
            s(&["ALERT.GROUPS", "t:{a}:s", "-", "+", "BY", "source"]),
        ),
        (Write, s(&["QUOTA.SET", "t:{a}:q", "LIMIT", "100"])),
        (ReadWrite, s(&["QUOTA.INCR", "t:{a}:q", "0"])),
        (Read, s(&["QUOTA.GET", "t:{a}:q"])),
        (Write, s(&["QUOTA.RESET", "t:{a}:q"])),
        (Write, s(&["LRU.TOUCH", "t:{a}:lru", "t:{a}:k", "1"])),
        (Write, s(&["LRU.TOUCHAT", "t:{a}:lru", "1", "t:{a}:k", "1"])),
        (Write, s(&["LRU.FORGET", "t:{a}:lru", "t:{a}:none"])),
        (Write, s(&["LRU.EVICTED", "t:{a}:lru", "0"])),
        (Read, s(&["LRU.CANDIDATES", "t:{a}:lru", "10"])),
        (ReadWrite, s(&["LRU.EVICT", "t:{a}:lru", "1000"])),
        (Read, s(&["LRU.INFO", "t:{a}:lru"])),
    ]
}

fn setup(c: &mut redis::Connection, now: u64) {
    call(c, &["ALERT.CREATE", "t:{a}:s", "RETENTION", "0"]).unwrap();
    call(
        c,
        &["ALERT.ADD", "t:{a}:s", "{}", "ID", &format!("{now}-1")],
    )
    .unwrap();
    call(c, &["QUOTA.INCR", "t:{a}:q", "100", "LIMIT", "1000"]).unwrap();
    call(c, &["SET", "t:{a}:k", "v"]).unwrap();
    call(c, &["LRU.TOUCH", "t:{a}:lru", "t:{a}:k", "1"]).unwrap();
    for (user, perms) in [("r", "%R~t:{a}*"), ("w", "%W~t:{a}*"), ("rw", "%RW~t:{a}*")] {
        call(c, &["ACL", "SETUSER", user, "on", ">pw", perms, "+@all"]).unwrap();
    }
}

fn login(s: &Server, user: &str) -> redis::Connection {
    let mut c = s.client();
    call(&mut c, &["AUTH", user, "pw"]).unwrap();
    c
}

fn refused_by_acl(c: &mut redis::Connection, args: &[String]) -> bool {
    let mut cmd = redis::cmd(&args[0]);
    for a in &args[1..] {
        cmd.arg(a.as_str());
    }
    match cmd.query::<redis::Value>(c) {
        Ok(_) => false,
        Err(e) => e.code() == Some("NOPERM"),
    }
}

#[test]
fn every_command_needs_the_key_permissions_its_key_specs_declare() {
    let s = Server::start();
    let mut admin = s.client();
    let now = common::alerts::now_ms() as u64;
    setup(&mut admin, now);
    let mut users = [
        ("r", login(&s, "r")),
        ("w", login(&s, "w")),
        ("rw", login(&s, "rw")),
    ];
    let mut wrong = Vec::new();
    for (needs, args) in commands(now) {
        for (user, conn) in users.iter_mut() {
            let allowed = match needs {
                Read => *user != "w",
                Write => *user != "r",
                ReadWrite => *user == "rw",
            };
            if refused_by_acl(conn, &args) == allowed {
                wrong.push(format!(
                    "{} as {user}: {} (needs {needs:?})",
                    args.join(" "),
                    if allowed { "refused" } else { "allowed" }
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // Every command of the module is in the table above.
    let names: Vec<String> = commands(now)
        .iter()
        .map(|(_, a)| a[0].to_lowercase())
        .collect();
    let listed: Vec<String> = redis::from_redis_value(
        &call(
            &mut admin,
            &["COMMAND", "LIST", "FILTERBY", "MODULE", "vigil"],
        )
        .unwrap(),
    )
    .unwrap();
    for name in &listed {
        assert!(names.contains(name), "{name} has no ACL case");
    }
}

/// The probe's two examples: a write-only user learned a quota's usage (QUOTA.INCR key 0)
/// and which alert IDs a stream holds (ALERT.ADD ... ID <existing> answers `exists`).
#[test]
fn a_write_only_user_cannot_read_through_a_write() {
    let s = Server::start();
    let mut admin = s.client();
    let now = common::alerts::now_ms() as u64;
    setup(&mut admin, now);
    let mut w = login(&s, "w");
    let e = error_of(&mut w, &["QUOTA.INCR", "t:{a}:q", "0"]);
    assert!(e.starts_with("NOPERM"), "{e}");
    let e = error_of(
        &mut w,
        &["ALERT.ADD", "t:{a}:s", "{}", "ID", &format!("{now}-1")],
    );
    assert!(e.starts_with("NOPERM"), "{e}");
    assert!(error_of(&mut w, &["QUOTA.GET", "t:{a}:q"]).starts_with("NOPERM"));
    // Writes whose replies show nothing held are the user's to make.
    assert_eq!(
        int(&call(&mut w, &["ALERT.DEL", "t:{a}:s", "1-1"]).unwrap()),
        0
    );
    call(&mut w, &["QUOTA.SET", "t:{a}:q", "LIMIT", "5"]).unwrap();
}

/// Row 4: ACL and COMMAND GETKEYS look at the first QUOTA of LRU.EVICT; the module used the
/// last, so a user with write access to the tracker and read access to a quota lowered it.
#[test]
fn lru_evict_takes_one_quota_and_acl_checks_that_one() {
    let s = Server::start();
    let mut admin = s.client();
    for i in 0..3 {
        let key = format!("tenant:{{a}}:k{i}");
        call(&mut admin, &["SET", &key, "v"]).unwrap();
        call(&mut admin, &["LRU.TOUCH", "tenant:{a}:lru", &key, "1"]).unwrap();
    }
    call(&mut admin, &["QUOTA.INCR", "tenant:{a}:q", "100"]).unwrap();
    let keys = |c: &mut redis::Connection, args: &[&str]| -> Vec<String> {
        let mut all = vec!["COMMAND", "GETKEYS"];
        all.extend_from_slice(args);
        redis::from_redis_value(&call(c, &all).unwrap()).unwrap()
    };
    assert_eq!(
        keys(
            &mut admin,
            &[
                "LRU.EVICT",
                "tenant:{a}:lru",
                "0",
                "MAX",
                "1",
                "QUOTA",
                "tenant:{a}:q"
            ]
        ),
        ["tenant:{a}:lru", "tenant:{a}:q"]
    );
    let twice = [
        "LRU.EVICT",
        "tenant:{a}:lru",
        "0",
        "MAX",
        "1",
        "QUOTA",
        "tenant:{a}:lru",
        "QUOTA",
        "tenant:{a}:q",
    ];
    assert_eq!(
        keys(&mut admin, &twice),
        ["tenant:{a}:lru", "tenant:{a}:lru"]
    );
    call(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "probe",
            "on",
            ">pw",
            "%RW~tenant:{a}:lru",
            "%R~tenant:{a}*",
            "+@all",
        ],
    )
    .unwrap();
    let mut u = s.client();
    call(&mut u, &["AUTH", "probe", "pw"]).unwrap();
    // ACL passes (the first QUOTA is writable to the user); the module refuses the second.
    let e = error_of(&mut u, &twice);
    assert!(e.contains("QUOTA may be given only once"), "{e}");
    let q: (i64, String, String, String, i64) =
        redis::from_redis_value(&call(&mut admin, &["QUOTA.GET", "tenant:{a}:q"]).unwrap())
            .unwrap();
    assert_eq!(q.1, "100", "the read-only quota is unchanged");
    let m = map_of(call(&mut admin, &["LRU.INFO", "tenant:{a}:lru"]).unwrap());
    assert_eq!(int(&m["keys"]), 3, "nothing evicted");
    // Named once, the read-only quota is refused by ACL.
    let e = error_of(
        &mut u,
        &["LRU.EVICT", "tenant:{a}:lru", "0", "QUOTA", "tenant:{a}:q"],
    );
    assert!(e.starts_with("NOPERM"), "{e}");
    assert_eq!(
        int(&map_of(call(&mut admin, &["LRU.INFO", "tenant:{a}:lru"]).unwrap())["keys"]),
        3
    );
}

/// The server's `redis_version` as (major, minor): Valkey reports the Redis version it
/// speaks for (7.2).
fn redis_version(c: &mut redis::Connection) -> (u32, u32) {
    let v = info_field(c, "server", "redis_version").unwrap_or_default();
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Where the server lets a module set them (Redis 7.2 and later, Valkey), every command sits
/// in the ACL categories of what it does, as core commands do: `@read` or `@write`, `@fast`
/// or `@slow`, `@blocking` for ALERT.READ, and the module's own `@vigil` where the server can
/// add a category (Redis 7.4 and later, Valkey 9). Redis 7.0 keeps module commands
/// out of every category but `@all`.
#[test]
fn commands_sit_in_the_acl_categories_of_what_they_do() {
    let s = Server::start();
    let mut admin = s.client();
    let now = common::alerts::now_ms() as u64;
    setup(&mut admin, now);
    let version = redis_version(&mut admin);
    let settable = version >= (7, 2);
    let own = is_valkey() || version >= (7, 4);
    let cats: Vec<String> =
        redis::from_redis_value(&call(&mut admin, &["ACL", "CAT"]).unwrap()).unwrap();
    assert_eq!(cats.iter().any(|c| c == "vigil"), own, "{cats:?}");
    let text = |v: &redis::Value| -> Vec<String> {
        match v {
            redis::Value::Array(items) | redis::Value::Set(items) => items
                .iter()
                .filter_map(|i| redis::from_redis_value::<String>(i).ok())
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut wrong = Vec::new();
    for (needs, args) in commands(now) {
        let info = call(&mut admin, &["COMMAND", "INFO", &args[0]]).unwrap();
        let redis::Value::Array(mut outer) = info else {
            panic!("COMMAND INFO {}: {info:?}", args[0]);
        };
        let redis::Value::Array(fields) = outer.remove(0) else {
            panic!("COMMAND INFO {}", args[0]);
        };
        let flags = text(&fields[2]);
        let mut got = text(&fields[6]);
        got.sort();
        let mut want: Vec<String> = Vec::new();
        if settable {
            want.push(if needs == Read { "@read" } else { "@write" }.into());
            let fast = flags.iter().any(|f| f == "fast");
            want.push(if fast { "@fast" } else { "@slow" }.into());
            if flags.iter().any(|f| f == "blocking") {
                want.push("@blocking".into());
            }
            if own {
                want.push("@vigil".into());
            }
        }
        want.sort();
        if got != want {
            wrong.push(format!("{}: {got:?}, expected {want:?}", args[0]));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");

    // What the categories grant.
    call(
        &mut admin,
        &["ACL", "SETUSER", "reader", "on", ">pw", "~*", "+@read"],
    )
    .unwrap();
    let mut reader = login(&s, "reader");
    let range = ["ALERT.RANGE", "t:{a}:s", "-", "+"];
    let add = ["ALERT.ADD", "t:{a}:s", "{}"];
    assert_eq!(call(&mut reader, &range).is_ok(), settable);
    assert!(error_of(&mut reader, &add).starts_with("NOPERM"));
    if own {
        call(
            &mut admin,
            &["ACL", "SETUSER", "ops", "on", ">pw", "~*", "+@vigil"],
        )
        .unwrap();
        let mut ops = login(&s, "ops");
        call(&mut ops, &add).unwrap();
        call(&mut ops, &["QUOTA.GET", "t:{a}:q"]).unwrap();
        assert!(error_of(&mut ops, &["GET", "t:{a}:k"]).starts_with("NOPERM"));
        call(
            &mut admin,
            &[
                "ACL", "SETUSER", "core", "on", ">pw", "~*", "+@all", "-@vigil",
            ],
        )
        .unwrap();
        let mut core = login(&s, "core");
        call(&mut core, &["GET", "t:{a}:k"]).unwrap();
        assert!(error_of(&mut core, &range).starts_with("NOPERM"));
    }
}
