//! The file journal: writes kept while Redis is unavailable, as JSON lines in segment files
//! `journal-<generation>.log` in a directory the user names, each record fsync'ed before the
//! write is acknowledged.
//!
//! Replay progress is a byte offset in `journal-<generation>.cursor`, moved forward only after
//! Redis answered the records before it. Records answered out of order (in a cluster, the
//! slots of a node that answers replay while those of one that does not wait) are listed in
//! `journal-<generation>.done` until the cursor passes them. Neither file is fsync'ed: losing
//! them replays records Redis already has, which the explicit IDs turn into `exists`. A fully
//! replayed journal is deleted. A torn last line (a crash in the middle of a write, never acknowledged) is cut off
//! when the journal is opened.
//!
//! Beside the records, `settings.json` keeps the stream settings the client had learnt for
//! the keys it journals (`ALERT.INFO`, CREATE / ALTER through the client), written and
//! fsync'ed before the first record of a key that needs them: a client restarted during an
//! outage reads its journal back, and answers new writes, under the settings it answered
//! under before (a damaged or lost file only brings back the defaults for its keys). It goes
//! with the journal once everything is replayed. So does `renamed.json`: the silences the
//! replay had to make under another ID than the journal's, for the UNSILENCEs after them.
//!
//! `Journal` does blocking file I/O; the client reaches it through `SharedJournal`, which runs
//! every call on tokio's blocking pool.

use crate::config::StreamSettings;
use crate::record::Record;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// A record read back: its segment, and the offsets of its line and just past it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub record: Record,
    pub generation: u64,
    pub start: u64,
    pub end: u64,
}

/// A place in the journal: just past the entry that ended at `end` in segment `generation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub generation: u64,
    pub end: u64,
}

impl Entry {
    pub fn pos(&self) -> Pos {
        Pos {
            generation: self.generation,
            end: self.end,
        }
    }
}

#[derive(Debug)]
struct Segment {
    generation: u64,
    /// Bytes of complete records.
    len: u64,
    /// Bytes confirmed by Redis.
    cursor: u64,
    /// Records after the cursor that are not done.
    pending: u64,
    /// Records after the cursor that Redis answered: start -> end.
    done: BTreeMap<u64, u64>,
}

#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    /// Holds an exclusive lock on `dir/lock` while the journal is open: two clients appending
    /// to and replaying one journal would double and lose records. The kernel releases it when
    /// the process dies, so a restarted process gets it back.
    _lock: File,
    /// Oldest first; the last one is appended to.
    segments: Vec<Segment>,
    /// The open append handle of the last segment.
    file: Option<File>,
    /// A failed write may have left a partial line that could not be cut: start the next
    /// record on a new line so the partial one reads as garbage and is skipped.
    needs_newline: bool,
    /// Journal size limit (bytes of records not yet replayed), 0 for none.
    max_bytes: u64,
    pending_bytes: u64,
    /// What `settings.json` holds: the settings kept for the journal's keys.
    settings: BTreeMap<String, StreamSettings>,
    /// What `renamed.json` holds: (key, the journal's silence ID, the ID Redis made it under).
    renamed: Vec<(String, u64, u64)>,
    #[cfg(feature = "test-hooks")]
    sync_hook: Option<crate::config::SyncHook>,
}

fn settings_path(dir: &Path) -> PathBuf {
    dir.join("settings.json")
}

fn renamed_path(dir: &Path) -> PathBuf {
    dir.join("renamed.json")
}

/// What an earlier run kept in `path` (`what` names it in the warning); the default when the
/// file is missing, and (with a warning) when it cannot be read.
fn read_kept<T: serde::de::DeserializeOwned + Default>(path: &Path, what: &str) -> T {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return T::default(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "vigil-client: cannot read the kept {what}");
            return T::default();
        }
    };
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        tracing::warn!(path = %path.display(), error = %e, "vigil-client: damaged kept {what}, not used");
        T::default()
    })
}

