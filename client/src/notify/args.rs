//! The command line of `vigil-notify`, each flag with an environment variable that stands in
//! for it (containers are configured that way); a flag given wins over its variable.

use super::alertmanager::Acked;
use super::Options;
use crate::feed::{Cursor, Filters};
use crate::types::Severity;
use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
usage: vigil-notify --keys KEY[,KEY...] --state-dir DIR [options]

Follows the change feed (ALERT.READ ... BLOCK) of Vigil alert streams and posts the alerts to
Alertmanager (POST /api/v2/alerts), at least once, resuming from a cursor file per key.

  --redis URL            Redis (repeatable; several seeds mean a cluster)
                         [VIGIL_REDIS_URL, comma-separated; redis://127.0.0.1:6379/]
  --cluster              the Redis URLs are seeds of a Redis Cluster [VIGIL_CLUSTER=1]
  --keys KEY[,KEY...]    the alert streams to follow (repeatable) [VIGIL_KEYS]
  --alertmanager URL     http://host:port[/prefix] [ALERTMANAGER_URL; http://127.0.0.1:9093]
  --state-dir DIR        the cursor and firing files [VIGIL_NOTIFY_STATE_DIR]
  --block-ms N           how long one ALERT.READ waits for a change, 1 to 3600000
                         [VIGIL_NOTIFY_BLOCK_MS; 5000]
  --count N              alerts per read, posted together (and per request of a re-post
                         round), 1 to 100000 [VIGIL_NOTIFY_COUNT; 100]
  --repost-secs N        re-post firing alerts this often, 1 to 86400; they are posted firing
                         for 4 times as long [VIGIL_NOTIFY_REPOST_SECS; 60]
  --min-severity SEV     only alerts at least this severe [VIGIL_NOTIFY_MIN_SEVERITY]
  --source S, --type T   only alerts of this source / type [VIGIL_NOTIFY_SOURCE, VIGIL_NOTIFY_TYPE]
  --label NAME=VALUE     only alerts with this label (repeatable) [VIGIL_NOTIFY_LABELS, comma-separated]
  --with-silenced        also alerts that an ALERT.SILENCE covers [VIGIL_NOTIFY_WITH_SILENCED=1]
  --acked firing|resolved  what an acked alert is in Alertmanager [VIGIL_NOTIFY_ACKED; firing]
  --from 0|$             where a key without a cursor file starts: every alert held, or only
                         changes from now on [VIGIL_NOTIFY_FROM; 0]
  --generator-url BASE   generatorURL = BASE/<key>/<id> [VIGIL_NOTIFY_GENERATOR_URL; vigil://alerts]
  --once                 post what the feeds hold now and the firing alerts, then exit
                         (exit status 1 if anything failed; nothing is retried)
                         [VIGIL_NOTIFY_ONCE=1]
  --log LEVEL            error, warn, info, debug [VIGIL_NOTIFY_LOG; info]
  --metrics IP:PORT      serve the bridge's own metrics for Prometheus at
                         http://IP:PORT/metrics (not with --once) [VIGIL_NOTIFY_METRICS]
  --help
";

/// The ranges of the numeric flags, inclusive.
pub const BLOCK_MS: (u64, u64) = (1, 3_600_000);
pub const COUNT: (u64, u64) = (1, 100_000);
pub const REPOST_SECS: (u64, u64) = (1, 86_400);

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Options>),
    Help,
}

/// Flag, environment variable, takes a value, may be repeated.
const FLAGS: [(&str, &str, bool, bool); 20] = [
    ("--redis", "VIGIL_REDIS_URL", true, true),
    ("--cluster", "VIGIL_CLUSTER", false, false),
    ("--keys", "VIGIL_KEYS", true, true),
    ("--alertmanager", "ALERTMANAGER_URL", true, false),
    ("--state-dir", "VIGIL_NOTIFY_STATE_DIR", true, false),
    ("--block-ms", "VIGIL_NOTIFY_BLOCK_MS", true, false),
    ("--count", "VIGIL_NOTIFY_COUNT", true, false),
    ("--repost-secs", "VIGIL_NOTIFY_REPOST_SECS", true, false),
    ("--min-severity", "VIGIL_NOTIFY_MIN_SEVERITY", true, false),
    ("--source", "VIGIL_NOTIFY_SOURCE", true, false),
    ("--type", "VIGIL_NOTIFY_TYPE", true, false),
    ("--label", "VIGIL_NOTIFY_LABELS", true, true),
    (
        "--with-silenced",
        "VIGIL_NOTIFY_WITH_SILENCED",
        false,
        false,
    ),
    ("--acked", "VIGIL_NOTIFY_ACKED", true, false),
    ("--from", "VIGIL_NOTIFY_FROM", true, false),
    ("--generator-url", "VIGIL_NOTIFY_GENERATOR_URL", true, false),
    ("--once", "VIGIL_NOTIFY_ONCE", false, false),
    ("--log", "VIGIL_NOTIFY_LOG", true, false),
    ("--metrics", "VIGIL_NOTIFY_METRICS", true, false),
    ("--help", "", false, false),
];

