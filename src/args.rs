//! The one argument reader every command uses: positional arguments first, then options
//! matched case-insensitively, with errors written for the person at redis-cli.

use crate::alert::stream::{parse_ms, AlertId};
use redis_module::{RedisError, RedisString};

pub fn err(msg: impl Into<String>) -> RedisError {
    RedisError::String(msg.into())
}

pub fn wrong_type() -> RedisError {
    RedisError::Str("WRONGTYPE Operation against a key holding the wrong kind of value")
}

pub struct Args {
    items: std::vec::IntoIter<RedisString>,
    /// The command name as sent, for messages.
    command: Option<RedisString>,
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

impl Args {
    /// Takes the command's argv; fails with the standard arity error below `min` arguments
    /// (the command name included).
    pub fn new(args: Vec<RedisString>, min: usize) -> Result<Args, RedisError> {
        if args.len() < min {
            return Err(RedisError::WrongArity);
        }
        let mut items = args.into_iter();
        let command = items.next();
        Ok(Args { items, command })
    }

    /// Lower-case command name, for messages.
    pub fn command(&self) -> String {
        self.command
            .as_ref()
            .map(|c| c.to_string_lossy().to_lowercase())
            .unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.items.len() == 0
    }

    pub fn remaining(&self) -> usize {
        self.items.len()
    }

    pub fn next_string(&mut self) -> Result<RedisString, RedisError> {
        self.items.next().ok_or(RedisError::WrongArity)
    }

    pub fn next_bytes(&mut self) -> Result<Vec<u8>, RedisError> {
        Ok(self.next_string()?.as_slice().to_vec())
    }

    /// The next argument as text (lossy: only used where ASCII is expected).
    pub fn next_str(&mut self) -> Result<String, RedisError> {
        Ok(String::from_utf8_lossy(self.next_string()?.as_slice()).into_owned())
    }

    /// The value of option `name`: fails with "ERR OPTION needs a value".
    pub fn value_of(&mut self, name: &str) -> Result<String, RedisError> {
        match self.items.next() {
            Some(v) => Ok(String::from_utf8_lossy(v.as_slice()).into_owned()),
            None => Err(err(format!("ERR {name} needs a value"))),
        }
    }

    /// A non-negative integer (ms, counts, sizes).
    pub fn ms_of(&mut self, name: &str) -> Result<u64, RedisError> {
        let v = self.value_of(name)?;
        parse_ms(&v).ok_or_else(|| {
            err(format!(
                "ERR invalid {name} '{v}': expected a non-negative integer"
            ))
        })
    }

    pub fn id_of(&mut self, name: &str) -> Result<AlertId, RedisError> {
        let v = self.value_of(name)?;
        parse_id(&v)
    }

    pub fn unknown(&self, opt: &RedisString) -> RedisError {
        err(format!(
            "ERR unknown option '{}' for '{}'",
            opt.to_string_lossy(),
            self.command()
        ))
    }
}

impl Iterator for Args {
    type Item = RedisString;
    fn next(&mut self) -> Option<RedisString> {
        self.items.next()
    }
}

pub fn parse_id(v: &str) -> Result<AlertId, RedisError> {
    AlertId::parse(v).ok_or_else(|| err(format!("ERR invalid alert ID '{v}': expected <ms>-<seq>")))
}
