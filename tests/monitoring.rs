//! Vigil in the tools operators already run: redis_exporter with deploy/redis_exporter/vigil.lua,
//! Prometheus with deploy/prometheus (relabeling, alert rules), the Grafana dashboard,
//! Alertmanager, and the compose file that ties them together.
//!
//! The tools are the real ones from Debian's packages (prometheus-redis-exporter 1.45,
//! prometheus 2.42 with promtool, prometheus-alertmanager 0.25 with amtool), installed by
//! `./scripts/install-deps.sh --with monitoring` (`make test` runs it). Each process runs on a
//! free loopback port in its own temporary directory and is killed by its pid on drop.

mod common;
use common::http::http;
use common::*;

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const INSTALL_HINT: &str = "run `./scripts/install-deps.sh --with monitoring` (make test does)";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn deploy(path: &str) -> PathBuf {
    repo().join("deploy").join(path)
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 over std's TcpStream: enough for the exporter's /metrics and the JSON APIs of
// Prometheus and Alertmanager.

/// Percent-encodes a query parameter (PromQL, Alertmanager filters).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Processes of the monitoring tools.

/// One tool's process on a free loopback port, with its own directory (config, data, log);
/// killed by its pid and the directory removed on drop.
struct Daemon {
    name: &'static str,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    /// Starts `program` with the arguments `args(port, dir)` makes (it may write files into
    /// `dir`), and waits until `GET ready_path` answers 200. A port taken between the pick and
    /// the bind makes the program exit: then it is tried again on another port.
    fn start(
        name: &'static str,
        program: &str,
        ready_path: &str,
        args: impl Fn(u16, &Path) -> Vec<String>,
    ) -> Daemon {
        let dir = temp_dir(name);
        let mut daemon = Daemon {
            name,
            port: 0,
            dir,
            child: None,
        };
        for _ in 0..5 {
            let port = free_port();
            let log = File::create(daemon.log_path()).expect("create the log file");
            let child = Command::new(program)
                .args(args(port, &daemon.dir))
                .current_dir(&daemon.dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {program} ({e}): {INSTALL_HINT}"));
            daemon.port = port;
            daemon.child = Some(child);
            if daemon.wait_ready(ready_path, Duration::from_secs(20)) {
                return daemon;
            }
            daemon.kill();
        }
        panic!("{name} did not start; log:\n{}", daemon.log());
    }

    fn wait_ready(&mut self, path: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    return false;
                }
            }
            if let Ok(r) = http(self.port, "GET", path, None) {
                if r.status == 200 {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.name))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// GET `path`, asserting 200; the body.
    fn get(&self, path: &str) -> String {
        let r = http(self.port, "GET", path, None)
            .unwrap_or_else(|e| panic!("GET {path} from {}: {e}", self.name));
        assert_eq!(
            r.status,
            200,
            "GET {path} from {}: {}\nlog:\n{}",
            self.name,
            r.body,
            self.log()
        );
        r.body
    }

    fn get_json(&self, path: &str) -> Value {
        serde_json::from_str(&self.get(path)).expect("a JSON reply")
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Debian's prometheus-redis-exporter scraping the server on `redis_port`, running the
/// repository's deploy/redis_exporter/vigil.lua.
fn start_exporter(redis_port: u16) -> Daemon {
    let script = deploy("redis_exporter/vigil.lua");
    Daemon::start(
        "redis-exporter",
        "prometheus-redis-exporter",
        "/metrics",
        |port, _| {
            vec![
                format!("--web.listen-address=127.0.0.1:{port}"),
                format!("--redis.addr=redis://127.0.0.1:{redis_port}"),
                format!("--script={}", script.display()),
            ]
        },
    )
}

/// The values the exporter's script returned on one scrape: `redis_script_values{key="k"} v`
/// as k -> v.
fn script_values(exporter: &Daemon) -> BTreeMap<String, f64> {
    let text = exporter.get("/metrics");
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("redis_script_values{key=\"") else {
            continue;
        };
        let (key, value) = rest.split_once("\"} ").expect("key=\"...\"} value");
        out.insert(key.to_string(), value.trim().parse().expect("a number"));
    }
    out
}

/// Prometheus (Debian's 2.42) on `config`, a JSON document (JSON is YAML), with its TSDB in
/// its own directory.
fn start_prometheus(config: &Value) -> Daemon {
    Daemon::start("prometheus", "prometheus", "/-/ready", |port, dir| {
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, serde_json::to_string_pretty(config).unwrap()).unwrap();
        vec![
            format!("--config.file={}", file.display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ]
    })
}

/// The repository's prometheus.yml with its rules, faster (1 s), without Alertmanager, and
/// only its scrape job `job`, pointed at `127.0.0.1:port`.
fn test_config(job: &str, port: u16) -> Value {
    let mut config = yaml(&deploy("prometheus/prometheus.yml"));
    config["global"]["scrape_interval"] = json!("1s");
    config["global"]["evaluation_interval"] = json!("1s");
    config["rule_files"] = json!([deploy("prometheus/vigil-rules.yml")]);
    config["alerting"] = json!({"alertmanagers": []});
    let jobs = config["scrape_configs"]
        .as_array_mut()
        .expect("scrape_configs");
    jobs.retain(|j| j["job_name"] == job);
    assert_eq!(jobs.len(), 1, "prometheus.yml has one {job} job");
    jobs[0]["static_configs"] = json!([{"targets": [format!("127.0.0.1:{port}")]}]);
    config
}

/// A PromQL instant query; Err(the API's error) when Prometheus refuses it.
fn query(prometheus: &Daemon, promql: &str) -> Result<Vec<Value>, String> {
    let r = http(
        prometheus.port,
        "GET",
        &format!("/api/v1/query?query={}", encode(promql)),
        None,
    )
    .map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&r.body).map_err(|e| format!("{e}: {}", r.body))?;
    if v["status"] != "success" {
        return Err(format!("{}: {}", v["errorType"], v["error"]));
    }
    Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
}

/// The value of a query that answers exactly one sample.
fn query_one(prometheus: &Daemon, promql: &str) -> Option<f64> {
    let result = query(prometheus, promql).ok()?;
    match result.as_slice() {
        [one] => one["value"][1].as_str()?.parse().ok(),
        _ => None,
    }
}

/// Polls `done` until it holds (true) or `limit` passes (false).
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// A real Alertmanager (Debian's prometheus-alertmanager) with the repository's
/// deploy/alertmanager/alertmanager.yml: API on a free loopback port, no gossip cluster
/// listener, its state in a temporary directory. The vigil-notify test
/// (client/tests/notify.rs) runs a copy of it, client/tests/support/alertmanager.rs.
struct Alertmanager {
    daemon: Daemon,
}

impl Alertmanager {
    fn start() -> Alertmanager {
        let config = deploy("alertmanager/alertmanager.yml");
        let daemon = Daemon::start(
            "alertmanager",
            "prometheus-alertmanager",
            "/-/ready",
            |port, dir| {
                vec![
                    format!("--config.file={}", config.display()),
                    format!("--storage.path={}", dir.join("data").display()),
                    format!("--web.listen-address=127.0.0.1:{port}"),
                    "--cluster.listen-address=".to_string(),
                ]
            },
        );
        Alertmanager { daemon }
    }

    /// The base URL, as a bridge would be given it.
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.daemon.port)
    }

    /// POST /api/v2/alerts, asserting Alertmanager accepted them.
    fn post_alerts(&self, alerts: &Value) {
        let body = alerts.to_string();
        let r = http(self.daemon.port, "POST", "/api/v2/alerts", Some(&body))
            .expect("POST /api/v2/alerts");
        assert_eq!(r.status, 200, "POST /api/v2/alerts {body}: {}", r.body);
    }

    /// GET /api/v2/alerts: the alerts not resolved, with their status and receivers.
    fn alerts(&self) -> Vec<Value> {
        match self.daemon.get_json("/api/v2/alerts") {
            Value::Array(a) => a,
            other => panic!("GET /api/v2/alerts: {other}"),
        }
    }

    /// The alert with this `alertname` label, once Alertmanager lists it.
    fn alert_named(&self, name: &str) -> Option<Value> {
        self.alerts()
            .into_iter()
            .find(|a| a["labels"]["alertname"] == name)
    }
}

