//! What a decoder accepts is a value the module can save and load again unchanged: decode (at
//! any known encoding version), encode, decode, encode gives the same bytes. The first byte
//! picks the type and the version.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::codec::{DecodeError, SliceSource, VecSink};
use vigil_core::{alert, lru, quota};

/// decode(bytes at encver), then encode: the bytes of the latest encoding, if accepted.
fn again(kind: u8, bytes: &[u8], encver: i32) -> Result<Vec<u8>, DecodeError> {
    let mut src = SliceSource::new(bytes);
    let mut out = VecSink::default();
    match kind {
        0 => alert::codec::encode(&alert::codec::decode(&mut src, encver)?, &mut out),
        1 => quota::codec::encode(&quota::codec::decode(&mut src, encver)?, &mut out),
        _ => lru::codec::encode(&lru::codec::decode(&mut src, encver)?, &mut out),
    }
    Ok(out.0)
}

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let kind = first % 3;
    let latest = match kind {
        0 => alert::codec::ENC_LATEST,
        1 => quota::codec::ENC_LATEST,
        _ => lru::codec::ENC_LATEST,
    };
    let encver = 1 + i32::from(first / 3) % latest;
    let Ok(once) = again(kind, rest, encver) else {
        return;
    };
    let twice = again(kind, &once, latest)
        .unwrap_or_else(|e| panic!("an encoded value is refused: {e}"));
    assert_eq!(once, twice, "the encoding changed across a save and load");
});
