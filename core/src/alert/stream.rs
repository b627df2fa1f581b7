//! The alert stream: alerts ordered by (ts, seq), with the dedup index, the per-source rate
//! index and retention/MAXLEN trimming. Time is always an argument, never read here, so every
//! decision is deterministic and the same on a replica.

use super::dedup::DedupIndex;
use super::doc::{self, Document, Fingerprint, Severity};
pub use super::id::{parse_ms, AlertId, Status, MAX_MS};
use crate::chunked::ChunkedMap;
use crate::memsize::alloc_size;
use hashbrown::HashMap;
use std::collections::BTreeSet;
use std::fmt;
use std::mem::size_of;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// 0: keep alerts forever.
    pub retention_ms: u64,
    /// 0: no limit.
    pub maxlen: u64,
    /// 0: no dedup.
    pub dedup_ms: u64,
    /// Both 0: no rate limit; otherwise both >= 1.
    pub ratelimit_n: u64,
    pub ratelimit_window_ms: u64,
}

impl Settings {
    pub fn check(&self) -> Result<(), AlertError> {
        let rl_off = self.ratelimit_n == 0 && self.ratelimit_window_ms == 0;
        let rl_on = self.ratelimit_n >= 1 && self.ratelimit_window_ms >= 1;
        if !(rl_off || rl_on) {
            return Err(AlertError::BadRateLimit);
        }
        Ok(())
    }
}

/// Per-stream statistics; not state (a replica's may differ).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub added: u64,
    pub duplicates: u64,
    pub limited: u64,
    pub expired: u64,
    pub trimmed: u64,
}

const FLAG_DEDUP: u8 = 1; // has a fingerprint (is in the dedup index unless resolved)
const FLAG_EXPLICIT_FP: u8 = 2; // fingerprint text must be compared on a hash match
const FLAG_ALIASES: u8 = 4; // some folded ADD IDs point at this alert

#[derive(Debug, Clone)]
pub struct Alert {
    pub doc: Box<str>,
    pub last_seen: u64,
    pub count: u64,
    fp_key: u64,
    source: u32,
    pub status: Status,
    pub severity: Severity,
    flags: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Added(AlertId),
    Duplicate(AlertId, u64),
    Exists(AlertId, u64),
    Limited(u64),
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddResult {
    pub outcome: Outcome,
    /// Alerts removed by MAXLEN/retention after the add.
    pub trimmed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertError {
    TsMismatch,
    SeqExhausted,
    BadRateLimit,
    IdExists(AlertId),
}

impl fmt::Display for AlertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertError::TsMismatch => write!(f, "ERR TS disagrees with the timestamp of ID"),
            AlertError::SeqExhausted => write!(
                f,
                "ERR no sequence number left for this millisecond; give an explicit ID"
            ),
            AlertError::BadRateLimit => write!(
                f,
                "ERR RATELIMIT takes 0 0 (off) or two integers of at least 1"
            ),
            AlertError::IdExists(id) => write!(f, "ERR alert {id} already exists"),
        }
    }
}

#[derive(Debug, Clone)]
struct SourceEntry {
    name: Box<str>,
    refs: u64,
    /// Alerts of this source in (ts, seq) order; kept only while a rate limit is set.
    times: BTreeSet<AlertId>,
}

#[derive(Debug, Clone, Default)]
struct Sources {
    ids: HashMap<Box<str>, u32>,
    entries: Vec<Option<SourceEntry>>,
    free: Vec<u32>,
}

impl Sources {
    fn lookup(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    fn entry(&self, id: u32) -> Option<&SourceEntry> {
        self.entries.get(id as usize).and_then(|e| e.as_ref())
    }

    fn acquire(&mut self, name: &str) -> u32 {
        if let Some(id) = self.lookup(name) {
            if let Some(Some(e)) = self.entries.get_mut(id as usize) {
                e.refs += 1;
            }
            return id;
        }
        let entry = SourceEntry {
            name: name.into(),
            refs: 1,
            times: BTreeSet::new(),
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = Some(entry);
                id
            }
            None => {
                self.entries.push(Some(entry));
                (self.entries.len() - 1) as u32
            }
        };
        self.ids.insert(name.into(), id);
        id
    }

