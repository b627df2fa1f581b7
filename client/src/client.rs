//! The async client: its shared state, the current mode and the counters. Every part of the
//! client works on this state: the cascade (`cascade.rs`), the replay (`replay.rs`), the
//! background probe (`probe.rs`) and the calls (`calls/`); `open.rs` makes it and starts the
//! probe.

use crate::backend::Backend;
use crate::config::Config;
use crate::journal::SharedJournal;
use crate::local::{KnownSettings, LocalStreams};
use crate::memory::MemoryStore;
use crate::metrics::{Counters, Metrics};
use crate::types::Store;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex as SyncMutex, MutexGuard, OnceLock};
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

/// What the memory store holds, the fallback stores' content as streams (for reads and
/// provisional outcomes), and the lanes in fallback. Its lock is held for in-memory work only,
/// never across I/O or an `.await`, so reads in fallback never wait for a journal fsync.
pub(crate) struct State {
    pub memory: MemoryStore,
    pub local: LocalStreams,
    /// The lanes (a single server: 0; a cluster: slots) whose writes go to the fallback
    /// stores, with the writes of each waiting for replay. A lane stays here until the replay
    /// has sent all of its writes, so that they reach Redis in the order they were made; one
    /// with none is a lane whose read found Redis unavailable.
    pub lanes: HashMap<u16, u64>,
    /// Lanes in fallback that the last replay pass found Redis serving, until a call for one
    /// finds it unavailable again: a read of a key the fallback stores hold nothing for asks
    /// Redis there (during a long replay, on a single server, every key is in the one lane).
    pub serving: HashSet<u16>,
    /// Silences a replay made under the ID Redis gave, their own having been used by another
    /// silence meanwhile: (key, the ID `silence` returned) → the ID Redis holds it under.
    /// UNSILENCE of the first ends the second (`Client::command_of`).
    pub renamed_silences: HashMap<(String, u64), u64>,
}

pub(crate) struct Inner {
    pub config: Config,
    pub redis: Backend,
    /// `Redis` while no lane is in fallback, else `level`.
    pub mode: AtomicU8,
    /// Where fallback writes go: `File`, or `Memory` from a failed journal write until the
    /// probe has moved the memory store into the journal.
    pub level: AtomicU8,
    /// Empty without a `journal_dir`, or until it could be opened (the probe tries again,
    /// `Client::retry_journal`); set once.
    pub journal: OnceLock<SharedJournal>,
    /// When the probe may try to open the journal again (ms since the epoch): at most once a
    /// second, however often fallback writes wake the probe.
    pub journal_retry_at: AtomicU64,
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
    /// Woken by every change to the fallback stores' view (blocking reads in fallback).
    pub local_changed: Notify,
    /// The last silence ID this client gave (IDs grow with the clock, see `silence`).
    pub last_silence_id: AtomicU64,
}

