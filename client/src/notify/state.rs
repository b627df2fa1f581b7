//! The bridge's state directory: one cursor file per stream key, replaced atomically (written
//! to a temporary file, fsync'ed, renamed over the old one, the directory fsync'ed), so that
//! a crash leaves either the old cursor or the new one, never a torn file. A lock file keeps
//! a second bridge off the same directory (two would post every alert twice and race on the
//! cursors).

use super::alertmanager::percent_encode;
use crate::feed::Cursor;
use serde::{Deserialize, Serialize};
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
        let mut name = percent_encode(key);
        if name.len() > MAX_NAME {
            // Cut at a character boundary (the encoded name is ASCII), then tell keys with the
            // same start apart by a hash of the whole key; the file also holds the key.
            name.truncate(MAX_NAME - 17);
            name.push_str(&format!("~{:016x}", fnv1a(key.as_bytes())));
        }
        self.dir.join(format!("{name}.cursor"))
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
}