    fn release(&mut self, id: u32, alert: &AlertId) {
        let Some(slot) = self.entries.get_mut(id as usize) else {
            return;
        };
        let Some(e) = slot.as_mut() else { return };
        e.times.remove(alert);
        e.refs -= 1;
        if e.refs == 0 {
            self.ids.remove(&e.name);
            *slot = None;
            self.free.push(id);
        }
    }

    fn heap_bytes(&self) -> usize {
        let names: usize = self
            .entries
            .iter()
            .flatten()
            .map(|e| 2 * alloc_size(e.name.len()) + e.times.len() * 40)
            .sum();
        names
            + alloc_size(self.entries.capacity() * size_of::<Option<SourceEntry>>())
            + hash_bytes(self.ids.capacity(), size_of::<(Box<str>, u32)>())
    }
}

/// Heap bytes of a hashbrown table that can hold `capacity` items of `entry` bytes.
fn hash_bytes(capacity: usize, entry: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity * 8 / 7).next_power_of_two();
    alloc_size(buckets * (entry + 1) + 16)
}

#[derive(Debug, Clone)]
pub struct Stream {
    pub settings: Settings,
    pub stats: Stats,
    alerts: ChunkedMap<AlertId, Alert>,
    /// Unresolved alerts with a fingerprint, by fingerprint key (while dedup is on).
    dedup: DedupIndex,
    sources: Sources,
    /// ADD IDs folded into an existing alert as duplicates -> that alert.
    aliases: HashMap<AlertId, AlertId>,
    doc_bytes: usize,
}

/// What ALERT.RANGE asks for.
#[derive(Debug, Clone)]
pub struct RangeQuery {
    pub start: AlertId,
    pub end: AlertId,
    pub rev: bool,
    pub count: Option<usize>,
    pub min_severity: Option<Severity>,
    pub source: Option<String>,
    pub kind: Option<String>,
    pub status: Option<Status>,
    pub labels: Vec<(String, String)>,
}

impl RangeQuery {
    pub fn all() -> RangeQuery {
        RangeQuery {
            start: AlertId::MIN,
            end: AlertId::MAX,
            rev: false,
            count: None,
            min_severity: None,
            source: None,
            kind: None,
            status: None,
            labels: Vec::new(),
        }
    }
}

impl Stream {
    pub fn new(settings: Settings) -> Stream {
        Stream {
            settings,
            stats: Stats::default(),
            alerts: ChunkedMap::new(),
            dedup: DedupIndex::default(),
            sources: Sources::default(),
            aliases: HashMap::new(),
            doc_bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    pub fn first_ts(&self) -> Option<u64> {
        self.alerts.first().map(|(id, _)| id.ts)
    }

    pub fn last_ts(&self) -> Option<u64> {
        self.alerts.last().map(|(id, _)| id.ts)
    }

    pub fn get(&self, id: &AlertId) -> Option<&Alert> {
        self.alerts.get(id)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&AlertId, &Alert)> + '_ {
        self.alerts.iter()
    }

    /// Folded ADD IDs and the alert each points at.
    pub fn aliases(&self) -> impl Iterator<Item = (&AlertId, &AlertId)> + '_ {
        self.aliases.iter()
    }

    fn rate_limited(&self) -> bool {
        self.settings.ratelimit_n > 0
    }

    /// The oldest ts retention keeps at `now`, if retention is set.
    pub fn retention_floor(&self, now: u64) -> Option<u64> {
        (self.settings.retention_ms > 0).then(|| now.saturating_sub(self.settings.retention_ms))
    }

