//! A minimal HTTP/1.1 client over tokio's `TcpStream`: one request per connection
//! (`Connection: close`), a body with `Content-Length`, a reply read to its end (plain,
//! `Content-Length` or chunked). Enough for Alertmanager's API, which speaks plain HTTP; TLS
//! and authentication need a proxy in front of it (the crate has no HTTP or TLS stack, and a
//! request every few seconds does not need one).

use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Replies larger than this are refused (Alertmanager answers POST with a few bytes).
const MAX_REPLY_BYTES: usize = 16 << 20;

/// Where requests go: `http://host[:port][/path prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port` as it is connected to and sent in `Host` (`[::1]:9093` for IPv6).
    authority: String,
    /// The path prefix without its trailing `/` (Alertmanager's `--web.route-prefix`), or "".
    prefix: String,
}

/// A reply: its status code and its body as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Endpoint {
    /// Reads `http://host[:port][/prefix]` (port 80 when absent).
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = match url.strip_prefix("http://") {
            Some(rest) => rest,
            None if url.starts_with("https://") => {
                return Err(format!(
                    "'{url}': https is not supported; reach Alertmanager over plain HTTP, or put a \
                     TLS-terminating proxy (stunnel, nginx, envoy) on the bridge's side"
                ))
            }
            None => return Err(format!("'{url}': expected http://host[:port][/path]")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(format!(
                "'{url}': credentials in the URL are not supported (use a proxy that adds them)"
            ));
        }
        if path.contains(['?', '#']) {
            return Err(format!("'{url}': a query or fragment makes no sense here"));
        }
        let bad_port = || format!("'{url}': invalid port");
        let (host, port) = match authority.strip_prefix('[') {
            // An IPv6 literal: [addr] or [addr]:port.
            Some(v6) => {
                let (addr, after) = v6.split_once(']').ok_or_else(bad_port)?;
                let port = match after.strip_prefix(':') {
                    Some(p) => p.parse::<u16>().map_err(|_| bad_port())?,
                    None if after.is_empty() => 80,
                    None => return Err(bad_port()),
                };
                (format!("[{addr}]"), port)
            }
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse::<u16>().map_err(|_| bad_port())?),
                None => (authority.to_owned(), 80),
            },
        };
        if host.is_empty() || host == "[]" {
            return Err(format!("'{url}': no host"));
        }
        Ok(Endpoint {
            authority: format!("{host}:{port}"),
            prefix: path.trim_end_matches('/').to_owned(),
        })
    }

    /// The URL of `path` (which starts with `/`) under this endpoint, for messages.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}{path}", self.authority, self.prefix)
    }

    /// Sends one request and reads the whole reply, within `limit` from the connect to the
    /// last byte. A JSON `body` is sent with its length.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        limit: Duration,
    ) -> io::Result<Response> {
        match tokio::time::timeout(limit, self.exchange(method, path, body)).await {
            Ok(reply) => reply,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no complete reply within {limit:?}"),
            )),
        }
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        let mut stream = TcpStream::connect(self.authority.as_str()).await?;
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: vigil-notify/{}\r\n\
             Accept: application/json\r\nConnection: close\r\n",
            self.prefix,
            self.authority,
            env!("CARGO_PKG_VERSION"),
        );
        if let Some(b) = body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body.unwrap_or_default());
        stream.write_all(&request).await?;
        stream.flush().await?;
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            if raw.len() > MAX_REPLY_BYTES {
                return Err(invalid("reply larger than 16 MiB"));
            }
            // A server (or a proxy) that keeps the connection open despite `Connection:
            // close` would otherwise hold the request until the timeout.
            if is_complete(&raw) {
                break;
            }
        }
        parse_response(&raw)
    }
}

/// Whether `raw` holds a whole reply, by its `Content-Length` or its last chunk (a reply with
/// neither ends when the connection closes).
fn is_complete(raw: &[u8]) -> bool {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = &raw[split + 4..];
    for line in head.split("\r\n").skip(1) {
        if let Some(v) = line.strip_prefix("content-length:") {
            return v.trim().parse::<usize>().is_ok_and(|n| body.len() >= n);
        }
        if line.starts_with("transfer-encoding:") && line.contains("chunked") {
            return dechunk(body).is_some();
        }
    }
    false
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

/// A whole HTTP/1.1 reply (the connection was closed after it). Public for the tests' own
/// blocking client (tests/common/http.rs), which reads replies the same way.
pub fn parse_response(raw: &[u8]) -> io::Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("reply without an end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| invalid(&format!("bad status line '{status_line}'")))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "transfer-encoding" && value.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        } else if name == "content-length" {
            length = value.parse::<usize>().ok();
        }
    }
    let payload = &raw[split + 4..];
    let body = if chunked {
        dechunk(payload).ok_or_else(|| invalid("bad chunked body"))?
    } else {
        match length {
            Some(n) => payload
                .get(..n)
                .ok_or_else(|| invalid("body shorter than its Content-Length"))?
                .to_vec(),
            None => payload.to_vec(),
        }
    };
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_host_port_and_prefix() {
        let e = Endpoint::parse("http://alertmanager:9093").unwrap();
        assert_eq!(
            e.url("/api/v2/alerts"),
            "http://alertmanager:9093/api/v2/alerts"
        );
        let e = Endpoint::parse("http://127.0.0.1:9093/am/").unwrap();
        assert_eq!(
            e.url("/api/v2/alerts"),
            "http://127.0.0.1:9093/am/api/v2/alerts"
        );
        let e = Endpoint::parse("http://[::1]:9093").unwrap();
        assert_eq!(e.url("/x"), "http://[::1]:9093/x");
        assert_eq!(
            Endpoint::parse("http://am").unwrap().url(""),
            "http://am:80"
        );
        for bad in [
            "https://am:9093",
            "am:9093",
            "http://am:x",
            "http://user:pw@am:9093",
            "http://:9093",
            "http://am:9093/?q=1",
            "http://[::1",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        assert!(Endpoint::parse("https://am")
            .unwrap_err()
            .contains("TLS-terminating proxy"));
    }

    #[test]
    fn replies_parse_with_length_chunks_or_to_the_end() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA").unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));
        let r = parse_response(
            b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nbad\r\n2;x\r\n!!\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_str()), (400, "bad!!"));
        let r = parse_response(b"HTTP/1.0 503 Service Unavailable\r\n\r\ndown").unwrap();
        assert_eq!((r.status, r.body.as_str()), (503, "down"));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(is_complete(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        ));
        assert!(!is_complete(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok"
        ));
        assert!(is_complete(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
        ));
        assert!(!is_complete(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n"
        ));
        assert!(!is_complete(b"HTTP/1.1 200 OK\r\n\r\nuntil close"));
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }
}