/// Milliseconds since the Unix epoch as RFC 3339 (UTC), as Alertmanager's API takes times.
fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

// ---------------------------------------------------------------------------------------------
// Reading the repository's files.

/// A YAML file as JSON, read by PyYAML (the root package has no YAML crate): `python3` on PATH
/// or Debian's own.
fn yaml(path: &Path) -> Value {
    let program =
        "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)";
    for python in ["python3", "/usr/bin/python3"] {
        let Ok(out) = Command::new(python)
            .args(["-c", program])
            .arg(path)
            .output()
        else {
            continue;
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return serde_json::from_slice(&out.stdout).expect("PyYAML's JSON");
        }
        if stderr.contains("No module named 'yaml'") {
            continue;
        }
        panic!("{} is not valid YAML:\n{stderr}", path.display());
    }
    panic!("no python3 with PyYAML: {INSTALL_HINT}");
}

/// The metric names vigil-client exports (`Metrics::to_prometheus()` in client/src): each
/// `metric("name", ...)` call there is `vigil_client_<name>`.
fn client_metric_names() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("client/src") {
            let p = entry.expect("dir entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo().join("client/src"), &mut files);
    let mut names = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        if !text.contains("vigil_client_{name}") {
            continue;
        }
        for (at, _) in text.match_indices("metric(") {
            let rest = text[at + "metric(".len()..].trim_start();
            if let Some(lit) = rest.strip_prefix('"') {
                let name = &lit[..lit.find('"').unwrap()];
                names.insert(format!("vigil_client_{name}"));
            }
        }
    }
    assert!(
        names.contains("vigil_client_mode") && names.len() >= 5,
        "client metric names not found in client/src (metric(\"name\", ...) calls with a \
         vigil_client_{{name}} prefix): {names:?}"
    );
    names
}

/// The metric names vigil-notify serves on `--metrics` (the bridge's own renderer).
fn notify_metric_names() -> BTreeSet<String> {
    let stats =
        vigil_client::notify::metrics::Stats::new(&["k".into()], Duration::from_secs(60), 0);
    stats
        .render()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(String::from)
        .collect()
}

const PROMQL_WORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
];

/// The metric names a PromQL expression selects: identifiers outside strings, label matchers,
/// ranges and by/on(...) lists, that are neither functions nor keywords.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut skip_group = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while i < chars.len() && chars[i] != close {
                    i += 1;
                }
                i += 1;
            }
            '(' if skip_group => {
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                i += 1;
                skip_group = false;
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = chars[i..].iter().find(|c| !c.is_whitespace());
                if PROMQL_WORDS.contains(&word.as_str()) {
                    skip_group = matches!(
                        word.as_str(),
                        "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                    );
                } else if next != Some(&'(') {
                    names.insert(word);
                }
            }
            c if c.is_ascii_digit() => {
                // Numbers and durations (5m) are not names.
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The dashboard's queries with Grafana's variables replaced so that Prometheus can run them:
/// (panel title, expr).
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    let vars: Vec<String> = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .map(|v| v["name"].as_str().expect("variable name").to_string())
        .collect();
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        let Some(targets) = panel["targets"].as_array() else {
            continue;
        };
        for t in targets {
            let mut expr = t["expr"].as_str().expect("a target's expr").to_string();
            for g in ["$__rate_interval", "$__interval", "$__range"] {
                expr = expr.replace(g, "1m");
            }
            for v in &vars {
                expr = expr
                    .replace(&format!("${{{v}}}"), ".*")
                    .replace(&format!("${v}"), ".*");
            }
            assert!(
                !expr.contains('$'),
                "panel {:?} uses an undefined variable: {expr}",
                panel["title"]
            );
            out.push((panel["title"].as_str().unwrap_or("").to_string(), expr));
        }
    }
    out
}

