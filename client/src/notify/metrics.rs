//! The bridge's own metrics, for Prometheus to watch the bridge (`--metrics ADDR`): a plain
//! HTTP/1.1 listener that answers `GET /metrics` in Prometheus' text format (0.0.4), one
//! request per connection. Everything else gets 404 (another path), 405 (another method) or
//! 400 (not an HTTP request), and a request head larger than [`MAX_HEAD`] or slower than
//! [`READ_TIMEOUT`] is dropped: the listener is meant for a scraper, not for the open
//! internet, but no input may stop the bridge.
//!
//! The figures are per key (label `key`):
//! - `vigil_notify_redis_up`: 1 if the last read of the key's feed succeeded, 0 if Redis was
//!   unavailable or refused it (the key holds another type, say);
//! - `vigil_notify_last_read_timestamp_seconds`: when Redis last answered a read;
//! - `vigil_notify_last_round_timestamp_seconds`: the end of the last re-post round that read
//!   the firing alerts from Redis and had Alertmanager take every one (the bridge's start
//!   until the first such round). A bridge that can read Redis and post moves it every
//!   `--repost-secs`; one that cannot (Redis unreadable, Alertmanager down, a POST retried
//!   for ever) lets it age;
//! - counters of changes delivered, alerts posted, alerts refused, failed POSTs; the gauge of
//!   alerts posted as firing.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// A request head (request line and headers) larger than this is refused.
pub const MAX_HEAD: usize = 8192;
/// A request must arrive, and its reply be written, within this.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more wait in the listen queue.
const MAX_CONNECTIONS: usize = 16;

/// The figures of one key followed.
#[derive(Debug)]
pub struct KeyStats {
    key: String,
    redis_up: AtomicBool,
    last_read_ms: AtomicU64,
    last_round_ms: AtomicU64,
    changes: AtomicU64,
    posted: AtomicU64,
    refused: AtomicU64,
    post_failures: AtomicU64,
    firing: AtomicU64,
}

impl KeyStats {
    /// A read of the feed that Redis answered (`true`), or that failed.
    pub fn read(&self, by_redis: bool, now_ms: u64) {
        self.redis_up.store(by_redis, Ordering::Relaxed);
        if by_redis {
            self.last_read_ms.store(now_ms, Ordering::Relaxed);
        }
    }

    /// A re-post round that read Redis and had every alert taken.
    pub fn round_done(&self, now_ms: u64) {
        self.last_round_ms.store(now_ms, Ordering::Relaxed);
    }

