//! The module's `loadmodule` arguments (`vigil_core::knobs::pairs`): any arguments (the input
//! split at NUL bytes) give values or a reason, never a panic; values come only from an even
//! count of arguments, each name once and known, each value the integer its text says,
//! within its knob's range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::knobs::{integer, pairs, Knob};

const KNOBS: [Knob; 3] = [
    Knob {
        name: "alert-max-len",
        min: 0,
        max: i64::MAX,
    },
    Knob {
        name: "max-document-bytes",
        min: 1,
        max: 536_870_912,
    },
    Knob {
        name: "a",
        min: -5,
        max: 5,
    },
];

fuzz_target!(|data: &[u8]| {
    let args: Vec<&[u8]> = if data.is_empty() {
        vec![]
    } else {
        data.split(|&b| b == 0).collect()
    };
    match pairs(&args, &KNOBS, "loadmodule argument", "") {
        Ok(values) => {
            assert_eq!(args.len(), 2 * values.len());
            let mut seen = [false; KNOBS.len()];
            for (pair, &(i, v)) in args.chunks_exact(2).zip(&values) {
                let k = KNOBS[i];
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