/// Puts `value` in `path` whole: written aside, fsync'ed, renamed into place, the directory
/// fsync'ed.
fn replace_file(dir: &Path, path: &Path, value: &impl Serialize) -> io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_data()?;
    fs::rename(&tmp, path)?;
    File::open(dir).and_then(|d| d.sync_all())
}

/// Why an append failed: the caller moves on to the memory store either way.
#[derive(Debug)]
pub(crate) enum AppendError {
    Full,
    Io(io::Error),
}

impl std::fmt::Display for AppendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppendError::Full => write!(f, "journal is at its size limit"),
            AppendError::Io(e) => write!(f, "{e}"),
        }
    }
}

fn log_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("journal-{generation:010}.log"))
}

fn cursor_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("journal-{generation:010}.cursor"))
}

fn done_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("journal-{generation:010}.done"))
}

/// The `start end` lines of a `.done` file past `cursor`.
fn read_done(dir: &Path, generation: u64, cursor: u64) -> BTreeMap<u64, u64> {
    let text = fs::read_to_string(done_path(dir, generation)).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (a, b) = l.split_once(' ')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        })
        .filter(|(start, end): &(u64, u64)| *start >= cursor && end > start)
        .collect()
}

/// Splits up to `max` complete lines of `bytes` (which starts at file offset `base` of segment
/// `generation`) into entries. Returns the entries and the offset just past the last line read.
fn parse_lines(bytes: &[u8], generation: u64, base: u64, max: usize) -> (Vec<Entry>, u64) {
    let mut entries = Vec::new();
    let mut pos = 0usize;
    while entries.len() < max {
        let Some(nl) = bytes[pos..].iter().position(|b| *b == b'\n') else {
            break;
        };
        let line = &bytes[pos..pos + nl];
        let start = base + pos as u64;
        pos += nl + 1;
        match serde_json::from_slice::<Record>(line) {
            Ok(record) => entries.push(Entry {
                record,
                generation,
                start,
                end: base + pos as u64,
            }),
            Err(_) if line.is_empty() => {}
            Err(e) => {
                tracing::warn!(offset = base + pos as u64, error = %e, "vigil-client: skipping an unreadable journal line")
            }
        }
    }
    (entries, base + pos as u64)
}

