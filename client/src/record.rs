//! The writes that can fall back (ALERT.ADD, ACK, RESOLVE, DEL): what the journal and the
//! memory store keep, the command each one replays as, and the check that keeps out a write
//! the server would refuse (it could never be replayed).

use crate::commands as cmd;
use crate::error::Error;
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
}

/// What a write answered, from Redis or from a fallback store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Add(AddOutcome),
    /// ACK / RESOLVE / DEL: the alerts changed.
    Count(u64),
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
            Record::Add { key, .. } | Record::Ids { key, .. } => key,
        }
    }

    /// The command that makes this write in Redis, with its explicit TS and ID for an ADD (so
    /// that sending it again answers `exists`).
    pub fn command(&self) -> Cmd {
        match self {
            Record::Add { key, doc, id } => cmd::add(key, doc, *id),
            Record::Ids { op, key, ids } => cmd::ids_cmd(op.command(), key, ids),
        }
    }

    /// Reads Redis's reply to [`Record::command`].
    pub fn answer(&self, v: Value) -> Result<Answer, Error> {
        match self {
            Record::Add { .. } => cmd::parse_add(v).map(Answer::Add),
            Record::Ids { .. } => cmd::parse_count(v).map(Answer::Count),
        }
    }

    /// Refuses, with the server's words, a write the server would refuse: a `TS` past the
    /// largest it reads (the module's argument check) or a document `vigil_core` refuses.
    pub fn check(&self, max_document_bytes: usize) -> Result<(), Error> {
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

/// A journal line: `{"op":"add","key":..,"doc":..,"id":"<ts>-<seq>"}` or
/// `{"op":"ack"|"resolve"|"del","key":..,"ids":[..]}`.
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
    }

    #[test]
    fn check_refuses_what_the_server_refuses() {
        let dup = Record::add(
            "k",
            r#"{"severity":"low","severity":"high"}"#,
            AlertId::new(1, 1),
        );
        let e = dup.check(65536).unwrap_err().to_string();
        assert!(
            e.starts_with("ERR invalid document: duplicate field"),
            "{e}"
        );
        let far = Record::add("k", "{}", AlertId::new(u64::MAX, 1));
        assert!(far
            .check(65536)
            .unwrap_err()
            .to_string()
            .contains("invalid TS"));
        assert!(Record::add("k", "{}", AlertId::new(1, 1)).check(1).is_err());
    }
}
