//! The bridge's state directory: one cursor file per stream key, replaced atomically (written
//! to a temporary file, fsync'ed, renamed over the old one, the directory fsync'ed), so that
//! a crash leaves either the old cursor or the new one, never a torn file. Beside it, the
//! alerts the key's bridge posted as firing (`.firing`), so that a restarted bridge ends those
//! that stopped firing while it was down. A lock file keeps a second bridge off the same
//! directory (two would post every alert twice and race on the cursors).

use super::alertmanager::percent_encode;
use crate::feed::Cursor;
use crate::types::{Alert, AlertId};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// File names longer than this (a long key, percent-encoded) are cut and given a hash.
const MAX_NAME: usize = 180;

#[derive(Serialize, Deserialize)]
struct CursorFile {
    key: String,
    cursor: String,
}

/// A line of a `.firing` file: the first names the key, each other one an alert posted as
/// firing (its JSON text as Redis gave it) or one that ended since.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum FiringLine<'a> {
    Key(#[serde(borrow)] Cow<'a, str>),
    Firing(#[serde(borrow)] Cow<'a, str>),
    Ended(#[serde(borrow)] Cow<'a, str>),
}

/// An open state directory, locked while this lives.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    _lock: File,
}

impl StateDir {
    /// Creates the directory if needed and takes its lock; fails if another process holds it.
    pub fn open(dir: &Path) -> io::Result<StateDir> {
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
                    format!(
                        "{} is used by another vigil-notify (its lock file is held)",
                        dir.display()
                    ),
                ),
                fs::TryLockError::Error(e) => e,
            });
        }
        Ok(StateDir {
            dir: dir.to_owned(),
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cursor file of `key`: `<key, percent-encoded>.cursor`.
    pub fn path_of(&self, key: &str) -> PathBuf {
        self.file_of(key, "cursor")
    }

    /// The firing file of `key`: `<key, percent-encoded>.firing`.
    pub fn firing_path_of(&self, key: &str) -> PathBuf {
        self.file_of(key, "firing")
    }

    fn file_of(&self, key: &str, extension: &str) -> PathBuf {
        let mut name = percent_encode(key);
        if name.len() > MAX_NAME {
            // Cut at a character boundary (the encoded name is ASCII), then tell keys with the
            // same start apart by a hash of the whole key; the file also holds the key.
            name.truncate(MAX_NAME - 17);
            name.push_str(&format!("~{:016x}", fnv1a(key.as_bytes())));
        }
        self.dir.join(format!("{name}.{extension}"))
    }

    /// The stored cursor of `key`, if any. A file that cannot be read as a cursor of this key
    /// is an error (the caller decides: starting again from `0` loses nothing).
    pub fn load(&self, key: &str) -> io::Result<Option<Cursor>> {
        let path = self.path_of(key);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let bad = |why: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {why}", path.display()),
            )
        };
        let file: CursorFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if file.key != key {
            return Err(bad(format!("holds the cursor of '{}'", file.key)));
        }
        let cursor = file.cursor.parse().map_err(|e| bad(format!("{e}")))?;
        Ok(Some(cursor))
    }

    /// Replaces the stored cursor of `key`; durable when this returns.
    pub fn store(&self, key: &str, cursor: &Cursor) -> io::Result<()> {
        let path = self.path_of(key);
        let tmp = path.with_extension("cursor.tmp");
        let line = serde_json::to_string(&CursorFile {
            key: key.to_owned(),
            cursor: cursor.to_string(),
        })
        .map_err(io::Error::other)?;
        {
            let mut f = File::create(&tmp)?;
            f.write_all(line.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        // The rename is durable once the directory is.
        File::open(&self.dir)?.sync_all()
    }

    /// The alerts an earlier run posted as firing for `key`, in the state it last posted them
    /// (none without a file). A line that cannot be read (the last one, torn by a crash) is
    /// skipped and counted: the second value. A file of another key is an error.
    pub fn load_firing(&self, key: &str) -> io::Result<(BTreeMap<AlertId, Alert>, usize)> {
        let path = self.firing_path_of(key);
        match fs::read_to_string(&path) {
            Ok(text) => parse_firing(&text, key).map_err(|why| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {why}", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((BTreeMap::new(), 0)),
            Err(e) => Err(e),
        }
    }

    /// Replaces the firing file of `key` with `alerts`, as the cursor file is replaced (a
    /// re-post round writes it: the alerts firing now).
    pub fn store_firing<'a>(
        &self,
        key: &str,
        alerts: impl Iterator<Item = &'a Alert>,
    ) -> io::Result<()> {
        let path = self.firing_path_of(key);
        let tmp = path.with_extension("firing.tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&render_firing(key, alerts))?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        File::open(&self.dir)?.sync_all()
    }

    /// Appends to the firing file of `key` alerts posted as firing (a delivery of the feed's
    /// changes writes them before its POST) and IDs that ended (after it), in one write and
    /// without an fsync: a crash of the process keeps them, a crash of the machine may lose the last
    /// ones (whose alerts then end in Alertmanager at their `endsAt`, as they did before this
    /// file). Past the file's first line, a torn line is skipped when it is read back.
    pub fn append_firing(&self, key: &str, firing: &[&Alert], ended: &[AlertId]) -> io::Result<()> {
        if firing.is_empty() && ended.is_empty() {
            return Ok(());
        }
        let path = self.firing_path_of(key);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let mut buf = Vec::new();
        let len = file.metadata()?.len();
        if len == 0 {
            write_line(&mut buf, &FiringLine::Key(key.into()))?;
        } else {
            // A line torn by a crash is ended first, so that it does not swallow the next
            // (the write below goes to the end whatever the position: the file is in append
            // mode).
            use std::io::{Read, Seek, SeekFrom};
            let mut last = [0u8];
            file.seek(SeekFrom::End(-1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                buf.push(b'\n');
            }
        }
        for alert in firing {
            write_line(&mut buf, &FiringLine::Firing(alert.json.as_str().into()))?;
        }
        for id in ended {
            write_line(&mut buf, &FiringLine::Ended(id.to_string().into()))?;
        }
        file.write_all(&buf)
    }
}

/// The alerts a firing file's `text` holds for `key` and the lines skipped (see
/// [`StateDir::load_firing`]); an error if its first line does not name `key`.
pub fn parse_firing(text: &str, key: &str) -> Result<(BTreeMap<AlertId, Alert>, usize), String> {
    let mut lines = text.lines();
    match lines.next().map(serde_json::from_str::<FiringLine>) {
        Some(Ok(FiringLine::Key(k))) if k == key => {}
        _ => return Err(format!("not the firing alerts of '{key}'")),
    }
    let (mut alerts, mut skipped) = (BTreeMap::new(), 0);
    for line in lines {
        match serde_json::from_str::<FiringLine>(line) {
            Ok(FiringLine::Firing(json)) => match Alert::from_json(&json) {
                Ok(alert) => {
                    alerts.insert(alert.id, alert);
                }
                Err(_) => skipped += 1,
            },
            Ok(FiringLine::Ended(id)) => match id.parse::<AlertId>() {
                Ok(id) => {
                    alerts.remove(&id);
                }
                Err(_) => skipped += 1,
            },
            Ok(FiringLine::Key(_)) | Err(_) => skipped += 1,
        }
    }
    Ok((alerts, skipped))
}

/// A firing file holding `alerts` for `key`, as [`StateDir::store_firing`] writes it.
pub fn render_firing<'a>(key: &str, alerts: impl Iterator<Item = &'a Alert>) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec fails only if serde_json does, which it does not for strings.
    let _ = write_line(&mut out, &FiringLine::Key(key.into()));
    for alert in alerts {
        let _ = write_line(&mut out, &FiringLine::Firing(alert.json.as_str().into()));
    }
    out
}

/// One JSON value and a newline (JSON text has its own newlines escaped: one line each).
fn write_line(out: &mut impl Write, line: &FiringLine) -> io::Result<()> {
    serde_json::to_writer(&mut *out, line).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        std::env::temp_dir().join(format!(
            "vigil-notify-state-{tag}-{}-{nanos}",
            std::process::id()
        ))
    }

    #[test]
    fn cursors_round_trip_and_the_directory_is_locked() {
        let dir = temp("rt");
        let state = StateDir::open(&dir).unwrap();
        assert!(StateDir::open(&dir).is_err(), "a second bridge on the dir");
        assert_eq!(state.load("alerts:{prod}/x").unwrap(), None);
        let c: Cursor = "1796213261453001".parse().unwrap();
        state.store("alerts:{prod}/x", &c).unwrap();
        assert_eq!(state.load("alerts:{prod}/x").unwrap(), Some(c));
        assert_eq!(
            state.path_of("alerts:{prod}/x").file_name().unwrap(),
            "alerts%3A%7Bprod%7D%2Fx.cursor"
        );
        let long = "k".repeat(300);
        let name = state.path_of(&long);
        assert!(name.file_name().unwrap().len() < 200);
        assert_ne!(name, state.path_of(&"k".repeat(301)));
        state.store(&long, &Cursor::start()).unwrap();
        assert_eq!(state.load(&long).unwrap(), Some(Cursor::start()));
        std::fs::write(state.path_of("torn"), "{\"key\":\"torn\",\"cur").unwrap();
        assert!(state.load("torn").is_err());
        drop(state);
        assert!(
            StateDir::open(&dir).is_ok(),
            "the lock goes with the process"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn alert(id: &str, status: &str) -> Alert {
        Alert::from_json(&format!(
            r#"{{"severity":"high","source":"s","message":"a\nb","id":"{id}","status":"{status}","count":1}}"#
        ))
        .unwrap()
    }

    #[test]
    fn firing_alerts_round_trip_through_appends_a_rewrite_and_a_torn_line() {
        let dir = temp("firing");
        let state = StateDir::open(&dir).unwrap();
        let key = "alerts:{prod}";
        assert!(state.load_firing(key).unwrap().0.is_empty(), "no file");
        let (a, b, c) = (
            alert("1700000000000-1", "active"),
            alert("1700000000001-1", "active"),
            alert("1700000000002-1", "acked"),
        );
        state.append_firing(key, &[&a, &b], &[]).unwrap();
        state.append_firing(key, &[&c], &[a.id]).unwrap();
        let (held, skipped) = state.load_firing(key).unwrap();
        assert_eq!(held.keys().copied().collect::<Vec<_>>(), vec![b.id, c.id]);
        assert_eq!(held[&c.id], c, "the alert as it was posted, its JSON too");
        assert_eq!(skipped, 0);
        // A crash in the middle of an append: the torn line is skipped, the next append kept.
        let path = state.firing_path_of(key);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(r#"{"firing":"{\"id\":\"17000"#);
        std::fs::write(&path, text).unwrap();
        state.append_firing(key, &[&a], &[]).unwrap();
        let (held, skipped) = state.load_firing(key).unwrap();
        assert_eq!(held.len(), 3);
        assert_eq!(skipped, 1);
        // A rewrite holds exactly what it is given.
        state.store_firing(key, [&b].into_iter()).unwrap();
        assert_eq!(
            state.load_firing(key).unwrap(),
            (BTreeMap::from([(b.id, b.clone())]), 0)
        );
        // Another key's file is an error, not its alerts.
        std::fs::copy(&path, state.firing_path_of("other")).unwrap();
        assert!(state.load_firing("other").is_err());
        assert!(state
            .firing_path_of(key)
            .ends_with("alerts%3A%7Bprod%7D.firing"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
