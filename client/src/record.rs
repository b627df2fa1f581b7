//! The writes that can fall back (ALERT.ADD, ACK, RESOLVE, DEL, SILENCE, UNSILENCE): what the
//! journal and the memory store keep, the command each one replays as, and the check that
//! keeps out a write the server would refuse (it could never be replayed).

use crate::commands as cmd;
use crate::error::Error;
use crate::feed::Matchers;
use crate::types::{AddOutcome, AlertId};
use redis::{Cmd, Value};
use serde::{Deserialize, Serialize};
use vigil_core::alert::{doc::parse_document, MAX_MS};

/// The writes that name alerts by ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdsOp {
    Ack,
    Resolve,
    Del,
}

impl IdsOp {
    pub fn command(self) -> &'static str {
        match self {
            IdsOp::Ack => "ALERT.ACK",
            IdsOp::Resolve => "ALERT.RESOLVE",
            IdsOp::Del => "ALERT.DEL",
        }
    }
}

/// One write kept for replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Line", into = "Line")]
pub(crate) enum Record {
    Add {
        key: String,
        doc: String,
        id: AlertId,
    },
    Ids {
        op: IdsOp,
        key: String,
        ids: Vec<AlertId>,
    },
    /// Always with the ID the client gave it, so that a replay of a silence Redis already
    /// holds is told apart (see `Client::settle_silence`).
    Silence {
        key: String,
        id: u64,
        until: u64,
        matchers: Matchers,
        comment: Option<String>,
        /// Kept without having been sent with this ID before (its lane was in fallback, or
        /// the live attempt was refused or could not connect): a replay that finds the ID
        /// used by another silence sends it without ID (`Client::settle`).
        unsent: bool,
    },
    Unsilence {
        key: String,
        id: u64,
    },
}

/// What a write answered, from Redis or from a fallback store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Add(AddOutcome),
    /// ACK / RESOLVE / DEL: the alerts changed; UNSILENCE: 1 or 0.
    Count(u64),
    /// SILENCE: the silence's ID.
    Silence(u64),
}

impl Record {
    pub fn add(key: &str, doc: &str, id: AlertId) -> Record {
        Record::Add {
            key: key.to_owned(),
            doc: doc.to_owned(),
            id,
        }
    }

    pub fn ids(op: IdsOp, key: &str, ids: &[AlertId]) -> Record {
        Record::Ids {
            op,
            key: key.to_owned(),
            ids: ids.to_vec(),
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Record::Add { key, .. }
            | Record::Ids { key, .. }
            | Record::Silence { key, .. }
            | Record::Unsilence { key, .. } => key,
        }
    }

    /// This record, marked as not sent before if it is a silence and `unsent`.
    pub fn kept(mut self, was_unsent: bool) -> Record {
        if let Record::Silence { unsent, .. } = &mut self {
            *unsent = was_unsent;
        }
        self
    }

    /// The command that makes this write in Redis, with its explicit TS and ID for an ADD (so
    /// that sending it again answers `exists`).
    pub fn command(&self) -> Cmd {
        match self {
            Record::Add { key, doc, id } => cmd::add(key, doc, *id),
            Record::Ids { op, key, ids } => cmd::ids_cmd(op.command(), key, ids),
            Record::Silence {
                key,
                id,
                until,
                matchers,
                comment,
                ..
            } => cmd::silence(key, *until, matchers, comment.as_deref(), Some(*id)),
            Record::Unsilence { key, id } => cmd::unsilence(key, *id),
        }
    }

    /// Reads Redis's reply to [`Record::command`].
    pub fn answer(&self, v: Value) -> Result<Answer, Error> {
        match self {
            Record::Add { .. } => cmd::parse_add(v).map(Answer::Add),
            Record::Ids { .. } | Record::Unsilence { .. } => cmd::parse_count(v).map(Answer::Count),
            Record::Silence { .. } => cmd::parse_count(v).map(Answer::Silence),
        }
    }

