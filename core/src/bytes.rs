//! Appending to byte buffers on rendering's hot path, and turning them back into text.

/// Appends the first `len` bytes of `block` to `out` as a copy of the whole block cut back:
/// a copy of a fixed size is a few moves, where a copy of a length known only at run time is
/// a call to `memcpy` and the spilling of registers around it (rendering an alert appends a
/// dozen short pieces: key names, text between them, numbers).
#[inline]
pub fn push_cut<const N: usize>(out: &mut Vec<u8>, block: &[u8; N], len: usize) {
    let start = out.len();
    out.extend_from_slice(block);
    // Past the block (len > N), truncating changes nothing: the whole block stays.
    out.truncate(start + len);
}

/// Bytes known to be UTF-8 as a `String` (rendered or stripped documents: UTF-8 text cut and
/// joined only at ASCII bytes); the lossy fallback never runs, and costs no `unsafe`.
pub fn into_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_cut_appends_only_the_length_asked() {
        let block = *b"abcdefgh";
        for len in 0..=10 {
            let mut out = b"x".to_vec();
            push_cut(&mut out, &block, len);
            assert_eq!(out[1..], block[..len.min(8)]);
        }
        assert_eq!(into_text(b"caf\xc3\xa9".to_vec()), "café");
        assert_eq!(into_text(vec![0xff]), "\u{fffd}");
    }
}
