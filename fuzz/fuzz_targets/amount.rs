//! Amounts (quota amounts and limits, LRU sizes): `Amount::parse` accepts exactly the grammar
//! `-?[0-9]+(\.[0-9]{1,6})?` within 10^18, and what it renders parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::amount::Amount;

/// The grammar, and the value in millionths when it is within 10^18 (None past it).
fn reference(s: &[u8]) -> Option<Option<i128>> {
    let (neg, rest) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = match rest.iter().position(|b| *b == b'.') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let digits = |d: &[u8]| !d.is_empty() && d.iter().all(u8::is_ascii_digit);
    if !digits(int) || frac.is_some_and(|f| !digits(f) || f.len() > 6) {
        return None;
    }
    let int = int.iter().skip_while(|b| **b == b'0').copied().collect::<Vec<u8>>();
    if int.len() > 19 {
        return Some(None);
    }
    let mut units: i128 = 0;
    for d in &int {
        units = units * 10 + i128::from(d - b'0');
    }
    let mut f = frac.unwrap_or(b"").to_vec();
    f.resize(6, b'0');
    for d in &f {
        units = units * 10 + i128::from(d - b'0');
    }
    if units > 1_000_000_000_000_000_000 * 1_000_000 {
        return Some(None);
    }
    Some(Some(if neg { -units } else { units }))
}

fuzz_target!(|data: &[u8]| {
    let parsed = Amount::parse(data).ok();
    match reference(data) {
        Some(Some(units)) => {
            let a = parsed.unwrap_or_else(|| panic!("refused: {:?}", String::from_utf8_lossy(data)));
            assert_eq!(a.units(), units);
            let shown = a.to_string();
            assert_eq!(Amount::parse(shown.as_bytes()).ok(), Some(a), "{shown}");
        }
        _ => assert!(parsed.is_none(), "accepted: {:?}", String::from_utf8_lossy(data)),
    }
});
