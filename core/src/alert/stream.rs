//! The alert stream: alerts ordered by (ts, seq), with the dedup index, the per-source rate
//! index and retention/MAXLEN trimming. Time is always an argument, never read here, so every
//! decision is deterministic and the same on a replica.

use super::cover;
use super::dedup::DedupIndex;
use super::doc::{self, Document, Fingerprint, Severity};
use super::filter::{self, Filter};
pub use super::id::{parse_ms, AlertId, Status, MAX_MS};
use super::index::{self, FilterIndex, List, Token};
use super::keys::KeyTable;
use super::revs::RevIndex;
use crate::bytes::into_text;
use crate::chunked::ChunkedMap;
use crate::memsize::{self, alloc_size};
use crate::thin::ThinText;
use hashbrown::HashMap;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::mem::size_of;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The highest revision any stream of this process has reached, counted or restored.
static HIGHEST_REVISION: AtomicU64 = AtomicU64::new(0);

/// The highest revision any stream of this process has reached: a stream made afterwards
/// starts above it, so that a reader's cursor for a stream deleted and made again is never
/// taken for a position in the new one, even when the old one had counted past the clock (a
/// stream that changes more than once a microsecond on average, or a primary whose clock was
/// ahead of its replica's). Streams change on Redis's main thread; elsewhere (tests, benches)
/// the load and store that keep it may miss a concurrent higher value, which only a server's
/// fresh streams rely on.
pub fn highest_revision() -> u64 {
    HIGHEST_REVISION.load(Relaxed)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
    /// Unresolved alerts whose last_seen is older than this are resolved by the sweep; 0: off.
    pub autoresolve_ms: u64,
    /// How long after its own ts a folded explicit ID is remembered; 0: as long as its alert
    /// exists.
    pub id_memory_ms: u64,
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
    pub autoresolved: u64,
}

const FLAG_DEDUP: u8 = 1; // has a fingerprint (is in the dedup index unless resolved)
const FLAG_EXPLICIT_FP: u8 = 2; // fingerprint text must be compared on a hash match
const FLAG_ALIASES: u8 = 4; // some folded ADD IDs point at this alert
const FLAG_BIG_COUNT: u8 = 8; // the count passed u32: Stream::big_counts holds it
const FLAG_CODED: u8 = 16; // `doc` holds key codes of Stream::keys

#[derive(Debug, Clone)]
pub struct Alert {
    /// The document less the members written back from the fields below (`doc::strip`), its
    /// plain keys coded by the stream's key table (`doc::stored`).
    doc: ThinText,
    /// The stream revision of the alert's last change.
    pub rev: u64,
    pub last_seen: u64,
    /// Occurrences folded in; past u32::MAX, in `Stream::big_counts` (`Stream::count_of`).
    count: u32,
    fp_key: u64,
    source: u32,
    /// The type, interned like the source.
    kind: u32,
    pub status: Status,
    pub severity: Severity,
    flags: u8,
    /// The members left out of `doc`, written back first (`Lead::layout`).
    lead: u8,
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
    CursorAhead,
    TooManySilences,
    SilenceExists(u64),
    /// The next silence ID would pass the largest integer a reply can carry.
    SilenceIdsExhausted,
    RevisionTaken(u64),
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
            AlertError::CursorAhead => write!(f, "ERR cursor is ahead of the stream"),
            AlertError::TooManySilences => write!(
                f,
                "ERR too many silences: a stream holds at most {MAX_SILENCES} active silences"
            ),
            AlertError::SilenceExists(id) => write!(f, "ERR silence {id} already exists"),
            AlertError::SilenceIdsExhausted => write!(
                f,
                "ERR no silence ID left: silence IDs end at {}",
                MAX_SILENCE_ID
            ),
            AlertError::RevisionTaken(r) => write!(f, "ERR revision {r} is taken"),
        }
    }
}

#[derive(Debug, Clone)]
struct SourceEntry {
    name: Box<str>,
    refs: u64,
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

