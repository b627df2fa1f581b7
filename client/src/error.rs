//! Errors, and which Redis failures mean "unavailable" (fall back) rather than "refused".

use std::fmt;

/// An error from a call.
#[derive(Debug)]
pub enum Error {
    /// Redis answered with an error about the call itself (bad input, WRONGTYPE, no such key):
    /// the same call would fail again, so nothing was kept in a fallback store.
    Server { code: String, detail: String },
    /// Redis (or the module) is unavailable and this call has no fallback (quotas, LRU
    /// trackers, stream settings: shared state that only the server can decide).
    Unavailable(String),
    /// The write would be refused by the server (its document, its TS, a silence without a
    /// matcher or ending in the past); checked locally in fallback mode so that a journal
    /// never holds a write that cannot be replayed. The text is the server's.
    InvalidDocument(String),
    /// The server's reply did not have the expected shape.
    Protocol(String),
    /// Creating the journal directory or reading it failed.
    Io(std::io::Error),
    /// The configuration cannot work (an invalid URL).
    Config(String),
    /// An argument the client refuses before sending anything (text that is not a cursor).
    InvalidInput(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Server { code, detail } => write!(f, "{code} {detail}"),
            Error::Unavailable(why) => write!(f, "redis unavailable: {why}"),
            Error::InvalidDocument(why) => write!(f, "{why}"),
            Error::Protocol(why) => write!(f, "unexpected reply: {why}"),
            Error::Io(e) => write!(f, "journal: {e}"),
            Error::Config(why) => write!(f, "invalid configuration: {why}"),
            Error::InvalidInput(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Io(e)
    }
}

/// Error codes that say the server cannot serve writes right now, although the call is fine:
/// loading its dataset, a busy script, a replica or a cluster that cannot take writes, out of
/// memory (ALERT.ADD is deny-oom), writes stopped after a failed RDB save (MISCONF, until a
/// save succeeds), or credentials being rotated.
const UNAVAILABLE_CODES: [&str; 11] = [
    "LOADING",
    "MISCONF",
    "BUSY",
    "MASTERDOWN",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "READONLY",
    "OOM",
    "NOAUTH",
    "WRONGPASS",
    "NOREPLICAS",
];

/// Classifies a server error reply: `unknown command` (the module is not loaded) and the codes
/// above are unavailability, anything else is the server refusing this call.
pub(crate) fn server_error(code: &str, detail: &str) -> Error {
    let unknown_command = code == "ERR" && detail.starts_with("unknown command");
    if unknown_command || UNAVAILABLE_CODES.contains(&code) {
        Error::Unavailable(format!("{code} {detail}").trim().to_owned())
    } else {
        Error::Server {
            code: code.to_owned(),
            detail: detail.to_owned(),
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Error {
        match (e.code(), e.kind()) {
            (Some(code), _) => server_error(code, e.detail().unwrap_or("")),
            (None, redis::ErrorKind::TypeError) => Error::Protocol(e.to_string()),
            // I/O errors, refused or dropped connections, timeouts, client-side errors.
            _ => Error::Unavailable(e.to_string()),
        }
    }
}

/// How an unavailability that happened before anything was sent begins.
pub(crate) const CANNOT_CONNECT: &str = "cannot connect";

impl Error {
    /// Unavailability that shows the call was not applied: no connection could be made, no
    /// cluster node serves its slot, or the server answered with an error reply (LOADING,
    /// OOM, `unknown command`...). A call that timed out or lost its connection may have been.
    pub(crate) fn not_applied(&self) -> bool {
        let Error::Unavailable(why) = self else {
            return false;
        };
        let before_sending = [
            CANNOT_CONNECT,
            "no cluster node answered",
            "no reachable cluster node",
            "cluster node ",
            "ERR unknown command",
        ];
        let refused = |code: &&str| {
            why.strip_prefix(*code)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
        };
        before_sending.iter().any(|p| why.starts_with(p)) || UNAVAILABLE_CODES.iter().any(refused)
    }

    /// True when the call failed because Redis or the module could not be reached.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }

    /// `ERR cursor is ahead of the stream` from ALERT.READ: the stream went back (an older
    /// copy restored, the key deleted); read again from `0`.
    pub fn is_cursor_ahead(&self) -> bool {
        matches!(self, Error::Server { detail, .. } if detail.starts_with("cursor is ahead"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_command_is_unavailable_but_unknown_option_is_not() {
        assert!(server_error(
            "ERR",
            "unknown command 'ALERT.ADD', with args beginning with: 'k' "
        )
        .is_unavailable());
        assert!(server_error("LOADING", "Redis is loading the dataset in memory").is_unavailable());
        // A failed BGSAVE stops writes until a save succeeds: journaled, not refused (a replay
        // that met it once dead-lettered every record).
        assert!(server_error(
            "MISCONF",
            "Redis is configured to save RDB snapshots, but it's currently unable to persist to disk."
        )
        .is_unavailable());
        assert!(!server_error("ERR", "unknown option 'X' for 'alert.add'").is_unavailable());
        assert!(!server_error("WRONGTYPE", "Operation against a key").is_unavailable());
    }
}