/// Every rule's expr in a Prometheus rules file: (alert name, expr).
fn rule_exprs(rules: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let name = rule["alert"].as_str().or(rule["record"].as_str()).unwrap();
            out.push((name.to_string(), rule["expr"].as_str().unwrap().to_string()));
        }
    }
    out
}

/// The `INFO vigil` fields and values of a server.
fn info_vigil(c: &mut redis::Connection) -> BTreeMap<String, f64> {
    let text: String = redis::from_redis_value(&call(c, &["INFO", "vigil"]).unwrap()).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.starts_with("vigil_"))
        .map(|(k, v)| (k.to_string(), v.trim().parse().expect("a number")))
        .collect()
}

/// Gauges among the INFO fields (levels, exported as they are); every other field is a
/// counter, exported with `_total`. The same list as the script's.
const GAUGES: &[&str] = &[
    "vigil_alert_keys",
    "vigil_alerts_held",
    "vigil_quota_keys",
    "vigil_lru_keys",
];

fn exported_name(field: &str) -> String {
    if GAUGES.contains(&field) {
        field.to_string()
    } else {
        format!("{field}_total")
    }
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): {INSTALL_HINT}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

// ---------------------------------------------------------------------------------------------
// 1. Metrics: redis_exporter with vigil.lua.

