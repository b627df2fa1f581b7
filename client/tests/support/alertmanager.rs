//! A real Alertmanager (Debian's `prometheus-alertmanager`, installed by
//! `./scripts/install-deps.sh --with monitoring`) for the vigil-notify tests: the starter of the
//! root package's tests/monitoring.rs, with a start on a given port for a bridge that already
//! points there; HTTP goes through tests/common/http.rs, shared with that file. It runs with
//! the repository's deploy/alertmanager/alertmanager.yml on loopback, in its own temporary
//! directory, and is killed by its pid on drop.
#![allow(dead_code)]

use serde_json::Value;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::http::http;

pub struct Alertmanager {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Alertmanager {
    /// On a free loopback port (tried again on another if the port was taken meanwhile).
    pub fn start() -> Alertmanager {
        for _ in 0..5 {
            if let Some(am) = Alertmanager::try_start(crate::support::free_port()) {
                return am;
            }
        }
        panic!("Alertmanager did not start on 5 free ports");
    }

    /// On this port.
    pub fn start_on(port: u16) -> Alertmanager {
        Alertmanager::try_start(port)
            .unwrap_or_else(|| panic!("Alertmanager did not start on port {port}"))
    }

    fn try_start(port: u16) -> Option<Alertmanager> {
        let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/alertmanager/alertmanager.yml");
        let dir = crate::common::temp_dir("alertmanager");
        let log = File::create(dir.join("alertmanager.log")).expect("create the log file");
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run prometheus-alertmanager ({e}): run \
                     `./scripts/install-deps.sh --with monitoring` (make test does)"
                )
            });
        let mut am = Alertmanager {
            port,
            dir,
            child: Some(child),
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Some(Ok(Some(_))) = am.child.as_mut().map(|c| c.try_wait()) {
                eprintln!("Alertmanager exited; log:\n{}", am.log());
                return None;
            }
            if http(port, "GET", "/-/ready", None).is_ok_and(|r| r.status == 200) {
                return Some(am);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("Alertmanager not ready; log:\n{}", am.log());
        None
    }

    /// The base URL, as the bridge is given it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("alertmanager.log")).unwrap_or_default()
    }

    /// GET /api/v2/alerts: the alerts not resolved, with their status and receivers.
    pub fn alerts(&self) -> Vec<Value> {
        let r = http(self.port, "GET", "/api/v2/alerts", None).expect("GET /api/v2/alerts");
        assert_eq!(r.status, 200, "GET /api/v2/alerts: {}", r.body);
        match serde_json::from_str(&r.body).expect("a JSON reply") {
            Value::Array(a) => a,
            other => panic!("GET /api/v2/alerts: {other}"),
        }
    }

    /// The listed alerts with this `vigil_id` label.
    pub fn with_id(&self, id: &str) -> Vec<Value> {
        self.alerts()
            .into_iter()
            .filter(|a| a["labels"]["vigil_id"] == id)
            .collect()
    }

    /// A sample of Alertmanager's own /metrics (`name{labels}` exactly as written there).
    pub fn metric(&self, series: &str) -> f64 {
        let r = http(self.port, "GET", "/metrics", None).expect("GET /metrics");
        r.body
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