    /// Refuses, with the server's words, a write the server would refuse: a `TS` or a silence's
    /// `UNTIL` past the largest it reads (the module's argument check), a silence without a
    /// matcher or already over, or a document `vigil_core` refuses.
    pub fn check(&self, max_document_bytes: usize, now: u64) -> Result<(), Error> {
        if let Record::Silence {
            until, matchers, ..
        } = self
        {
            if matchers.is_empty() {
                return Err(Error::InvalidDocument(
                    "ERR a silence needs at least one matcher: MINSEVERITY, SOURCE, TYPE or LABEL"
                        .into(),
                ));
            }
            if *until > MAX_MS {
                return Err(Error::InvalidDocument(format!(
                    "ERR invalid UNTIL '{until}': expected a non-negative integer"
                )));
            }
            if *until <= now {
                return Err(Error::InvalidDocument(format!(
                    "ERR UNTIL {until} is not in the future (the client clock is {now})"
                )));
            }
        }
        let Record::Add { doc, id, .. } = self else {
            return Ok(());
        };
        if id.ts > MAX_MS {
            return Err(Error::InvalidDocument(format!(
                "ERR invalid TS '{}': expected a non-negative integer",
                id.ts
            )));
        }
        parse_document(doc.as_bytes(), max_document_bytes)
            .map(drop)
            .map_err(|e| Error::InvalidDocument(e.to_string()))
    }
}

/// A journal line: `{"op":"add","key":..,"doc":..,"id":"<ts>-<seq>"}`,
/// `{"op":"ack"|"resolve"|"del","key":..,"ids":[..]}`,
/// `{"op":"silence","key":..,"id":N,"until":ms,"matchers":{..},"comment":..}` or
/// `{"op":"unsilence","key":..,"id":N}`.
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Line {
    Add {
        key: String,
        doc: String,
        id: String,
    },
    Ack {
        key: String,
        ids: Vec<String>,
    },
    Resolve {
        key: String,
        ids: Vec<String>,
    },
    Del {
        key: String,
        ids: Vec<String>,
    },
    Silence {
        key: String,
        id: u64,
        until: u64,
        matchers: Matchers,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
        /// Written only when true; a line without it (an older journal) may have been sent.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unsent: bool,
    },
    Unsilence {
        key: String,
        id: u64,
    },
}

impl TryFrom<Line> for Record {
    type Error = Error;
    fn try_from(line: Line) -> Result<Record, Error> {
        let ids = |ids: Vec<String>| -> Result<Vec<AlertId>, Error> {
            ids.iter().map(|id| id.parse()).collect()
        };
        Ok(match line {
            Line::Add { key, doc, id } => Record::Add {
                key,
                doc,
                id: id.parse()?,
            },
            Line::Ack { key, ids: i } => Record::Ids {
                op: IdsOp::Ack,
                key,
                ids: ids(i)?,
            },
            Line::Resolve { key, ids: i } => Record::Ids {
                op: IdsOp::Resolve,
                key,
                ids: ids(i)?,
            },
            Line::Del { key, ids: i } => Record::Ids {
                op: IdsOp::Del,
                key,
                ids: ids(i)?,
            },
            Line::Silence {
                key,
                id,
                until,
                matchers,
                comment,
                unsent,
            } => Record::Silence {
                key,
                id,
                until,
                matchers,
                comment,
                unsent,
            },
            Line::Unsilence { key, id } => Record::Unsilence { key, id },
        })
    }
}