#[test]
fn exporter_script_exports_info_vigil_and_alert_add_moves_the_right_series() {
    let s = Server::start();
    let mut c = s.client();
    let exporter = start_exporter(s.port);

    // Every INFO vigil field, named as the script promises, with the server's value (some of
    // more than one digit).
    for _ in 0..12 {
        call(&mut c, &["ALERT.GET", "alerts", "1-0"]).unwrap();
    }
    let info = info_vigil(&mut c);
    assert_eq!(info["vigil_alert_get_calls"], 12.0);
    assert!(info.contains_key("vigil_alert_add_calls"), "{info:?}");
    let before = script_values(&exporter);
    let mut expected: BTreeMap<String, f64> = info
        .iter()
        .map(|(field, v)| (exported_name(field), *v))
        .collect();
    expected.insert("vigil_module_loaded".into(), 1.0);
    assert_eq!(before, expected, "the script's values against INFO vigil");

    // ALERT.ADD: stored, folded, refused by the rate limit, refused as bad input.
    let doc = r#"{"severity":"high","source":"db-1","type":"disk_full"}"#;
    call(&mut c, &["ALERT.CREATE", "lim", "RATELIMIT", "1", "60000"]).unwrap();
    for (key, document, outcome) in [
        ("alerts", doc, "added"),
        ("alerts", doc, "duplicate"),
        ("lim", r#"{"source":"x","type":"a"}"#, "added"),
        ("lim", r#"{"source":"x","type":"b"}"#, "limited"),
    ] {
        let reply: Vec<redis::Value> =
            redis::from_redis_value(&call(&mut c, &["ALERT.ADD", key, document]).unwrap()).unwrap();
        assert_eq!(
            redis::from_redis_value::<String>(&reply[0]).unwrap(),
            outcome
        );
    }
    error_of(&mut c, &["ALERT.ADD", "alerts", "not json"]);

    let after = script_values(&exporter);
    let moved: BTreeMap<&str, f64> = [
        ("vigil_alert_create_calls_total", 1.0),
        ("vigil_alert_add_calls_total", 5.0),
        ("vigil_alert_add_errors_total", 1.0),
        ("vigil_alerts_added_total", 2.0),
        ("vigil_alerts_deduplicated_total", 1.0),
        ("vigil_alerts_limited_total", 1.0),
        ("vigil_alerts_held", 2.0),
        ("vigil_alert_keys", 2.0),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    for (key, was) in &before {
        let delta = after[key] - was;
        let want = moved.get(key.as_str()).copied().unwrap_or(0.0);
        assert_eq!(delta, want, "{key}: {was} -> {}", after[key]);
    }

    // The gauges are levels: they come down with the keys.
    call(&mut c, &["DEL", "alerts", "lim"]).unwrap();
    let emptied = script_values(&exporter);
    assert_eq!(emptied["vigil_alerts_held"], 0.0);
    assert_eq!(emptied["vigil_alert_keys"], 0.0);
    assert_eq!(emptied["vigil_alerts_added_total"], 2.0);
}

#[test]
fn exporter_script_reports_a_server_without_the_module() {
    let s = Server::start_in(
        temp_dir("nomodule"),
        &["--save", "", "--appendonly", "no"],
        false,
    );
    let exporter = start_exporter(s.port);
    let values = script_values(&exporter);
    let expected: BTreeMap<String, f64> = [("vigil_module_loaded".to_string(), 0.0)].into();
    assert_eq!(values, expected);
}

// ---------------------------------------------------------------------------------------------
// 2. Alert rules: promtool.

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    run(
        "promtool",
        &["check", "rules", "deploy/prometheus/vigil-rules.yml"],
    );
    run(
        "promtool",
        &["check", "config", "deploy/prometheus/prometheus.yml"],
    );
    let out = run(
        "promtool",
        &["test", "rules", "deploy/prometheus/vigil-rules.test.yml"],
    );
    assert!(out.contains("SUCCESS"), "{out}");

    // Every alert has a case in which it fires.
    let rules = yaml(&deploy("prometheus/vigil-rules.yml"));
    let tests = yaml(&deploy("prometheus/vigil-rules.test.yml"));
    let mut fired = BTreeSet::new();
    for t in tests["tests"].as_array().expect("tests") {
        for case in t["alert_rule_test"].as_array().into_iter().flatten() {
            if case["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()) {
                fired.insert(case["alertname"].as_str().unwrap().to_string());
            }
        }
    }
    let alerts: BTreeSet<String> = rule_exprs(&rules).into_iter().map(|(n, _)| n).collect();
    let untested: Vec<_> = alerts.difference(&fired).collect();
    assert!(
        untested.is_empty(),
        "alerts no unit test fires: {untested:?}"
    );
    for wanted in [
        "VigilAlertsRateLimited",
        "VigilDedupRatioHigh",
        "VigilEvictionRateHigh",
        "VigilClientFallback",
        "VigilCommandErrors",
    ] {
        assert!(alerts.contains(wanted), "no rule {wanted}");
    }
}

// ---------------------------------------------------------------------------------------------
// 1-3 together: Prometheus scrapes the exporter with the repository's prometheus.yml, stores
// the relabeled names, evaluates the rules, and answers every dashboard query.

#[test]
fn prometheus_relabels_the_script_and_answers_the_rules_and_every_dashboard_query() {
    let s = Server::start();
    let mut c = s.client();
    let exporter = start_exporter(s.port);
    let doc = r#"{"severity":"critical","source":"db-1"}"#;
    call(&mut c, &["ALERT.ADD", "alerts", doc]).unwrap();
    call(&mut c, &["ALERT.ADD", "alerts", doc]).unwrap();
    error_of(&mut c, &["ALERT.ADD", "alerts", "[]"]);
    call(&mut c, &["QUOTA.INCR", "tenant:{a}:q", "5", "LIMIT", "10"]).unwrap();

    let prometheus = start_prometheus(&test_config("vigil-redis", exporter.port));

    // Two scrapes at least, so that rate() has samples.
    let scraped = wait_until(Duration::from_secs(20), || {
        query(&prometheus, "count_over_time(vigil_module_loaded[1m]) >= 2")
            .is_ok_and(|r| !r.is_empty())
    });
    assert!(
        scraped,
        "no two scrapes of vigil_module_loaded; targets: {}\nlog:\n{}",
        prometheus.get("/api/v1/targets"),
        prometheus.log()
    );

    // The script's keys became metric names; per-command counters one family with `cmd`.
    let names: BTreeSet<String> = prometheus.get_json("/api/v1/label/__name__/values")["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let vigil: Vec<&String> = names.iter().filter(|n| n.starts_with("vigil_")).collect();
    assert!(
        !names.contains("redis_script_values"),
        "script values left unrenamed: {:?}",
        query(&prometheus, "redis_script_values")
    );
    let info = info_vigil(&mut c);
    let mut expected: BTreeSet<String> = info
        .keys()
        .filter(|f| !f.ends_with("_calls") && !f.ends_with("_errors"))
        .map(|f| exported_name(f))
        .collect();
    expected.extend(
        [
            "vigil_module_loaded",
            "vigil_command_calls_total",
            "vigil_command_errors_total",
        ]
        .map(String::from),
    );
    assert_eq!(
        vigil.into_iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );
    let cmds: BTreeSet<String> = query(&prometheus, "vigil_command_calls_total")
        .unwrap()
        .iter()
        .map(|s| s["metric"]["cmd"].as_str().unwrap().to_string())
        .collect();
    let commands: BTreeSet<String> = info
        .keys()
        .filter_map(|f| f.strip_prefix("vigil_")?.strip_suffix("_calls"))
        .map(|c| c.replacen('_', ".", 1))
        .collect();
    assert!(commands.contains("alert.add") && commands.contains("lru.evict"));
    assert_eq!(cmds, commands);
    assert_eq!(
        query(&prometheus, r#"{__name__=~"vigil_.+", key!=""}"#).unwrap(),
        Vec::<Value>::new(),
        "a vigil series kept the exporter's `key` label"
    );
    assert_eq!(
        query_one(&prometheus, r#"vigil_command_calls_total{cmd="alert.add"}"#),
        Some(3.0)
    );
    assert_eq!(
        query_one(
            &prometheus,
            r#"vigil_command_errors_total{cmd="alert.add"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        query_one(
            &prometheus,
            r#"vigil_command_calls_total{cmd="quota.incr"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        query_one(&prometheus, "vigil_alerts_added_total"),
        Some(1.0)
    );
    assert_eq!(
        query_one(&prometheus, "vigil_alerts_deduplicated_total"),
        Some(1.0)
    );
    assert_eq!(query_one(&prometheus, "vigil_alerts_held"), Some(1.0));

    // The dashboard: each query runs; each server panel has data; every name it selects is one
    // Prometheus stored from the exporter, or one vigil-client or vigil-notify exports.
    let client = client_metric_names();
    let notify = notify_metric_names();
    assert!(
        notify.contains("vigil_notify_last_round_timestamp_seconds"),
        "{notify:?}"
    );
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("grafana/vigil.json")).unwrap())
            .expect("vigil.json parses");
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 10, "{queries:?}");
    for (title, expr) in &queries {
        let result = query(&prometheus, expr)
            .unwrap_or_else(|e| panic!("panel {title:?}: Prometheus refuses {expr}: {e}"));
        let selected = metric_names(expr);
        assert!(!selected.is_empty(), "panel {title:?}: no metric in {expr}");
        for name in &selected {
            assert!(
                names.contains(name) || client.contains(name) || notify.contains(name),
                "panel {title:?}: {name} is neither scraped from the exporter nor a \
                 vigil-client or vigil-notify metric"
            );
        }
        if !selected
            .iter()
            .any(|n| client.contains(n) || notify.contains(n))
        {
            assert!(!result.is_empty(), "panel {title:?}: no data for {expr}");
        }
    }
    let variable_query = dashboard["templating"]["list"][0]["query"]["query"]
        .as_str()
        .unwrap();
    let metric = variable_query
        .strip_prefix("label_values(")
        .and_then(|r| r.split(',').next())
        .expect("label_values(metric, label)");
    assert!(
        names.contains(metric),
        "the $instance variable reads {metric}"
    );

    // The rules: every name they select exists; Prometheus evaluates each without error;
    // with the module loaded, VigilModuleMissing is not even pending.
    let rules = yaml(&deploy("prometheus/vigil-rules.yml"));
    for (alert, expr) in rule_exprs(&rules) {
        for name in metric_names(&expr) {
            assert!(
                names.contains(&name) || client.contains(&name) || notify.contains(&name),
                "rule {alert}: {name} is neither scraped from the exporter nor a vigil-client \
                 or vigil-notify metric"
            );
        }
    }
    let rule_count = rule_exprs(&rules).len();
    let mut state = Value::Null;
    let evaluated = wait_until(Duration::from_secs(20), || {
        state = prometheus.get_json("/api/v1/rules");
        let evaluated: Vec<&Value> = state["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .collect();
        for r in &evaluated {
            assert_ne!(r["health"], "err", "rule {}: {}", r["name"], r["lastError"]);
        }
        evaluated.len() == rule_count
            && evaluated.iter().all(|r| {
                r["health"] == "ok"
                    && !r["lastEvaluation"]
                        .as_str()
                        .unwrap_or("0001")
                        .starts_with("0001")
            })
    });
    assert!(evaluated, "rules not all evaluated: {state}");
    let active = prometheus.get_json("/api/v1/alerts");
    let firing: Vec<&Value> = active["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == "VigilModuleMissing")
        .collect();
    assert!(firing.is_empty(), "{firing:?}");
}

// ---------------------------------------------------------------------------------------------
// 3. The dashboard on its own.

#[test]
fn dashboard_is_provisionable_and_covers_the_vigil_metrics() {
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("grafana/vigil.json")).unwrap())
            .expect("vigil.json parses");
    assert_eq!(dashboard["uid"], "vigil");
    let datasource = yaml(&deploy("grafana/provisioning/datasources/prometheus.yml"));
    let uid = datasource["datasources"][0]["uid"].as_str().expect("uid");
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    let mut cells: BTreeMap<(i64, i64), String> = BTreeMap::new();
    let mut selected = BTreeSet::new();
    for p in panels {
        let title = p["title"].as_str().expect("title").to_string();
        assert!(ids.insert(p["id"].as_i64().expect("id")), "id of {title}");
        // On the grid, no two panels in one cell.
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_i64().unwrap(),
            g["y"].as_i64().unwrap(),
            g["w"].as_i64().unwrap(),
            g["h"].as_i64().unwrap(),
        );
        assert!(x >= 0 && w > 0 && x + w <= 24 && h > 0, "{title}: {g}");
        for cx in x..x + w {
            for cy in y..y + h {
                if let Some(other) = cells.insert((cx, cy), title.clone()) {
                    panic!("{title} overlaps {other}");
                }
            }
        }
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], uid, "{title}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}");
        let refs: BTreeSet<&str> = targets
            .iter()
            .map(|t| t["refId"].as_str().unwrap())
            .collect();
        assert_eq!(refs.len(), targets.len(), "{title}: refIds");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], uid, "{title}");
        }
    }
    for v in dashboard["templating"]["list"].as_array().unwrap() {
        assert_eq!(v["datasource"]["uid"], uid, "variable {}", v["name"]);
    }
    for (_, expr) in dashboard_queries(&dashboard) {
        selected.extend(metric_names(&expr));
    }
    for name in [
        "vigil_alerts_added_total",
        "vigil_alerts_deduplicated_total",
        "vigil_alerts_limited_total",
        "vigil_alerts_expired_total",
        "vigil_alerts_held",
        "vigil_command_calls_total",
        "vigil_command_errors_total",
        "vigil_lru_evictions_total",
        "vigil_client_mode",
        "vigil_notify_last_round_timestamp_seconds",
    ] {
        assert!(selected.contains(name), "no panel shows {name}");
    }
    let client = client_metric_names();
    for name in selected.iter().filter(|n| n.starts_with("vigil_client_")) {
        assert!(client.contains(name), "{name} is not a vigil-client metric");
    }
    let notify = notify_metric_names();
    for name in selected.iter().filter(|n| n.starts_with("vigil_notify_")) {
        assert!(notify.contains(name), "{name} is not a vigil-notify metric");
    }
}

