//! A stream's key table: the member names its documents use, each stored once, so that a
//! stored document holds a one- or two-byte code in place of each `"name":`.
//!
//! A stream's documents share a schema: the same few keys (`labels`, `host`, `message`, ...)
//! come back in every alert, and written out they are a tenth of a typical document. A Redis
//! stream does the same for the field names of its entries (a listpack's master entry). The
//! codes are ASCII control bytes, which stored JSON never holds raw outside whitespace (RFC
//! 8259 allows no control character in a string, and only space, tab, CR and LF between
//! tokens), so a code can never be taken for text:
//!
//! - one byte, 0x01-0x08 or 0x0E-0x1E: the table's first 25 names;
//! - 0x1F then one byte 0x20-0x7E: the next 95.
//!
//! (0x09-0x0D are left out: tab, LF and CR are whitespace a document may hold, and Rust's
//! `trim` also takes VT and FF for whitespace.)
//!
//! The table only grows, up to [`KeyTable::MAX`] names of at most 32 bytes, and is emptied
//! when its stream holds no alert: a name past the limit stays written out in full. It is not
//! saved: RDB, DUMP and the AOF carry documents written out in full, and a load builds the
//! table again (a replica's may number the names differently; nothing outside shows it).

use super::scan::first_control;
use crate::bytes::{into_text, push_cut};
use std::borrow::Cow;

const FIRST: [u8; 25] = [
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
    0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E,
];
const LONG: u8 = 0x1F;
const SECOND: u8 = 0x20;

/// Hash slots: a power of two, more than twice `MAX`.
const SLOTS: usize = 256;

/// Bytes a name takes in the table: `"`, at most [`KeySpans::MAX_NAME`] bytes, `":`, rounded
/// up to eight. Each is kept padded to this size, so that writing one out is a copy of a
/// fixed size (a few moves) cut back to its length, where a copy of its own length was a call
/// to `memcpy` and the spilling of registers around it.
///
/// [`KeySpans::MAX_NAME`]: super::scan::KeySpans::MAX_NAME
const PADDED: usize = 40;

/// Pieces of text between two codes up to this long are copied the same way (most are: `{`,
/// a label's value, `},`), when the stored text has this many bytes from the piece on.
const PIECE: usize = 32;

/// A name as the table holds it: `"name":` then zeros, and its length.
#[derive(Debug, Clone)]
struct Name {
    padded: [u8; PADDED],
    len: u8,
}

impl Name {
    fn new(span: &str) -> Option<Name> {
        let mut padded = [0u8; PADDED];
        padded
            .get_mut(..span.len())?
            .copy_from_slice(span.as_bytes());
        Some(Name {
            padded,
            len: u8::try_from(span.len()).ok()?,
        })
    }

    fn bytes(&self) -> &[u8] {
        &self.padded[..usize::from(self.len).min(PADDED)]
    }
}

/// Appends `text[from..to]` to `out`: a short piece as a copy of [`PIECE`] bytes cut back.
#[inline]
fn push_piece(out: &mut Vec<u8>, text: &[u8], from: usize, to: usize) {
    let len = to.saturating_sub(from);
    if len <= PIECE {
        if let Some(Ok(block)) = text.get(from..from + PIECE).map(<&[u8; PIECE]>::try_from) {
            push_cut(out, block, len);
            return;
        }
    }
    out.extend_from_slice(text.get(from..to).unwrap_or_default());
}

#[derive(Debug, Clone, Default)]
pub struct KeyTable {
    /// Each name as stored: `"name":`, padded.
    names: Vec<Name>,
    /// Open addressing over `names`: index + 1, 0 for an empty slot. Empty until the first
    /// name.
    slots: Vec<u8>,
}

/// What a byte of a stored document is.
enum Byte {
    Text,
    /// The whole code: the name's index.
    One(usize),
    /// The first byte of a two-byte code.
    Long,
}

#[inline]
fn byte(b: u8) -> Byte {
    match b {
        0x01..=0x08 => Byte::One(usize::from(b - 1)),
        0x0E..=0x1E => Byte::One(usize::from(b - 0x0E) + 8),
        LONG => Byte::Long,
        _ => Byte::Text,
    }
}

