//! The persistence format, written once for RDB files, DUMP/RESTORE payloads and full syncs:
//! each type encodes itself as a sequence of unsigned integers and byte strings into a `Sink`
//! and decodes from a `Source`. The module backs them with Redis's RDB I/O; tests and fuzz
//! targets back them with a byte slice (`SliceSource`, `VecSink`), so that the decoders, which
//! read whatever a client sends with RESTORE, can be exercised without a server.
//!
//! A decoder treats its input as hostile: every read can fail (short input), and every value
//! is checked against the rules the commands apply, so that a decoded value is one the
//! commands could have built.

use std::fmt;

/// Where an encoded value goes.
pub trait Sink {
    fn put_u64(&mut self, v: u64);
    fn put_bytes(&mut self, b: &[u8]);
}

/// Where an encoded value comes from.
pub trait Source {
    fn u64(&mut self) -> Result<u64, DecodeError>;
    /// The next byte string, handed to `f` (RDB strings live in a buffer Redis owns).
    fn bytes_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Result<R, DecodeError>;

    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        self.bytes_with(<[u8]>::to_vec)
    }

    /// A count of items that follow, each at least `min_item_bytes` long encoded: a count the
    /// input cannot hold is refused before anything is allocated for it.
    fn count(&mut self, what: &str) -> Result<usize, DecodeError> {
        let n = self.u64()?;
        match self.remaining_hint() {
            Some(left) if n > left => Err(DecodeError::invalid(format!(
                "{what} count {n} is larger than the input"
            ))),
            _ => usize::try_from(n)
                .map_err(|_| DecodeError::invalid(format!("{what} count {n} is out of range"))),
        }
    }

    /// An upper bound of the items left, when the source knows it (a slice does).
    fn remaining_hint(&self) -> Option<u64> {
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended (or the RDB stream failed) before the value did.
    Short,
    /// A field holds what no command could have stored.
    Invalid(String),
    /// An encoding version this build does not know.
    Version { found: i32, latest: i32 },
}

impl DecodeError {
    pub fn invalid(msg: impl Into<String>) -> DecodeError {
        DecodeError::Invalid(msg.into())
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Short => write!(f, "short read: the payload ends before the value does"),
            DecodeError::Invalid(msg) => write!(f, "invalid value: {msg}"),
            DecodeError::Version { found, latest } if found > latest => write!(
                f,
                "encoding version {found} is newer than this module knows ({latest}); upgrade the module"
            ),
            DecodeError::Version { found, .. } => {
                write!(f, "encoding version {found} is not a valid one")
            }
        }
    }
}

/// Refuses encoding versions outside 1..=latest.
pub fn check_version(encver: i32, latest: i32) -> Result<(), DecodeError> {
    if (1..=latest).contains(&encver) {
        Ok(())
    } else {
        Err(DecodeError::Version {
            found: encver,
            latest,
        })
    }
}

/// A byte-slice format for tests and fuzzing: a u64 is 8 bytes little endian; a byte string is
/// its length as a u64, then its bytes.
pub struct SliceSource<'a> {
    data: &'a [u8],
}

impl<'a> SliceSource<'a> {
    pub fn new(data: &'a [u8]) -> SliceSource<'a> {
        SliceSource { data }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.data.len() < n {
            return Err(DecodeError::Short);
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

impl Source for SliceSource<'_> {
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn bytes_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Result<R, DecodeError> {
        let n = self.u64()?;
        let n = usize::try_from(n).map_err(|_| DecodeError::Short)?;
        Ok(f(self.take(n)?))
    }

    fn remaining_hint(&self) -> Option<u64> {
        Some(self.data.len() as u64)
    }
}

#[derive(Default)]
pub struct VecSink(pub Vec<u8>);

impl Sink for VecSink {
    fn put_u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn put_bytes(&mut self, b: &[u8]) {
        self.put_u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_round_trip_and_short_reads() {
        let mut sink = VecSink::default();
        sink.put_u64(7);
        sink.put_bytes(b"abc");
        let bytes = sink.0;
        let mut src = SliceSource::new(&bytes);
        assert_eq!(src.u64(), Ok(7));
        assert_eq!(src.bytes(), Ok(b"abc".to_vec()));
        assert_eq!(src.u64(), Err(DecodeError::Short));
        for cut in 0..bytes.len() {
            let mut src = SliceSource::new(&bytes[..cut]);
            let r = src.u64().and_then(|_| src.bytes());
            assert_eq!(r, Err(DecodeError::Short), "cut at {cut}");
        }
        let mut huge = VecSink::default();
        huge.put_u64(u64::MAX);
        let mut src = SliceSource::new(&huge.0);
        assert!(src.count("alerts").is_err());
    }
}