    /// ALERT.ADD, steps 1 to 5 of the contract.
    pub fn add(
        &mut self,
        doc: Document<'_>,
        ts: Option<u64>,
        id: Option<AlertId>,
        now: u64,
    ) -> Result<AddResult, AlertError> {
        if let (Some(ts), Some(id)) = (ts, id) {
            if ts != id.ts {
                return Err(AlertError::TsMismatch);
            }
        }
        let ts = id.map(|i| i.ts).or(ts).unwrap_or(now);
        let done = |outcome| {
            Ok(AddResult {
                outcome,
                trimmed: 0,
            })
        };

        // 1. An ID this stream holds, or folded into an alert it holds.
        if let Some(id) = id {
            if let Some(a) = self.alerts.get(&id) {
                return done(Outcome::Exists(id, a.count));
            }
            if let Some(holder) = self.aliases.get(&id) {
                let count = self.alerts.get(holder).map_or(0, |a| a.count);
                return done(Outcome::Exists(*holder, count));
            }
        }

        // 2. Too old to keep.
        let too_old = self.retention_floor(now).is_some_and(|floor| ts < floor);
        let behind_full = self.settings.maxlen > 0
            && self.alerts.len() as u64 >= self.settings.maxlen
            && self.alerts.first().is_some_and(|(first, _)| match id {
                Some(id) => id < *first,
                None => ts < first.ts,
            });
        if too_old || behind_full {
            self.stats.expired += 1;
            return done(Outcome::Expired);
        }

        // 3. Dedup.
        if self.settings.dedup_ms > 0 {
            if let Some(target) = self.dedup_target(&doc.fingerprint, ts) {
                if let Some(alert) = self.alerts.get_mut(&target) {
                    let old = alert.last_seen;
                    alert.count = alert.count.saturating_add(1);
                    alert.last_seen = old.max(ts);
                    if id.is_some() {
                        alert.flags |= FLAG_ALIASES;
                    }
                    let (count, new, key) = (alert.count, alert.last_seen, alert.fp_key);
                    self.dedup.touch(key, &target, old, new);
                    if let Some(id) = id {
                        self.aliases.insert(id, target);
                    }
                    self.stats.duplicates += 1;
                    return done(Outcome::Duplicate(target, count));
                }
            }
        }

        // 4. Rate limit, decided from the alerts' own timestamps.
        if self.rate_limited() {
            if let Some(src) = self.sources.lookup(&doc.source) {
                if self.in_window(src, ts) >= self.settings.ratelimit_n {
                    self.stats.limited += 1;
                    return done(Outcome::Limited(self.retry_after(src, ts)));
                }
            }
        }

        // 5. Store, then trim.
        let id = match id {
            Some(id) => id,
            None => self.next_id(ts)?,
        };
        self.insert(id, doc, Status::Active, 1, ts);
        self.stats.added += 1;
        let mut trimmed = 0;
        if self.settings.maxlen > 0 {
            trimmed += self.trim_maxlen(self.settings.maxlen);
        }
        if let Some(floor) = self.retention_floor(now) {
            trimmed += self.trim_before(floor, usize::MAX);
        }
        Ok(AddResult {
            outcome: Outcome::Added(id),
            trimmed,
        })
    }

    /// The ID a new alert at `ts` gets: one past the highest seq used at that ms.
    fn next_id(&self, ts: u64) -> Result<AlertId, AlertError> {
        let last = match self.alerts.last() {
            // In-order arrival: only the newest alert can share the millisecond.
            Some((newest, _)) if newest.ts <= ts => Some(*newest),
            _ => self
                .alerts
                .iter_rev_from(&AlertId::new(ts, u64::MAX))
                .next()
                .map(|(id, _)| *id),
        };
        let mut seq = match last {
            Some(last) if last.ts == ts => {
                last.seq.checked_add(1).ok_or(AlertError::SeqExhausted)?
            }
            _ => 0,
        };
        while self.aliases.contains_key(&AlertId::new(ts, seq)) {
            seq = seq.checked_add(1).ok_or(AlertError::SeqExhausted)?;
        }
        Ok(AlertId::new(ts, seq))
    }

    fn dedup_target(&self, fp: &Fingerprint, ts: u64) -> Option<AlertId> {
        let key = fp.index_key()?;
        let window = self.settings.dedup_ms;
        let (lo, hi) = (ts.saturating_sub(window), ts.saturating_add(window));
        self.dedup.find(key, lo, hi, |id| {
            self.alerts.get(id).is_some_and(|a| {
                a.status != Status::Resolved
                    && ts.abs_diff(a.last_seen) <= window
                    && self.same_fingerprint(a, fp)
            })
        })
    }

    fn same_fingerprint(&self, a: &Alert, fp: &Fingerprint) -> bool {
        let explicit = a.flags & FLAG_EXPLICIT_FP != 0;
        match fp {
            Fingerprint::Never => false,
            Fingerprint::Hash(h) => !explicit && a.fp_key == *h,
            Fingerprint::Explicit { key, text } => {
                explicit
                    && a.fp_key == *key
                    && doc::explicit_fingerprint(&a.doc).as_deref() == Some(text.as_str())
            }
        }
    }