// ---------------------------------------------------------------------------------------------
// Alertmanager: the receiving end of the rules (and of vigil-notify, tested in
// client/tests/notify.rs with a copy of the starter above).

#[test]
fn alertmanager_takes_posted_alerts_routes_inhibits_and_resolves_them() {
    run(
        "amtool",
        &["check-config", "deploy/alertmanager/alertmanager.yml"],
    );
    let am = Alertmanager::start();
    assert!(am.url().starts_with("http://127.0.0.1:"));
    let now = now_ms();
    let alert = |name: &str, severity: &str, ends: Option<u64>| {
        let mut a = json!({
            "labels": {"alertname": name, "severity": severity, "instance": "checkout:9100",
                       "source": "vigil-test"},
            "annotations": {"summary": format!("{name} from tests/monitoring.rs")},
            "startsAt": rfc3339(now - 60_000),
            "generatorURL": "http://127.0.0.1/vigil-test",
        });
        if let Some(e) = ends {
            a["endsAt"] = json!(rfc3339(e));
        }
        a
    };
    am.post_alerts(&json!([
        alert("VigilClientMemoryFallback", "critical", None),
        alert("VigilClientFallback", "warning", None),
        alert("VigilAlertsRateLimited", "warning", None),
    ]));

    let mut listed = Vec::new();
    let seen = wait_until(Duration::from_secs(10), || {
        listed = am.alerts();
        listed.len() == 3
            && listed.iter().any(|a| {
                a["labels"]["alertname"] == "VigilClientFallback"
                    && a["status"]["state"] == "suppressed"
            })
    });
    assert!(
        seen,
        "GET /api/v2/alerts: three alerts, VigilClientFallback suppressed: {listed:#?}"
    );
    let critical = am.alert_named("VigilClientMemoryFallback").unwrap();
    assert_eq!(critical["status"]["state"], "active");
    assert_eq!(critical["labels"]["source"], "vigil-test");
    assert_eq!(
        critical["annotations"]["summary"],
        "VigilClientMemoryFallback from tests/monitoring.rs"
    );
    assert_eq!(critical["startsAt"], rfc3339(now - 60_000));
    assert_eq!(critical["receivers"][0]["name"], "ops-critical");
    let warning = am.alert_named("VigilAlertsRateLimited").unwrap();
    assert_eq!(warning["receivers"][0]["name"], "ops");
    // The memory fallback inhibits the plain fallback of the same instance.
    let inhibited = am.alert_named("VigilClientFallback").unwrap();
    assert_eq!(
        inhibited["status"]["inhibitedBy"][0],
        critical["fingerprint"]
    );

    // An alert posted again with an end in the past is resolved: no longer listed, and what it
    // inhibited is active again.
    am.post_alerts(&json!([alert(
        "VigilClientMemoryFallback",
        "critical",
        Some(now - 1000)
    )]));
    let resolved = wait_until(Duration::from_secs(10), || {
        listed = am.alerts();
        am.alert_named("VigilClientMemoryFallback").is_none()
            && am
                .alert_named("VigilClientFallback")
                .is_some_and(|a| a["status"]["state"] == "active")
    });
    assert!(
        resolved,
        "GET /api/v2/alerts: the resolved alert gone, the one it inhibited active: {listed:#?}"
    );
}

