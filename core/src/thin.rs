//! A text that holds no NUL byte, boxed behind one pointer: 8 bytes where a `Box<str>` takes
//! 16 (pointer and length). An alert's stored document is one: a validated JSON document
//! never holds a raw NUL byte (the scanner refuses control characters in strings, and
//! outside strings only JSON's own tokens and whitespace may appear), so the text ends at
//! the first NUL of its allocation, as a C string does. Across a stream of 100k alerts the
//! pointer's 8 bytes are 2% of an alert's memory.
//!
//! The length is found again when the text is read (`strlen`, a few nanoseconds for a
//! 300-byte document, next to rendering it).

use std::ffi::{CStr, CString};
use std::fmt;
use std::ptr::NonNull;

pub struct ThinText {
    /// From `CString::into_raw`: NUL-terminated, UTF-8 before the NUL, owned.
    ptr: NonNull<u8>,
}

// SAFETY: ThinText owns its allocation as a Box does and has no interior mutability.
unsafe impl Send for ThinText {}
// SAFETY: as for Send; `&ThinText` only reads.
unsafe impl Sync for ThinText {}

impl ThinText {
    /// The text, with any NUL byte written as the JSON escape `\u0000` (which a validated
    /// document never needs: a NUL can only appear escaped in JSON).
    pub fn new(text: &str) -> ThinText {
        ThinText::concat(&[text])
    }

    /// The pieces one after the other, copied once into an allocation of their length + 1.
    pub fn concat(pieces: &[&str]) -> ThinText {
        let bytes = Self::joined(pieces);
        let has_nul = bytes.contains(&0);
        Self::from_bytes(bytes, has_nul)
    }

    /// The bytes as they are, without looking for a NUL byte (~300 instructions for a
    /// 250-byte document on ALERT.ADD's path; debug builds still look). Give `bytes` a
    /// capacity of their length + 1 to spare a reallocation.
    ///
    /// # Safety
    /// The bytes must be UTF-8 and hold no NUL byte (the length is found again by the first
    /// NUL, and the allocation is released with that length). A validated JSON document
    /// qualifies, with its keys coded (`doc::stored`): RFC 8259 allows no raw NUL outside
    /// strings and only escaped ones inside, and the codes are ASCII bytes 0x01-0x7E.
    pub unsafe fn from_json(bytes: Vec<u8>) -> ThinText {
        debug_assert!(!bytes.contains(&0), "a JSON document holds no raw NUL");
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Self::from_bytes(bytes, false)
    }

    fn joined(pieces: &[&str]) -> Vec<u8> {
        let len: usize = pieces.iter().map(|p| p.len()).sum();
        let mut bytes = Vec::with_capacity(len + 1);
        for p in pieces {
            bytes.extend_from_slice(p.as_bytes());
        }
        bytes
    }

    fn from_bytes(bytes: Vec<u8>, has_nul: bool) -> ThinText {
        let c = if has_nul {
            let text = String::from_utf8_lossy(&bytes).replace('\0', "\\u0000");
            // No NUL is left after the replacement: the default is never taken.
            CString::new(text).unwrap_or_default()
        } else {
            // SAFETY: `bytes` holds no NUL: checked by `concat`, promised to `from_json`.
            unsafe { CString::from_vec_unchecked(bytes) }
        };
        let raw = c.into_raw().cast::<u8>();
        match NonNull::new(raw) {
            Some(ptr) => ThinText { ptr },
            // CString::into_raw never returns null.
            None => ThinText::new(""),
        }
    }

    fn c_str(&self) -> &CStr {
        // SAFETY: `ptr` came from CString::into_raw and is owned by self until drop: it is
        // valid, NUL-terminated and unchanged.
        unsafe { CStr::from_ptr(self.ptr.as_ptr().cast()) }
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: the bytes before the NUL are those of the &str `new` was given (a NUL
        // replaced by ASCII), or bytes `from_json` was promised are UTF-8; checking again
        // would cost a pass per read.
        unsafe { std::str::from_utf8_unchecked(self.c_str().to_bytes()) }
    }

    /// The length in bytes, without the terminating NUL.
    pub fn len(&self) -> usize {
        self.c_str().count_bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes the allocation takes (the text and its NUL).
    pub fn alloc_len(&self) -> usize {
        self.len() + 1
    }
}

impl Drop for ThinText {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from CString::into_raw and is released once, here.
        drop(unsafe { CString::from_raw(self.ptr.as_ptr().cast()) });
    }
}

impl Clone for ThinText {
    fn clone(&self) -> ThinText {
        ThinText::new(self.as_str())
    }
}

impl std::ops::Deref for ThinText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for ThinText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_its_text_in_one_pointer() {
        assert_eq!(size_of::<ThinText>(), 8);
        assert_eq!(size_of::<Option<ThinText>>(), 8);
        for text in ["", "{}", "{\"a\":\"é😀\"}", &"x".repeat(5000)] {
            let t = ThinText::new(text);
            assert_eq!(t.as_str(), text);
            assert_eq!(t.len(), text.len());
            assert_eq!(t.alloc_len(), text.len() + 1);
            let c = t.clone();
            drop(t);
            assert_eq!(&*c, text);
        }
        assert_eq!(&*ThinText::concat(&["{", "\"a\":1}"]), "{\"a\":1}");
    }

    #[test]
    fn a_nul_byte_is_escaped_not_a_panic() {
        let t = ThinText::new("{\"a\":\"x\0y\"}");
        assert_eq!(t.as_str(), "{\"a\":\"x\\u0000y\"}");
    }
}