    /// Alerts of `source` with a ts in (ts - window, ts], counted up to the limit.
    fn in_window(&self, source: u32, ts: u64) -> u64 {
        let Some(e) = self.sources.entry(source) else {
            return 0;
        };
        let lo = (ts + 1).saturating_sub(self.settings.ratelimit_window_ms);
        e.times
            .range(AlertId::new(lo, 0)..=AlertId::new(ts, u64::MAX))
            .take(self.settings.ratelimit_n as usize)
            .count() as u64
    }

    /// The least d >= 1 such that an alert of `source` at ts + d would not be limited.
    ///
    /// count(d) = alerts with ts in (ts + d - w, ts + d] only drops when an alert leaves the
    /// window, at d = t - ts + w; so test d = 1, then those in increasing order, with two
    /// cursors over the source's alerts. In-order streams stop after about n steps.
    fn retry_after(&self, source: u32, ts: u64) -> u64 {
        let Some(e) = self.sources.entry(source) else {
            return 1;
        };
        let w = self.settings.ratelimit_window_ms;
        let n = self.settings.ratelimit_n;
        let from = AlertId::new((ts + 1).saturating_sub(w), 0);
        let times = || e.times.range(from..).map(|id| id.ts);
        let (mut upper, mut lower) = (times().peekable(), times().peekable());
        let (mut entered, mut left) = (0u64, 0u64);
        let mut candidates = times().map(|t| t + w - ts);
        let mut d = 1;
        loop {
            while upper.next_if(|t| *t <= ts + d).is_some() {
                entered += 1;
            }
            if ts + d >= w {
                while lower.next_if(|t| *t <= ts + d - w).is_some() {
                    left += 1;
                }
            }
            if entered - left < n {
                return d;
            }
            match candidates.find(|c| *c > d) {
                Some(c) => d = c,
                // Past the last alert's departure the window is empty; not reached.
                None => return d.max(w),
            }
        }
    }

    fn insert(
        &mut self,
        id: AlertId,
        doc: Document<'_>,
        status: Status,
        count: u64,
        last_seen: u64,
    ) {
        let source = self.sources.acquire(&doc.source);
        let (fp_key, flags) = match &doc.fingerprint {
            Fingerprint::Never => (0, 0),
            Fingerprint::Hash(h) => (*h, FLAG_DEDUP),
            Fingerprint::Explicit { key, .. } => (*key, FLAG_DEDUP | FLAG_EXPLICIT_FP),
        };
        let alert = Alert {
            doc: Box::from(&*doc.json),
            last_seen,
            count,
            fp_key,
            source,
            status,
            severity: doc.severity,
            flags,
        };
        self.doc_bytes += alloc_size(alert.doc.len());
        if self.rate_limited() {
            if let Some(Some(e)) = self.sources.entries.get_mut(source as usize) {
                e.times.insert(id);
            }
        }
        let indexed =
            self.settings.dedup_ms > 0 && flags & FLAG_DEDUP != 0 && status != Status::Resolved;
        if self.alerts.insert(id, alert).is_ok() && indexed {
            self.index_dedup(fp_key, id, last_seen);
        }
    }

    fn index_dedup(&mut self, key: u64, id: AlertId, last_seen: u64) {
        let alerts = &self.alerts;
        self.dedup.insert(key, id, last_seen, |other| {
            alerts.get(other).map_or(0, |a| a.last_seen)
        });
    }

    /// Removes one alert with everything that points at it.
    pub fn remove(&mut self, id: &AlertId) -> bool {
        let Some(alert) = self.alerts.remove(id) else {
            return false;
        };
        self.forget(id, &alert);
        true
    }

    fn forget(&mut self, id: &AlertId, alert: &Alert) {
        self.doc_bytes -= alloc_size(alert.doc.len());
        if alert.flags & FLAG_DEDUP != 0 && alert.status != Status::Resolved {
            self.dedup.remove(alert.fp_key, id, alert.last_seen);
        }
        self.sources.release(alert.source, id);
        if alert.flags & FLAG_ALIASES != 0 {
            self.aliases.retain(|_, holder| holder != id);
        }
    }