#[test]
fn rfc3339_formats_utc() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
    assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
}

#[test]
fn metric_names_skips_functions_labels_and_keywords() {
    let names = metric_names(
        r#"sum by (instance, cmd) (rate(vigil_command_errors_total{cmd="alert.add", key!~"a b"}[5m])) / ignoring (x) group_left (y) up > 0.1 and absent(vigil_module_loaded) offset 5m"#,
    );
    let want: BTreeSet<String> = ["vigil_command_errors_total", "up", "vigil_module_loaded"]
        .map(String::from)
        .into();
    assert_eq!(names, want);
}

// ---------------------------------------------------------------------------------------------
// 5. The compose file.

/// A compose service's listen port, from its own configuration: redis.conf's `port` for the
/// Dockerfile's Redis, `--web.listen-address` in a command, Grafana's GF_SERVER_HTTP_PORT.
fn listen_port(name: &str, service: &Value) -> Option<u16> {
    if service["build"].is_object() && service["build"]["target"].is_null() {
        let dockerfile = repo().join(service["build"]["dockerfile"].as_str()?);
        let text = std::fs::read_to_string(dockerfile).ok()?;
        assert!(text.contains("COPY redis.conf "), "the Dockerfile's config");
        let conf = std::fs::read_to_string(repo().join("redis.conf")).unwrap();
        return conf
            .lines()
            .find_map(|l| l.strip_prefix("port "))
            .map(|p| p.trim().parse().unwrap());
    }
    for arg in command(service) {
        if let Some(a) = arg.strip_prefix("--web.listen-address=") {
            return Some(a.rsplit(':').next()?.parse().unwrap());
        }
    }
    if let Some(p) = service["environment"]["GF_SERVER_HTTP_PORT"].as_str() {
        return Some(p.parse().unwrap());
    }
    if let Some(a) = service["environment"]["VIGIL_NOTIFY_METRICS"].as_str() {
        return Some(a.rsplit(':').next()?.parse().unwrap());
    }
    assert!(
        service["ports"].is_null(),
        "{name} publishes ports but says nowhere which it listens on"
    );
    None
}

fn command(service: &Value) -> Vec<String> {
    match &service["command"] {
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
        Value::Null => Vec::new(),
        other => panic!("write commands as lists: {other}"),
    }
}

/// Where a container path of a service comes from on the host (its bind mounts, relative to
/// deploy/); None when no bind mount covers it.
fn host_path(service: &Value, container: &str) -> Option<PathBuf> {
    for v in service["volumes"].as_array().into_iter().flatten() {
        let spec = v.as_str().expect("short volume syntax");
        let mut parts = spec.split(':');
        let (src, dst) = (parts.next()?, parts.next()?);
        if !src.starts_with('.') {
            continue;
        }
        let host = deploy(src);
        if container == dst {
            return Some(host);
        }
        if let Some(rest) = container.strip_prefix(&format!("{dst}/")) {
            return Some(host.join(rest));
        }
    }
    None
}

/// Checks that `url`'s host:port is a service of the compose file listening on that port.
fn assert_points_at(url: &str, services: &serde_json::Map<String, Value>, from: &str) {
    let authority = url.split("://").last().unwrap().split('/').next().unwrap();
    let (host, port) = authority.rsplit_once(':').expect("host:port");
    let service = services
        .get(host)
        .unwrap_or_else(|| panic!("{from}: {url} names no service"));
    assert_eq!(
        listen_port(host, service),
        Some(port.parse().unwrap()),
        "{from}: {url}, but {host} listens elsewhere"
    );
}

