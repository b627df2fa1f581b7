//! vigil-notify's HTTP parsing, which reads what network peers send: the metrics listener's
//! request routing (`metrics::route`, `metrics::reply`), the Alertmanager reply parser
//! (`http::parse_response`) and the URL parser (`http::Endpoint::parse`). None may panic, and
//! every reply the listener writes (but to HEAD, which has no body) is one the reply parser
//! reads back with the status routed and a body of its Content-Length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::Duration;
use vigil_client::notify::http::{parse_response, Endpoint};
use vigil_client::notify::metrics::{reply, route, Route, Stats};

fuzz_target!(|data: &[u8]| {
    let _ = parse_response(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Endpoint::parse(text);
    }
    let key = String::from_utf8_lossy(data.get(..data.len().min(64)).unwrap_or_default());
    let stats = Stats::new(&[key.into_owned()], Duration::from_secs(60), 0);
    let routed = route(data);
    let out = reply(data, &stats);
    if routed == Route::MetricsHead {
        // The headers of a GET, without the body they announce.
        assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n") && out.ends_with(b"\r\n\r\n"));
        return;
    }
    let parsed = parse_response(&out).expect("the listener's reply parses");
    let status = match routed {
        Route::Metrics | Route::MetricsHead => 200,
        Route::Error(code) => code,
    };
    assert_eq!(parsed.status, status);
    if routed == Route::Metrics {
        assert_eq!(parsed.body, stats.render());
    }
});