/// A hash of a span (`"name":`, at least 4 bytes): its length and its first and last four
/// bytes, mixed. A few instructions where a byte loop took a hundred on ALERT.ADD's path;
/// names that share both ends and the length only probe further.
#[inline]
fn hash(span: &[u8]) -> usize {
    let four = |at: usize| -> u64 {
        let mut w = [0u8; 4];
        if let Some(b) = span.get(at..at + 4) {
            w.copy_from_slice(b);
        }
        u64::from(u32::from_le_bytes(w))
    };
    let n = span.len();
    let x = (four(0) << 32 | four(n.saturating_sub(4))) ^ (n as u64);
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize
}

impl KeyTable {
    /// Names the table holds at most: 25 one-byte codes and 95 two-byte ones.
    pub const MAX: usize = FIRST.len() + 95;

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Forgets every name (its stream holds no alert, hence no code).
    pub fn clear(&mut self) {
        *self = KeyTable::default();
    }

    /// The code of `span` (`"name":`, as the scanner found it), the name added when it is
    /// new and there is room; None when the table is full.
    pub fn code(&mut self, span: &str) -> Option<([u8; 2], usize)> {
        let index = match self.find(span) {
            Ok(i) => i,
            Err(slot) => {
                let i = self.names.len();
                if i >= Self::MAX {
                    return None;
                }
                let name = Name::new(span)?;
                let slot = match slot {
                    Some(s) => s,
                    None => {
                        self.slots = vec![0; SLOTS];
                        self.probe(span).err().flatten()?
                    }
                };
                self.names.push(name);
                self.slots[slot] = u8::try_from(i + 1).ok()?;
                i
            }
        };
        Some(match FIRST.get(index) {
            Some(&b) => ([b, 0], 1),
            None => ([LONG, SECOND + (index - FIRST.len()) as u8], 2),
        })
    }

    /// Ok(index) of a name held; Err(the free slot for it), Err(None) before the first name.
    fn find(&self, span: &str) -> Result<usize, Option<usize>> {
        if self.slots.is_empty() {
            return Err(None);
        }
        self.probe(span)
    }