#[test]
fn compose_file_mounts_existing_files_and_its_ports_agree() {
    let compose = yaml(&deploy("docker-compose.yml"));
    let services = compose["services"].as_object().expect("services");
    let names: BTreeSet<&str> = services.keys().map(|k| k.as_str()).collect();
    for wanted in [
        "redis",
        "redis-exporter",
        "prometheus",
        "grafana",
        "alertmanager",
        "vigil-notify",
    ] {
        assert!(names.contains(wanted), "no service {wanted}");
    }
    let volumes = compose["volumes"].as_object().cloned().unwrap_or_default();

    for (name, service) in services {
        // Bind mounts exist; named volumes are declared.
        for v in service["volumes"].as_array().into_iter().flatten() {
            let src = v.as_str().unwrap().split(':').next().unwrap();
            if src.starts_with('.') {
                assert!(
                    deploy(src).exists(),
                    "{name} mounts {src}, which is missing"
                );
            } else {
                assert!(volumes.contains_key(src), "{name}: volume {src} undeclared");
            }
        }
        if let Some(b) = service["build"].as_object() {
            let context = deploy(b["context"].as_str().unwrap());
            assert!(context.join(b["dockerfile"].as_str().unwrap()).exists());
            assert_eq!(
                context.canonicalize().unwrap(),
                repo().canonicalize().unwrap()
            );
        }
        for d in service["depends_on"].as_array().into_iter().flatten() {
            assert!(names.contains(d.as_str().unwrap()), "{name} depends on {d}");
        }
        // Published ports: loopback only, onto the port the service listens on.
        for p in service["ports"].as_array().into_iter().flatten() {
            let p = p.as_str().expect("ports as strings");
            let parts: Vec<&str> = p.split(':').collect();
            assert_eq!(
                parts.len(),
                3,
                "{name}: publish as 127.0.0.1:host:container"
            );
            assert_eq!(parts[0], "127.0.0.1", "{name} publishes beyond loopback");
            assert_eq!(
                listen_port(name, service),
                Some(parts[2].parse().unwrap()),
                "{name}: {p}"
            );
        }
    }

    // The exporter runs vigil.lua against the Redis service.
    let exporter = &services["redis-exporter"];
    let args = command(exporter);
    let script = args
        .iter()
        .find_map(|a| a.strip_prefix("--script="))
        .expect("--script");
    assert_eq!(
        host_path(exporter, script),
        Some(deploy("./redis_exporter/vigil.lua"))
    );
    let redis_addr = args
        .iter()
        .find_map(|a| a.strip_prefix("--redis.addr="))
        .expect("--redis.addr");
    assert_points_at(redis_addr, services, "redis-exporter");

    // Prometheus: its config and rule files are the repository's; its targets are services.
    let prometheus = &services["prometheus"];
    let config_path = command(prometheus)
        .iter()
        .find_map(|a| a.strip_prefix("--config.file=").map(String::from))
        .expect("--config.file");
    let host_config = host_path(prometheus, &config_path).expect("the config is mounted");
    assert_eq!(host_config, deploy("./prometheus/prometheus.yml"));
    let config = yaml(&host_config);
    let config_dir = Path::new(&config_path).parent().unwrap();
    for rule_file in config["rule_files"].as_array().expect("rule_files") {
        let in_container = config_dir.join(rule_file.as_str().unwrap());
        let host = host_path(prometheus, in_container.to_str().unwrap())
            .unwrap_or_else(|| panic!("{} is not mounted", in_container.display()));
        assert!(host.exists(), "{}", host.display());
    }
    for job in config["scrape_configs"].as_array().unwrap() {
        for sc in job["static_configs"].as_array().into_iter().flatten() {
            for t in sc["targets"].as_array().unwrap() {
                assert_points_at(t.as_str().unwrap(), services, "prometheus.yml scrape");
            }
        }
    }
    for am in config["alerting"]["alertmanagers"].as_array().unwrap() {
        for sc in am["static_configs"].as_array().unwrap() {
            for t in sc["targets"].as_array().unwrap() {
                assert_points_at(t.as_str().unwrap(), services, "prometheus.yml alerting");
            }
        }
    }

    // Alertmanager: the repository's config, no gossip listener.
    let alertmanager = &services["alertmanager"];
    let am_args = command(alertmanager);
    let am_config = am_args
        .iter()
        .find_map(|a| a.strip_prefix("--config.file="))
        .expect("--config.file");
    assert_eq!(
        host_path(alertmanager, am_config),
        Some(deploy("./alertmanager/alertmanager.yml"))
    );
    assert!(am_args.iter().any(|a| a == "--cluster.listen-address="));

    // Grafana: the data source points at Prometheus, the dashboard is where the provider
    // looks, and the dashboard's panels use the provisioned data source.
    let grafana = &services["grafana"];
    let sources_dir = host_path(grafana, "/etc/grafana/provisioning/datasources")
        .expect("data sources provisioned");
    let sources = yaml(&sources_dir.join("prometheus.yml"));
    let source = &sources["datasources"][0];
    assert_points_at(
        source["url"].as_str().unwrap(),
        services,
        "Grafana data source",
    );
    let providers_dir =
        host_path(grafana, "/etc/grafana/provisioning/dashboards").expect("dashboards provisioned");
    let providers = yaml(&providers_dir.join("vigil.yml"));
    let dashboards_path = providers["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    let dashboard_file = host_path(grafana, &format!("{dashboards_path}/vigil.json"))
        .expect("vigil.json under the provider's path");
    assert_eq!(dashboard_file, deploy("./grafana/vigil.json"));
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(&dashboard_file).unwrap()).unwrap();
    assert_eq!(dashboard["panels"][1]["datasource"]["uid"], source["uid"]);

    // The bridge: built from the Dockerfile's `notify` stage, which builds the vigil-notify
    // binary of the client crate; its URLs name services on their ports; its cursor files are
    // in a declared volume mounted where it keeps them; it follows at least one key.
    let notify = &services["vigil-notify"];
    assert!(
        notify["profiles"].is_null(),
        "vigil-notify starts with `up`"
    );
    assert_eq!(notify["build"]["target"], "notify");
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(" AS notify\n"),
        "the Dockerfile's notify stage"
    );
    assert!(dockerfile.contains("-p vigil-client --bin vigil-notify"));
    assert!(repo().join("client/src/bin/vigil-notify.rs").exists());
    let last_stage = dockerfile
        .lines()
        .rfind(|l| l.starts_with("FROM "))
        .unwrap();
    assert!(
        last_stage.starts_with("FROM redis:"),
        "the last stage (what the redis service builds) is Redis: {last_stage}"
    );
    let env = &notify["environment"];
    for var in ["VIGIL_REDIS_URL", "ALERTMANAGER_URL"] {
        assert_points_at(env[var].as_str().expect(var), services, "vigil-notify");
    }
    assert!(env["VIGIL_KEYS"].as_str().is_some_and(|k| !k.is_empty()));
    let state_dir = env["VIGIL_NOTIFY_STATE_DIR"].as_str().expect("a state dir");
    let state_volume = notify["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str()?.split_once(':'))
        .find(|(_, dst)| dst.trim_end_matches(":rw") == state_dir)
        .map(|(src, _)| src.to_string())
        .expect("the state dir is mounted");
    assert!(volumes.contains_key(&state_volume), "a named volume");
}