    /// Changes of the feed delivered.
    pub fn delivered(&self, n: usize) {
        self.changes.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Alerts Alertmanager took.
    pub fn posted(&self, n: usize) {
        self.posted.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// An alert Alertmanager refused.
    pub fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// A POST that failed (no answer, or an answer other than 200 or a refusal).
    pub fn post_failed(&self) {
        self.post_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The alerts posted as firing now.
    pub fn firing(&self, n: usize) {
        self.firing.store(n as u64, Ordering::Relaxed);
    }
}

/// The figures of the bridge.
#[derive(Debug)]
pub struct Stats {
    started_ms: u64,
    repost: Duration,
    keys: Vec<Arc<KeyStats>>,
}

impl Stats {
    pub fn new(keys: &[String], repost: Duration, started_ms: u64) -> Stats {
        let keys = keys
            .iter()
            .map(|key| {
                Arc::new(KeyStats {
                    key: key.clone(),
                    redis_up: AtomicBool::new(false),
                    last_read_ms: AtomicU64::new(0),
                    last_round_ms: AtomicU64::new(started_ms),
                    changes: AtomicU64::new(0),
                    posted: AtomicU64::new(0),
                    refused: AtomicU64::new(0),
                    post_failures: AtomicU64::new(0),
                    firing: AtomicU64::new(0),
                })
            })
            .collect();
        Stats {
            started_ms,
            repost,
            keys,
        }
    }

    /// The figures of `key` (one of those given to `new`).
    pub fn key(&self, key: &str) -> Option<Arc<KeyStats>> {
        self.keys.iter().find(|k| k.key == key).cloned()
    }

    /// The figures in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            let _ = writeln!(out, "# HELP vigil_notify_{name} {help}");
            let _ = writeln!(out, "# TYPE vigil_notify_{name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "vigil_notify_{name}{labels} {value}");
            }
        };
        family(
            "start_time_seconds",
            "gauge",
            "When the bridge started, in seconds since the Unix epoch.",
            &[(String::new(), seconds(self.started_ms))],
        );
        family(
            "repost_seconds",
            "gauge",
            "How often firing alerts are posted again (--repost-secs).",
            &[(String::new(), seconds(self.repost.as_millis() as u64))],
        );
        type Read = fn(&KeyStats) -> String;
        let per_key: [(&str, &str, &str, Read); 8] = [
            (
                "redis_up",
                "gauge",
                "1 if the last read of the key's feed succeeded; 0 if Redis was unavailable or \
                 refused it.",
                |k| u8::from(k.redis_up.load(Ordering::Relaxed)).to_string(),
            ),
            (
                "last_read_timestamp_seconds",
                "gauge",
                "When Redis last answered a read of the key's feed (0: never).",
                |k| seconds(k.last_read_ms.load(Ordering::Relaxed)),
            ),
            (
                "last_round_timestamp_seconds",
                "gauge",
                "The end of the last re-post round that read the firing alerts from Redis and \
                 had Alertmanager take them all (the start time until the first).",
                |k| seconds(k.last_round_ms.load(Ordering::Relaxed)),
            ),
            (
                "changes_total",
                "counter",
                "Changes of the key's feed delivered to Alertmanager.",
                |k| k.changes.load(Ordering::Relaxed).to_string(),
            ),
            (
                "alerts_posted_total",
                "counter",
                "Alerts Alertmanager took, re-posts included.",
                |k| k.posted.load(Ordering::Relaxed).to_string(),
            ),
            (
                "alerts_refused_total",
                "counter",
                "Alerts Alertmanager refused (400 or 422); they are skipped.",
                |k| k.refused.load(Ordering::Relaxed).to_string(),
            ),
            (
                "post_failures_total",
                "counter",
                "POSTs that failed (no answer, or a status that is neither 200 nor a refusal).",
                |k| k.post_failures.load(Ordering::Relaxed).to_string(),
            ),
            (
                "firing_alerts",
                "gauge",
                "Alerts of the key posted as firing.",
                |k| k.firing.load(Ordering::Relaxed).to_string(),
            ),
        ];
        for (name, kind, help, read) in per_key {
            let samples: Vec<(String, String)> = self
                .keys
                .iter()
                .map(|k| (format!("{{key=\"{}\"}}", label_value(&k.key)), read(k)))
                .collect();
            family(name, kind, help, &samples);
        }
        out
    }
}

/// Milliseconds as seconds with three decimals.
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// A label value escaped as the text format wants (`\`, `"` and newlines).
pub fn label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// What a request head asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Metrics,
    /// `HEAD /metrics`: the headers only.
    MetricsHead,
    /// 400, 404 or 405.
    Error(u16),
}

/// Reads a request head (the bytes up to the blank line, or all that arrived): `GET` or
/// `HEAD` of `/metrics` (a query string is ignored) over HTTP/1.x.
pub fn route(head: &[u8]) -> Route {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else {
        return Route::Error(400);
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::Error(400);
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Route::Error(400);
    }
    let path = target.split(['?', '#']).next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => Route::Metrics,
        ("HEAD", "/metrics") => Route::MetricsHead,
        (_, "/metrics") => Route::Error(405),
        _ => Route::Error(404),
    }
}