/// Reads the arguments (without the program name), with `env` looked up for the flags not
/// given.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Parsed, String> {
    // flag -> values, from the command line.
    let mut given: Vec<(&'static str, Vec<String>)> = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let Some(&(flag, _, takes_value, repeatable)) = FLAGS.iter().find(|f| f.0 == name) else {
            return Err(format!("unknown argument '{arg}'"));
        };
        let value = match (takes_value, inline) {
            (true, Some(v)) => v,
            (true, None) => it.next().ok_or_else(|| format!("{flag} needs a value"))?,
            (false, Some(_)) => return Err(format!("{flag} takes no value")),
            (false, None) => "1".to_owned(),
        };
        match given.iter_mut().find(|(f, _)| *f == flag) {
            Some((_, values)) if repeatable => values.push(value),
            Some(_) => return Err(format!("{flag} given twice")),
            None => given.push((flag, vec![value])),
        }
    }
    let values = |flag: &str| -> Vec<String> {
        if let Some((_, v)) = given.iter().find(|(f, _)| *f == flag) {
            return v.clone();
        }
        let Some(&(_, var, takes_value, repeatable)) = FLAGS.iter().find(|f| f.0 == flag) else {
            return Vec::new();
        };
        match env(var).filter(|v| !v.trim().is_empty() && !var.is_empty()) {
            None => Vec::new(),
            Some(v) if !takes_value => match v.trim() {
                "0" | "false" | "no" => Vec::new(),
                _ => vec!["1".into()],
            },
            Some(v) if repeatable => v.split(',').map(|s| s.trim().to_owned()).collect(),
            Some(v) => vec![v],
        }
    };
    let one = |flag: &str| values(flag).into_iter().next();
    let set = |flag: &str| one(flag).is_some();
    let number = |flag: &str, default: u64| -> Result<u64, String> {
        match one(flag) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .map_err(|_| format!("{flag} takes a whole number, got '{v}'")),
        }
    };

    if set("--help") {
        return Ok(Parsed::Help);
    }
    // Repeated flags may also be comma-separated.
    let list = |flag: &str| -> Vec<String> {
        values(flag)
            .iter()
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let mut redis = list("--redis");
    if redis.is_empty() {
        redis.push("redis://127.0.0.1:6379/".into());
    }
    let keys = list("--keys");
    if keys.is_empty() {
        return Err("--keys is required (the alert streams to follow)".into());
    }
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != keys.len() {
        return Err("--keys names a key twice".into());
    }
    let state_dir = one("--state-dir")
        .map(PathBuf::from)
        .ok_or("--state-dir is required (where the cursor files are kept)")?;

    // Bounded, so that no value can overflow a time computed from it (the validity of a
    // firing alert is 4 × --repost-secs; a huge one panicked, or posted endsAt in the year
    // 14702, which Alertmanager refuses).
    let bounded = |flag: &str, default: u64, (min, max): (u64, u64), why: &str| {
        let n = number(flag, default)?;
        if (min..=max).contains(&n) {
            Ok(n)
        } else {
            Err(format!("{flag} must be from {min} to {max}{why}, got {n}"))
        }
    };
    let block_ms = bounded("--block-ms", 5000, BLOCK_MS, " (0 would wait for ever)")?;
    let count = bounded("--count", 100, COUNT, "")?;
    let repost_secs = bounded("--repost-secs", 60, REPOST_SECS, " (a day)")?;

    let mut filters = Filters::new();
    if let Some(s) = one("--min-severity") {
        let sev = Severity::parse(&s).ok_or_else(|| {
            format!("invalid --min-severity '{s}', expected critical|high|medium|low|info")
        })?;
        filters = filters.min_severity(sev);
    }
    if let Some(s) = one("--source") {
        filters = filters.source(s);
    }
    if let Some(t) = one("--type") {
        filters = filters.kind(t);
    }
    // Label values may hold commas: --label takes one pair each; the variable splits on commas.
    for pair in values("--label") {
        let (name, value) = pair
            .split_once('=')
            .filter(|(n, _)| !n.is_empty())
            .ok_or_else(|| format!("invalid --label '{pair}', expected name=value"))?;
        filters = filters.label(name, value);
    }
    let acked = match one("--acked") {
        None => Acked::Firing,
        Some(a) => Acked::parse(&a)
            .ok_or_else(|| format!("invalid --acked '{a}', expected firing|resolved"))?,
    };
    let from = match one("--from").as_deref() {
        None | Some("0") => Cursor::start(),
        Some("$") => Cursor::now(),
        Some(other) => return Err(format!("invalid --from '{other}', expected 0 or $")),
    };
    let log = match one("--log") {
        None => tracing::Level::INFO,
        Some(l) => super::log::parse_level(&l)
            .ok_or_else(|| format!("invalid --log '{l}', expected error|warn|info|debug"))?,
    };
    let metrics = match one("--metrics") {
        None => None,
        Some(a) => Some(a.parse::<std::net::SocketAddr>().map_err(|_| {
            format!("invalid --metrics '{a}', expected IP:PORT (0.0.0.0:9466, [::1]:9466)")
        })?),
    };
    // A Redis URL the client cannot use (another scheme, rediss:// without TLS) is a usage
    // error too, as the Alertmanager's is.
    for url in &redis {
        redis::IntoConnectionInfo::into_connection_info(url.as_str())
            .map_err(|why| format!("invalid --redis '{url}': {why}"))?;
    }
    let alertmanager = one("--alertmanager").unwrap_or_else(|| "http://127.0.0.1:9093".into());
    // A URL the bridge cannot use (https, credentials, another scheme) is a usage error.
    super::http::Endpoint::parse(&alertmanager)
        .map_err(|why| format!("invalid --alertmanager '{alertmanager}': {why}"))?;
    Ok(Parsed::Run(Box::new(Options {
        cluster: set("--cluster") || redis.len() > 1,
        redis,
        keys,
        alertmanager,
        state_dir,
        block: Duration::from_millis(block_ms),
        count,
        repost: Duration::from_secs(repost_secs),
        filters,
        with_silenced: set("--with-silenced"),
        acked,
        from,
        generator_url: one("--generator-url").unwrap_or_else(|| "vigil://alerts".into()),
        once: set("--once"),
        log,
        metrics,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    fn run(line: &str, env: &[(&str, &str)]) -> Result<Options, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match parse(args(line), |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })? {
            Parsed::Run(o) => Ok(*o),
            Parsed::Help => Err("help".into()),
        }
    }

    #[test]
    fn flags_with_defaults() {
        let o = run("--keys a,b --keys c --state-dir /tmp/s", &[]).unwrap();
        assert_eq!(o.keys, ["a", "b", "c"]);
        assert_eq!(o.redis, ["redis://127.0.0.1:6379/"]);
        assert!(!o.cluster && !o.once && !o.with_silenced);
        assert_eq!(o.alertmanager, "http://127.0.0.1:9093");
        assert_eq!(o.block, Duration::from_secs(5));
        assert_eq!(o.repost, Duration::from_secs(60));
        assert_eq!(
            (o.count, o.acked, o.from.clone()),
            (100, Acked::Firing, Cursor::start())
        );
        assert_eq!(o.filters, Filters::new());

        let o = run(
            "--redis redis://a:1 --redis=redis://b:2 --keys k --state-dir=/s --block-ms 200 \
             --repost-secs 2 --min-severity HIGH --source db-1 --type disk --label env=a,b \
             --label team=x --with-silenced --acked resolved --from $ --once --log debug",
            &[],
        )
        .unwrap();
        assert!(o.cluster, "several seeds are a cluster");
        assert_eq!(o.block, Duration::from_millis(200));
        assert_eq!(
            o.filters,
            Filters::new()
                .min_severity(Severity::High)
                .source("db-1")
                .kind("disk")
                .label("env", "a,b")
                .label("team", "x")
        );
        assert!(o.with_silenced && o.once);
        assert_eq!((o.acked, o.from), (Acked::Resolved, Cursor::now()));
        assert_eq!(o.metrics, None);
        let o = run("--keys k --state-dir /s --metrics [::1]:9466", &[]).unwrap();
        assert_eq!(o.metrics, Some("[::1]:9466".parse().unwrap()));
    }

    #[test]
    fn environment_stands_in_for_flags_not_given() {
        let env = [
            ("VIGIL_REDIS_URL", "redis://redis:6379"),
            ("VIGIL_KEYS", "alerts:prod, alerts:dev"),
            ("ALERTMANAGER_URL", "http://alertmanager:9093"),
            ("VIGIL_NOTIFY_STATE_DIR", "/var/lib/vigil-notify"),
            ("VIGIL_NOTIFY_LABELS", "env=prod,team=db"),
            ("VIGIL_NOTIFY_WITH_SILENCED", "0"),
            ("VIGIL_NOTIFY_REPOST_SECS", "30"),
            ("VIGIL_NOTIFY_METRICS", "0.0.0.0:9466"),
        ];
        let o = run("", &env).unwrap();
        assert_eq!(o.keys, ["alerts:prod", "alerts:dev"]);
        assert_eq!(o.alertmanager, "http://alertmanager:9093");
        assert_eq!(o.repost, Duration::from_secs(30));
        assert!(!o.with_silenced);
        assert_eq!(o.metrics, Some("0.0.0.0:9466".parse().unwrap()));
        assert_eq!(o.filters.labels.len(), 2);
        let o = run("--keys x --repost-secs 5", &env).unwrap();
        assert_eq!(
            (o.keys, o.repost),
            (vec!["x".to_owned()], Duration::from_secs(5))
        );
    }

    #[test]
    fn mistakes_are_named() {
        let err = |line: &str| run(line, &[]).unwrap_err();
        assert!(err("--state-dir /s").contains("--keys is required"));
        assert!(err("--keys k").contains("--state-dir is required"));
        assert!(err("--keys k --state-dir /s --block-ms 0").contains("from 1 to 3600000"));
        // Found by the bridge audit: a huge --repost-secs panicked computing the alerts'
        // validity (18446744073709551615, 5e18 as a number) or posted every alert to end in
        // the year 14702 (100000000000), which Alertmanager refused.
        for (flag, value) in [
            ("--repost-secs", "18446744073709551615"),
            ("--repost-secs", "5000000000000000000"),
            ("--repost-secs", "100000000000"),
            ("--repost-secs", "86401"),
            ("--repost-secs", "0"),
            ("--block-ms", "18446744073709551615"),
            ("--block-ms", "3600001"),
            ("--count", "0"),
            ("--count", "18446744073709551615"),
        ] {
            let e = err(&format!("--keys k --state-dir /s {flag} {value}"));
            assert!(e.starts_with(&format!("{flag} must be from ")), "{e}");
            assert!(e.ends_with(&format!("got {value}")), "{e}");
        }
        let e = err("--keys k --state-dir /s --repost-secs 18446744073709551616");
        assert!(e.contains("takes a whole number"), "{e}");
        let o = run(
            "--keys k --state-dir /s --repost-secs 86400 --block-ms 3600000 --count 100000",
            &[],
        )
        .unwrap();
        assert_eq!(o.repost, Duration::from_secs(86_400));
        assert!(err("--keys k --state-dir /s --min-severity urgent").contains("urgent"));
        assert!(err("--keys k --state-dir /s --label env").contains("name=value"));
        assert!(err("--keys k --state-dir /s --from 17").contains("expected 0 or $"));
        assert!(err("--keys k --state-dir /s --nope").contains("unknown argument"));
        assert!(err("--keys k --state-dir /s --count").contains("needs a value"));
        assert!(err("--keys k,k --state-dir /s").contains("twice"));
        assert!(err("--keys k --state-dir /s --once=yes").contains("takes no value"));
        for addr in [
            "9466",
            "localhost:9466",
            "0.0.0.0",
            "1.2.3.4:99999",
            ":9466",
        ] {
            let e = err(&format!("--keys k --state-dir /s --metrics {addr}"));
            assert!(e.contains("invalid --metrics"), "{e}");
        }
        for url in ["https://am:9093", "http://u:p@am:9093", "ftp://am"] {
            let e = err(&format!("--keys k --state-dir /s --alertmanager {url}"));
            assert!(e.contains("invalid --alertmanager"), "{e}");
        }
        for url in ["ftp://x", "redis://:99999999/", "notaurl"] {
            let e = err(&format!("--keys k --state-dir /s --redis {url}"));
            assert!(e.contains("invalid --redis"), "{e}");
        }
        assert_eq!(err("--help"), "help");
    }
}
