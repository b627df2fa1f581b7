//! Alerts matched against many filters at once (the matchers of a stream's silences): each
//! document is read at most once whatever the number of filters, where matching each filter
//! on its own reads it once per filter (100 label silences over 200000 alerts took seconds).
//! ALERT.SILENCES counts what each silence covers, ALERT.READ asks whether any covers an
//! alert, and the end of silences finds the alerts they leave uncovered.

use super::doc;
use super::filter::Filter;
use super::id::{AlertId, Status};
use super::scan::Fields;
use super::stream::{Alert, Silence, Stream};
use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;

/// Calls `hit(i)` for each `filters[i]` that `a` passes, in order, until `hit` answers false.
/// A LABEL filter is first tried on the text (`Filter::may_match_doc`, which turns most
/// documents away unread); the document is read at most once.
pub fn each_match<'f>(
    stream: &Stream,
    a: &Alert,
    filters: impl IntoIterator<Item = &'f Filter>,
    mut hit: impl FnMut(usize) -> bool,
) {
    let text: OnceCell<Cow<'_, str>> = OnceCell::new();
    let fields: OnceCell<Fields<'_>> = OnceCell::new();
    for (i, f) in filters.into_iter().enumerate() {
        if !stream.matches_beside_doc(f, a) {
            continue;
        }
        if !f.labels.is_empty() {
            let passes = match fields.get() {
                Some(read) => f.matches_parsed(read),
                None => {
                    let json = text.get_or_init(|| stream.stored(a));
                    f.may_match_doc(json)
                        && f.matches_parsed(fields.get_or_init(|| doc::fields(json)))
                }
            };
            if !passes {
                continue;
            }
        }
        if !hit(i) {
            return;
        }
    }
}

/// Whether `a` passes any of `filters`.
pub fn any_match<'f>(
    stream: &Stream,
    a: &Alert,
    filters: impl IntoIterator<Item = &'f Filter>,
) -> bool {
    let mut any = false;
    each_match(stream, a, filters, |_| {
        any = true;
        false
    });
    any
}

/// Label silences from which [`covered_by_each`] reads every document once and looks its
/// labels up, rather than trying each silence on the text.
const LABEL_SILENCES_INDEXED: usize = 16;

/// The alerts each silence covers now, in the order of `Stream::silences`.
///
/// With many label silences, trying each on each document's text is what costs (1000 of
/// them over 200000 alerts: 2.7 s). They are then indexed by their first label pair: each
/// document is read once, and only the silences whose first pair is among its labels are
/// tried on it.
pub fn covered_by_each(stream: &Stream) -> Vec<u64> {
    let matchers: Vec<&Filter> = stream.silences().map(|s| &s.matchers).collect();
    let mut counts = vec![0; matchers.len()];
    let labelled = matchers.iter().filter(|f| !f.labels.is_empty()).count();
    if labelled < LABEL_SILENCES_INDEXED {
        for (_, a) in stream.iter() {
            each_match(stream, a, matchers.iter().copied(), |i| {
                if let Some(c) = counts.get_mut(i) {
                    *c += 1;
                }
                true
            });
        }
        return counts;
    }
    let mut plain: Vec<usize> = Vec::new();
    let mut by_pair: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, f) in matchers.iter().enumerate() {
        match f.labels.first() {
            None => plain.push(i),
            Some((n, v)) => by_pair.entry((n.as_str(), v.as_str())).or_default().push(i),
        }
    }
    for (_, a) in stream.iter() {
        for &i in &plain {
            if stream.matches_beside_doc(matchers[i], a) {
                counts[i] += 1;
            }
        }
        let text = stream.stored(a);
        let fields = doc::fields(&text);
        // An alert's label names are distinct: each silence is found at most once.
        for (name, value) in fields.labels.iter() {
            let Some(found) = by_pair.get(&(name.as_ref(), value.as_ref())) else {
                continue;
            };
            for &i in found {
                let f = matchers[i];
                if stream.matches_beside_doc(f, a) && f.matches_parsed(&fields) {
                    counts[i] += 1;
                }
            }
        }
    }
    counts
}