    /// ALERT.ACK: active -> acked.
    pub fn ack(&mut self, id: &AlertId) -> bool {
        match self.alerts.get_mut(id) {
            Some(a) if a.status == Status::Active => {
                a.status = Status::Acked;
                true
            }
            _ => false,
        }
    }

    /// ALERT.RESOLVE: active or acked -> resolved; no longer a dedup target.
    pub fn resolve(&mut self, id: &AlertId) -> bool {
        let (key, indexed, last_seen) = match self.alerts.get_mut(id) {
            Some(a) if a.status != Status::Resolved => {
                a.status = Status::Resolved;
                (a.fp_key, a.flags & FLAG_DEDUP != 0, a.last_seen)
            }
            _ => return false,
        };
        if indexed {
            self.dedup.remove(key, id, last_seen);
        }
        true
    }

    /// Removes the oldest alerts until at most `maxlen` remain (0 removes all).
    pub fn trim_maxlen(&mut self, maxlen: u64) -> u64 {
        let mut removed = 0;
        while self.alerts.len() as u64 > maxlen {
            let Some((id, alert)) = self.alerts.pop_first() else {
                break;
            };
            self.forget(&id, &alert);
            removed += 1;
        }
        self.stats.trimmed += removed;
        removed
    }

    /// Removes alerts with ts < `min_ts`, at most `budget` of them (oldest first).
    pub fn trim_before(&mut self, min_ts: u64, budget: usize) -> u64 {
        let mut removed = 0;
        while (removed as usize) < budget
            && self.alerts.first().is_some_and(|(id, _)| id.ts < min_ts)
        {
            let Some((id, alert)) = self.alerts.pop_first() else {
                break;
            };
            self.forget(&id, &alert);
            removed += 1;
        }
        self.stats.trimmed += removed;
        removed
    }

    /// The ts bound that removes at most `budget` expired alerts at `now`: everything older
    /// than it is expired, and at most `budget` alerts are. None when nothing is expired.
    pub fn sweep_bound(&self, now: u64, budget: usize) -> Option<u64> {
        let floor = self.retention_floor(now)?;
        let (first, _) = self.alerts.first()?;
        if first.ts >= floor {
            return None;
        }
        // Walk at most budget alerts; stop at a ts boundary so a replayed MINTS removes
        // exactly what was removed here.
        let mut last_ts = first.ts;
        for (n, (id, _)) in self.alerts.iter().enumerate() {
            if id.ts >= floor {
                return Some(floor);
            }
            if n >= budget && id.ts != last_ts {
                return Some(id.ts);
            }
            last_ts = id.ts;
        }
        Some(floor)
    }

    /// Replaces the settings; a smaller MAXLEN or retention trims at once.
    pub fn set_settings(&mut self, settings: Settings, now: u64) -> Result<u64, AlertError> {
        settings.check()?;
        let old = self.settings;
        self.settings = settings;
        if (old.ratelimit_n > 0) != (settings.ratelimit_n > 0)
            || (old.dedup_ms > 0) != (settings.dedup_ms > 0)
        {
            self.rebuild_indexes();
        }
        let mut trimmed = 0;
        if settings.maxlen > 0 {
            trimmed += self.trim_maxlen(settings.maxlen);
        }
        if let Some(floor) = self.retention_floor(now) {
            trimmed += self.trim_before(floor, usize::MAX);
        }
        Ok(trimmed)
    }

    /// Rebuilds the dedup and rate indexes from the alerts (after load or a settings change).
    pub fn rebuild_indexes(&mut self) {
        self.dedup.clear();
        let rate = self.rate_limited();
        for e in self.sources.entries.iter_mut().flatten() {
            e.times.clear();
        }
        let dedup_on = self.settings.dedup_ms > 0;
        let mut index = Vec::new();
        for (id, a) in self.alerts.iter() {
            if dedup_on && a.flags & FLAG_DEDUP != 0 && a.status != Status::Resolved {
                index.push((a.fp_key, *id, a.last_seen));
            }
            if rate {
                if let Some(Some(e)) = self.sources.entries.get_mut(a.source as usize) {
                    e.times.insert(*id);
                }
            }
        }
        for (key, id, last_seen) in index {
            self.index_dedup(key, id, last_seen);
        }
    }

