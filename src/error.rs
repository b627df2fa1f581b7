//! The error every command handler returns: core errors convert into it with `?`, and it
//! becomes the reply at the boundary, with its text escaped to printable ASCII.

use redis_module::RedisError;
use std::fmt::Display;

#[derive(Debug)]
pub enum Error {
    /// A reply error of the crate's kinds (wrong arity, ...).
    Redis(RedisError),
    /// An error reply, `ERR ...` or `WRONGTYPE ...`, as text.
    Text(String),
}

pub type CmdResult<T = redis_module::RedisValue> = Result<T, Error>;

/// `ERR ...`: builds an error from a message written for the person at redis-cli.
pub fn err(msg: impl Into<String>) -> Error {
    Error::Text(msg.into())
}

pub fn wrong_type() -> Error {
    Error::Text("WRONGTYPE Operation against a key holding the wrong kind of value".into())
}

pub fn no_such_key() -> Error {
    Error::Text("ERR no such key".into())
}

impl From<RedisError> for Error {
    fn from(e: RedisError) -> Error {
        match e {
            // The crate's WrongType text lacks the prefix clients look for.
            RedisError::WrongType => wrong_type(),
            other => Error::Redis(other),
        }
    }
}

/// Core errors render their own `ERR ...` text.
macro_rules! from_display {
    ($($t:ty),* $(,)?) => {
        $(impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::Text(e.to_string())
            }
        })*
    };
}

from_display!(
    vigil_core::alert::AlertError,
    vigil_core::alert::doc::DocError,
    vigil_core::quota::QuotaError,
    vigil_core::lru::TrackerError,
    vigil_core::lru::NamespaceError,
    vigil_core::quota::thresholds::ThresholdError,
);

impl From<Error> for RedisError {
    fn from(e: Error) -> RedisError {
        match e {
            Error::Redis(RedisError::String(s)) => RedisError::String(printable(s)),
            Error::Redis(other) => other,
            Error::Text(s) => RedisError::String(printable(s)),
        }
    }
}

impl Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Redis(e) => write!(f, "{e}"),
            Error::Text(s) => f.write_str(s),
        }
    }
}

/// Error texts quote what the client sent; the reply path turns each char into one byte and
/// panics on a NUL, and a raw CR/LF would break the protocol. Escape everything but printable
/// ASCII, once, here at the boundary.
fn printable(s: String) -> String {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if (' '..='~').contains(&c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_are_printable() {
        let e: RedisError = err("ERR key 'a\u{0}b\né' x").into();
        match e {
            RedisError::String(s) => assert_eq!(s, "ERR key 'a\\x00b\\x0a\\xc3\\xa9' x"),
            other => panic!("{other:?}"),
        }
    }
}
