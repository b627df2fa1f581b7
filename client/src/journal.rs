//! The file journal: writes kept while Redis is unavailable, as JSON lines in segment files
//! `journal-<generation>.log` in a directory the user names, each record fsync'ed before the
//! write is acknowledged.
//!
//! Replay progress is a byte offset in `journal-<generation>.cursor`, moved forward only after
//! Redis answered the records before it. The cursor is not fsync'ed: losing it replays records
//! Redis already has, which the explicit IDs turn into `exists`. A fully replayed journal is
//! deleted. A torn last line (a crash in the middle of a write, never acknowledged) is cut off
//! when the journal is opened.
//!
//! `Journal` does blocking file I/O; the client reaches it through `SharedJournal`, which runs
//! every call on tokio's blocking pool.

use crate::record::Record;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// A record read back, with the offset just past its line.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub record: Record,
    pub end: u64,
}

#[derive(Debug)]
struct Segment {
    generation: u64,
    /// Bytes of complete records.
    len: u64,
    /// Bytes confirmed by Redis.
    cursor: u64,
    /// Records after the cursor.
    pending: u64,
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
    #[cfg(feature = "test-hooks")]
    sync_hook: Option<crate::config::SyncHook>,
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

/// Splits up to `max` complete lines of `bytes` (which starts at file offset `base`) into
/// entries. Returns the entries and the offset just past the last line read.
fn parse_lines(bytes: &[u8], base: u64, max: usize) -> (Vec<Entry>, u64) {
    let mut entries = Vec::new();
    let mut pos = 0usize;
    while entries.len() < max {
        let Some(nl) = bytes[pos..].iter().position(|b| *b == b'\n') else {
            break;
        };
        let line = &bytes[pos..pos + nl];
        pos += nl + 1;
        match serde_json::from_slice::<Record>(line) {
            Ok(record) => entries.push(Entry {
                record,
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
            #[cfg(feature = "test-hooks")]
            sync_hook: None,
        };
        for generation in generations {
            let path = log_path(dir, generation);
            let mut bytes = Vec::new();
            File::open(&path)?.read_to_end(&mut bytes)?;
            let (entries, complete) = parse_lines(&bytes, 0, usize::MAX);
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
            let pending = entries.iter().filter(|e| e.end > cursor).count() as u64;
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
            });
        }
        Ok(journal)
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
        let mut out = Vec::new();
        for s in &self.segments {
            out.extend(
                self.read_segment(s, usize::MAX)?
                    .into_iter()
                    .map(|e| e.record),
            );
        }
        Ok(out)
    }

    fn read_segment(&self, s: &Segment, max: usize) -> io::Result<Vec<Entry>> {
        if s.cursor >= s.len {
            return Ok(Vec::new());
        }
        let mut f = File::open(log_path(&self.dir, s.generation))?;
        f.seek(SeekFrom::Start(s.cursor))?;
        // Read in slices so a large backlog is not loaded whole for one batch.
        let mut out = Vec::new();
        let mut base = s.cursor;
        let mut carry: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while base + (carry.len() as u64) < s.len && out.len() < max {
            let want = ((s.len - base) as usize - carry.len()).min(buf.len());
            let n = f.read(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            carry.extend_from_slice(&buf[..n]);
            let (entries, complete) = parse_lines(&carry, base, max - out.len());
            carry.drain(..(complete - base) as usize);
            base = complete;
            out.extend(entries);
        }
        out.truncate(max);
        Ok(out)
    }

    /// Up to `max` pending records of the oldest segment that has any, with its generation.
    pub fn next_batch(&self, max: usize) -> io::Result<Option<(u64, Vec<Entry>)>> {
        for s in &self.segments {
            if s.pending > 0 {
                return Ok(Some((s.generation, self.read_segment(s, max)?)));
            }
        }
        Ok(None)
    }

    /// Appends one record and fsyncs it: when this returns Ok, the record survives a crash.
    pub fn append(&mut self, record: &Record) -> Result<(), AppendError> {
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

    /// Redis answered the records of `generation` up to offset `end` (`count` of them).
    pub fn confirm(&mut self, generation: u64, end: u64, count: u64) {
        let Some(seg) = self
            .segments
            .iter_mut()
            .find(|s| s.generation == generation)
        else {
            return;
        };
        if end <= seg.cursor {
            return;
        }
        self.pending_bytes = self.pending_bytes.saturating_sub(end - seg.cursor);
        seg.cursor = end;
        seg.pending = seg.pending.saturating_sub(count);
        let path = cursor_path(&self.dir, generation);
        let tmp = path.with_extension("cursor.tmp");
        let written = fs::write(&tmp, end.to_string()).and_then(|_| fs::rename(&tmp, &path));
        if let Err(e) = written {
            // Only costs a second replay of these records (answered `exists`).
            tracing::warn!(error = %e, "vigil-client: could not save the journal cursor");
        }
        // A fully replayed segment that is no longer appended to can go.
        let last = self.segments.len() - 1;
        if let Some(i) = self
            .segments
            .iter()
            .position(|s| s.generation == generation)
        {
            if i != last && self.segments[i].pending == 0 {
                self.segments.remove(i);
                self.remove_files(generation);
            }
        }
    }

    /// A segment counted records that can no longer be read (the file was changed under us):
    /// stop waiting for them.
    pub fn skip_unreadable(&mut self, generation: u64) {
        let Some(seg) = self
            .segments
            .iter_mut()
            .find(|s| s.generation == generation)
        else {
            return;
        };
        let (len, cursor, pending) = (seg.len, seg.cursor, seg.pending);
        tracing::error!(
            generation,
            pending,
            "vigil-client: journal records could not be read back"
        );
        if len <= cursor {
            seg.pending = 0;
            return;
        }
        self.confirm(generation, len, pending);
    }

    /// Everything was replayed: delete the files, the next append starts a new segment.
    pub fn reset(&mut self) {
        self.file = None;
        for s in std::mem::take(&mut self.segments) {
            self.remove_files(s.generation);
        }
        self.pending_bytes = 0;
        self.needs_newline = false;
    }

    fn remove_files(&self, generation: u64) {
        let _ = fs::remove_file(log_path(&self.dir, generation));
        let _ = fs::remove_file(cursor_path(&self.dir, generation));
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
    pending: AtomicU64,
}

impl SharedJournal {
    /// Opens the journal (see [`Journal::open`]) on the blocking pool.
    pub async fn open(dir: &Path, max_bytes: u64) -> io::Result<SharedJournal> {
        let path = dir.to_owned();
        let journal = blocking(move || Journal::open(&path, max_bytes)).await??;
        Ok(SharedJournal {
            pending: AtomicU64::new(journal.pending()),
            journal: Arc::new(Mutex::new(journal)),
            dir: dir.to_owned(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn pending(&self) -> u64 {
        self.pending.load(Relaxed)
    }

    /// Runs `f` on the journal on the blocking pool.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Journal) -> T + Send + 'static,
    ) -> io::Result<T> {
        let journal = self.journal.clone();
        let (out, pending) = blocking(move || {
            let mut j = journal.lock().unwrap_or_else(|e| e.into_inner());
            let out = f(&mut j);
            (out, j.pending())
        })
        .await?;
        self.pending.store(pending, Relaxed);
        Ok(out)
    }

    #[cfg(feature = "test-hooks")]
    pub async fn set_sync_hook(&self, hook: Option<crate::config::SyncHook>) {
        let _ = self.run(move |j| j.set_sync_hook(hook)).await;
    }

    /// Appends and fsyncs one record: when this returns Ok, the record survives a crash.
    pub async fn append(&self, record: Record) -> Result<(), AppendError> {
        self.run(move |j| j.append(&record))
            .await
            .map_err(AppendError::Io)?
    }

    pub async fn pending_records(&self) -> io::Result<Vec<Record>> {
        self.run(|j| j.pending_records()).await?
    }

    pub async fn next_batch(&self, max: usize) -> io::Result<Option<(u64, Vec<Entry>)>> {
        self.run(move |j| j.next_batch(max)).await?
    }

    pub async fn confirm(&self, generation: u64, end: u64, count: u64) {
        self.logged(self.run(move |j| j.confirm(generation, end, count)).await);
    }

    pub async fn skip_unreadable(&self, generation: u64) {
        self.logged(self.run(move |j| j.skip_unreadable(generation)).await);
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
            j.append(&add(i)).unwrap();
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
        j.append(&add(5)).unwrap();
        let (generation, batch) = j.next_batch(3).unwrap().unwrap();
        assert_eq!(batch.len(), 3);
        j.confirm(generation, batch[2].end, 3);
        drop(j);
        let j = Journal::open(&dir, 0).unwrap();
        assert_eq!(j.pending(), 3);
        let rest = j.pending_records().unwrap();
        assert_eq!(rest, (3..6).map(add).collect::<Vec<_>>());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn reset_removes_files_and_limit_reports_full() {
        let dir = temp("reset");
        let mut j = Journal::open(&dir, 100).unwrap();
        j.append(&add(1)).unwrap();
        assert!(matches!(j.append(&add(2)), Err(AppendError::Full)));
        j.reset();
        assert_eq!(j.pending(), 0);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "only the lock file");
        j.append(&add(3)).unwrap();
        let busy = Journal::open(&dir, 0).unwrap_err();
        assert_eq!(busy.kind(), io::ErrorKind::ResourceBusy);
        drop(j);
        let j = Journal::open(&dir, 0).unwrap();
        assert_eq!(j.pending_records().unwrap(), vec![add(3)]);
        let _ = fs::remove_dir_all(&dir);
    }
}