    /// Restores one alert exactly as it was (RDB load, AOF rewrite, IMPORT): no dedup, rate
    /// limit or trimming.
    pub fn import(
        &mut self,
        id: AlertId,
        doc: Document<'_>,
        status: Status,
        count: u64,
        last_seen: u64,
        aliases: &[AlertId],
    ) -> Result<(), AlertError> {
        if self.alerts.contains_key(&id) || self.aliases.contains_key(&id) {
            return Err(AlertError::IdExists(id));
        }
        if let Some(a) = aliases
            .iter()
            .find(|a| self.alerts.contains_key(a) || self.aliases.contains_key(*a) || **a == id)
        {
            return Err(AlertError::IdExists(*a));
        }
        self.insert(id, doc, status, count.max(1), last_seen);
        if !aliases.is_empty() {
            if let Some(alert) = self.alerts.get_mut(&id) {
                alert.flags |= FLAG_ALIASES;
            }
            for a in aliases {
                self.aliases.insert(*a, id);
            }
        }
        Ok(())
    }

    /// Restores folded IDs after a load; pairs whose holder is gone are dropped.
    pub fn restore_aliases(&mut self, pairs: Vec<(AlertId, AlertId)>) {
        for (alias, holder) in pairs {
            if let Some(a) = self.alerts.get_mut(&holder) {
                a.flags |= FLAG_ALIASES;
                self.aliases.insert(alias, holder);
            }
        }
    }

    pub fn range(&self, q: &RangeQuery) -> Vec<(AlertId, &Alert)> {
        let mut out = Vec::new();
        if q.start > q.end || q.count == Some(0) {
            return out;
        }
        let source = match &q.source {
            Some(name) => match self.sources.lookup(name) {
                Some(id) => Some(id),
                None => return out,
            },
            None => None,
        };
        let needs_doc = q.kind.is_some() || !q.labels.is_empty();
        let limit = q.count.unwrap_or(usize::MAX);
        let matches = |a: &Alert| {
            if q.min_severity.is_some_and(|min| a.severity < min)
                || q.status.is_some_and(|st| a.status != st)
                || source.is_some_and(|s| a.source != s)
            {
                return false;
            }
            if needs_doc {
                let f = doc::filterable(&a.doc);
                if q.kind.as_ref().is_some_and(|k| *k != f.kind) {
                    return false;
                }
                if !q
                    .labels
                    .iter()
                    .all(|(name, value)| f.labels.get(name) == Some(value))
                {
                    return false;
                }
            }
            true
        };
        if q.rev {
            for (id, a) in self.alerts.iter_rev_from(&q.end) {
                if *id < q.start || out.len() >= limit {
                    break;
                }
                if matches(a) {
                    out.push((*id, a));
                }
            }
        } else {
            for (id, a) in self.alerts.iter_from(&q.start) {
                if *id > q.end || out.len() >= limit {
                    break;
                }
                if matches(a) {
                    out.push((*id, a));
                }
            }
        }
        out
    }

    /// Bytes held, as MEMORY USAGE reports them.
    pub fn memory_usage(&self) -> usize {
        size_of::<Stream>()
            + self.alerts.heap_bytes()
            + self.doc_bytes
            + self.dedup.heap_bytes()
            + self.sources.heap_bytes()
            + hash_bytes(self.aliases.capacity(), size_of::<(AlertId, AlertId)>())
    }
}

/// The alert as clients see it: the stored document plus the five server fields.
pub fn render(id: &AlertId, a: &Alert) -> String {
    let mut out = String::with_capacity(a.doc.len() + 96);
    render_into(&mut out, id, a);
    out
}

/// `render`, appended to `out` (RANGE reuses one buffer for every alert it returns).
pub fn render_into(out: &mut String, id: &AlertId, a: &Alert) {
    use std::fmt::Write;
    let body = a.doc.strip_suffix('}').unwrap_or(&a.doc).trim_end();
    // `{}` or `{ }`: no field before ours, so no comma.
    let empty = body.get(1..).is_none_or(|rest| rest.trim().is_empty());
    out.push_str(body);
    if !empty {
        out.push(',');
    }
    let _ = write!(
        out,
        "\"id\":\"{id}\",\"ts\":{},\"status\":\"{}\",\"count\":{},\"last_seen\":{}}}",
        id.ts,
        a.status.as_str(),
        a.count,
        a.last_seen
    );
}

#[cfg(test)]
mod tests;
