//! What the fallback stores hold, as alert streams: one `vigil_core::alert::Stream` per key,
//! fed the writes the journal and the memory store keep, in order. Validation, the default
//! fingerprint, dedup, rate limit, retention, MAXLEN, statuses, filters and rendering are the
//! module's own code; what is local here is which streams the client holds, the settings it
//! assumes for them, and the translation to the client's types.
//!
//! Outcomes given here are provisional: the client does not know what Redis holds. The replay
//! sends every write to Redis, which gives the final outcome.

use crate::config::StreamSettings;
use crate::error::Error;
use crate::feed::{Change, Cursor, Filters, Group, GroupBy, Matchers, ReadOptions, Silence};
use crate::record::{Answer, IdsOp, Record};
use crate::types::{AddOutcome, Alert, AlertId, AlertInfo, Bound, RangeQuery};
use std::collections::HashMap;
use std::sync::Mutex;
use vigil_core::alert::doc::parse_document;
use vigil_core::alert::{ReadQuery, Stream};

/// Changes a READ looks at in one call, as the module's bound.
const READ_MAX_EXAMINED: usize = 10_000;

/// A new stream, its revisions starting at the clock in microseconds as the module's do, so
/// that a local cursor of an earlier outage is below every revision of a stream made later.
fn new_stream(settings: StreamSettings, now: u64) -> Stream {
    let mut s = Stream::new(settings.to_core());
    s.restore_counters(now.saturating_mul(1000), 1);
    s
}

/// The streams the fallback stores' writes make.
#[derive(Default)]
pub(crate) struct LocalStreams {
    streams: HashMap<String, Stream>,
}

impl LocalStreams {
    /// Applies a kept write, as the module would: a new stream (for an ADD) gets `settings`.
    pub fn apply(
        &mut self,
        record: &Record,
        settings: impl FnOnce() -> StreamSettings,
        now: u64,
    ) -> Result<Answer, Error> {
        let refused = |e: &dyn std::fmt::Display| Error::InvalidDocument(e.to_string());
        match record {
            Record::Add { key, doc, id } => {
                // As the module: the document is checked before the key is created.
                let doc = parse_document(doc.as_bytes(), 0).map_err(|e| refused(&e))?;
                let stream = self
                    .streams
                    .entry(key.clone())
                    .or_insert_with(|| new_stream(settings(), now));
                let id = id.to_core();
                let added = stream
                    .add(doc, Some(id.ts), Some(id), now)
                    .map_err(|e| refused(&e))?;
                Ok(Answer::Add(AddOutcome::from_core(added.outcome)))
            }
            Record::Ids { op, key, ids } => {
                let Some(stream) = self.streams.get_mut(key) else {
                    return Ok(Answer::Count(0));
                };
                let apply = match op {
                    IdsOp::Ack => Stream::ack,
                    IdsOp::Resolve => Stream::resolve,
                    IdsOp::Del => Stream::remove,
                };
                let changed = ids.iter().filter(|id| apply(stream, &id.to_core())).count();
                Ok(Answer::Count(changed as u64))
            }
            Record::Silence {
                key,
                id,
                until,
                matchers,
                comment,
                ..
            } => {
                // As the module: a silence creates its stream with the default settings.
                let stream = self
                    .streams
                    .entry(key.clone())
                    .or_insert_with(|| new_stream(settings(), now));
                stream
                    .silence(*until, matchers.to_core(), comment.clone(), Some(*id))
                    .map(Answer::Silence)
                    .map_err(|e| refused(&e))
            }
            Record::Unsilence { key, id } => {
                let ended = self.streams.get_mut(key).and_then(|s| s.unsilence(*id));
                Ok(Answer::Count(u64::from(ended.is_some())))
            }
        }
    }

    /// Whether the fallback stores hold silence `id` of `key` (made while Redis was away).
    pub fn has_silence(&self, key: &str, id: u64) -> bool {
        self.streams
            .get(key)
            .is_some_and(|s| s.silences().any(|x| x.id == id))
    }

    /// Ends the silences of `key` whose UNTIL has passed, as the module's sweep does.
    pub fn end_silences(&mut self, key: &str, now: u64) {
        if let Some(s) = self.streams.get_mut(key) {
            for id in s.ended_silences(now) {
                s.unsilence(id);
            }
        }
    }

