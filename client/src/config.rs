//! How to reach Redis, where to keep alerts while it is unavailable, and the stream settings
//! the fallback stores assume.

use crate::types::{AlertInfo, StreamOptions};
use std::path::PathBuf;
#[cfg(feature = "test-hooks")]
use std::sync::Arc;
use std::time::Duration;
use vigil_core::alert::{defaults, Settings};

/// How to reach Redis and where to keep alerts while it is unavailable.
#[derive(Debug, Clone)]
pub struct Config {
    /// `redis://[user:password@]host:port[/db]`; in cluster mode, the first seed node.
    pub url: String,
    /// Speak to a Redis Cluster (see [`Config::cluster`]).
    pub cluster: bool,
    /// More seed nodes of the cluster, beside `url` (any of them serves to read the
    /// topology; credentials are those of `url`).
    pub seeds: Vec<String>,
    /// The journal directory; `None` skips the file store (memory only, lost on exit).
    pub journal_dir: Option<PathBuf>,
    /// A call slower than this counts as Redis unavailable (the write goes to the journal,
    /// carrying the same ID, so a call that did reach Redis replays as `exists`).
    pub command_timeout: Duration,
    pub connect_timeout: Duration,
    /// How often the background probe checks for recovery while in fallback.
    pub probe_interval: Duration,
    /// Entries the memory store holds before it drops the oldest.
    pub memory_capacity: usize,
    /// Bytes of unreplayed records the journal may hold (0: no limit); past it, writes go to
    /// the memory store.
    pub max_journal_bytes: u64,
    /// Records sent in one replay pipeline.
    pub replay_batch: usize,
    /// Settings assumed for streams the client has not seen (the module's defaults).
    pub stream_defaults: StreamSettings,
    /// Largest document accepted in fallback (`vigil.max-document-bytes`).
    pub max_document_bytes: usize,
    /// Called before each journal fsync, on the thread that runs it (tests make it wait).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub journal_sync_hook: Option<SyncHook>,
}

/// A function the journal calls before each fsync (feature `test-hooks`).
#[cfg(feature = "test-hooks")]
#[derive(Clone)]
pub struct SyncHook(pub Arc<dyn Fn() + Send + Sync>);

#[cfg(feature = "test-hooks")]
impl std::fmt::Debug for SyncHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncHook")
    }
}

impl Config {
    pub fn new(url: impl Into<String>) -> Config {
        Config {
            url: url.into(),
            cluster: false,
            seeds: Vec::new(),
            journal_dir: None,
            command_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            probe_interval: Duration::from_millis(250),
            memory_capacity: 100_000,
            max_journal_bytes: 0,
            replay_batch: 256,
            stream_defaults: StreamSettings::default(),
            max_document_bytes: defaults::MAX_DOCUMENT_BYTES,
            #[cfg(feature = "test-hooks")]
            journal_sync_hook: None,
        }
    }

    /// A Redis Cluster, reached through these seed URLs (one is enough; more let the client
    /// start while some are down). Commands go to the primary of their key's slot, following
    /// MOVED and ASK; the fallback holds only the writes for slots whose node cannot be
    /// reached (see the README's "Redis Cluster").
    pub fn cluster<S: Into<String>>(seeds: impl IntoIterator<Item = S>) -> Config {
        let mut seeds = seeds.into_iter().map(Into::into);
        let mut c = Config::new(seeds.next().unwrap_or_default());
        c.cluster = true;
        c.seeds = seeds.collect();
        c
    }

    pub fn journal_dir(mut self, dir: impl Into<PathBuf>) -> Config {
        self.journal_dir = Some(dir.into());
        self
    }

    pub fn command_timeout(mut self, t: Duration) -> Config {
        self.command_timeout = t;
        self
    }

    pub fn connect_timeout(mut self, t: Duration) -> Config {
        self.connect_timeout = t;
        self
    }

    pub fn probe_interval(mut self, t: Duration) -> Config {
        self.probe_interval = t;
        self
    }

    pub fn memory_capacity(mut self, n: usize) -> Config {
        self.memory_capacity = n;
        self
    }

    pub fn max_journal_bytes(mut self, n: u64) -> Config {
        self.max_journal_bytes = n;
        self
    }
}

/// A stream's settings as the fallback stores apply them (those of `ALERT.INFO`); the default
/// is the module's (`vigil_core::alert::defaults`), for streams the client has not seen. The
/// journal keeps the learnt ones as JSON (`settings.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StreamSettings {
    pub retention_ms: u64,
    pub maxlen: u64,
    pub dedup_ms: u64,
    pub ratelimit_n: u64,
    pub ratelimit_window_ms: u64,
}

impl Default for StreamSettings {
    fn default() -> Self {
        let d = defaults::SETTINGS;
        StreamSettings {
            retention_ms: d.retention_ms,
            maxlen: d.maxlen,
            dedup_ms: d.dedup_ms,
            ratelimit_n: d.ratelimit_n,
            ratelimit_window_ms: d.ratelimit_window_ms,
        }
    }
}

impl StreamSettings {
    pub(crate) fn from_info(info: &AlertInfo) -> StreamSettings {
        StreamSettings {
            retention_ms: info.retention,
            maxlen: info.maxlen,
            dedup_ms: info.dedup,
            ratelimit_n: info.ratelimit_n,
            ratelimit_window_ms: info.ratelimit_window,
        }
    }

    pub(crate) fn apply(&mut self, o: &StreamOptions) {
        if let Some(v) = o.retention_ms {
            self.retention_ms = v;
        }
        if let Some(v) = o.maxlen {
            self.maxlen = v;
        }
        if let Some(v) = o.dedup_ms {
            self.dedup_ms = v;
        }
        if let Some((n, w)) = o.ratelimit {
            self.ratelimit_n = n;
            self.ratelimit_window_ms = w;
        }
    }

    /// The core's settings; settings this type does not carry (added by later module
    /// versions) keep the module's defaults.
    pub(crate) fn to_core(self) -> Settings {
        let mut s = defaults::SETTINGS;
        s.retention_ms = self.retention_ms;
        s.maxlen = self.maxlen;
        s.dedup_ms = self.dedup_ms;
        s.ratelimit_n = self.ratelimit_n;
        s.ratelimit_window_ms = self.ratelimit_window_ms;
        s
    }
}