    fn release(&mut self, id: u32) {
        let Some(slot) = self.entries.get_mut(id as usize) else {
            return;
        };
        let Some(e) = slot.as_mut() else { return };
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
            .map(|e| 2 * alloc_size(e.name.len()))
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

/// Bytes a list of folded IDs takes, as allocated.
fn list_bytes(list: &VecDeque<AlertId>) -> usize {
    alloc_size(list.capacity() * size_of::<AlertId>())
}

/// Active silences a stream may hold.
pub const MAX_SILENCES: usize = 1000;
/// The largest silence ID: replies carry IDs as (signed 64-bit) integers, and the commands
/// that take one read it as such.
pub const MAX_SILENCE_ID: u64 = i64::MAX as u64;

#[derive(Debug, Clone)]
pub struct Stream {
    pub settings: Settings,
    pub stats: Stats,
    alerts: ChunkedMap<AlertId, Alert>,
    /// Unresolved alerts with a fingerprint, by fingerprint key (while dedup is on).
    dedup: DedupIndex,
    sources: Sources,
    /// The types of the alerts, interned like the sources.
    kinds: Sources,
    /// ADD IDs folded into an existing alert as duplicates -> that alert, oldest first (they
    /// are forgotten from the front once older than the stream's id memory).
    aliases: BTreeMap<AlertId, AlertId>,
    /// An alert -> the folded IDs that point at it (so removing it costs its own), in the
    /// order they were folded: usually oldest first, the order the id memory forgets them in,
    /// so that forgetting one takes it from the front.
    held: HashMap<AlertId, VecDeque<AlertId>>,
    /// Bytes the lists of `held` take (`list_bytes`), kept as they change so that MEMORY
    /// USAGE need not visit them.
    held_bytes: usize,
    /// The counts that passed u32::MAX (an alert's own field holds the others: 4 bytes, not 8).
    big_counts: HashMap<AlertId, u64>,
    doc_bytes: usize,
    /// The member names the stored documents hold as codes.
    keys: KeyTable,
    /// The change counter: every change to an alert the stream holds takes the next value.
    revision: u64,
    /// Each alert under the revision of its last change, for ALERT.READ.
    by_rev: RevIndex,
    /// Not state (neither saved nor replicated): a revision the next change counts on from
    /// when it is above `revision` (0: none), set for one command by [`Stream::set_floor`].
    floor: u64,
    /// Whether a change used the floor (until [`Stream::take_floor`]).
    floor_used: bool,
    /// Not state: the caller's mark of when the stream's revisions were last put past its
    /// clock (0 for a stream loaded, restored or made by a replica); see `set_floor`.
    pub epoch: u32,
    /// Unresolved alerts by last_seen (while auto-resolve is on).
    stale: BTreeSet<(u64, AlertId)>,
    silences: BTreeMap<u64, Silence>,
    /// The ID the next silence gets.
    next_silence: u64,
    /// The highest ID the stream has held or remembered: a new alert at that millisecond takes
    /// a seq past it, so that an ID deleted or trimmed there is not given out again (a Redis
    /// stream's last ID does the same for XADD after XDEL).
    last_id: Option<AlertId>,
    /// The alerts of each source, type, label pair and high severity, for filtered reads.
    filters: FilterIndex,
}

/// A silence: while it is held, alerts matching all its matchers are left out of ALERT.READ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub id: u64,
    pub until: u64,
    pub matchers: Filter,
    pub comment: Option<String>,
}

/// What ALERT.READ asks for.
#[derive(Debug, Clone)]
pub struct ReadQuery {
    /// Changes after this revision.
    pub after: u64,
    pub count: usize,
    pub filter: Filter,
    pub with_silenced: bool,
    /// At most this many changes are looked at in one read (returned or filtered out).
    pub max_examined: usize,
}

/// What ALERT.READ answers: the position reached and the alerts, each with its revision.
#[derive(Debug)]
pub struct ReadResult<'a> {
    pub next: u64,
    pub items: Vec<(u64, AlertId, &'a Alert)>,
    /// The read looked at every change after its cursor (it did not stop at COUNT or at its
    /// bound): with nothing returned, a blocking reader waits.
    pub exhausted: bool,
}

/// ALERT.GROUPS: the field to group by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    Severity,
    Source,
    Type,
    Status,
    Label(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// None: alerts without the label.
    pub value: Option<String>,
    pub alerts: u64,
    pub occurrences: u64,
    pub newest_ts: u64,
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
    /// The filters of the query.
    pub fn filter(&self) -> Filter {
        Filter {
            min_severity: self.min_severity,
            source: self.source.clone(),
            kind: self.kind.clone(),
            status: self.status,
            labels: self.labels.clone(),
        }
    }

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
            kinds: Sources::default(),
            aliases: BTreeMap::new(),
            held: HashMap::new(),
            held_bytes: 0,
            big_counts: HashMap::new(),
            doc_bytes: 0,
            keys: KeyTable::default(),
            revision: 0,
            by_rev: RevIndex::new(),
            floor: 0,
            floor_used: false,
            epoch: 0,
            stale: BTreeSet::new(),
            silences: BTreeMap::new(),
            next_silence: 1,
            last_id: None,
            filters: FilterIndex::default(),
        }
    }

    /// The stream's revision: the revision of its latest change.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Every change of the revision goes through here, so that [`highest_revision`] knows it.
    fn set_revision(&mut self, rev: u64) {
        self.revision = rev;
        if rev > HIGHEST_REVISION.load(Relaxed) {
            HIGHEST_REVISION.store(rev, Relaxed);
        }
    }

    /// The next change's revision: one past the stream's revision, or past the floor when one
    /// is set and higher (the floor is then used up).
    fn next_revision(&mut self) -> u64 {
        let rev = if self.floor > self.revision {
            self.floor_used = true;
            self.floor + 1
        } else {
            self.revision + 1
        };
        self.floor = 0;
        self.set_revision(rev);
        rev
    }

    /// Makes the next change of this stream (within the caller's command) count on from
    /// `floor` when that is above the revision (then true); the caller ends the command with
    /// [`Stream::take_floor`]. A server that lost changes a reader saw (a failover, an older
    /// file) counts from there again; a floor from the clock puts its new changes past that
    /// reader's cursor, instead of under it.
    pub fn set_floor(&mut self, floor: u64) -> bool {
        self.floor = if floor > self.revision { floor } else { 0 };
        self.floor != 0
    }

    /// Ends what [`Stream::set_floor`] began: whether a change used the floor (the caller
    /// then replicates it before the change). An unused floor is dropped.
    pub fn take_floor(&mut self) -> bool {
        self.floor = 0;
        std::mem::take(&mut self.floor_used)
    }

    /// Raises the stream's revision to `rev` (ALERT.ALTER REVISION): no alert changes, and
    /// the revision never goes back.
    pub fn raise_revision(&mut self, rev: u64) {
        if rev > self.revision {
            self.set_revision(rev);
        }
    }

    /// The ID the next silence gets.
    pub fn next_silence_id(&self) -> u64 {
        self.next_silence
    }

    /// Restores the revision counter and the next silence ID (persistence, AOF rewrite): never
    /// below what the stream already uses.
    pub fn restore_counters(&mut self, revision: u64, next_silence: u64) {
        self.set_revision(self.revision.max(revision));
        let used = self.silences.keys().next_back().map_or(1, |id| id + 1);
        self.next_silence = next_silence
            .max(used)
            .max(self.next_silence)
            .min(MAX_SILENCE_ID + 1);
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

    /// Folded ADD IDs and the alert each points at, oldest first.
    pub fn aliases(&self) -> impl Iterator<Item = (&AlertId, &AlertId)> + '_ {
        self.aliases.iter()
    }

    pub fn remembered_ids(&self) -> usize {
        self.aliases.len()
    }

    /// Whether the folded ID `alias` is still remembered at `now`.
    fn alias_live(&self, alias: &AlertId, now: u64) -> bool {
        let mem = self.settings.id_memory_ms;
        mem == 0 || now <= alias.ts.saturating_add(mem)
    }

    /// Forgets folded IDs older than the id memory at `now`, at most `budget` of them (oldest
    /// first); returns how many.
    pub fn expire_aliases(&mut self, now: u64, budget: usize) -> usize {
        let mut n = 0;
        while n < budget {
            let Some((&alias, &holder)) = self.aliases.iter().next() else {
                break;
            };
            if self.alias_live(&alias, now) {
                break;
            }
            self.aliases.remove(&alias);
            self.unhold(&holder, &alias);
            n += 1;
        }
        n
    }

    fn unhold(&mut self, holder: &AlertId, alias: &AlertId) {
        if let Some(list) = self.held.get_mut(holder) {
            let before = list_bytes(list);
            // A whole pass over the list for each ID forgotten made forgetting an alert's
            // n folded IDs O(n^2) (15000 folds into one alert: ~0.2 ms more an ADD).
            if list.front() == Some(alias) {
                list.pop_front();
            } else if let Some(at) = list.iter().position(|a| a == alias) {
                list.remove(at);
            }
            if memsize::worth_shrinking(list.len(), list.capacity()) {
                list.shrink_to(list.len() * 2);
            }
            self.held_bytes = (self.held_bytes + list_bytes(list)).saturating_sub(before);
            if list.is_empty() {
                self.held_bytes = self.held_bytes.saturating_sub(list_bytes(list));
                self.held.remove(holder);
                if let Some(a) = self.alerts.get_mut(holder) {
                    a.flags &= !FLAG_ALIASES;
                }
            }
        }
    }

    fn remember_alias(&mut self, alias: AlertId, holder: AlertId) {
        self.note_id(alias);
        self.aliases.insert(alias, holder);
        let list = self.held.entry(holder).or_default();
        let before = list_bytes(list);
        list.push_back(alias);
        self.held_bytes = (self.held_bytes + list_bytes(list)).saturating_sub(before);
        if let Some(a) = self.alerts.get_mut(&holder) {
            a.flags |= FLAG_ALIASES;
        }
    }

    fn autoresolving(&self) -> bool {
        self.settings.autoresolve_ms > 0
    }

    /// Gives `id` (held, with revision `old`) the next revision.
    fn bump(&mut self, id: &AlertId, old: u64) -> u64 {
        let rev = self.next_revision();
        self.by_rev.remove(&old);
        let _ = self.by_rev.insert(rev, *id);
        if let Some(a) = self.alerts.get_mut(id) {
            a.rev = rev;
        }
        rev
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
                return done(Outcome::Exists(id, self.count_of(&id, a)));
            }
            if let Some(holder) = self.aliases.get(&id) {
                if self.alias_live(&id, now) {
                    let count = self
                        .alerts
                        .get(holder)
                        .map_or(0, |a| self.count_of(holder, a));
                    return done(Outcome::Exists(*holder, count));
                }
            }
        }
        // Folded IDs past the id memory are forgotten as ADDs pass (a few per call).
        if self.settings.id_memory_ms > 0 {
            self.expire_aliases(now, 8);
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
                    let count = count_in(&self.big_counts, &target, alert).saturating_add(1);
                    set_count(&mut self.big_counts, target, alert, count);
                    alert.last_seen = old.max(ts);
                    let (new, key, rev) = (alert.last_seen, alert.fp_key, alert.rev);
                    self.dedup.touch(key, &target, old, new);
                    if self.autoresolving() && self.stale.remove(&(old, target)) {
                        self.stale.insert((new, target));
                    }
                    if let Some(id) = id {
                        // A stale folded ID of this name is replaced by the new one.
                        if let Some(prev) = self.aliases.remove(&id) {
                            self.unhold(&prev, &id);
                        }
                        self.remember_alias(id, target);
                    }
                    self.bump(&target, rev);
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
            Some(id) => {
                // A folded ID past the id memory becomes a new alert's ID.
                if let Some(prev) = self.aliases.remove(&id) {
                    self.unhold(&prev, &id);
                }
                id
            }
            None => self.next_id(ts)?,
        };
        self.insert(id, doc, Status::Active, 1, ts, None);
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

    /// The highest ID the stream has held or remembered (persisted, and sent by AOF rewrite).
    pub fn last_id(&self) -> Option<AlertId> {
        self.last_id
    }

    /// Takes `id` as held or remembered: the stream's last ID becomes the higher of the two
    /// (RDB load and AOF rewrite restore it this way).
    pub fn note_id(&mut self, id: AlertId) {
        if self.last_id.is_none_or(|last| id > last) {
            self.last_id = Some(id);
        }
    }

    /// The ID a new alert at `ts` gets: one past the highest seq held or remembered at that
    /// ms, and past the stream's last ID when `ts` is its millisecond.
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
        if let Some(last) = self.last_id.filter(|l| l.ts == ts && l.seq >= seq) {
            seq = last.seq.checked_add(1).ok_or(AlertError::SeqExhausted)?;
        }
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
                    && doc::explicit_fingerprint(&self.stored(a)).as_deref() == Some(text.as_str())
            }
        }
    }

    /// The alerts of `source` in (ts, seq) order: its list in the filter index.
    fn source_alerts(&self, source: u32) -> Option<&List> {
        self.filters.list(Token::Source(source))
    }

    /// Alerts of `source` with a ts in (ts - window, ts], counted up to the limit.
    fn in_window(&self, source: u32, ts: u64) -> u64 {
        let Some(list) = self.source_alerts(source) else {
            return 0;
        };
        let lo = (ts + 1).saturating_sub(self.settings.ratelimit_window_ms);
        let end = AlertId::new(ts, u64::MAX);
        list.ids_from(AlertId::new(lo, 0))
            .take_while(|id| *id <= end)
            .take(self.settings.ratelimit_n as usize)
            .count() as u64
    }

    /// The least d >= 1 such that an alert of `source` at ts + d would not be limited.
    ///
    /// count(d) = alerts with ts in (ts + d - w, ts + d] only drops when an alert leaves the
    /// window, at d = t - ts + w; so test d = 1, then those in increasing order, with two
    /// cursors over the source's alerts. In-order streams stop after about n steps.
    fn retry_after(&self, source: u32, ts: u64) -> u64 {
        let Some(list) = self.source_alerts(source) else {
            return 1;
        };
        let w = self.settings.ratelimit_window_ms;
        let n = self.settings.ratelimit_n;
        let from = AlertId::new((ts + 1).saturating_sub(w), 0);
        let times = || list.ids_from(from).map(|id| id.ts);
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

    /// Stores a new alert under the next revision, or under `rev` when it is restored.
    fn insert(
        &mut self,
        id: AlertId,
        doc: Document<'_>,
        status: Status,
        count: u64,
        last_seen: u64,
        rev: Option<u64>,
    ) {
        self.note_id(id);
        let rev = match rev {
            Some(r) => {
                self.set_revision(self.revision.max(r));
                r
            }
            None => self.next_revision(),
        };
        let source = self.sources.acquire(&doc.source);
        let kind = self.kinds.acquire(&doc.kind);
        let (fp_key, flags) = match &doc.fingerprint {
            Fingerprint::Never => (0, 0),
            Fingerprint::Hash(h) => (*h, FLAG_DEDUP),
            Fingerprint::Explicit { key, .. } => (*key, FLAG_DEDUP | FLAG_EXPLICIT_FP),
        };
        let (stored, lead, coded) = doc::stored(&doc, &mut self.keys);
        let small = u32::try_from(count).ok();
        let alert = Alert {
            // SAFETY: `stored` is parts of `doc.json()`, which only `parse_document` makes,
            // from a document its scanner validated as JSON (UTF-8, no raw NUL byte), and
            // ASCII key codes.
            doc: unsafe { ThinText::from_json(stored) },
            rev,
            last_seen,
            count: small.unwrap_or(u32::MAX),
            fp_key,
            source,
            kind,
            status,
            severity: doc.severity,
            flags: flags
                | if small.is_none() { FLAG_BIG_COUNT } else { 0 }
                | if coded { FLAG_CODED } else { 0 },
            lead,
        };
        self.doc_bytes += alloc_size(alert.doc.alloc_len());
        let indexed =
            self.settings.dedup_ms > 0 && flags & FLAG_DEDUP != 0 && status != Status::Resolved;
        if self.alerts.insert(id, alert).is_ok() {
            if small.is_none() {
                self.big_counts.insert(id, count);
            }
            for t in index::tokens_of(source, kind, doc.severity) {
                self.filters.insert(t, id);
            }
            let _ = self.by_rev.insert(rev, id);
            if indexed {
                self.index_dedup(fp_key, id, last_seen);
            }
            if self.autoresolving() && status != Status::Resolved {
                self.stale.insert((last_seen, id));
            }
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
        for t in index::tokens_of(alert.source, alert.kind, alert.severity) {
            self.filters.remove(t, id);
        }
        self.kinds.release(alert.kind);
        self.doc_bytes -= alloc_size(alert.doc.alloc_len());
        if self.alerts.is_empty() {
            // No alert left, so no code: start the table again.
            self.keys.clear();
        }
        if alert.flags & FLAG_DEDUP != 0 && alert.status != Status::Resolved {
            self.dedup.remove(alert.fp_key, id, alert.last_seen);
        }
        self.sources.release(alert.source);
        self.by_rev.remove(&alert.rev);
        if alert.status != Status::Resolved && self.autoresolving() {
            self.stale.remove(&(alert.last_seen, *id));
        }
        if alert.flags & FLAG_BIG_COUNT != 0 {
            self.big_counts.remove(id);
            memsize::shrink_map(&mut self.big_counts);
        }
        if alert.flags & FLAG_ALIASES != 0 {
            let list = self.held.remove(id).unwrap_or_default();
            self.held_bytes = self.held_bytes.saturating_sub(list_bytes(&list));
            for alias in list {
                self.aliases.remove(&alias);
            }
        }
        self.shrink();
    }

    /// Gives back the room of removed alerts in the tables that keep it (amortised O(1), see
    /// `memsize`); the chunked maps, the dedup and filter indexes shrink as they go.
    fn shrink(&mut self) {
        for names in [&mut self.sources, &mut self.kinds] {
            memsize::shrink_map(&mut names.ids);
            memsize::shrink_slots(&mut names.entries, &mut names.free);
        }
        memsize::shrink_map(&mut self.held);
    }

    /// ALERT.ACK: active -> acked.
    pub fn ack(&mut self, id: &AlertId) -> bool {
        let rev = match self.alerts.get_mut(id) {
            Some(a) if a.status == Status::Active => {
                a.status = Status::Acked;
                a.rev
            }
            _ => return false,
        };
        self.bump(id, rev);
        true
    }

    /// ALERT.RESOLVE: active or acked -> resolved; no longer a dedup target.
    pub fn resolve(&mut self, id: &AlertId) -> bool {
        let (key, indexed, last_seen, rev) = match self.alerts.get_mut(id) {
            Some(a) if a.status != Status::Resolved => {
                a.status = Status::Resolved;
                (a.fp_key, a.flags & FLAG_DEDUP != 0, a.last_seen, a.rev)
            }
            _ => return false,
        };
        if indexed {
            self.dedup.remove(key, id, last_seen);
        }
        if self.autoresolving() {
            self.stale.remove(&(last_seen, *id));
        }
        self.bump(id, rev);
        true
    }

    /// Unresolved alerts whose last_seen is older than now minus the auto-resolve time, at
    /// most `budget` of them, oldest first.
    pub fn autoresolve_due(&self, now: u64, budget: usize) -> Vec<AlertId> {
        if !self.autoresolving() {
            return Vec::new();
        }
        let deadline = now.saturating_sub(self.settings.autoresolve_ms);
        self.stale
            .iter()
            .take_while(|(last_seen, _)| *last_seen < deadline)
            .take(budget)
            .map(|(_, id)| *id)
            .collect()
    }

    /// The earliest time at which some alert becomes due for auto-resolve.
    pub fn next_autoresolve(&self) -> Option<u64> {
        if !self.autoresolving() {
            return None;
        }
        let (last_seen, _) = self.stale.iter().next()?;
        Some(
            last_seen
                .saturating_add(self.settings.autoresolve_ms)
                .saturating_add(1),
        )
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
            || (old.autoresolve_ms > 0) != (settings.autoresolve_ms > 0)
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

    /// Rebuilds the dedup and auto-resolve indexes from the alerts (after load or a settings
    /// change; the rate limit reads the filter index, which any change keeps).
    pub fn rebuild_indexes(&mut self) {
        self.dedup.clear();
        let dedup_on = self.settings.dedup_ms > 0;
        let autoresolve = self.autoresolving();
        self.stale.clear();
        let mut index = Vec::new();
        for (id, a) in self.alerts.iter() {
            if dedup_on && a.flags & FLAG_DEDUP != 0 && a.status != Status::Resolved {
                index.push((a.fp_key, *id, a.last_seen));
            }
            if autoresolve && a.status != Status::Resolved {
                self.stale.insert((a.last_seen, *id));
            }
        }
        for (key, id, last_seen) in index {
            self.index_dedup(key, id, last_seen);
        }
    }

    /// Restores one alert exactly as it was (RDB load, AOF rewrite, IMPORT): no dedup, rate
    /// limit or trimming.
    // One alert's whole state, as IMPORT and the RDB carry it.
    #[allow(clippy::too_many_arguments)]
    pub fn import(
        &mut self,
        id: AlertId,
        doc: Document<'_>,
        status: Status,
        count: u64,
        last_seen: u64,
        aliases: &[AlertId],
        rev: Option<u64>,
    ) -> Result<(), AlertError> {
        if let Some(r) = rev {
            if r == 0 || self.by_rev.contains_key(&r) {
                return Err(AlertError::RevisionTaken(r));
            }
        }
        if self.alerts.contains_key(&id) || self.aliases.contains_key(&id) {
            return Err(AlertError::IdExists(id));
        }
        if let Some(a) = aliases
            .iter()
            .find(|a| self.alerts.contains_key(a) || self.aliases.contains_key(*a) || **a == id)
        {
            return Err(AlertError::IdExists(*a));
        }
        self.insert(id, doc, status, count.max(1), last_seen, rev);
        for a in aliases {
            self.remember_alias(*a, id);
        }
        Ok(())
    }

    /// Restores folded IDs after a load; pairs whose holder is gone are dropped.
    pub fn restore_aliases(&mut self, pairs: Vec<(AlertId, AlertId)>) {
        for (alias, holder) in pairs {
            if self.alerts.contains_key(&holder) && !self.aliases.contains_key(&alias) {
                self.remember_alias(alias, holder);
            }
        }
    }

    /// The shortest filter-index list the query's filters name (its alerts are a superset of
    /// the matches), or None when no filter has one (the range is walked).
    fn candidates(&self, q: &RangeQuery) -> Option<Candidates<'_>> {
        let mut best: Option<Candidates> = None;
        fn consider<'s>(c: Candidates<'s>, best: &mut Option<Candidates<'s>>) {
            if best.as_ref().is_none_or(|b| c.len() < b.len()) {
                *best = Some(c);
            }
        }
        // A value no alert has is an empty list.
        let list = |t: Option<Token>| t.and_then(|t| self.filters.list(t));
        if let Some(src) = &q.source {
            let t = self.sources.lookup(src).map(Token::Source);
            consider(Candidates::One(list(t)), &mut best);
        }
        if let Some(k) = &q.kind {
            let t = self.kinds.lookup(k).map(Token::Type);
            consider(Candidates::One(list(t)), &mut best);
        }
        if let Some(min) = q.min_severity.filter(|m| *m >= Severity::High) {
            let mut lists = [None, None];
            for (i, sev) in [Severity::Critical, Severity::High].into_iter().enumerate() {
                if sev >= min {
                    lists[i] = list(index::severity_token(sev));
                }
            }
            consider(Candidates::Two(lists[0], lists[1]), &mut best);
        }
        best
    }

    /// Whether an alert passes the query's filters (the labels read from its document).
    /// Whether `a` passes the query's filters; `source` and `kind` are the interned IDs of the
    /// names the query gives, looked up once per query.
    fn passes(&self, q: &RangeQuery, source: Option<u32>, kind: Option<u32>, a: &Alert) -> bool {
        if q.min_severity.is_some_and(|min| a.severity < min)
            || q.status.is_some_and(|st| a.status != st)
            || source.is_some_and(|s| a.source != s)
            || kind.is_some_and(|k| a.kind != k)
        {
            return false;
        }
        // The quick text test first: most documents fail a rare LABEL without being parsed.
        q.labels.is_empty() || {
            let text = self.stored(a);
            filter::labels_may_match(&q.labels, &text)
                && filter::labels_match_parsed(&q.labels, &doc::fields(&text))
        }
    }

    /// The alerts of the range that pass the filters, in the query's direction, walking the
    /// shortest index list when a filter names one.
    pub fn matching<'s: 'q, 'q>(
        &'s self,
        q: &'q RangeQuery,
    ) -> Box<dyn Iterator<Item = (AlertId, &'s Alert)> + 'q> {
        if q.start > q.end {
            return Box::new(std::iter::empty());
        }
        let source = match &q.source {
            Some(name) => match self.sources.lookup(name) {
                Some(id) => Some(id),
                None => return Box::new(std::iter::empty()),
            },
            None => None,
        };
        let kind = match &q.kind {
            Some(name) => match self.kinds.lookup(name) {
                Some(id) => Some(id),
                None => return Box::new(std::iter::empty()),
            },
            None => None,
        };
        let pass = move |(id, a): (&AlertId, &'s Alert)| {
            self.passes(q, source, kind, a).then_some((*id, a))
        };
        match self.candidates(q) {
            Some(c) => {
                let ids = c.ids(q.start, q.end, q.rev);
                // The IDs come in order: each found from where the one before was.
                let mut alerts = self.alerts.finger();
                Box::new(ids.filter_map(move |id| {
                    let a = alerts.get(&id)?;
                    pass((&id, a))
                }))
            }
            None if q.rev => Box::new(
                self.alerts
                    .iter_rev_from(&q.end)
                    .take_while(move |(id, _)| **id >= q.start)
                    .filter_map(pass),
            ),
            None => Box::new(
                self.alerts
                    .iter_from(&q.start)
                    .take_while(move |(id, _)| **id <= q.end)
                    .filter_map(pass),
            ),
        }
    }

    pub fn range(&self, q: &RangeQuery) -> Vec<(AlertId, &Alert)> {
        if q.count == Some(0) {
            return Vec::new();
        }
        self.matching(q)
            .take(q.count.unwrap_or(usize::MAX))
            .collect()
    }

    /// The source name of an alert.
    fn source_name(&self, a: &Alert) -> &str {
        self.sources.entry(a.source).map_or("", |e| &e.name)
    }

    /// Whether `a` passes `f`.
    pub fn matches(&self, f: &Filter, a: &Alert) -> bool {
        self.matches_beside_doc(f, a) && (f.labels.is_empty() || f.matches_doc(&self.stored(a)))
    }

    /// Whether `a` passes `f`'s filters other than LABEL (those kept beside the document).
    pub fn matches_beside_doc(&self, f: &Filter, a: &Alert) -> bool {
        let kind = self.kinds.entry(a.kind).map_or("", |e| &e.name);
        f.matches_fields(a.severity, a.status, self.source_name(a))
            && f.kind.as_deref().is_none_or(|k| k == kind)
    }

    /// ALERT.READ: the alerts whose last change is after `q.after`, in the order of those
    /// changes, each once in its current state.
    pub fn read(&self, q: &ReadQuery) -> Result<ReadResult<'_>, AlertError> {
        if q.after > self.revision {
            return Err(AlertError::CursorAhead);
        }
        let mut out = ReadResult {
            next: q.after,
            items: Vec::new(),
            exhausted: false,
        };
        let Some(start) = q.after.checked_add(1) else {
            return Ok(out);
        };
        // Alerts that changed in ID order (the common case: appended, then not touched) are
        // met in the same order by the revision index: walk the alerts alongside and seek only
        // when the next change is elsewhere.
        let mut walk = self.alerts.iter_from(&AlertId::MIN).peekable();
        let mut stopped = false;
        // The silences an alert must pass, matched together (`cover::Matchers`).
        let silences = (!q.with_silenced && !self.silences.is_empty())
            .then(|| cover::Matchers::new(self.silences.values().map(|s| &s.matchers)));
        for (examined, (rev, id)) in self.by_rev.iter_from(&start).enumerate() {
            if out.items.len() >= q.count || examined >= q.max_examined {
                stopped = true;
                break;
            }
            out.next = rev;
            let a = match walk.peek() {
                Some((k, a)) if **k == id => {
                    let a = *a;
                    walk.next();
                    a
                }
                _ => {
                    walk = self.alerts.iter_from(&id).peekable();
                    match walk.next() {
                        Some((k, a)) if *k == id => a,
                        _ => continue,
                    }
                }
            };
            if self.matches(&q.filter, a)
                && silences.as_ref().is_none_or(|m| {
                    let (text, fields) = (OnceCell::new(), OnceCell::new());
                    !m.any(&cover::Doc::new(self, a, &text, &fields))
                })
            {
                out.items.push((rev, id, a));
            }
        }
        out.exhausted = !stopped;
        Ok(out)
    }

    /// The active silences, by ID.
    pub fn silences(&self) -> impl Iterator<Item = &Silence> + '_ {
        self.silences.values()
    }

    pub fn silence_count(&self) -> usize {
        self.silences.len()
    }

    /// How many alerts `s` covers now.
    pub fn covered(&self, s: &Silence) -> u64 {
        self.alerts
            .iter()
            .filter(|(_, a)| self.matches(&s.matchers, a))
            .count() as u64
    }

    /// ALERT.SILENCE: holds a silence; `id` None takes the next ID (an explicit one comes from
    /// the primary or the AOF).
    pub fn silence(
        &mut self,
        until: u64,
        matchers: Filter,
        comment: Option<String>,
        id: Option<u64>,
    ) -> Result<u64, AlertError> {
        if self.silences.len() >= MAX_SILENCES {
            return Err(AlertError::TooManySilences);
        }
        let id = id.unwrap_or(self.next_silence);
        if id > MAX_SILENCE_ID {
            return Err(AlertError::SilenceIdsExhausted);
        }
        if self.silences.contains_key(&id) {
            return Err(AlertError::SilenceExists(id));
        }
        self.next_silence = self.next_silence.max(id.saturating_add(1));
        self.silences.insert(
            id,
            Silence {
                id,
                until,
                matchers,
                comment,
            },
        );
        Ok(id)
    }

    /// Ends silence `id` ([`Stream::unsilence_all`]). None when there is no such silence;
    /// else the alerts re-revisioned.
    pub fn unsilence(&mut self, id: u64) -> Option<u64> {
        match self.unsilence_all(&[id]) {
            (0, _) => None,
            (_, n) => Some(n),
        }
    }

    /// Ends the silences `ids` (those the stream holds): every alert one of them covered that
    /// is not resolved and no other silence covers gets a new revision, in ID order, so a
    /// notifier sees it now. One walk of the alerts however many silences end, each document
    /// read at most once. Returns the silences ended and the alerts re-revisioned.
    pub fn unsilence_all(&mut self, ids: &[u64]) -> (u64, u64) {
        let ended: Vec<Silence> = ids
            .iter()
            .filter_map(|id| self.silences.remove(id))
            .collect();
        if ended.is_empty() {
            return (0, 0);
        }
        let uncovered = cover::uncovered(self, &ended);
        for (alert, rev) in &uncovered {
            self.bump(alert, *rev);
        }
        (ended.len() as u64, uncovered.len() as u64)
    }

    /// Silences whose UNTIL has passed at `now`, earliest first.
    pub fn ended_silences(&self, now: u64) -> Vec<u64> {
        let mut ended: Vec<(u64, u64)> = self
            .silences
            .values()
            .filter(|s| s.until <= now)
            .map(|s| (s.until, s.id))
            .collect();
        ended.sort_unstable();
        ended.into_iter().map(|(_, id)| id).collect()
    }

    /// The earliest UNTIL among the silences.
    pub fn next_silence_end(&self) -> Option<u64> {
        self.silences.values().map(|s| s.until).min()
    }

    /// ALERT.GROUPS: the alerts of the range that pass the filters, counted by `by`, ordered
    /// by value (bytes; the group without a value first).
    pub fn groups(&self, q: &RangeQuery, by: &GroupBy) -> Vec<Group> {
        let mut groups: BTreeMap<Option<String>, Group> = BTreeMap::new();
        let mut forward = q.clone();
        forward.rev = false;
        for (id, a) in self.matching(&forward) {
            let value = match by {
                GroupBy::Severity => Some(a.severity.as_str().to_string()),
                GroupBy::Status => Some(a.status.as_str().to_string()),
                GroupBy::Source => Some(self.source_name(a).to_string()),
                GroupBy::Type => Some(self.kinds.entry(a.kind).map_or("", |e| &e.name).to_string()),
                GroupBy::Label(name) => doc::fields(&self.stored(a))
                    .labels
                    .iter()
                    .find(|(n, _)| n == name.as_str())
                    .map(|(_, v)| v.to_string()),
            };
            let g = groups.entry(value.clone()).or_insert(Group {
                value,
                alerts: 0,
                occurrences: 0,
                newest_ts: 0,
            });
            g.alerts += 1;
            g.occurrences = g.occurrences.saturating_add(self.count_of(&id, a));
            g.newest_ts = g.newest_ts.max(id.ts);
        }
        groups.into_values().collect()
    }

    /// Bytes held, as MEMORY USAGE reports them.
    pub fn memory_usage(&self) -> usize {
        size_of::<Stream>()
            + self.alerts.heap_bytes()
            + self.doc_bytes
            + self.keys.heap_bytes()
            + self.dedup.heap_bytes()
            + self.sources.heap_bytes()
            + self.kinds.heap_bytes()
            // Folded IDs come in ID order, which leaves the B-tree's nodes about half full:
            // 2 x the pair; plus the per-holder lists, as allocated.
            + memsize::btree_bytes_in_order(self.aliases.len(), size_of::<(AlertId, AlertId)>())
            + hash_bytes(self.held.capacity(), size_of::<(AlertId, VecDeque<AlertId>)>())
            + self.held_bytes
            + hash_bytes(self.big_counts.capacity(), size_of::<(AlertId, u64)>())
            + self.by_rev.heap_bytes()
            + self.filters.heap_bytes()
            + memsize::btree_bytes(self.stale.len(), size_of::<(u64, AlertId)>())
            // Silences come in ID order too (half-full nodes).
            + memsize::btree_bytes_in_order(self.silences.len(), size_of::<(u64, Silence)>())
            + self
                .silences
                .values()
                .map(|s| {
                    s.matchers.heap_bytes()
                        + s.comment.as_ref().map_or(0, |c| alloc_size(c.capacity()))
                })
                .sum::<usize>()
    }
}