impl Journal {
    /// Opens (creating) the journal directory and finds what earlier runs left in it.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Journal> {
        fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        if let Err(e) = lock.try_lock() {
            return Err(match e {
                fs::TryLockError::WouldBlock => io::Error::new(
                    io::ErrorKind::ResourceBusy,
                    format!("{} is in use by another client", dir.display()),
                ),
                fs::TryLockError::Error(e) => e,
            });
        }
        let mut generations: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("journal-")?
                    .strip_suffix(".log")?
                    .parse()
                    .ok()
            })
            .collect();
        generations.sort_unstable();
        let mut journal = Journal {
            dir: dir.to_owned(),
            _lock: lock,
            segments: Vec::new(),
            file: None,
            needs_newline: false,
            max_bytes,
            pending_bytes: 0,
            settings: BTreeMap::new(),
            renamed: Vec::new(),
            #[cfg(feature = "test-hooks")]
            sync_hook: None,
        };
        for generation in generations {
            let path = log_path(dir, generation);
            let mut bytes = Vec::new();
            File::open(&path)?.read_to_end(&mut bytes)?;
            let (entries, complete) = parse_lines(&bytes, generation, 0, usize::MAX);
            if complete < bytes.len() as u64 {
                tracing::warn!(path = %path.display(), "vigil-client: cutting a torn last journal line");
                OpenOptions::new()
                    .write(true)
                    .open(&path)?
                    .set_len(complete)?;
            }
            let cursor = fs::read_to_string(cursor_path(dir, generation))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(0)
                .min(complete);
            let done = read_done(dir, generation, cursor);
            let pending = entries
                .iter()
                .filter(|e| e.end > cursor && !done.contains_key(&e.start))
                .count() as u64;
            if pending == 0 {
                journal.remove_files(generation);
                continue;
            }
            journal.pending_bytes += complete - cursor;
            journal.segments.push(Segment {
                generation,
                len: complete,
                cursor,
                pending,
                done,
            });
        }
        if journal.segments.is_empty() {
            // Nothing to replay: what was kept for it is of no use.
            journal.remove_kept();
        } else {
            journal.settings = read_kept(&settings_path(dir), "stream settings");
            journal.renamed = read_kept(&renamed_path(dir), "silence IDs");
        }
        Ok(journal)
    }

    /// The settings kept for the journal's keys (by this run or an earlier one).
    pub fn kept_settings(&self) -> BTreeMap<String, StreamSettings> {
        self.settings.clone()
    }

    /// Keeps `settings` for `key` in `settings.json` unless it holds them already.
    fn keep_settings(&mut self, key: &str, settings: StreamSettings) -> io::Result<()> {
        if self.settings.get(key) == Some(&settings) {
            return Ok(());
        }
        let mut next = self.settings.clone();
        next.insert(key.to_owned(), settings);
        replace_file(&self.dir, &settings_path(&self.dir), &next)?;
        self.settings = next;
        Ok(())
    }

    /// The silences the replay made under another ID than the journal's (key, journal's ID
    /// -> Redis's), as kept by this run or an earlier one.
    pub fn kept_renames(&self) -> Vec<(String, u64, u64)> {
        self.renamed.clone()
    }

    /// Keeps, in `renamed.json`, that the journal's silence `id` of `key` was made under
    /// `new`: an UNSILENCE of it still in the journal is sent for `new`, also by a client
    /// restarted before it was replayed (else it would end whichever silence holds `id`).
    pub fn keep_rename(&mut self, key: &str, id: u64, new: u64) -> io::Result<()> {
        let mut next = self.renamed.clone();
        next.retain(|(k, i, _)| !(k == key && *i == id));
        next.push((key.to_owned(), id, new));
        replace_file(&self.dir, &renamed_path(&self.dir), &next)?;
        self.renamed = next;
        Ok(())
    }

    #[cfg(feature = "test-hooks")]
    pub fn set_sync_hook(&mut self, hook: Option<crate::config::SyncHook>) {
        self.sync_hook = hook;
    }

    /// Records not yet confirmed by Redis.
    pub fn pending(&self) -> u64 {
        self.segments.iter().map(|s| s.pending).sum()
    }

    /// Every pending record, oldest first (to rebuild the local view on start).
    pub fn pending_records(&self) -> io::Result<Vec<Record>> {
        Ok(self
            .read_pending(None, usize::MAX)?
            .into_iter()
            .map(|e| e.record)
            .collect())
    }

    /// Up to `max` records of segment `s` from offset `from` (at least its cursor) that are
    /// not done.
    fn read_segment(&self, s: &Segment, from: u64, max: usize) -> io::Result<Vec<Entry>> {
        let from = from.max(s.cursor);
        if from >= s.len || max == 0 {
            return Ok(Vec::new());
        }
        let mut f = File::open(log_path(&self.dir, s.generation))?;
        f.seek(SeekFrom::Start(from))?;
        // Read in slices so a large backlog is not loaded whole for one batch.
        let mut out = Vec::new();
        let mut base = from;
        let mut carry: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while base + (carry.len() as u64) < s.len && out.len() < max {
            let want = ((s.len - base) as usize - carry.len()).min(buf.len());
            let n = f.read(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            carry.extend_from_slice(&buf[..n]);
            let (entries, complete) = parse_lines(&carry, s.generation, base, usize::MAX);
            carry.drain(..(complete - base) as usize);
            base = complete;
            out.extend(
                entries
                    .into_iter()
                    .filter(|e| !s.done.contains_key(&e.start)),
            );
        }
        out.truncate(max);
        Ok(out)
    }

    /// Up to `max` records not yet done, oldest first, after `after` (from the start when
    /// None).
    pub fn read_pending(&self, after: Option<Pos>, max: usize) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for s in &self.segments {
            if out.len() >= max {
                break;
            }
            let from = match after {
                Some(p) if p.generation > s.generation => continue,
                Some(p) if p.generation == s.generation => p.end,
                _ => 0,
            };
            if s.pending == 0 {
                continue;
            }
            out.extend(self.read_segment(s, from, max - out.len())?);
        }
        Ok(out)
    }

    /// Appends one record and fsyncs it: when this returns Ok, the record survives a crash.
    /// `settings`, the ones learnt for the record's stream, are kept first (a failure to keep
    /// them is logged: it costs only the provisional answers of a restarted client).
    pub fn append(
        &mut self,
        record: &Record,
        settings: Option<StreamSettings>,
    ) -> Result<(), AppendError> {
        let mut line = serde_json::to_vec(record).map_err(|e| AppendError::Io(e.into()))?;
        line.push(b'\n');
        if self.max_bytes > 0 && self.pending_bytes + line.len() as u64 > self.max_bytes {
            return Err(AppendError::Full);
        }
        if self.file.is_none() {
            self.open_active().map_err(AppendError::Io)?;
        }
        if self.needs_newline {
            line.insert(0, b'\n');
        }
        if let Some(settings) = settings {
            if let Err(e) = self.keep_settings(record.key(), settings) {
                tracing::warn!(dir = %self.dir.display(), error = %e, "vigil-client: could not keep the stream settings beside the journal");
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Err(AppendError::Io(io::Error::other("journal file not open")));
        };
        let Some(seg) = self.segments.last_mut() else {
            return Err(AppendError::Io(io::Error::other("no journal segment")));
        };
        #[cfg(feature = "test-hooks")]
        if let Some(hook) = &self.sync_hook {
            (hook.0)();
        }
        match file.write_all(&line).and_then(|_| file.sync_data()) {
            Ok(()) => {
                seg.len += line.len() as u64;
                seg.pending += 1;
                self.pending_bytes += line.len() as u64;
                self.needs_newline = false;
                Ok(())
            }
            Err(e) => {
                // Cut what part of the line got in, so the next record starts clean.
                let cut = file.set_len(seg.len).and_then(|_| file.sync_data());
                self.needs_newline = cut.is_err();
                Err(AppendError::Io(e))
            }
        }
    }

    /// Makes sure the last segment is open for appending, creating a new one if needed.
    fn open_active(&mut self) -> io::Result<()> {
        let generation = match self.segments.last() {
            Some(s) => s.generation,
            None => {
                let generation = self.next_generation();
                self.segments.push(Segment {
                    generation,
                    len: 0,
                    cursor: 0,
                    pending: 0,
                    done: BTreeMap::new(),
                });
                generation
            }
        };
        let path = log_path(&self.dir, generation);
        let opened = OpenOptions::new().create(true).append(true).open(&path);
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                // Nothing was written: forget the segment we meant to start.
                if self.segments.last().is_some_and(|s| s.len == 0) {
                    self.segments.pop();
                }
                return Err(e);
            }
        };
        // A new file's directory entry must be durable too.
        File::open(&self.dir).and_then(|d| d.sync_all())?;
        self.file = Some(file);
        Ok(())
    }

    fn next_generation(&self) -> u64 {
        let newest_on_disk = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("journal-")?
                    .split('.')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .max();
        newest_on_disk.map_or(1, |g| g + 1)
    }

    /// Redis answered these records (in any order): the cursor of each segment moves past
    /// the records done from its start; those done beyond it are listed in its `.done` file.
    pub fn mark_done(&mut self, entries: &[(u64, u64, u64)]) {
        let mut touched: Vec<u64> = Vec::new();
        for &(generation, start, end) in entries {
            let Some(seg) = self
                .segments
                .iter_mut()
                .find(|s| s.generation == generation)
            else {
                continue;
            };
            if start < seg.cursor || seg.done.contains_key(&start) {
                continue;
            }
            seg.done.insert(start, end);
            seg.pending = seg.pending.saturating_sub(1);
            if !touched.contains(&generation) {
                touched.push(generation);
            }
        }
        for generation in touched {
            self.advance(generation);
        }
    }

    /// Moves a segment's cursor past its records done from the cursor on, and saves it.
    fn advance(&mut self, generation: u64) {
        let Some(i) = self
            .segments
            .iter()
            .position(|s| s.generation == generation)
        else {
            return;
        };
        let seg = &mut self.segments[i];
        let before = seg.cursor;
        while let Some(end) = seg.done.remove(&seg.cursor) {
            seg.cursor = end;
        }
        if seg.pending == 0 {
            // Everything left is done (a skipped unreadable line included).
            seg.cursor = seg.len;
            seg.done.clear();
        }
        let (cursor, len) = (seg.cursor, seg.len);
        let beyond: Vec<(u64, u64)> = seg.done.iter().map(|(a, b)| (*a, *b)).collect();
        self.pending_bytes = self.pending_bytes.saturating_sub(cursor - before);
        if cursor > before {
            let path = cursor_path(&self.dir, generation);
            let tmp = path.with_extension("cursor.tmp");
            let written = fs::write(&tmp, cursor.to_string()).and_then(|_| fs::rename(&tmp, &path));
            if let Err(e) = written {
                // Only costs a second replay of these records (answered `exists`).
                tracing::warn!(error = %e, "vigil-client: could not save the journal cursor");
            }
        }
        let done = done_path(&self.dir, generation);
        if beyond.is_empty() {
            let _ = fs::remove_file(&done);
        } else {
            let text: String = beyond.iter().map(|(a, b)| format!("{a} {b}\n")).collect();
            let tmp = done.with_extension("done.tmp");
            let written = fs::write(&tmp, text).and_then(|_| fs::rename(&tmp, &done));
            if let Err(e) = written {
                tracing::warn!(error = %e, "vigil-client: could not save the journal's done list");
            }
        }
        // A fully replayed segment that is no longer appended to can go.
        let last = self.segments.len() - 1;
        if i != last && self.segments[i].pending == 0 && cursor >= len {
            self.segments.remove(i);
            self.remove_files(generation);
        }
    }

    /// Segments that count pending records none of which can be read back (the file was
    /// changed under us): stop waiting for them.
    pub fn skip_unreadable_all(&mut self) {
        let stuck: Vec<u64> = self
            .segments
            .iter()
            .filter(|s| s.pending > 0)
            .filter(|s| matches!(self.read_segment(s, 0, 1), Ok(v) if v.is_empty()))
            .map(|s| s.generation)
            .collect();
        for generation in stuck {
            self.skip_unreadable(generation);
        }
    }

    /// A segment counted records that can no longer be read (the file was changed under us):
    /// stop waiting for them.
    fn skip_unreadable(&mut self, generation: u64) {
        let Some(seg) = self
            .segments
            .iter_mut()
            .find(|s| s.generation == generation)
        else {
            return;
        };
        let pending = seg.pending;
        tracing::error!(
            generation,
            pending,
            "vigil-client: journal records could not be read back"
        );
        seg.pending = 0;
        self.advance(generation);
    }

    /// Everything was replayed: delete the files, the next append starts a new segment.
    pub fn reset(&mut self) {
        self.file = None;
        for s in std::mem::take(&mut self.segments) {
            self.remove_files(s.generation);
        }
        self.pending_bytes = 0;
        self.needs_newline = false;
        self.remove_kept();
    }

    /// Forgets what was kept beside the records (nothing is left to replay).
    fn remove_kept(&mut self) {
        self.settings.clear();
        self.renamed.clear();
        let _ = fs::remove_file(settings_path(&self.dir));
        let _ = fs::remove_file(renamed_path(&self.dir));
    }

    fn remove_files(&self, generation: u64) {
        let _ = fs::remove_file(log_path(&self.dir, generation));
        let _ = fs::remove_file(cursor_path(&self.dir, generation));
        let _ = fs::remove_file(done_path(&self.dir, generation));
    }

    /// Keeps a record Redis refused (bad document, wrong type) beside the journal, so that
    /// nothing disappears without a trace.
    pub fn dead_letter(&self, record: &Record, error: &str) {
        let line = serde_json::json!({ "record": record, "error": error }).to_string() + "\n";
        let path = self.dir.join("rejected.jsonl");
        let res = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()).and_then(|_| f.sync_data()));
        if let Err(e) = res {
            tracing::error!(error = %e, "vigil-client: could not write rejected.jsonl");
        }
    }
}

