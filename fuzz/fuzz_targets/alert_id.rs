//! Alert IDs (`<ms>-<seq>`) and timestamps/durations as every command reads them: digits only,
//! a timestamp at most i64::MAX, and an ID renders back to the text that made it (less
//! leading zeros).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::alert::{parse_ms, AlertId, MAX_MS};

/// The value of a string of digits (saturated far past u64), None if it is not one.
fn number(s: &str) -> Option<u128> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = s.trim_start_matches('0');
    if significant.len() > 30 {
        return Some(u128::MAX);
    }
    Some(significant.parse().unwrap_or(0))
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let ms = parse_ms(s);
    match number(s) {
        Some(v) if v <= u128::from(MAX_MS) => assert_eq!(ms.map(u128::from), Some(v), "{s:?}"),
        _ => assert_eq!(ms, None, "{s:?}"),
    }
    if let Some(id) = AlertId::parse(s) {
        assert!(id.ts <= MAX_MS);
        assert_eq!(AlertId::parse(&id.to_string()), Some(id));
        let (ts, seq) = s.split_once('-').expect("a dash");
        assert_eq!(number(ts), Some(u128::from(id.ts)));
        assert_eq!(number(seq), Some(u128::from(id.seq)));
    }
});
