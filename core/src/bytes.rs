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

/// Bytes a client sent, as text to quote in a message: valid UTF-8 as it is, each byte of an
/// invalid sequence as the four characters `\xNN`, so that the message names the bytes that
/// were sent (a lossy conversion would name U+FFFD instead).
pub fn shown(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    use std::fmt::Write;
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.into();
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.into()
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

    #[test]
    fn shown_names_each_byte_of_an_invalid_sequence() {
        assert_eq!(shown(b"plain"), "plain");
        assert_eq!(shown("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(shown(b"\xe9"), "\\xe9");
        assert_eq!(shown(b"t:{\xff}:k"), "t:{\\xff}:k");
        // A truncated sequence, then a valid one: only the broken bytes are escaped.
        assert_eq!(shown(b"a\xc3 \xc3\xa9\xf0\x9f"), "a\\xc3 \u{e9}\\xf0\\x9f");
        assert_eq!(shown(b""), "");
    }
}
