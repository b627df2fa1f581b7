//! The one argument reader every command uses: positional arguments first, then options
//! matched case-insensitively, with errors written for the person at redis-cli.

use crate::error::{err, Error};
use redis_module::{RedisError, RedisString};
use vigil_core::alert::{parse_ms, AlertId, MAX_COUNTER};

/// The command's arguments, borrowed from the call's argv (no reference taken per argument).
pub struct Args<'a> {
    items: std::slice::Iter<'a, RedisString>,
    /// The command name as sent, for messages.
    command: Option<&'a RedisString>,
}

/// An option name upper-cased on the stack, for `match` without allocating. Longer or
/// non-ASCII arguments read as "" and fall to the unknown-option arm.
pub struct Keyword {
    buf: [u8; 16],
    len: usize,
}

impl Keyword {
    pub fn of(arg: &RedisString) -> Keyword {
        let bytes = arg.as_slice();
        let mut k = Keyword {
            buf: [0; 16],
            len: 0,
        };
        if bytes.len() <= 16 && bytes.is_ascii() {
            k.buf[..bytes.len()].copy_from_slice(bytes);
            k.buf[..bytes.len()].make_ascii_uppercase();
            k.len = bytes.len();
        }
        k
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<'a> Args<'a> {
    /// Takes the command's argv; fails with the standard arity error below `min` arguments
    /// (the command name included).
    pub fn new(args: &'a [RedisString], min: usize) -> Result<Args<'a>, Error> {
        if args.len() < min {
            return Err(RedisError::WrongArity.into());
        }
        let mut items = args.iter();
        let command = items.next();
        Ok(Args { items, command })
    }

    /// Lower-case command name, for messages.
    pub fn command(&self) -> String {
        self.command
            .as_ref()
            .map(|c| shown(c).to_lowercase())
            .unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.items.len() == 0
    }

    pub fn remaining(&self) -> usize {
        self.items.len()
    }

    /// The arguments not read yet, left in place (for checks that must come before the
    /// others read them).
    pub fn rest(&self) -> &'a [RedisString] {
        self.items.as_slice()
    }

    /// The next argument, left in place (for lists that end at the next option).
    pub fn peek(&self) -> Option<&'a RedisString> {
        self.items.as_slice().first()
    }

    pub fn next_string(&mut self) -> Result<&'a RedisString, Error> {
        self.items
            .next()
            .ok_or(Error::Redis(RedisError::WrongArity))
    }

    pub fn next_bytes(&mut self) -> Result<Vec<u8>, Error> {
        Ok(self.next_string()?.as_slice().to_vec())
    }

    /// The next argument as text (only used where ASCII is expected; bytes that are not
    /// UTF-8 read as `\xNN`, see [`shown`]).
    pub fn next_str(&mut self) -> Result<String, Error> {
        Ok(shown(self.next_string()?))
    }

    /// The value of option `name`, as text: fails with "ERR OPTION needs a value", and for
    /// bytes that are not UTF-8 (filters and matchers are compared with a document's strings,
    /// which always are; a comment is shown as text).
    pub fn value_of(&mut self, name: &str) -> Result<String, Error> {
        match self.items.next() {
            Some(v) => match std::str::from_utf8(v.as_slice()) {
                Ok(text) => Ok(text.to_owned()),
                Err(_) => Err(err(format!(
                    "ERR invalid {name} '{}': not UTF-8 text",
                    shown(v)
                ))),
            },
            None => Err(err(format!("ERR {name} needs a value"))),
        }
    }

    /// A non-negative integer (ms, counts, sizes).
    pub fn ms_of(&mut self, name: &str) -> Result<u64, Error> {
        let v = self.value_of(name)?;
        parse_ms(&v).ok_or_else(|| {
            err(format!(
                "ERR invalid {name} '{v}': expected a non-negative integer"
            ))
        })
    }

    /// A counter (an alert's COUNT, a stream's REVISION, an alert's REV): a non-negative
    /// integer, from a client at most [`MAX_COUNTER`], so that counting on from it never
    /// leaves what an integer reply and the replicated option carry. From the primary or the
    /// AOF (`trusted`), any value the stream may have counted to since.
    pub fn counter_of(&mut self, name: &str, trusted: bool) -> Result<u64, Error> {
        let v = self.value_of(name)?;
        match parse_ms(&v) {
            Some(n) if n <= MAX_COUNTER || trusted => Ok(n),
            Some(_) => Err(err(format!(
                "ERR invalid {name} '{v}': at most {MAX_COUNTER}"
            ))),
            None => Err(err(format!(
                "ERR invalid {name} '{v}': expected a non-negative integer"
            ))),
        }
    }

    pub fn id_of(&mut self, name: &str) -> Result<AlertId, Error> {
        let v = self.value_of(name)?;
        parse_id(&v)
    }

    pub fn unknown(&self, opt: &RedisString) -> Error {
        err(format!(
            "ERR unknown option '{}' for '{}'",
            shown(opt),
            self.command()
        ))
    }
}

impl<'a> Iterator for Args<'a> {
    type Item = &'a RedisString;
    fn next(&mut self) -> Option<&'a RedisString> {
        self.items.next()
    }
}

/// An argument as text to quote in a message or to read as ASCII: valid UTF-8 as it is, each
/// byte that is not as `\xNN` (a message names the bytes sent, not U+FFFD; the reply path
/// then escapes whatever is not printable ASCII).
pub fn shown(v: &RedisString) -> String {
    vigil_core::bytes::shown(v.as_slice()).into_owned()
}

pub fn parse_id(v: &str) -> Result<AlertId, Error> {
    AlertId::parse(v).ok_or_else(|| err(format!("ERR invalid alert ID '{v}': expected <ms>-<seq>")))
}

/// Sets an option that may be given once: a key-naming option given twice would let ACL and
/// cluster routing (which look at the first) and the command (which would use the last)
/// disagree.
pub fn once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), Error> {
    if slot.is_some() {
        return Err(err(format!("ERR {name} may be given only once")));
    }
    *slot = Some(value);
    Ok(())
}

/// An amount argument (`-?[0-9]+(\.[0-9]{1,6})?`).
pub fn amount(name: &str, v: &RedisString) -> Result<vigil_core::amount::Amount, Error> {
    vigil_core::amount::Amount::parse(v.as_slice())
        .map_err(|e| err(format!("ERR invalid {name} '{}': {e}", shown(v))))
}

/// A non-negative count (COUNT, MAX, ...).
pub fn count(name: &str, v: &RedisString) -> Result<usize, Error> {
    std::str::from_utf8(v.as_slice())
        .ok()
        .and_then(parse_ms)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .ok_or_else(|| {
            err(format!(
                "ERR invalid {name} '{}': expected a non-negative integer",
                shown(v)
            ))
        })
}