// ---------------------------------------------------------------------------------------------
// vigil-notify watched by Prometheus: the repository's scrape job and rules on the bridge's
// --metrics endpoint (the bridge's own behaviour is tested in client/tests/notify.rs).

/// The vigil-notify binary of this build (`cargo test --workspace` builds it next to the test
/// binaries; built here when only this package's tests were built).
fn notify_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = profile_dir.join("vigil-notify");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "vigil-client", "--bin", "vigil-notify"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        assert!(
            build.status().expect("cargo build").success(),
            "building vigil-notify failed"
        );
    }
    bin
}

/// The names of the alerts Prometheus has pending or firing now.
fn alerts_active(prometheus: &Daemon) -> BTreeMap<String, String> {
    prometheus.get_json("/api/v1/alerts")["data"]["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|a| {
            let name = a["labels"]["alertname"].as_str().unwrap_or("").to_string();
            (name, a["state"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

#[test]
fn prometheus_scrapes_vigil_notify_and_its_rules_see_it_stall_and_stop() {
    let s = Server::start();
    let mut c = s.client();
    call(
        &mut c,
        &[
            "ALERT.ADD",
            "alerts",
            r#"{"severity":"high","source":"db-1"}"#,
        ],
    )
    .unwrap();
    let mut am = Alertmanager::start();

    // The bridge re-posts every second, so its rules' thresholds (2 rounds) are seconds. Its
    // port is the one of its --metrics endpoint.
    let binary = notify_binary();
    let (redis_url, am_url) = (s.url(), am.url());
    let mut bridge = Daemon::start(
        "vigil-notify",
        binary.to_str().unwrap(),
        "/metrics",
        |port, dir| {
            let state = dir.join("state").display().to_string();
            let metrics = format!("127.0.0.1:{port}");
            [
                "--redis",
                &redis_url,
                "--keys",
                "alerts",
                "--alertmanager",
                &am_url,
                "--state-dir",
                &state,
                "--block-ms",
                "200",
                "--repost-secs",
                "1",
                "--metrics",
                &metrics,
            ]
            .map(String::from)
            .to_vec()
        },
    );
    let metrics_port = bridge.port;

    let prometheus = start_prometheus(&test_config("vigil-notify", metrics_port));

    // Scraped: up, the alert posted and firing, a round done, Redis answering.
    let healthy = wait_until(Duration::from_secs(30), || {
        query_one(&prometheus, r#"up{job="vigil-notify"}"#) == Some(1.0)
            && query_one(&prometheus, r#"vigil_notify_firing_alerts{key="alerts"}"#) == Some(1.0)
            && query_one(&prometheus, r#"vigil_notify_redis_up{key="alerts"}"#) == Some(1.0)
            && query_one(&prometheus, "vigil_notify_alerts_posted_total").is_some_and(|v| v >= 1.0)
            && query_one(
                &prometheus,
                "time() - vigil_notify_last_round_timestamp_seconds",
            )
            .is_some_and(|age| age < 3.0)
    });
    assert!(
        healthy,
        "the bridge's figures in Prometheus: {:?}\nbridge log:\n{}\nprometheus log:\n{}",
        query(&prometheus, r#"{job="vigil-notify"}"#),
        bridge.log(),
        prometheus.log()
    );
    assert_eq!(
        query_one(&prometheus, "vigil_notify_repost_seconds"),
        Some(1.0)
    );
    // The dashboard's vigil-notify panels have data.
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("grafana/vigil.json")).unwrap())
            .expect("vigil.json parses");
    let notify = notify_metric_names();
    let panels: Vec<(String, String)> = dashboard_queries(&dashboard)
        .into_iter()
        .filter(|(_, expr)| metric_names(expr).iter().any(|n| notify.contains(n)))
        .collect();
    assert!(panels.len() >= 2, "{panels:?}");
    for (title, expr) in panels {
        // rate() needs two scrapes.
        let has_data = wait_until(Duration::from_secs(10), || {
            !query(&prometheus, &expr)
                .unwrap_or_else(|e| panic!("{title}: {e}"))
                .is_empty()
        });
        assert!(has_data, "panel {title:?}: no data for {expr}");
    }
    let active = alerts_active(&prometheus);
    assert!(
        !active.keys().any(|n| n.starts_with("VigilNotify")),
        "a healthy bridge raises nothing: {active:?}"
    );

    // Alertmanager gone: the rounds fail, POSTs fail, and VigilNotifyStalled goes pending
    // once 2 rounds are missed.
    am.daemon.kill();
    let stalled = wait_until(Duration::from_secs(30), || {
        alerts_active(&prometheus).contains_key("VigilNotifyStalled")
    });
    assert!(
        stalled,
        "no VigilNotifyStalled: {:?}\n{:?}\nbridge log:\n{}",
        alerts_active(&prometheus),
        query(&prometheus, r#"{job="vigil-notify"}"#),
        bridge.log()
    );
    assert!(
        query_one(&prometheus, "vigil_notify_post_failures_total").is_some_and(|v| v >= 1.0),
        "{:?}",
        query(&prometheus, "vigil_notify_post_failures_total")
    );

    // The bridge gone: VigilNotifyDown.
    bridge.kill();
    let down = wait_until(Duration::from_secs(30), || {
        alerts_active(&prometheus).contains_key("VigilNotifyDown")
    });
    assert!(down, "no VigilNotifyDown: {:?}", alerts_active(&prometheus));
}