    /// ALERT.READ of the changes the fallback stores made (cursors of their own, see
    /// [`Cursor`]): after `cursor`'s local part, or from the start of the local changes for a
    /// cursor Redis gave (none of them reached Redis, so its reader has not seen them).
    pub fn read(
        &self,
        key: &str,
        cursor: &Cursor,
        o: &ReadOptions,
    ) -> Result<(Cursor, Vec<Change>), Error> {
        // A `$` reader has no Redis position yet: once Redis answers, it reads from 0, as a
        // position taken then would skip what was written meanwhile.
        let redis = if cursor.is_now() {
            "0"
        } else {
            cursor.redis_part()
        };
        let Some(stream) = self.streams.get(key) else {
            let local = if cursor.is_now() {
                Some(0)
            } else {
                cursor.local_part()
            };
            let next = match local {
                Some(l) => Cursor::local(redis, l),
                None => cursor.clone(),
            };
            return Ok((next, Vec::new()));
        };
        let after = match cursor.local_part() {
            _ if cursor.is_now() => stream.revision(),
            // Ahead of this store (its stream was made again): from its start.
            Some(l) if l > stream.revision() => 0,
            Some(l) => l,
            None => 0,
        };
        let q = ReadQuery {
            after,
            count: o
                .count
                .map_or(100, |n| usize::try_from(n.max(1)).unwrap_or(usize::MAX)),
            filter: o.filters.to_core(),
            with_silenced: o.with_silenced,
            max_examined: READ_MAX_EXAMINED,
        };
        let r = stream
            .read(&q)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        let changes = r
            .items
            .into_iter()
            .map(|(rev, id, a)| {
                Ok(Change {
                    cursor: Cursor::local(redis, rev),
                    alert: Alert::from_json(&stream.render(&id, a))?,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok((Cursor::local(redis, r.next), changes))
    }

    /// ALERT.SILENCES of the silences made while Redis was away.
    pub fn silences(&self, key: &str) -> Vec<Silence> {
        let Some(s) = self.streams.get(key) else {
            return Vec::new();
        };
        s.silences()
            .map(|x| Silence {
                id: x.id,
                until: x.until,
                matchers: Matchers::from_core(&x.matchers),
                comment: x.comment.clone(),
                covered: s.covered(x),
            })
            .collect()
    }

    /// ALERT.GROUPS.
    pub fn groups(
        &self,
        key: &str,
        start: Bound,
        end: Bound,
        by: &GroupBy,
        f: &Filters,
    ) -> Vec<Group> {
        let Some(s) = self.streams.get(key) else {
            return Vec::new();
        };
        let mut q = vigil_core::alert::RangeQuery::all();
        q.start = start.as_start().to_core();
        q.end = end.as_end().to_core();
        let core = f.to_core();
        q.min_severity = core.min_severity;
        q.source = core.source;
        q.kind = core.kind;
        q.status = core.status;
        q.labels = core.labels;
        s.groups(&q, &by.to_core())
            .into_iter()
            .map(|g| Group {
                value: g.value,
                alerts: g.alerts,
                occurrences: g.occurrences,
                newest_ts: g.newest_ts,
            })
            .collect()
    }

    /// A write the memory store had to drop: the alert it added is gone from the local view.
    pub fn forget(&mut self, record: &Record) {
        match record {
            Record::Add { key, id, .. } => {
                if let Some(stream) = self.streams.get_mut(key) {
                    stream.remove(&id.to_core());
                }
            }
            Record::Silence { key, id, .. } => {
                if let Some(stream) = self.streams.get_mut(key) {
                    stream.unsilence(*id);
                }
            }
            Record::Ids { .. } | Record::Unsilence { .. } => {}
        }
    }

    /// Whether the fallback stores' writes made a stream for `key`.
    pub fn holds(&self, key: &str) -> bool {
        self.streams.contains_key(key)
    }

    /// The writes of these keys were all replayed: Redis answers for them from now on.
    pub fn clear_where(&mut self, replayed: impl Fn(&str) -> bool) {
        self.streams.retain(|key, _| !replayed(key));
    }

    /// ALERT.GET.
    pub fn get(&self, key: &str, ids: &[AlertId]) -> Result<Vec<Option<Alert>>, Error> {
        let stream = self.streams.get(key);
        ids.iter()
            .map(|id| {
                let id = id.to_core();
                stream
                    .and_then(|s| s.get(&id).map(|a| s.render(&id, a)))
                    .map(|json| Alert::from_json(&json))
                    .transpose()
            })
            .collect()
    }

    /// ALERT.RANGE.
    pub fn range(&self, key: &str, q: &RangeQuery) -> Result<Vec<Alert>, Error> {
        let Some(stream) = self.streams.get(key) else {
            return Ok(Vec::new());
        };
        stream
            .range(&q.to_core())
            .into_iter()
            .map(|(id, a)| Alert::from_json(&stream.render(&id, a)))
            .collect()
    }

    /// ALERT.INFO; `None` for a stream the fallback stores do not hold.
    pub fn info(&self, key: &str) -> Option<AlertInfo> {
        let s = self.streams.get(key)?;
        Some(AlertInfo {
            length: s.len() as u64,
            first_ts: s.first_ts(),
            last_ts: s.last_ts(),
            retention: s.settings.retention_ms,
            maxlen: s.settings.maxlen,
            dedup: s.settings.dedup_ms,
            ratelimit_n: s.settings.ratelimit_n,
            ratelimit_window: s.settings.ratelimit_window_ms,
            added: s.stats.added,
            duplicates: s.stats.duplicates,
            limited: s.stats.limited,
            expired: s.stats.expired,
            trimmed: s.stats.trimmed,
            memory: s.memory_usage() as u64,
            autoresolve: s.settings.autoresolve_ms,
            autoresolved: s.stats.autoresolved,
            id_memory: s.settings.id_memory_ms,
            remembered_ids: s.remembered_ids() as u64,
        })
    }
}

/// The settings the client saw for each stream: `ALERT.INFO` after its first write, and
/// CREATE / ALTER made through this client; else those the journal kept from an earlier run
/// (`Journal::kept_settings`). Streams it has neither seen nor kept get
/// `Config::stream_defaults`.
pub(crate) struct KnownSettings {
    defaults: StreamSettings,
    known: Mutex<Known>,
}

#[derive(Default)]
struct Known {
    /// Streams asked about in this run: None until their settings are learnt.
    seen: HashMap<String, Option<StreamSettings>>,
    /// Settings an earlier run kept beside its journal.
    kept: HashMap<String, StreamSettings>,
}

impl Known {
    fn learnt(&self, key: &str) -> Option<StreamSettings> {
        self.seen
            .get(key)
            .copied()
            .flatten()
            .or_else(|| self.kept.get(key).copied())
    }
}

impl KnownSettings {
    pub fn new(defaults: StreamSettings) -> KnownSettings {
        KnownSettings {
            defaults,
            known: Mutex::new(Known::default()),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn defaults(&self) -> StreamSettings {
        self.defaults
    }

    pub fn get(&self, key: &str) -> StreamSettings {
        self.learnt(key).unwrap_or(self.defaults)
    }

    /// The settings learnt for `key` (in this run, or kept from an earlier one): what the
    /// journal keeps beside its records of the key. None while only the defaults apply.
    pub fn learnt(&self, key: &str) -> Option<StreamSettings> {
        self.known().learnt(key)
    }

    pub fn set(&self, key: &str, s: StreamSettings) {
        self.known().seen.insert(key.to_owned(), Some(s));
    }

    /// Settings an earlier run kept beside the journal; those learnt in this run win.
    pub fn keep(&self, kept: impl IntoIterator<Item = (String, StreamSettings)>) {
        self.known().kept.extend(kept);
    }

    /// True the first time a key is asked about (it then counts as seen, with the settings
    /// kept for it or the defaults until its settings are learnt).
    pub fn first_sight(&self, key: &str) -> bool {
        let mut known = self.known();
        if known.seen.contains_key(key) {
            return false;
        }
        known.seen.insert(key.to_owned(), None);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Bound, Severity, Status};

    const NOW: u64 = 1_000_000;

    fn add(s: &mut LocalStreams, doc: &str, id: AlertId) -> AddOutcome {
        add_with(s, doc, id, StreamSettings::default())
    }

    fn add_with(s: &mut LocalStreams, doc: &str, id: AlertId, set: StreamSettings) -> AddOutcome {
        match s.apply(&Record::add("k", doc, id), || set, NOW) {
            Ok(Answer::Add(o)) => o,
            other => panic!("{other:?}"),
        }
    }

    fn ids(s: &mut LocalStreams, op: IdsOp, ids: &[AlertId]) -> u64 {
        match s.apply(&Record::ids(op, "k", ids), StreamSettings::default, NOW) {
            Ok(Answer::Count(n)) => n,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dedup_exists_rate_limit_and_expired_as_the_module() {
        let mut s = LocalStreams::default();
        let limited = StreamSettings {
            ratelimit_n: 2,
            ratelimit_window_ms: 1000,
            ..StreamSettings::default()
        };
        let a = AlertId::new(NOW, 7);
        assert_eq!(
            add_with(&mut s, r#"{"source":"x"}"#, a, limited),
            AddOutcome::Added(a)
        );
        let b = AlertId::new(NOW + 5, 1);
        let dup = AddOutcome::Duplicate { id: a, count: 2 };
        assert_eq!(add(&mut s, r#"{"source":"x"}"#, b), dup);
        // Replays of both IDs: exists.
        let exists = AddOutcome::Exists { id: a, count: 2 };
        assert_eq!(add(&mut s, r#"{"source":"x"}"#, b), exists);
        let c = AlertId::new(NOW + 10, 1);
        assert_eq!(
            add(&mut s, r#"{"source":"x","type":"2"}"#, c),
            AddOutcome::Added(c)
        );
        let d = AlertId::new(NOW + 20, 1);
        assert_eq!(
            add(&mut s, r#"{"source":"x","type":"3"}"#, d),
            AddOutcome::Limited {
                retry_after_ms: 980
            }
        );
        assert_eq!(ids(&mut s, IdsOp::Resolve, &[a]), 1);
        let e = AlertId::new(NOW + 2000, 1);
        assert_eq!(add(&mut s, r#"{"source":"x"}"#, e), AddOutcome::Added(e));
        let old = AlertId::new(1, 1);
        let far = StreamSettings::default().retention_ms;
        let outcome = s.apply(
            &Record::add("k", "{}", old),
            StreamSettings::default,
            far * 2,
        );
        assert!(matches!(outcome, Ok(Answer::Add(AddOutcome::Expired))));
        let info = s.info("k").unwrap();
        assert_eq!(
            (info.added, info.duplicates, info.limited, info.expired),
            (3, 1, 1, 1)
        );
    }

    #[test]
    fn a_duplicated_known_field_is_refused_and_creates_nothing() {
        let mut s = LocalStreams::default();
        let r = Record::add("k", r#"{"source":"a","source":"b"}"#, AlertId::new(NOW, 1));
        let e = s.apply(&r, StreamSettings::default, NOW).unwrap_err();
        assert!(e.to_string().contains("duplicate field"), "{e}");
        assert!(s.info("k").is_none());
        assert_eq!(ids(&mut s, IdsOp::Ack, &[AlertId::new(NOW, 1)]), 0);
    }

    #[test]
    fn range_filters_and_renders() {
        let mut s = LocalStreams::default();
        for (i, sev) in ["info", "high", "critical"].iter().enumerate() {
            let d = format!(
                r#"{{"severity":"{sev}", "labels":{{"i":"{i}"}},"big":123456789012345678901234}}"#
            );
            add(&mut s, &d, AlertId::new(NOW + i as u64, 0));
        }
        let got = s
            .range("k", &RangeQuery::all().min_severity(Severity::High).rev())
            .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].severity, Severity::Critical);
        assert!(got[0].json.contains("\"big\":123456789012345678901234,"));
        assert_eq!(
            s.range("k", &RangeQuery::all().label("i", "1"))
                .unwrap()
                .len(),
            1
        );
        let later = RangeQuery::between(Bound::Ts(NOW + 1), Bound::Max);
        assert_eq!(s.range("k", &later).unwrap().len(), 2);
        let first = AlertId::new(NOW, 0);
        assert_eq!(ids(&mut s, IdsOp::Ack, &[first, first]), 1);
        let got = s.get("k", &[AlertId::new(1, 1), first]).unwrap();
        assert!(got[0].is_none());
        assert_eq!(got[1].as_ref().map(|a| a.status), Some(Status::Acked));
        assert_eq!(ids(&mut s, IdsOp::Del, &[first]), 1);
        let info = s.info("k").unwrap();
        assert_eq!((info.length, info.first_ts), (2, Some(NOW + 1)));
        assert!(s.range("nope", &RangeQuery::all()).unwrap().is_empty());
    }
}