/// The reply to a request head, whole.
pub fn reply(head: &[u8], stats: &Stats) -> Vec<u8> {
    let (status, body, send_body) = match route(head) {
        Route::Metrics => (200, stats.render(), true),
        Route::MetricsHead => (200, stats.render(), false),
        Route::Error(404) => (404, "not found: the metrics are at /metrics\n".into(), true),
        Route::Error(405) => (405, "only GET and HEAD\n".into(), true),
        Route::Error(code) => (code, "bad request\n".into(), true),
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Bad Request",
    };
    let content_type = if status == 200 {
        "text/plain; version=0.0.4; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    );
    if status == 405 {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    if send_body {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// Serves the metrics on `listener` for ever.
pub async fn serve(listener: TcpListener, stats: Arc<Stats>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait instead of spinning.
                tracing::warn!(error = %e, "vigil-notify: metrics listener cannot accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let stats = stats.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(READ_TIMEOUT, answer(stream, &stats)).await;
            drop(permit);
        });
    }
}

/// The length of the request head in `bytes` up to and including its blank line (`\r\n\r\n`
/// or `\n\n`), if it has one.
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    crlf.into_iter().chain(lf).min()
}

/// Reads one request head and writes its reply.
async fn answer(mut stream: TcpStream, stats: &Stats) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        // The head's length up to its blank line, or what came so far: over MAX_HEAD either
        // way is refused (the last read may bring the blank line and go past it).
        let end = head_end(&head);
        if end.unwrap_or(head.len()) > MAX_HEAD {
            let out = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\
                        Connection: close\r\n\r\n";
            stream.write_all(out).await?;
            return stream.shutdown().await;
        }
        if end.is_some() {
            break;
        }
    }
    if head.is_empty() {
        return Ok(());
    }
    stream.write_all(&reply(&head, stats)).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Metrics
        );
        assert_eq!(route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"), Route::Metrics);
        assert_eq!(route(b"HEAD /metrics HTTP/1.1\r\n\r\n"), Route::MetricsHead);
        assert_eq!(route(b"POST /metrics HTTP/1.1\r\n\r\n"), Route::Error(405));
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::Error(404));
        assert_eq!(route(b"GET /metricsx HTTP/1.1\r\n\r\n"), Route::Error(404));
        // What would break a careless parser.
        for bad in [
            &b""[..],
            b"\r\n",
            b"GET",
            b"GET /metrics",
            b"GET /metrics HTTP/2\r\n\r\n",
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/1.1 extra\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics\xff HTTP/1.1\r\n\r\n",
            b" /metrics HTTP/1.1\r\n\r\n",
            b"\xff\xfe\x00\x01",
        ] {
            assert_eq!(
                route(bad),
                Route::Error(400),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn replies_name_their_length() {
        let stats = Stats::new(&["a\"b\\c\nd".to_string()], Duration::from_secs(60), 1_500);
        let out = reply(b"GET /metrics HTTP/1.1\r\n\r\n", &stats);
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(
            head.contains(&format!("Content-Length: {}\r\n", body.len())),
            "{head}"
        );
        assert!(
            body.contains("vigil_notify_start_time_seconds 1.500\n"),
            "{body}"
        );
        assert!(
            body.contains("vigil_notify_repost_seconds 60.000\n"),
            "{body}"
        );
        assert!(
            body.contains("vigil_notify_redis_up{key=\"a\\\"b\\\\c\\nd\"} 0\n"),
            "{body}"
        );
        assert!(
            body.contains(
                "vigil_notify_last_round_timestamp_seconds{key=\"a\\\"b\\\\c\\nd\"} 1.500\n"
            ),
            "{body}"
        );
        // Every sample line is `name{labels} value` or `name value`, under its family.
        for line in body.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            value.parse::<f64>().unwrap();
        }
        let head_only = reply(b"HEAD /metrics HTTP/1.1\r\n\r\n", &stats);
        assert!(head_only.ends_with(b"\r\n\r\n"));
        let missing = String::from_utf8(reply(b"GET /x HTTP/1.1\r\n\r\n", &stats)).unwrap();
        assert!(
            missing.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{missing}"
        );
        let method = String::from_utf8(reply(b"PUT /metrics HTTP/1.1\r\n\r\n", &stats)).unwrap();
        assert!(
            method.contains("405 Method Not Allowed\r\n") && method.contains("Allow: GET, HEAD")
        );
    }

    #[test]
    fn key_figures_move() {
        let stats = Stats::new(&["k".to_string()], Duration::from_secs(1), 0);
        let k = stats.key("k").unwrap();
        assert!(stats.key("other").is_none());
        k.read(true, 2_000);
        k.read(false, 3_000);
        k.round_done(4_250);
        k.delivered(3);
        k.posted(5);
        k.refused();
        k.post_failed();
        k.post_failed();
        k.firing(7);
        let body = stats.render();
        for line in [
            "vigil_notify_redis_up{key=\"k\"} 0",
            "vigil_notify_last_read_timestamp_seconds{key=\"k\"} 2.000",
            "vigil_notify_last_round_timestamp_seconds{key=\"k\"} 4.250",
            "vigil_notify_changes_total{key=\"k\"} 3",
            "vigil_notify_alerts_posted_total{key=\"k\"} 5",
            "vigil_notify_alerts_refused_total{key=\"k\"} 1",
            "vigil_notify_post_failures_total{key=\"k\"} 2",
            "vigil_notify_firing_alerts{key=\"k\"} 7",
        ] {
            assert!(body.lines().any(|l| l == line), "{line} in\n{body}");
        }
    }
}