    fn probe(&self, span: &str) -> Result<usize, Option<usize>> {
        let mask = SLOTS - 1;
        let mut at = hash(span.as_bytes()) & mask;
        loop {
            match self.slots[at] {
                0 => return Err(Some(at)),
                n => {
                    let i = usize::from(n) - 1;
                    if self
                        .names
                        .get(i)
                        .is_some_and(|name| name.bytes() == span.as_bytes())
                    {
                        return Ok(i);
                    }
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// `stored` with each code written out as its `"name":`, appended to `out`.
    pub fn expand_into(&self, stored: &[u8], out: &mut Vec<u8>) {
        let b = stored;
        let mut copied = 0;
        let mut i = 0;
        while let Some(at) = first_control(b, i) {
            let (index, len) = match b.get(at).map(|&c| byte(c)) {
                Some(Byte::One(index)) => (index, 1),
                Some(Byte::Long) => match b.get(at + 1) {
                    Some(&c) if c >= SECOND => (FIRST.len() + usize::from(c - SECOND), 2),
                    _ => {
                        i = at + 1;
                        continue;
                    }
                },
                _ => {
                    i = at + 1;
                    continue;
                }
            };
            push_piece(out, b, copied, at);
            // A code always names a name held (the table is emptied only with no alert).
            if let Some(name) = self.names.get(index) {
                push_cut(out, &name.padded, usize::from(name.len));
            }
            copied = at + len;
            i = copied;
        }
        out.extend_from_slice(b.get(copied..).unwrap_or_default());
    }

    /// `stored` written out: borrowed when it holds no code.
    pub fn expand<'s>(&self, stored: &'s str) -> Cow<'s, str> {
        if first_control(stored.as_bytes(), 0).is_none() {
            return Cow::Borrowed(stored);
        }
        let mut out = Vec::with_capacity(stored.len() + 64);
        self.expand_into(stored.as_bytes(), &mut out);
        // Names and text between them are whole UTF-8 (split only at ASCII codes).
        Cow::Owned(into_text(out))
    }

    /// Bytes the table holds, as MEMORY USAGE counts them.
    pub fn heap_bytes(&self) -> usize {
        use crate::memsize::alloc_size;
        if self.slots.is_empty() {
            return 0;
        }
        alloc_size(self.slots.capacity())
            + alloc_size(self.names.capacity() * std::mem::size_of::<Name>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_cover_the_table_and_come_back() {
        let mut t = KeyTable::default();
        let mut coded = String::new();
        let mut plain = String::new();
        for i in 0..KeyTable::MAX {
            let span = format!("\"k{i}\":");
            let (code, len) = t.code(&span).unwrap();
            // Asked again: the same code.
            assert_eq!(t.code(&span), Some((code, len)));
            assert_eq!(len, if i < 25 { 1 } else { 2 });
            coded.push_str(std::str::from_utf8(&code[..len]).unwrap());
            coded.push_str("1,\t");
            plain.push_str(&span);
            plain.push_str("1,\t");
        }
        assert_eq!(t.code("\"one more\":"), None);
        assert_eq!(t.len(), KeyTable::MAX);
        assert_eq!(t.expand(&coded), plain);
        // Text without control bytes is borrowed; whitespace and a stray 0x1F stay text.
        assert!(matches!(t.expand("{\"a\":1,\"b\":2}"), Cow::Borrowed(_)));
        assert_eq!(t.expand("{\"a\":1,\r\t\"b\":2}"), "{\"a\":1,\r\t\"b\":2}");
        let mut out = Vec::new();
        t.expand_into(b"\x1f", &mut out);
        assert_eq!(out, b"\x1f");
        t.clear();
        assert!(t.is_empty());
        assert_eq!(t.heap_bytes(), 0);
    }

    #[test]
    fn names_and_pieces_of_every_length_come_back() {
        // Names up to the longest a document may code (32 bytes: a span of 35), each between
        // pieces of text of every length around the fixed copies (PIECE), the last piece
        // at the very end of the text (where no fixed copy fits).
        let mut t = KeyTable::default();
        let mut coded = Vec::new();
        let mut plain = Vec::new();
        for n in 1..=32usize {
            let span = format!("\"{}\":", "n".repeat(n - 1) + &(n % 10).to_string());
            let (code, len) = t.code(&span).unwrap();
            let piece = "v".repeat((n * 7) % (2 * PIECE + 3));
            coded.extend_from_slice(&code[..len]);
            coded.extend_from_slice(piece.as_bytes());
            plain.extend_from_slice(span.as_bytes());
            plain.extend_from_slice(piece.as_bytes());
            let mut out = b"x".to_vec();
            t.expand_into(&coded, &mut out);
            assert_eq!(out[1..], plain[..], "{n}");
        }
        // A span past the padded size stays written out.
        assert_eq!(t.code(&format!("\"{}\":", "y".repeat(PADDED))), None);
        assert_eq!(t.len(), 32);
    }

    #[test]
    fn no_code_is_a_byte_json_or_trim_can_hold() {
        for &b in FIRST.iter().chain(&[LONG]) {
            assert!(b < 0x20 && !matches!(b, 0x09..=0x0D), "{b:#x}");
            assert!(!char::from(b).is_whitespace(), "{b:#x}");
        }
        assert!(matches!(byte(b'\t'), Byte::Text));
        assert!(matches!(byte(b'\r'), Byte::Text));
        for i in 0..KeyTable::MAX - FIRST.len() {
            let second = SECOND + i as u8;
            assert!((0x20..=0x7e).contains(&second));
        }
    }

    #[test]
    fn first_control_finds_the_first() {
        let text = "abcdefghijklmnop\u{2}qrst\u{1}";
        assert_eq!(first_control(text.as_bytes(), 0), Some(16));
        assert_eq!(first_control(text.as_bytes(), 17), Some(21));
        assert_eq!(first_control(b"abc", 0), None);
        assert_eq!(first_control("é€😀abcdefgh".as_bytes(), 0), None);
    }
}