impl From<Record> for Line {
    fn from(r: Record) -> Line {
        let text = |ids: Vec<AlertId>| ids.iter().map(AlertId::to_string).collect();
        match r {
            Record::Add { key, doc, id } => Line::Add {
                key,
                doc,
                id: id.to_string(),
            },
            Record::Ids { op, key, ids } => match op {
                IdsOp::Ack => Line::Ack {
                    key,
                    ids: text(ids),
                },
                IdsOp::Resolve => Line::Resolve {
                    key,
                    ids: text(ids),
                },
                IdsOp::Del => Line::Del {
                    key,
                    ids: text(ids),
                },
            },
            Record::Silence {
                key,
                id,
                until,
                matchers,
                comment,
                unsent,
            } => Line::Silence {
                key,
                id,
                until,
                matchers,
                comment,
                unsent,
            },
            Record::Unsilence { key, id } => Line::Unsilence { key, id },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_lines_keep_their_format() {
        let add = Record::add("k", r#"{"a":1}"#, AlertId::new(5, 7));
        let line = serde_json::to_string(&add).unwrap();
        assert_eq!(
            line,
            r#"{"op":"add","key":"k","doc":"{\"a\":1}","id":"5-7"}"#
        );
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), add);
        let ack = Record::ids(IdsOp::Resolve, "k", &[AlertId::new(1, 2)]);
        let line = serde_json::to_string(&ack).unwrap();
        assert_eq!(line, r#"{"op":"resolve","key":"k","ids":["1-2"]}"#);
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), ack);
        assert!(serde_json::from_str::<Record>(r#"{"op":"del","key":"k","ids":["x"]}"#).is_err());
        let silence = Record::Silence {
            key: "k".into(),
            id: 17,
            until: 99,
            matchers: Matchers::new().source("db"),
            comment: Some("swap".into()),
            unsent: false,
        };
        let line = serde_json::to_string(&silence).unwrap();
        assert_eq!(
            line,
            r#"{"op":"silence","key":"k","id":17,"until":99,"matchers":{"source":"db"},"comment":"swap"}"#
        );
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), silence);
        let unsent = silence.clone().kept(true);
        let line = serde_json::to_string(&unsent).unwrap();
        assert!(
            line.ends_with(r#""comment":"swap","unsent":true}"#),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), unsent);
        let un = Record::Unsilence {
            key: "k".into(),
            id: 17,
        };
        let line = serde_json::to_string(&un).unwrap();
        assert_eq!(line, r#"{"op":"unsilence","key":"k","id":17}"#);
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), un);
    }

    #[test]
    fn check_refuses_what_the_server_refuses() {
        let dup = Record::add(
            "k",
            r#"{"severity":"low","severity":"high"}"#,
            AlertId::new(1, 1),
        );
        let e = dup.check(65536, 0).unwrap_err().to_string();
        assert!(
            e.starts_with("ERR invalid document: duplicate field"),
            "{e}"
        );
        let far = Record::add("k", "{}", AlertId::new(u64::MAX, 1));
        assert!(far
            .check(65536, 0)
            .unwrap_err()
            .to_string()
            .contains("invalid TS"));
        assert!(Record::add("k", "{}", AlertId::new(1, 1))
            .check(1, 0)
            .is_err());
        let silence = |until, matchers| Record::Silence {
            key: "k".into(),
            id: 1,
            until,
            matchers,
            comment: None,
            unsent: false,
        };
        let e = silence(10, Matchers::new()).check(1, 5).unwrap_err();
        assert!(e.to_string().contains("at least one matcher"), "{e}");
        let e = silence(5, Matchers::new().source("a"))
            .check(1, 5)
            .unwrap_err();
        assert!(
            e.to_string().contains("UNTIL 5 is not in the future"),
            "{e}"
        );
        assert!(silence(6, Matchers::new().source("a")).check(1, 5).is_ok());
        // Past the largest UNTIL the server reads: refused here, not journaled and lost.
        assert!(silence(MAX_MS, Matchers::new().source("a"))
            .check(1, 5)
            .is_ok());
        let e = silence(MAX_MS + 1, Matchers::new().source("a"))
            .check(1, 5)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("invalid UNTIL '9223372036854775808': expected a non-negative integer"),
            "{e}"
        );
    }
}