/// The journal as the async client uses it: every call that touches its files runs on
/// tokio's blocking pool, so an fsync never holds up a runtime worker thread (nor the state
/// that reads answer from). Calls take turns on the journal's lock, in the order they come.
pub(crate) struct SharedJournal {
    journal: Arc<Mutex<Journal>>,
    dir: PathBuf,
    /// Records not yet confirmed by Redis, as of the last call (read without the lock).
    /// Stored under the lock, by the call itself: calls that stored it once their caller
    /// resumed could store in another order than they ran (an append's count landing after
    /// a later mark_done's), or not at all (a caller that stopped waiting), and leave a count
    /// that nothing corrects once the replay finds no lane waiting.
    pending: Arc<AtomicU64>,
}

impl SharedJournal {
    /// Opens the journal (see [`Journal::open`]) on the blocking pool.
    pub async fn open(dir: &Path, max_bytes: u64) -> io::Result<SharedJournal> {
        let path = dir.to_owned();
        let journal = blocking(move || Journal::open(&path, max_bytes)).await??;
        Ok(SharedJournal {
            pending: Arc::new(AtomicU64::new(journal.pending())),
            journal: Arc::new(Mutex::new(journal)),
            dir: dir.to_owned(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Gone once the journal (and its lock file) is closed: when the last of the client and
    /// of the calls running on the blocking pool has let go of it.
    pub fn watch(&self) -> std::sync::Weak<Mutex<Journal>> {
        Arc::downgrade(&self.journal)
    }

    pub fn pending(&self) -> u64 {
        self.pending.load(Relaxed)
    }

    /// Runs `f` on the journal on the blocking pool.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Journal) -> T + Send + 'static,
    ) -> io::Result<T> {
        let (journal, pending) = (self.journal.clone(), self.pending.clone());
        blocking(move || {
            let mut j = journal.lock().unwrap_or_else(|e| e.into_inner());
            let out = f(&mut j);
            pending.store(j.pending(), Relaxed);
            out
        })
        .await
    }

    #[cfg(feature = "test-hooks")]
    pub async fn set_sync_hook(&self, hook: Option<crate::config::SyncHook>) {
        let _ = self.run(move |j| j.set_sync_hook(hook)).await;
    }

    /// Appends and fsyncs one record (keeping `settings` for its stream first): when this
    /// returns Ok, the record survives a crash.
    pub async fn append(
        &self,
        record: Record,
        settings: Option<StreamSettings>,
    ) -> Result<(), AppendError> {
        self.run(move |j| j.append(&record, settings))
            .await
            .map_err(AppendError::Io)?
    }

    pub async fn pending_records(&self) -> io::Result<Vec<Record>> {
        self.run(|j| j.pending_records()).await?
    }

    pub async fn kept_settings(&self) -> io::Result<BTreeMap<String, StreamSettings>> {
        self.run(|j| j.kept_settings()).await
    }

    pub async fn kept_renames(&self) -> io::Result<Vec<(String, u64, u64)>> {
        self.run(|j| j.kept_renames()).await
    }

    pub async fn keep_rename(&self, key: String, id: u64, new: u64) -> io::Result<()> {
        self.run(move |j| j.keep_rename(&key, id, new)).await?
    }

    pub async fn read_pending(&self, after: Option<Pos>, max: usize) -> io::Result<Vec<Entry>> {
        self.run(move |j| j.read_pending(after, max)).await?
    }

    pub async fn mark_done(&self, entries: Vec<(u64, u64, u64)>) {
        self.logged(self.run(move |j| j.mark_done(&entries)).await);
    }

    pub async fn skip_unreadable_all(&self) {
        self.logged(self.run(|j| j.skip_unreadable_all()).await);
    }

    pub async fn reset(&self) {
        self.logged(self.run(|j| j.reset()).await);
    }

    pub async fn dead_letter(&self, record: Record, error: String) {
        self.logged(self.run(move |j| j.dead_letter(&record, &error)).await);
    }

    fn logged(&self, done: io::Result<()>) {
        if let Err(e) = done {
            tracing::error!(dir = %self.dir.display(), error = %e, "vigil-client: journal call did not run");
        }
    }
}

/// `f` on tokio's blocking pool; an error if it could not run to the end (the runtime shut
/// down first, or it panicked).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "vigil-client-journal-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn add(i: u64) -> Record {
        Record::add(
            "k",
            &format!("{{\"seq\":{i}}}"),
            crate::types::AlertId::new(i, i),
        )
    }

    #[test]
    fn appends_survive_reopen_and_torn_lines_are_cut() {
        let dir = temp("reopen");
        let mut j = Journal::open(&dir, 0).unwrap();
        for i in 0..5 {
            j.append(&add(i), None).unwrap();
        }
        drop(j);
        // A crash in the middle of a sixth write.
        let path = log_path(&dir, 1);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"op":"add","key":"k","do"#).unwrap();
        drop(f);
        let mut j = Journal::open(&dir, 0).unwrap();
        assert_eq!(j.pending(), 5);
        assert_eq!(
            j.pending_records().unwrap(),
            (0..5).map(add).collect::<Vec<_>>()
        );
        j.append(&add(5), None).unwrap();
        let batch = j.read_pending(None, 3).unwrap();
        assert_eq!(batch.len(), 3);
        let done = |e: &Entry| (e.generation, e.start, e.end);
        j.mark_done(&batch.iter().map(done).collect::<Vec<_>>());
        drop(j);
        let mut j = Journal::open(&dir, 0).unwrap();
        assert_eq!(j.pending(), 3);
        let rest = j.pending_records().unwrap();
        assert_eq!(rest, (3..6).map(add).collect::<Vec<_>>());

        // Out of order: the last one is done first, then the one before the cursor's.
        let rest = j.read_pending(None, 10).unwrap();
        j.mark_done(&[done(&rest[2])]);
        assert_eq!(j.pending(), 2);
        let after_first = j.read_pending(Some(rest[0].pos()), 10).unwrap();
        assert_eq!(after_first.len(), 1, "done records are skipped");
        assert_eq!(after_first[0].record, add(4));
        drop(j);
        let mut j = Journal::open(&dir, 0).unwrap();
        assert_eq!(j.pending(), 2, "the done list survives a reopen");
        assert_eq!(j.pending_records().unwrap(), vec![add(3), add(4)]);
        j.mark_done(&[done(&rest[1])]);
        j.mark_done(&[done(&rest[0])]);
        assert_eq!(j.pending(), 0);
        assert!(!done_path(&dir, 1).exists());
        drop(j);
        assert_eq!(Journal::open(&dir, 0).unwrap().pending(), 0);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn reset_removes_files_and_limit_reports_full() {
        let dir = temp("reset");
        let mut j = Journal::open(&dir, 100).unwrap();
        j.append(&add(1), None).unwrap();
        assert!(matches!(j.append(&add(2), None), Err(AppendError::Full)));
        j.reset();
        assert_eq!(j.pending(), 0);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "only the lock file");
        j.append(&add(3), None).unwrap();
        let busy = Journal::open(&dir, 0).unwrap_err();
        assert_eq!(busy.kind(), io::ErrorKind::ResourceBusy);
        drop(j);
        let j = Journal::open(&dir, 0).unwrap();
        assert_eq!(j.pending_records().unwrap(), vec![add(3)]);
        let _ = fs::remove_dir_all(&dir);
    }

    /// The settings and silence renamings kept beside the journal come back with it, settings
    /// are written again only when they change, and both go with it: with a reset, and at an open that finds nothing to replay.
    /// A damaged file brings back none (the defaults), not an error.
    #[test]
    fn kept_settings_live_as_long_as_the_journal() {
        let dir = temp("settings");
        let quiet = StreamSettings {
            dedup_ms: 0,
            ratelimit_n: 3,
            ratelimit_window_ms: 1000,
            ..StreamSettings::default()
        };
        let mut j = Journal::open(&dir, 0).unwrap();
        j.append(&add(1), Some(quiet)).unwrap();
        j.append(&add(2), None).unwrap();
        // A write puts a new file in place (a new inode).
        let inode =
            || std::os::unix::fs::MetadataExt::ino(&fs::metadata(settings_path(&dir)).unwrap());
        let written = inode();
        j.append(&add(3), Some(quiet)).unwrap();
        assert_eq!(written, inode(), "unchanged settings are not written again");
        j.append(&add(3), Some(StreamSettings::default())).unwrap();
        assert_ne!(written, inode(), "changed settings are");
        j.append(&add(3), Some(quiet)).unwrap();
        j.keep_rename("k", 7, 9).unwrap();
        j.keep_rename("k", 7, 10).unwrap();
        drop(j);
        let j = Journal::open(&dir, 0).unwrap();
        assert_eq!(
            j.kept_settings().into_iter().collect::<Vec<_>>(),
            vec![("k".to_owned(), quiet)]
        );
        assert_eq!(j.kept_renames(), vec![("k".to_owned(), 7, 10)]);
        drop(j);
        fs::write(settings_path(&dir), b"{\"k\": {\"dedup_ms\": ").unwrap();
        let mut j = Journal::open(&dir, 0).unwrap();
        assert!(j.kept_settings().is_empty());
        assert_eq!(j.pending(), 5);
        j.append(&add(4), Some(quiet)).unwrap();
        j.keep_rename("k", 7, 10).unwrap();
        j.reset();
        assert!(!settings_path(&dir).exists());
        assert!(!renamed_path(&dir).exists());
        j.append(&add(5), Some(quiet)).unwrap();
        let entries: Vec<(u64, u64, u64)> = j
            .read_pending(None, 10)
            .unwrap()
            .iter()
            .map(|e| (e.generation, e.start, e.end))
            .collect();
        j.mark_done(&entries);
        drop(j);
        let j = Journal::open(&dir, 0).unwrap();
        assert_eq!(j.pending(), 0);
        assert!(j.kept_settings().is_empty());
        assert!(!settings_path(&dir).exists());
        drop(j);
        let _ = fs::remove_dir_all(&dir);
    }

    /// A caller that stops waiting (a timeout around the call) does not stop the append on
    /// the blocking pool: the count must follow it, or a replay that finds no lane waiting
    /// leaves `pending` above zero for good.
    #[cfg(feature = "test-hooks")]
    #[tokio::test]
    async fn the_count_follows_a_call_whose_caller_stopped_waiting() {
        use std::time::{Duration, Instant};
        let dir = temp("cancelled");
        let j = SharedJournal::open(&dir, 0).await.unwrap();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Mutex::new(held);
        let hook = move || {
            let _ = held.lock().map(|rx| rx.recv());
        };
        j.set_sync_hook(Some(crate::config::SyncHook(Arc::new(hook))))
            .await;
        let gave_up = tokio::time::timeout(Duration::from_millis(50), j.append(add(1), None)).await;
        assert!(gave_up.is_err(), "the fsync was held back");
        release.send(()).unwrap();
        let start = Instant::now();
        while j.pending() == 0 && start.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(j.pending(), 1);
        let _ = fs::remove_dir_all(&dir);
    }
}