/// The alerts a filtered read walks: one index list, or the two of MINSEVERITY high (critical
/// and high) merged. A missing list is an empty one.
enum Candidates<'s> {
    One(Option<&'s List>),
    Two(Option<&'s List>, Option<&'s List>),
}

impl<'s> Candidates<'s> {
    fn len(&self) -> usize {
        let n = |l: &Option<&List>| l.map_or(0, |l| l.len());
        match self {
            Candidates::One(l) => n(l),
            Candidates::Two(a, b) => n(a) + n(b),
        }
    }

    /// The IDs between `start` and `end`, ascending (or descending with `rev`).
    fn ids(
        self,
        start: AlertId,
        end: AlertId,
        rev: bool,
    ) -> Box<dyn Iterator<Item = AlertId> + 's> {
        let walk = move |l: Option<&'s List>| -> Box<dyn Iterator<Item = AlertId> + 's> {
            match l {
                None => Box::new(std::iter::empty()),
                Some(l) => l.ids(start, end, rev),
            }
        };
        match self {
            Candidates::One(l) => walk(l),
            Candidates::Two(a, b) => {
                let (mut a, mut b) = (walk(a).peekable(), walk(b).peekable());
                Box::new(std::iter::from_fn(move || {
                    let take_a = match (a.peek(), b.peek()) {
                        (Some(x), Some(y)) => (x < y) != rev,
                        (Some(_), None) => true,
                        (None, _) => false,
                    };
                    if take_a {
                        a.next()
                    } else {
                        b.next()
                    }
                }))
            }
        }
    }
}