/// The async client. Cheap to clone (the clones share one connection, one journal and one
/// probe); the probe stops when the last clone is dropped. Create it inside a tokio runtime.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl Client {
    /// A client over `redis` and `journal` (`None`: memory only), in redis mode, with empty
    /// fallback stores and no probe yet (see `Client::open`).
    pub(crate) fn new(config: Config, redis: Backend, journal: Option<SharedJournal>) -> Client {
        let level = if journal.is_some() {
            Store::File
        } else {
            Store::Memory
        };
        let inner = Arc::new(Inner {
            redis,
            mode: AtomicU8::new(mode_code(Store::Redis)),
            level: AtomicU8::new(mode_code(level)),
            journal: journal.map(OnceLock::from).unwrap_or_default(),
            journal_retry_at: AtomicU64::new(0),
            state: SyncMutex::new(State {
                memory: MemoryStore::new(config.memory_capacity),
                local: LocalStreams::default(),
                lanes: HashMap::new(),
                serving: HashSet::new(),
                renamed_silences: HashMap::new(),
            }),
            writes: Mutex::new(()),
            replay_lock: Mutex::new(()),
            counters: Counters::default(),
            pending_memory: AtomicU64::new(0),
            settings: KnownSettings::new(config.stream_defaults),
            wake: Arc::new(Notify::new()),
            local_changed: Notify::new(),
            last_silence_id: AtomicU64::new(0),
            config,
        });
        Client { inner }
    }

    /// The lane of a key (see [`State::lanes`]).
    pub(crate) fn lane_of(&self, key: &str) -> u16 {
        self.inner.redis.lane(key)
    }

    /// Whether writes for this lane go to the fallback stores.
    pub(crate) fn lane_held(&self, lane: u16) -> bool {
        self.mode() != Store::Redis && self.state().lanes.contains_key(&lane)
    }

    /// A read found Redis unavailable for this lane: later calls for it use the fallback
    /// stores until the probe sees Redis serve it again.
    pub(crate) fn hold_lane(&self, lane: u16, reason: &str) {
        {
            let mut st = self.state();
            st.lanes.entry(lane).or_insert(0);
            st.serving.remove(&lane);
        }
        self.update_mode(reason);
    }

    /// Where fallback writes go now (`File` or `Memory`).
    pub(crate) fn level(&self) -> Store {
        mode_of(self.inner.level.load(Relaxed))
    }

    pub(crate) fn set_level(&self, to: Store, reason: &str) {
        self.inner.level.store(mode_code(to), Relaxed);
        self.update_mode(reason);
    }

    /// Sets the mode from the lanes and the level, with an event if it changed.
    pub(crate) fn update_mode(&self, reason: &str) {
        let to = if self.state().lanes.is_empty() {
            Store::Redis
        } else {
            self.level()
        };
        let from = mode_of(self.inner.mode.swap(mode_code(to), Relaxed));
        self.mode_changed(from, to, reason);
    }

    /// Lanes in fallback (a single server: 0 or 1; a cluster: slots).
    pub(crate) fn fallback_lanes(&self) -> u64 {
        self.state().lanes.len() as u64
    }

    /// The state lock (see [`State`]).
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The store writes go to now: `Redis`, or the fallback store while any write waits for
    /// replay. In a cluster, writes for the slots whose node answers go to Redis meanwhile
    /// ([`Metrics::fallback_slots`] counts the others).
    pub fn mode(&self) -> Store {
        mode_of(self.inner.mode.load(Relaxed))
    }

    fn pending_file(&self) -> u64 {
        self.inner.journal.get().map_or(0, SharedJournal::pending)
    }

    /// Writes waiting in the journal and memory store.
    pub fn pending(&self) -> u64 {
        self.pending_file() + self.inner.pending_memory.load(Relaxed)
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> Metrics {
        let mut m = Metrics::new(
            &self.inner.counters,
            self.mode(),
            self.pending_file(),
            self.inner.pending_memory.load(Relaxed),
        );
        m.fallback_slots = self.fallback_lanes();
        m
    }

    /// The counters in Prometheus text format.
    pub fn prometheus(&self) -> String {
        self.metrics().to_prometheus()
    }

    /// Asks the background probe to check Redis now.
    pub fn wake_probe(&self) {
        self.inner.wake.notify_one();
    }

    /// Drops this handle and waits, at most `limit`, until the client has ended: every clone
    /// dropped, the probe's round and the calls in flight finished, and the journal closed,
    /// so that its directory can be opened again at once. What the journal holds stays there
    /// for the next client. True if the client ended within `limit`; false if something still
    /// held it then (another clone, a `Feed`, a call waiting on a server that does not answer),
    /// in which case it ends when that lets go, as after a plain drop.
    pub async fn close(self, limit: std::time::Duration) -> bool {
        let client = Arc::downgrade(&self.inner);
        let journal = self.inner.journal.get().map(SharedJournal::watch);
        drop(self);
        let ended =
            || client.strong_count() == 0 && journal.as_ref().is_none_or(|j| j.strong_count() == 0);
        let deadline = tokio::time::Instant::now() + limit;
        while !ended() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            // A round of the probe or a call lasts a few ms; a journal's fsync as long.
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        true
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
