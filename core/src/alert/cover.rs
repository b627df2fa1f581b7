//! How many alerts each active silence of a stream covers (ALERT.SILENCES), in one pass over the
//! alerts: each document is read at most once whatever the number of silences, where asking
//! `Stream::covered` of each silence reads it once per silence (100 label silences over 200000
//! alerts took seconds).

use super::doc;
use super::filter::Filter;
use super::stream::{Silence, Stream};

/// The alerts each silence covers now, in the order of `Stream::silences`.
pub fn covered_by_each(stream: &Stream) -> Vec<u64> {
    let silences: Vec<&Silence> = stream.silences().collect();
    let without_doc: Vec<Filter> = silences.iter().map(|s| s.matchers.without_doc()).collect();
    let mut counts = vec![0; silences.len()];
    let any_labels = silences.iter().any(|s| !s.matchers.labels.is_empty());
    for (_, a) in stream.iter() {
        // Written out (keys coded) only when some silence reads it.
        let text = match any_labels {
            true => stream.stored(a),
            false => Default::default(),
        };
        let mut fields = None;
        for (i, s) in silences.iter().enumerate() {
            let m = &s.matchers;
            if !stream.matches(&without_doc[i], a) {
                continue;
            }
            // Labels: the document read once, then matched by every silence that has some
            // (cheaper than the quick text test of each).
            if !m.labels.is_empty()
                && !m.matches_parsed(fields.get_or_insert_with(|| doc::fields(&text)))
            {
                continue;
            }
            counts[i] += 1;
        }
    }
    counts
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
        for i in 0..40u64 {
            let r = next();
            let mut f = Filter::default();
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
        for f in filters {
            s.silence(1_000_000, f, None, None).unwrap();
        }
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
