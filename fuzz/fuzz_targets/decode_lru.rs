//! A RESTORE payload of a lru value, as the module's RDB loader reads it (`SliceSource` is
//! the same sequence of unsigned integers and strings): the first byte picks the encoding
//! version, 1..=latest; decoding refuses or succeeds, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::codec::SliceSource;
use vigil_core::lru::codec::{decode, ENC_LATEST};

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let encver = 1 + i32::from(*first) % ENC_LATEST;
    let _ = decode(&mut SliceSource::new(rest), encver);
});
