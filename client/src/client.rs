//! The async client: its shared state, opening (with the journal an earlier run left), the
//! current mode and the counters. The calls live in `calls/`, the cascade in `cascade.rs`, the
//! replay in `replay.rs` and the background probe in `probe.rs`.

use crate::config::Config;
use crate::connection::Connection;
use crate::error::Error;
use crate::journal::SharedJournal;
use crate::local::{KnownSettings, LocalStreams};
use crate::memory::MemoryStore;
use crate::metrics::{Counters, Metrics};
use crate::probe;
use crate::types::Store;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex as SyncMutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, Notify};

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn mode_of(v: u8) -> Store {
    match v {
        0 => Store::Redis,
        1 => Store::File,
        _ => Store::Memory,
    }
}

pub(crate) fn mode_code(s: Store) -> u8 {
    match s {
        Store::Redis => 0,
        Store::File => 1,
        Store::Memory => 2,
    }
}

/// What the memory store holds, and the fallback stores' content as streams (for reads and
/// provisional outcomes). Its lock is held for in-memory work only, never across I/O or an
/// `.await`, so reads in fallback never wait for a journal fsync.
pub(crate) struct State {
    pub memory: MemoryStore,
    pub local: LocalStreams,
}

pub(crate) struct Inner {
    pub config: Config,
    pub redis: Connection,
    pub mode: AtomicU8,
    /// None without a `journal_dir`, or when it could not be opened.
    pub journal: Option<SharedJournal>,
    pub state: SyncMutex<State>,
    /// Held for the whole of each fallback write (journal fsync included) and of each switch
    /// back to redis mode: writes reach the fallback stores one at a time, in the order they
    /// came, and none lands in the journal after the replay declared it empty.
    pub writes: Mutex<()>,
    /// One replay at a time (probe, flush).
    pub replay_lock: Mutex<()>,
    pub counters: Counters,
    pub pending_memory: AtomicU64,
    pub settings: KnownSettings,
    pub wake: Arc<Notify>,
}

/// The async client. Cheap to clone (the clones share one connection, one journal and one
/// probe); the probe stops when the last clone is dropped. Create it inside a tokio runtime.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl Client {
    /// Opens the journal (replaying on start whatever an earlier process left in it) and
    /// starts the background probe. Does not wait for Redis: the first call connects.
    pub async fn open(config: Config) -> Result<Client, Error> {
        let redis = Connection::new(&config.url, config.connect_timeout, config.command_timeout)?;
        let journal = match &config.journal_dir {
            None => None,
            Some(dir) => match SharedJournal::open(dir, config.max_journal_bytes).await {
                Ok(j) => Some(j),
                Err(e) if e.kind() == std::io::ErrorKind::ResourceBusy => {
                    return Err(Error::Config(e.to_string()));
                }
                Err(e) => {
                    // Not fatal: writes that Redis cannot take go to the memory store.
                    tracing::error!(dir = %dir.display(), error = %e, "vigil-client: journal unavailable, falling back to memory only");
                    None
                }
            },
        };
        #[cfg(feature = "test-hooks")]
        if let Some(j) = &journal {
            j.set_sync_hook(config.journal_sync_hook.clone()).await;
        }
        let inner = Arc::new(Inner {
            redis,
            mode: AtomicU8::new(mode_code(Store::Redis)),
            journal,
            state: SyncMutex::new(State {
                memory: MemoryStore::new(config.memory_capacity),
                local: LocalStreams::default(),
            }),
            writes: Mutex::new(()),
            replay_lock: Mutex::new(()),
            counters: Counters::default(),
            pending_memory: AtomicU64::new(0),
            settings: KnownSettings::new(config.stream_defaults),
            wake: Arc::new(Notify::new()),
            config,
        });
        let client = Client { inner };
        client.recover().await?;
        probe::start(&client);
        Ok(client)
    }

    /// Rebuilds the local view from what the journal holds, and starts in file mode if it
    /// holds anything (so that new writes queue behind it, in order).
    async fn recover(&self) -> Result<(), Error> {
        let records = match &self.inner.journal {
            Some(j) => j.pending_records().await?,
            None => Vec::new(),
        };
        if records.is_empty() {
            return Ok(());
        }
        tracing::info!(
            pending = records.len(),
            "vigil-client: journal from an earlier run found, replaying"
        );
        let now = now_ms();
        let mut st = self.state();
        for r in &records {
            // A record the rules refuse now was kept by an older client: Redis will say.
            let _ = st.local.apply(r, || self.inner.settings.get(r.key()), now);
        }
        drop(st);
        self.set_mode(Store::File, "journal holds unreplayed writes");
        Ok(())
    }

    /// The state lock (see [`State`]).
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The store writes go to now.
    pub fn mode(&self) -> Store {
        mode_of(self.inner.mode.load(Relaxed))
    }

    fn pending_file(&self) -> u64 {
        self.inner
            .journal
            .as_ref()
            .map_or(0, SharedJournal::pending)
    }

    /// Writes waiting in the journal and memory store.
    pub fn pending(&self) -> u64 {
        self.pending_file() + self.inner.pending_memory.load(Relaxed)
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> Metrics {
        Metrics::new(
            &self.inner.counters,
            self.mode(),
            self.pending_file(),
            self.inner.pending_memory.load(Relaxed),
        )
    }

    /// The counters in Prometheus text format.
    pub fn prometheus(&self) -> String {
        self.metrics().to_prometheus()
    }

    /// Asks the background probe to check Redis now.
    pub fn wake_probe(&self) {
        self.inner.wake.notify_one();
    }

    pub(crate) fn set_mode(&self, to: Store, reason: &str) {
        let from = mode_of(self.inner.mode.swap(mode_code(to), Relaxed));
        self.mode_changed(from, to, reason);
    }

    /// Leaves redis mode for `to`, unless the mode is no longer redis.
    pub(crate) fn leave_redis(&self, to: Store, reason: &str) {
        let swapped = self.inner.mode.compare_exchange(
            mode_code(Store::Redis),
            mode_code(to),
            Relaxed,
            Relaxed,
        );
        if swapped.is_ok() {
            self.mode_changed(Store::Redis, to, reason);
        }
    }

    fn mode_changed(&self, from: Store, to: Store, reason: &str) {
        if from == to {
            return;
        }
        Counters::inc(&self.inner.counters.mode_changes);
        if to == Store::Redis {
            tracing::info!(from = %from, to = %to, reason, "vigil-client: mode change");
        } else {
            tracing::warn!(from = %from, to = %to, reason, "vigil-client: mode change");
        }
    }

    pub(crate) fn sync_memory_gauge(&self, st: &State) {
        self.inner
            .pending_memory
            .store(st.memory.len() as u64, Relaxed);
    }
}