/// `a`'s count (held under `id`): its own field, or `big` once it passed u32::MAX.
fn count_in(big: &HashMap<AlertId, u64>, id: &AlertId, a: &Alert) -> u64 {
    match a.flags & FLAG_BIG_COUNT {
        0 => u64::from(a.count),
        _ => big.get(id).copied().unwrap_or(u64::from(a.count)),
    }
}

/// Sets `a`'s count (held under `id`): in its own field while it fits in a u32, in `big` from
/// then on.
fn set_count(big: &mut HashMap<AlertId, u64>, id: AlertId, a: &mut Alert, count: u64) {
    match u32::try_from(count) {
        Ok(c) if a.flags & FLAG_BIG_COUNT == 0 => a.count = c,
        _ => {
            a.flags |= FLAG_BIG_COUNT;
            a.count = u32::MAX;
            big.insert(id, count);
        }
    }
}

impl Stream {
    /// The stored text of `a`: the document less the members kept beside it (severity,
    /// source and type when written plainly); its labels and every other field are there as
    /// sent (keys written out again; borrowed when `a` holds no code). [`Stream::document`]
    /// gives the whole document.
    pub fn stored<'s>(&'s self, a: &'s Alert) -> Cow<'s, str> {
        if a.flags & FLAG_CODED == 0 {
            return Cow::Borrowed(&a.doc);
        }
        self.keys.expand(&a.doc)
    }