/// The alerts (with their revisions) that `ended` silences covered and that no silence the
/// stream still holds covers, leaving out resolved ones, in ID order: one walk of the stream.
pub fn uncovered(stream: &Stream, ended: &[Silence]) -> Vec<(AlertId, u64)> {
    let ended: Vec<&Filter> = ended.iter().map(|s| &s.matchers).collect();
    let active: Vec<&Filter> = stream.silences().map(|s| &s.matchers).collect();
    stream
        .iter()
        .filter(|(_, a)| {
            a.status != Status::Resolved
                && any_match(stream, a, ended.iter().copied())
                && !any_match(stream, a, active.iter().copied())
        })
        .map(|(id, a)| (*id, a.rev))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::doc::{parse_document, Severity};
    use crate::alert::{AlertId, Settings};

    #[test]
    fn counts_as_covered_does_for_each_silence() {
        let mut s = Stream::new(Settings {
            retention_ms: 0,
            maxlen: 0,
            dedup_ms: 0,
            ..Settings::default()
        });
        let mut x: u64 = 0x853c49e6748fea9b;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let sev = ["info", "low", "medium", "high", "critical"];
        for i in 0..2000u64 {
            let r = next();
            // Some documents escape their strings, so the quick test must step aside.
            let dc = if r % 7 == 0 {
                format!("dc\\u002d{}", r % 5)
            } else {
                format!("dc-{}", r % 5)
            };
            let doc = format!(
                r#"{{"severity":"{}","source":"s{}","type":"t{}","labels":{{"dc":"{dc}","h":"{}"}}}}"#,
                sev[(r % 5) as usize],
                r % 3,
                r % 4,
                r % 11
            );
            s.add(
                parse_document(doc.as_bytes(), 0).unwrap(),
                None,
                Some(AlertId::new(i + 1, 0)),
                i + 1,
            )
            .unwrap();
        }
        let mut filters = Vec::new();
        for i in 0..120u64 {
            let r = next();
            let mut f = Filter::default();
            if r % 13 == 0 {
                // A pair named first that the documents do not have.
                f.labels.push(("zone".into(), format!("z{}", i % 3)));
            }
            if r % 2 == 0 {
                f.labels.push(("dc".into(), format!("dc-{}", i % 6)));
            }
            if r % 3 == 0 {
                f.kind = Some(format!("t{}", i % 5));
            }
            if r % 5 == 0 {
                f.source = Some(format!("s{}", i % 4));
            }
            if r % 7 == 0 || f.is_empty() {
                f.min_severity = Some(Severity::from_u8((i % 5) as u8));
            }
            if r % 11 == 0 {
                f.labels.push(("h".into(), format!("{}", i % 12)));
            }
            filters.push(f);
        }
        // Few label silences (each tried on the text) and many (indexed by their first pair).
        for n in [10, 120] {
            let mut s = s.clone();
            for f in filters.iter().take(n) {
                s.silence(1_000_000, f.clone(), None, None).unwrap();
            }
            let labelled = s
                .silences()
                .filter(|x| !x.matchers.labels.is_empty())
                .count();
            assert_eq!(labelled >= LABEL_SILENCES_INDEXED, n == 120, "{labelled}");
            // Each silence on its own, every document read (no quick test).
            let want: Vec<u64> = s
                .silences()
                .map(|x| {
                    let m = &x.matchers;
                    s.iter()
                        .filter(|(_, a)| {
                            s.matches(&m.without_doc(), a)
                                && m.matches_parsed(&doc::fields(&s.stored(a)))
                        })
                        .count() as u64
                })
                .collect();
            assert_eq!(covered_by_each(&s), want);
            let one_by_one: Vec<u64> = s.silences().map(|x| s.covered(x)).collect();
            assert_eq!(one_by_one, want);
            assert!(want.iter().any(|c| *c > 0) && want.contains(&0), "{want:?}");
        }
    }
}
