//! The filters of ALERT.RANGE, ALERT.READ and ALERT.GROUPS, and the matchers of a silence:
//! MINSEVERITY, SOURCE, TYPE, STATUS and LABEL name=value (any number), combined with AND.

use super::doc::{self, Severity};
use super::id::Status;
use super::scan::Fields;
use crate::memsize::alloc_size;
use std::fmt;
use std::mem::size_of;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub min_severity: Option<Severity>,
    pub source: Option<String>,
    pub kind: Option<String>,
    pub status: Option<Status>,
    /// (name, value) pairs; all must match.
    pub labels: Vec<(String, String)>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.min_severity.is_none()
            && self.source.is_none()
            && self.kind.is_none()
            && self.status.is_none()
            && self.labels.is_empty()
    }

    /// Whether matching needs the document (type and labels are read from it).
    pub fn needs_doc(&self) -> bool {
        self.kind.is_some() || !self.labels.is_empty()
    }

    /// The fields kept beside the document: severity, status, and the source by name.
    pub fn matches_fields(&self, severity: Severity, status: Status, source: &str) -> bool {
        !(self.min_severity.is_some_and(|min| severity < min)
            || self.status.is_some_and(|st| st != status)
            || self.source.as_deref().is_some_and(|s| s != source))
    }

    /// The labels, read from the stored document.
    pub fn matches_doc(&self, json: &str) -> bool {
        if self.labels.is_empty() {
            return true;
        }
        self.may_match_doc(json) && self.matches_parsed(&doc::fields(json))
    }

    /// A quick test that never turns a match away, before the document is read: in a document
    /// without a backslash every string is written as it reads, so a label whose name or value
    /// appears nowhere in its text matches nothing. Most documents fail a rare LABEL here,
    /// without being parsed.
    pub fn may_match_doc(&self, json: &str) -> bool {
        labels_may_match(&self.labels, json)
    }

    /// The labels against a document already read (`doc::fields`), for a caller that matches
    /// one document against many filters.
    pub fn matches_parsed(&self, f: &Fields<'_>) -> bool {
        labels_match_parsed(&self.labels, f)
    }

    /// Bytes its strings and label list take on the heap, as MEMORY USAGE counts them.
    pub fn heap_bytes(&self) -> usize {
        let text = |t: &Option<String>| t.as_ref().map_or(0, |t| alloc_size(t.capacity()));
        text(&self.source)
            + text(&self.kind)
            + alloc_size(self.labels.capacity() * size_of::<(String, String)>())
            + self
                .labels
                .iter()
                .map(|(n, v)| alloc_size(n.capacity()) + alloc_size(v.capacity()))
                .sum::<usize>()
    }

    /// The same filter less its labels: what can be decided without the document.
    pub fn without_doc(&self) -> Filter {
        Filter {
            labels: Vec::new(),
            ..self.clone()
        }
    }
}

/// `NAME value ...` as the commands take them (for replication, AOF rewrite and replies).
/// [`Filter::may_match_doc`] for a list of LABEL pairs: false only when some pair's name or
/// value appears nowhere in a document without a backslash (which then cannot match).
pub fn labels_may_match(labels: &[(String, String)], json: &str) -> bool {
    if json.as_bytes().contains(&b'\\') {
        return true;
    }
    labels
        .iter()
        .all(|(n, v)| json.contains(n.as_str()) && json.contains(v.as_str()))
}

/// Whether every LABEL pair is among the labels of a document already read.
pub fn labels_match_parsed(labels: &[(String, String)], f: &Fields<'_>) -> bool {
    let have = &f.labels[..];
    labels.iter().all(|(name, value)| {
        have.binary_search_by(|(n, _)| n.as_ref().cmp(name.as_str()))
            .is_ok_and(|i| have[i].1 == value.as_str())
    })
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(s) = self.min_severity {
            write!(f, "{sep}MINSEVERITY {}", s.as_str())?;
            sep = " ";
        }
        if let Some(s) = &self.source {
            write!(f, "{sep}SOURCE {s}")?;
            sep = " ";
        }
        if let Some(t) = &self.kind {
            write!(f, "{sep}TYPE {t}")?;
            sep = " ";
        }
        if let Some(st) = self.status {
            write!(f, "{sep}STATUS {}", st.as_str())?;
            sep = " ";
        }
        for (n, v) in &self.labels {
            write!(f, "{sep}LABEL {n}={v}")?;
            sep = " ";
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(n: &str, v: &str) -> Filter {
        Filter {
            labels: vec![(n.into(), v.into())],
            ..Filter::default()
        }
    }

    #[test]
    fn the_quick_test_turns_no_match_away() {
        let cases = [
            (r#"{"labels":{"dc":"eu"}}"#, label("dc", "eu"), true),
            (r#"{"labels":{"dc":"eu"}}"#, label("dc", "us"), false),
            (
                r#"{"labels":{"dc":"eu"},"x":"us"}"#,
                label("dc", "us"),
                false,
            ),
            // Escaped strings: the text does not show the value, the document holds it.
            (r#"{"labels":{"dc":"e\u0075"}}"#, label("dc", "eu"), true),
            (r#"{"labels":{"d\u0063":"eu"}}"#, label("dc", "eu"), true),
            (r#"{"labels":{"dc":"a\"b"}}"#, label("dc", "a\"b"), true),
            (r#"{"labels":{"dc":"eu","x":"1"}}"#, label("x", "2"), false),
        ];
        for (json, f, want) in cases {
            assert_eq!(f.matches_doc(json), want, "{json} {f}");
            assert_eq!(f.matches_parsed(&doc::fields(json)), want, "{json} {f}");
            if want {
                assert!(f.may_match_doc(json), "{json} {f}");
            }
        }
    }
}
