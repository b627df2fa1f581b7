//! Settings given as pairs of a name and an integer (the module's `loadmodule` arguments):
//! each name one of a table's, once, and its value an integer in that name's range, read as
//! CONFIG SET reads a numeric config. Operator input, but read with the care of a client's:
//! any bytes give a value or a reason, never a panic (fuzzed: `fuzz/fuzz_targets/knobs.rs`).

use std::sync::atomic::{AtomicI64, Ordering};

/// A numeric setting: its name (a loadmodule argument; `vigil.` + name for CONFIG), where its
/// value lives, its default, and the range its value must be in (inclusive).
pub struct Knob {
    pub name: &'static str,
    pub value: &'static AtomicI64,
    pub default: i64,
    pub min: i64,
    pub max: i64,
}

impl Knob {
    /// A knob of any non-negative value.
    pub const fn new(name: &'static str, value: &'static AtomicI64, default: i64) -> Knob {
        Knob {
            name,
            value,
            default,
            min: 0,
            max: i64::MAX,
        }
    }
}

/// Reads `args`, pairs of a name of `knobs` (without the `vigil.` prefix) and its value: for
/// each pair in order, its knob and the value. An odd count, an unknown or repeated name, or a
/// value that is not an integer of its knob's range is an error that names the argument.
pub fn pairs(args: &[&[u8]], knobs: &[&'static Knob]) -> Result<Vec<(&'static Knob, i64)>, String> {
    let names = || knobs.iter().map(|k| k.name).collect::<Vec<_>>().join(", ");
    if let [.., last] = args {
        if args.len() % 2 == 1 {
            return Err(format!(
                "the loadmodule arguments are pairs of a config and its value ({}); '{}' has no value",
                names(),
                String::from_utf8_lossy(last)
            ));
        }
    }
    let mut seen = vec![false; knobs.len()];
    let mut values = Vec::with_capacity(args.len() / 2);
    for pair in args.chunks_exact(2) {
        let (name, value) = (pair[0], pair[1]);
        let shown = String::from_utf8_lossy(name);
        let Some(i) = knobs.iter().position(|k| k.name.as_bytes() == name) else {
            return Err(format!(
                "unknown loadmodule argument '{shown}': the configs are {} (without the 'vigil.' prefix)",
                names()
            ));
        };
        if std::mem::replace(&mut seen[i], true) {
            return Err(format!("loadmodule argument '{shown}' given twice"));
        }
        let k = knobs[i];
        let Some(v) = integer(value).filter(|v| (k.min..=k.max).contains(v)) else {
            return Err(format!(
                "invalid loadmodule argument {shown} '{}': must be an integer between {} and {} inclusive",
                String::from_utf8_lossy(value),
                k.min,
                k.max
            ));
        };
        values.push((k, v));
    }
    Ok(values)
}

/// Sets the values `pairs` read.
pub fn apply(values: &[(&Knob, i64)]) {
    for (k, v) in values {
        k.value.store(*v, Ordering::Relaxed);
    }
}

/// `-?[0-9]+` within i64 (no sign `+`, no spaces).
pub fn integer(v: &[u8]) -> Option<i64> {
    let digits = v.strip_prefix(b"-").unwrap_or(v);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_digits_with_an_optional_minus_within_i64() {
        for (text, want) in [
            (&b"0"[..], Some(0)),
            (b"007", Some(7)),
            (b"-0", Some(0)),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"9223372036854775808", None),
            (b"", None),
            (b"-", None),
            (b"+1", None),
            (b" 1", None),
            (b"1 ", None),
            (b"1.0", None),
            (b"--1", None),
            (b"\xff", None),
        ] {
            assert_eq!(integer(text), want, "{:?}", String::from_utf8_lossy(text));
        }
    }
}
