//! The module's `loadmodule` arguments (`vigil_core::knobs::pairs`): any arguments (the input
//! split at NUL bytes) give values or a reason, never a panic; values come only from an even
//! count of arguments, each name once and known, each value the integer its text says,
//! within its knob's range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::atomic::AtomicI64;
use vigil_core::knobs::{integer, pairs, Knob};

static VALUES: [AtomicI64; 3] = [AtomicI64::new(0), AtomicI64::new(0), AtomicI64::new(0)];
static MAX_LEN: Knob = Knob::new("alert-max-len", &VALUES[0], 10_000);
static DOCUMENT_BYTES: Knob = Knob {
    min: 1,
    max: 536_870_912,
    ..Knob::new("max-document-bytes", &VALUES[1], 65_536)
};
static A: Knob = Knob {
    min: -5,
    max: 5,
    ..Knob::new("a", &VALUES[2], 0)
};
static KNOBS: [&Knob; 3] = [&MAX_LEN, &DOCUMENT_BYTES, &A];

fuzz_target!(|data: &[u8]| {
    let args: Vec<&[u8]> = if data.is_empty() {
        vec![]
    } else {
        data.split(|&b| b == 0).collect()
    };
    match pairs(&args, &KNOBS) {
        Ok(values) => {
            assert_eq!(args.len(), 2 * values.len());
            let mut seen = [false; KNOBS.len()];
            for (pair, &(k, v)) in args.chunks_exact(2).zip(&values) {
                let i = KNOBS
                    .iter()
                    .position(|&o| std::ptr::eq(o, k))
                    .expect("a knob of the table");
                assert_eq!(pair[0], k.name.as_bytes());
                assert!(!std::mem::replace(&mut seen[i], true), "a name twice");
                assert!((k.min..=k.max).contains(&v));
                assert_eq!(integer(pair[1]), Some(v));
                let text = std::str::from_utf8(pair[1]).expect("digits");
                assert_eq!(text.parse::<i64>().ok(), Some(v));
            }
        }
        Err(why) => assert!(!why.is_empty()),
    }
});