    /// The occurrences folded into `a` (held under `id`).
    pub fn count_of(&self, id: &AlertId, a: &Alert) -> u64 {
        count_in(&self.big_counts, id, a)
    }

    /// Writes `a`'s document without its closing brace; whether it has any member.
    fn write_open(&self, out: &mut Vec<u8>, a: &Alert) -> bool {
        let kind = self.kinds.entry(a.kind).map_or("", |e| &e.name);
        doc::write_open(
            out,
            a.doc.as_bytes(),
            &self.keys,
            a.lead,
            a.severity,
            self.source_name(a),
            kind,
        )
    }

    /// The document of `a` as sent (key order and whitespace may differ), without the server
    /// fields: what RDB, DUMP and the AOF rewrite keep.
    pub fn document(&self, a: &Alert) -> String {
        let mut out = Vec::with_capacity(a.doc.len() + 64);
        self.document_into(&mut out, a);
        into_text(out)
    }

    /// `document`, into `out` after clearing it (RDB and AOF rewrite reuse one buffer for
    /// every alert of the stream). UTF-8, as the document was.
    pub fn document_into(&self, out: &mut Vec<u8>, a: &Alert) {
        out.clear();
        self.write_open(out, a);
        out.push(b'}');
    }

    /// The alert as clients see it: the document plus the five server fields.
    pub fn render(&self, id: &AlertId, a: &Alert) -> String {
        let mut out = Vec::with_capacity(a.doc.len() + 160);
        self.render_into(&mut out, id, a);
        into_text(out)
    }

    /// `render`, appended to `out` (RANGE reuses one buffer for every alert it returns):
    /// UTF-8 JSON.
    pub fn render_into(&self, out: &mut Vec<u8>, id: &AlertId, a: &Alert) {
        use crate::decimal::Digits;
        if self.write_open(out, a) {
            out.push(b',');
        }
        // `"id":"<ts>-<seq>","ts":<ts>,"status":"<st>","count":<n>,"last_seen":<ms>}`, without
        // `write!` (a quarter of rendering an alert for RANGE), each number a copy of a fixed
        // size. The ts is written twice, and last_seen is most often the same: its digits once.
        let ts = Digits::new(id.ts);
        out.extend_from_slice(b"\"id\":\"");
        ts.push_to(out);
        out.push(b'-');
        Digits::new(id.seq).push_to(out);
        out.extend_from_slice(b"\",\"ts\":");
        ts.push_to(out);
        out.extend_from_slice(a.status.rendered_before_count());
        Digits::new(self.count_of(id, a)).push_to(out);
        out.extend_from_slice(b",\"last_seen\":");
        if a.last_seen == id.ts {
            ts.push_to(out);
        } else {
            Digits::new(a.last_seen).push_to(out);
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests;
