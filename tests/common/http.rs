//! A minimal HTTP/1.1 client over std's TcpStream for tests that talk to real Prometheus,
//! Alertmanager and redis_exporter processes on loopback (`Connection: close`, the reply read
//! to its end, then parsed by vigil-client's own reply parser). Shared by tests/monitoring.rs
//! and the client's notify tests, which include tests/common.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use vigil_client::notify::http::parse_response;
pub use vigil_client::notify::http::Response;

/// One HTTP/1.1 request over std's TcpStream (`Connection: close`), the reply read to its end.
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> std::io::Result<Response> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nAccept: */*\r\n"
    );
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw)
}
