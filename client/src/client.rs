//! The async client: typed calls, the Redis → File → Memory cascade, and the background probe
//! that replays what the fallback stores hold once Redis answers again.

use crate::commands as cmd;
use crate::error::Error;
use crate::journal::{Journal, Record};
use crate::local::{self, LocalStream, StreamSettings};
use crate::memory::MemoryStore;
use crate::metrics::{Counters, Metrics};
use crate::types::*;
use redis::aio::MultiplexedConnection;
use redis::{Cmd, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex as SyncMutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, Notify};
use tokio::time::timeout;

/// How to reach Redis and where to keep alerts while it is unavailable.
#[derive(Debug, Clone)]
pub struct Config {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
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
}

impl Config {
    pub fn new(url: impl Into<String>) -> Config {
        Config {
            url: url.into(),
            journal_dir: None,
            command_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            probe_interval: Duration::from_millis(250),
            memory_capacity: 100_000,
            max_journal_bytes: 0,
            replay_batch: 256,
            stream_defaults: StreamSettings::default(),
            max_document_bytes: 65_536,
        }
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

fn now_ms() -> u64 {
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

fn mode_code(s: Store) -> u8 {
    match s {
        Store::Redis => 0,
        Store::File => 1,
        Store::Memory => 2,
    }
}

struct State {
    journal: Option<Journal>,
    memory: MemoryStore,
    /// The fallback stores' content as streams, for reads and provisional outcomes.
    local: HashMap<String, LocalStream>,
}

struct Inner {
    config: Config,
    redis: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
    mode: AtomicU8,
    /// Writes to the fallback stores and mode changes happen under this lock, so a write
    /// never lands in the journal after the replay declared it empty.
    state: Mutex<State>,
    /// One replay at a time (probe, flush).
    replay_lock: Mutex<()>,
    counters: Counters,
    pending_file: AtomicU64,
    pending_memory: AtomicU64,
    settings: SyncMutex<HashMap<String, StreamSettings>>,
    wake: Arc<Notify>,
}

/// The async client. Cheap to clone (the clones share one connection, one journal and one
/// probe); the probe stops when the last clone is dropped. Create it inside a tokio runtime.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// What a fallback store answered.
enum LocalReply {
    Add(AddOutcome),
    Count(u64),
}

impl Client {
    /// Opens the journal (replaying on start whatever an earlier process left in it) and
    /// starts the background probe. Does not wait for Redis: the first call connects.
    pub async fn open(config: Config) -> Result<Client, Error> {
        let redis = redis::Client::open(config.url.as_str())
            .map_err(|e| Error::Config(format!("url '{}': {e}", config.url)))?;
        let journal = match &config.journal_dir {
            None => None,
            Some(dir) => match Journal::open(dir, config.max_journal_bytes) {
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
        let inner = Arc::new(Inner {
            redis,
            conn: Mutex::new(None),
            mode: AtomicU8::new(mode_code(Store::Redis)),
            state: Mutex::new(State {
                journal,
                memory: MemoryStore::new(config.memory_capacity),
                local: HashMap::new(),
            }),
            replay_lock: Mutex::new(()),
            counters: Counters::default(),
            pending_file: AtomicU64::new(0),
            pending_memory: AtomicU64::new(0),
            settings: SyncMutex::new(HashMap::new()),
            wake: Arc::new(Notify::new()),
            config,
        });
        let client = Client { inner };
        client.recover().await?;
        tokio::spawn(probe(Arc::downgrade(&client.inner)));
        Ok(client)
    }

    /// Rebuilds the local view from what the journal holds, and starts in file mode if it
    /// holds anything (so that new writes queue behind it, in order).
    async fn recover(&self) -> Result<(), Error> {
        let mut st = self.inner.state.lock().await;
        let records = match &st.journal {
            Some(j) => j.pending_records()?,
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
        for r in &records {
            self.apply_local(&mut st, r, now);
        }
        self.set_mode(Store::File, "journal holds unreplayed writes");
        self.sync_gauges(&st);
        Ok(())
    }

    // ---- state ----

    /// The store writes go to now.
    pub fn mode(&self) -> Store {
        mode_of(self.inner.mode.load(Relaxed))
    }

    /// Writes waiting in the journal and memory store.
    pub fn pending(&self) -> u64 {
        self.inner.pending_file.load(Relaxed) + self.inner.pending_memory.load(Relaxed)
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> Metrics {
        Metrics::new(
            &self.inner.counters,
            self.mode(),
            self.inner.pending_file.load(Relaxed),
            self.inner.pending_memory.load(Relaxed),
        )
    }

    /// The counters in Prometheus text format.
    pub fn prometheus(&self) -> String {
        self.metrics().to_prometheus()
    }

    fn set_mode(&self, to: Store, reason: &str) {
        let from = mode_of(self.inner.mode.swap(mode_code(to), Relaxed));
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

    fn sync_gauges(&self, st: &State) {
        let file = st.journal.as_ref().map_or(0, Journal::pending);
        self.inner.pending_file.store(file, Relaxed);
        self.inner
            .pending_memory
            .store(st.memory.len() as u64, Relaxed);
    }

    fn settings_for(&self, key: &str) -> StreamSettings {
        let cache = self
            .inner
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .copied()
            .unwrap_or(self.inner.config.stream_defaults)
    }

    fn remember_settings(&self, key: &str, s: StreamSettings) {
        let mut cache = self
            .inner
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        cache.insert(key.to_owned(), s);
    }

    /// The first time a stream is written, learn its settings in the background, so that
    /// fallback outcomes use its dedup window, rate limit, retention and MAXLEN.
    fn learn_settings(&self, key: &str) {
        {
            let mut cache = self
                .inner
                .settings
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if cache.contains_key(key) {
                return;
            }
            cache.insert(key.to_owned(), self.inner.config.stream_defaults);
        }
        let client = self.clone();
        let key = key.to_owned();
        tokio::spawn(async move {
            let info = client
                .call(&redis::cmd("ALERT.INFO").arg(&key).clone())
                .await
                .and_then(cmd::parse_alert_info);
            if let Ok(info) = info {
                client.remember_settings(&key, StreamSettings::from_info(&info));
            }
        });
    }

    // ---- the connection ----

    async fn connection(&self) -> Result<MultiplexedConnection, Error> {
        let mut slot = self.inner.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let connect = self.inner.redis.get_multiplexed_async_connection();
        let c = timeout(self.inner.config.connect_timeout, connect)
            .await
            .map_err(|_| Error::Unavailable("connect timed out".into()))??;
        *slot = Some(c.clone());
        Ok(c)
    }

    async fn drop_connection(&self) {
        *self.inner.conn.lock().await = None;
    }

    /// Forgets the connection after a failure that may have broken it (anything but an error
    /// reply, which proves the connection works).
    async fn after_error(&self, e: &redis::RedisError) {
        if e.code().is_none() {
            self.drop_connection().await;
        }
    }

    /// One command, within the command timeout. Error replies come back as values.
    async fn call(&self, c: &Cmd) -> Result<Value, Error> {
        let mut conn = self.connection().await?;
        match timeout(
            self.inner.config.command_timeout,
            conn.send_packed_command(c),
        )
        .await
        {
            Err(_) => {
                self.drop_connection().await;
                Err(Error::Unavailable("command timed out".into()))
            }
            Ok(Err(e)) => {
                self.after_error(&e).await;
                Err(e.into())
            }
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// A call that only Redis can answer: unavailability is an error for the caller.
    async fn redis_only<T>(
        &self,
        c: Cmd,
        parse: impl FnOnce(Value) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let res = self.call(&c).await.and_then(parse);
        if let Err(e) = &res {
            if e.is_unavailable() {
                Counters::inc(&self.inner.counters.failures);
            }
        }
        res
    }

    // ---- the cascade ----

    /// Applies a record to the local view; returns what the stream answered.
    fn apply_local(&self, st: &mut State, r: &Record, now: u64) -> Option<LocalReply> {
        let settings = self.settings_for(r.key());
        let stream = st
            .local
            .entry(r.key().to_owned())
            .or_insert_with(|| LocalStream::new(settings));
        let ids = |ids: &[String]| -> Vec<AlertId> {
            ids.iter().filter_map(|s| s.parse().ok()).collect()
        };
        Some(match r {
            Record::Add { doc, id, .. } => {
                let doc = local::parse_document(doc, 0).ok()?;
                LocalReply::Add(stream.add(doc, id.parse().ok()?, now))
            }
            Record::Ack { ids: i, .. } => LocalReply::Count(stream.ack(&ids(i))),
            Record::Resolve { ids: i, .. } => LocalReply::Count(stream.resolve(&ids(i))),
            Record::Del { ids: i, .. } => LocalReply::Count(stream.del(&ids(i))),
        })
    }

    /// Keeps a write in the journal, or in memory if the journal cannot take it. Returns None
    /// when Redis came back while this write waited for the lock (the caller tries Redis).
    async fn fallback(
        &self,
        record: Record,
        redis_error: Option<&str>,
    ) -> Result<Option<(Store, LocalReply)>, Error> {
        // Nothing is kept that Redis would refuse: it could never be replayed.
        if let Record::Add { doc, .. } = &record {
            local::parse_document(doc, self.inner.config.max_document_bytes)
                .map_err(Error::InvalidDocument)?;
        }
        let mut st = self.inner.state.lock().await;
        let mode = self.mode();
        if mode == Store::Redis && redis_error.is_none() {
            return Ok(None);
        }
        let reason = redis_error.unwrap_or("redis unavailable");
        let c = &self.inner.counters;
        let mut store = Store::Memory;
        if mode != Store::Memory {
            if let Some(j) = st.journal.as_mut() {
                match j.append(&record) {
                    Ok(()) => store = Store::File,
                    Err(e) => {
                        Counters::inc(&c.journal_failures);
                        tracing::error!(dir = %j.dir().display(), error = %e, "vigil-client: journal write failed, using the memory store");
                    }
                }
            }
        }
        if store == Store::Memory {
            if let Some(dropped) = st.memory.push(record.clone()) {
                Counters::inc(&c.dropped);
                tracing::warn!(key = dropped.key(), record = ?dropped, "vigil-client: memory store full, dropped its oldest write");
                if let Record::Add { key, id, .. } = &dropped {
                    if let (Some(s), Ok(id)) = (st.local.get_mut(key), id.parse()) {
                        s.del(&[id]);
                    }
                }
            }
            Counters::inc(&c.fallback_memory);
        } else {
            Counters::inc(&c.fallback_file);
        }
        Counters::inc(&c.fallbacks);
        if mode_code(store) > mode_code(mode) {
            let why = if store == Store::Memory && mode == Store::File {
                "journal write failed"
            } else {
                reason
            };
            self.set_mode(store, why);
        }
        let reply = self.apply_local(&mut st, &record, now_ms());
        self.sync_gauges(&st);
        let reply = reply.ok_or_else(|| Error::Protocol("record could not be applied".into()))?;
        Ok(Some((store, reply)))
    }

    /// Marks Redis down after a read found it unavailable: later calls use the fallback
    /// stores until the probe sees it answer again.
    async fn read_failed(&self, e: &Error) {
        Counters::inc(&self.inner.counters.failures);
        let st = self.inner.state.lock().await;
        if self.mode() == Store::Redis {
            let to = if st.journal.is_some() {
                Store::File
            } else {
                Store::Memory
            };
            self.set_mode(to, &e.to_string());
        }
    }

    /// A write that can fall back: try Redis in redis mode, else (or when it is unavailable)
    /// keep the record in a fallback store.
    async fn write<T>(
        &self,
        c: Cmd,
        record: Record,
        parse: impl Fn(Value) -> Result<T, Error>,
    ) -> Result<(Store, Result<T, LocalReply>), Error> {
        let mut redis_error: Option<String> = None;
        loop {
            if self.mode() == Store::Redis {
                match self.call(&c).await.and_then(&parse) {
                    Ok(v) => return Ok((Store::Redis, Ok(v))),
                    Err(e) if e.is_unavailable() => {
                        Counters::inc(&self.inner.counters.failures);
                        redis_error = Some(e.to_string());
                    }
                    Err(e) => return Err(e),
                }
            }
            if let Some((store, reply)) = self
                .fallback(record.clone(), redis_error.as_deref())
                .await?
            {
                return Ok((store, Err(reply)));
            }
        }
    }

    // ---- alerts ----

    /// ALERT.ADD with a client-made ID (`<now>-<random>`): see [`Client::add_with`].
    pub async fn add(&self, key: &str, doc: &str) -> Result<AddReply, Error> {
        self.add_with(key, doc, AddOptions::default()).await
    }

    /// Writes one alert. The write always carries an ID (made here unless given), so that a
    /// retry or a replay is idempotent. Redis answers with the final outcome; when it is
    /// unavailable the alert goes to the journal (fsync'ed before this returns) or, failing
    /// that, to the memory store, whose outcome is provisional (see [`AddReply::store`]).
    /// Errors only for a document the server would refuse, and other input errors.
    pub async fn add_with(
        &self,
        key: &str,
        doc: &str,
        opts: AddOptions,
    ) -> Result<AddReply, Error> {
        let id = opts
            .id
            .unwrap_or_else(|| AlertId::random(opts.ts.unwrap_or_else(now_ms)));
        let (store, reply) = self
            .write(
                cmd::add(key, doc, id),
                Record::add(key, doc, id),
                cmd::parse_add,
            )
            .await?;
        let outcome = match reply {
            Ok(outcome) => {
                self.inner.counters.outcome(&outcome);
                self.learn_settings(key);
                outcome
            }
            Err(LocalReply::Add(outcome)) => outcome,
            Err(LocalReply::Count(_)) => return Err(Error::Protocol("local reply".into())),
        };
        Ok(AddReply { outcome, store, id })
    }

    async fn ids_write(&self, name: &str, key: &str, ids: &[AlertId]) -> Result<u64, Error> {
        let record = match name {
            "ALERT.ACK" => Record::Ack {
                key: key.into(),
                ids: Record::ids(ids),
            },
            "ALERT.RESOLVE" => Record::Resolve {
                key: key.into(),
                ids: Record::ids(ids),
            },
            _ => Record::Del {
                key: key.into(),
                ids: Record::ids(ids),
            },
        };
        match self
            .write(cmd::ids_cmd(name, key, ids), record, cmd::parse_count)
            .await?
        {
            (_, Ok(n)) | (_, Err(LocalReply::Count(n))) => Ok(n),
            (_, Err(LocalReply::Add(_))) => Err(Error::Protocol("local reply".into())),
        }
    }

    /// ALERT.ACK. In fallback, journaled and replayed in order; the count is then the
    /// alerts the fallback store holds whose status changed.
    pub async fn ack(&self, key: &str, ids: &[AlertId]) -> Result<u64, Error> {
        self.ids_write("ALERT.ACK", key, ids).await
    }

    /// ALERT.RESOLVE (journaled in fallback, as [`Client::ack`]).
    pub async fn resolve(&self, key: &str, ids: &[AlertId]) -> Result<u64, Error> {
        self.ids_write("ALERT.RESOLVE", key, ids).await
    }

    /// ALERT.DEL (journaled in fallback, as [`Client::ack`]).
    pub async fn del(&self, key: &str, ids: &[AlertId]) -> Result<u64, Error> {
        self.ids_write("ALERT.DEL", key, ids).await
    }

    /// ALERT.GET: from Redis, or in fallback from what the fallback stores hold.
    pub async fn get(&self, key: &str, ids: &[AlertId]) -> Result<Vec<Option<Alert>>, Error> {
        if self.mode() == Store::Redis {
            match self
                .call(&cmd::ids_cmd("ALERT.GET", key, ids))
                .await
                .and_then(cmd::parse_alerts)
            {
                Ok(v) => return Ok(v),
                Err(e) if e.is_unavailable() => self.read_failed(&e).await,
                Err(e) => return Err(e),
            }
        }
        let st = self.inner.state.lock().await;
        Ok(match st.local.get(key) {
            Some(s) => s.get(ids),
            None => vec![None; ids.len()],
        })
    }

    /// ALERT.RANGE: from Redis, or in fallback from what the fallback stores hold (same
    /// filters, order and COUNT).
    pub async fn range(&self, key: &str, q: &RangeQuery) -> Result<Vec<Alert>, Error> {
        if self.mode() == Store::Redis {
            match self
                .call(&cmd::range(key, q))
                .await
                .and_then(cmd::parse_alerts)
            {
                Ok(v) => return Ok(v.into_iter().flatten().collect()),
                Err(e) if e.is_unavailable() => self.read_failed(&e).await,
                Err(e) => return Err(e),
            }
        }
        let st = self.inner.state.lock().await;
        Ok(st.local.get(key).map(|s| s.range(q)).unwrap_or_default())
    }

    /// ALERT.INFO: from Redis, or in fallback the fallback store's view of the stream.
    pub async fn info(&self, key: &str) -> Result<AlertInfo, Error> {
        if self.mode() == Store::Redis {
            match self
                .call(&redis::cmd("ALERT.INFO").arg(key).clone())
                .await
                .and_then(cmd::parse_alert_info)
            {
                Ok(info) => {
                    self.remember_settings(key, StreamSettings::from_info(&info));
                    return Ok(info);
                }
                Err(e) if e.is_unavailable() => self.read_failed(&e).await,
                Err(e) => return Err(e),
            }
        }
        let st = self.inner.state.lock().await;
        st.local
            .get(key)
            .map(LocalStream::info)
            .ok_or_else(|| Error::Server {
                code: "ERR".into(),
                detail: "no such key".into(),
            })
    }

    /// ALERT.CREATE (Redis only: whether the key exists is the server's to say).
    pub async fn create(&self, key: &str, opts: &StreamOptions) -> Result<(), Error> {
        self.redis_only(cmd::create(key, opts), cmd::ok).await?;
        let mut s = self.inner.config.stream_defaults;
        s.apply(opts);
        self.remember_settings(key, s);
        Ok(())
    }

    /// ALERT.ALTER (Redis only).
    pub async fn alter(&self, key: &str, opts: &StreamOptions) -> Result<(), Error> {
        self.redis_only(cmd::alter(key, opts), cmd::ok).await?;
        let mut s = self.settings_for(key);
        s.apply(opts);
        self.remember_settings(key, s);
        Ok(())
    }

    /// ALERT.TRIM (Redis only).
    pub async fn trim(&self, key: &str, t: Trim) -> Result<u64, Error> {
        self.redis_only(cmd::trim(key, t), cmd::parse_count).await
    }

    // ---- quotas (Redis only: a quota is shared by every client, no local answer is safe) ----

    /// `QUOTA.SET key LIMIT amount [WINDOW ms]`.
    pub async fn quota_set(
        &self,
        key: &str,
        limit: Amount,
        window_ms: Option<u64>,
    ) -> Result<(), Error> {
        self.redis_only(cmd::quota_set(key, limit, window_ms), cmd::ok)
            .await
    }

    /// `QUOTA.INCR key amount [LIMIT amount] [FORCE]`. Not retried: an increment is not
    /// idempotent.
    pub async fn quota_incr(
        &self,
        key: &str,
        amount: Amount,
        opts: &IncrOptions,
    ) -> Result<QuotaReply, Error> {
        self.redis_only(cmd::quota_incr(key, amount, opts), |v| {
            cmd::parse_quota(v)?.ok_or_else(|| Error::Protocol("QUOTA.INCR answered nil".into()))
        })
        .await
    }

    /// QUOTA.GET: `None` for a missing key.
    pub async fn quota_get(&self, key: &str) -> Result<Option<QuotaReply>, Error> {
        self.redis_only(redis::cmd("QUOTA.GET").arg(key).clone(), cmd::parse_quota)
            .await
    }

    /// QUOTA.RESET.
    pub async fn quota_reset(&self, key: &str) -> Result<(), Error> {
        self.redis_only(redis::cmd("QUOTA.RESET").arg(key).clone(), cmd::ok)
            .await
    }

    // ---- LRU trackers (Redis only: they track keys of the keyspace) ----

    /// LRU.TOUCH tracker key size [key size ...]: the keys newly tracked.
    pub async fn lru_touch(&self, tracker: &str, keys: &[(&str, Amount)]) -> Result<u64, Error> {
        self.redis_only(cmd::lru_touch(tracker, keys), cmd::parse_count)
            .await
    }

    /// LRU.FORGET tracker key [key ...].
    pub async fn lru_forget(&self, tracker: &str, keys: &[&str]) -> Result<u64, Error> {
        self.redis_only(cmd::lru_forget(tracker, keys), cmd::parse_count)
            .await
    }

    /// LRU.CANDIDATES tracker count: least recently used first.
    pub async fn lru_candidates(
        &self,
        tracker: &str,
        count: u64,
    ) -> Result<Vec<LruCandidate>, Error> {
        let c = redis::cmd("LRU.CANDIDATES").arg(tracker).arg(count).clone();
        self.redis_only(c, cmd::parse_candidates).await
    }

    /// `LRU.EVICT tracker target [QUOTA quotakey] [MAX n]`.
    pub async fn lru_evict(
        &self,
        tracker: &str,
        target: Amount,
        opts: &EvictOptions,
    ) -> Result<EvictReply, Error> {
        self.redis_only(cmd::lru_evict(tracker, target, opts), cmd::parse_evict)
            .await
    }

    /// LRU.INFO tracker.
    pub async fn lru_info(&self, tracker: &str) -> Result<LruInfo, Error> {
        self.redis_only(
            redis::cmd("LRU.INFO").arg(tracker).clone(),
            cmd::parse_lru_info,
        )
        .await
    }

    // ---- replay ----

    /// Waits until everything the fallback stores hold is in Redis and writes go to Redis
    /// again, replaying now rather than at the next probe. `Ok(false)` if `limit` passed first.
    pub async fn flush(&self, limit: Duration) -> Result<bool, Error> {
        let start = Instant::now();
        loop {
            if self.mode() == Store::Redis && self.pending() == 0 {
                return Ok(true);
            }
            if let Err(e) = self.replay().await {
                if !e.is_unavailable() {
                    return Err(e);
                }
            }
            if self.mode() == Store::Redis && self.pending() == 0 {
                return Ok(true);
            }
            if start.elapsed() >= limit {
                return Ok(false);
            }
            tokio::time::sleep(self.inner.config.probe_interval).await;
        }
    }

    /// Asks the background probe to check Redis now.
    pub fn wake_probe(&self) {
        self.inner.wake.notify_one();
    }

    /// Replays the journal, then the memory store, to Redis in order, and goes back to redis
    /// mode once both are empty. Err(Unavailable) when Redis (or the module) is still down.
    async fn replay(&self) -> Result<(), Error> {
        let _one = self.inner.replay_lock.lock().await;
        // The module must be there: `COMMAND INFO` answers nil for an unknown command.
        let info = self
            .call(&redis::cmd("COMMAND").arg("INFO").arg("ALERT.ADD").clone())
            .await
            .and_then(cmd::checked);
        match info {
            Ok(Value::Array(items)) if items.first().is_none_or(|v| *v == Value::Nil) => {
                return Err(Error::Unavailable("the vigil module is not loaded".into()));
            }
            Err(e) if e.is_unavailable() => return Err(e),
            // A user without the right to COMMAND: the replay itself will tell.
            _ => {}
        }
        let batch_size = self.inner.config.replay_batch.max(1);
        loop {
            let journal_batch = {
                let st = self.inner.state.lock().await;
                match &st.journal {
                    Some(j) => j.next_batch(batch_size)?,
                    None => None,
                }
            };
            if let Some((generation, entries)) = journal_batch {
                if entries.is_empty() {
                    let mut st = self.inner.state.lock().await;
                    if let Some(j) = st.journal.as_mut() {
                        j.skip_unreadable(generation);
                    }
                    self.sync_gauges(&st);
                    continue;
                }
                let records: Vec<Record> = entries.iter().map(|e| e.record.clone()).collect();
                let (done, err) = self.send_batch(&records).await;
                if done > 0 {
                    let mut st = self.inner.state.lock().await;
                    if let Some(j) = st.journal.as_mut() {
                        j.confirm(generation, entries[done - 1].end, done as u64);
                    }
                    self.sync_gauges(&st);
                }
                if let Some(e) = err {
                    return Err(e);
                }
                continue;
            }
            let memory_batch = self.inner.state.lock().await.memory.oldest(batch_size);
            if !memory_batch.is_empty() {
                let records: Vec<Record> = memory_batch.iter().map(|(_, r)| r.clone()).collect();
                let (done, err) = self.send_batch(&records).await;
                let mut st = self.inner.state.lock().await;
                for (n, _) in &memory_batch[..done] {
                    st.memory.remove(*n);
                }
                self.sync_gauges(&st);
                drop(st);
                if let Some(e) = err {
                    return Err(e);
                }
                continue;
            }
            // Both empty: switch back, unless a write slipped in before we took the lock.
            let mut st = self.inner.state.lock().await;
            let journal_empty = st.journal.as_ref().is_none_or(|j| j.pending() == 0);
            if journal_empty && st.memory.is_empty() {
                if let Some(j) = st.journal.as_mut() {
                    j.reset();
                }
                st.local.clear();
                self.sync_gauges(&st);
                self.set_mode(Store::Redis, "replay complete");
                return Ok(());
            }
        }
    }

    /// Sends records in one pipeline. Returns how many, from the first, Redis answered, and
    /// the error that stopped it, if any. An error reply about a record itself (it would fail
    /// again) counts as answered: it is kept in `rejected.jsonl` and counted.
    async fn send_batch(&self, records: &[Record]) -> (usize, Option<Error>) {
        let c = &self.inner.counters;
        let mut pipe = redis::pipe();
        for r in records {
            pipe.add_command(record_cmd(r));
        }
        let mut conn = match self.connection().await {
            Ok(conn) => conn,
            Err(e) => {
                Counters::inc(&c.failures);
                return (0, Some(e));
            }
        };
        let limit = self
            .inner
            .config
            .command_timeout
            .max(Duration::from_secs(5));
        let values = match timeout(limit, conn.send_packed_commands(&pipe, 0, records.len())).await
        {
            Ok(Ok(values)) => values,
            Ok(Err(e)) => {
                self.after_error(&e).await;
                Counters::inc(&c.failures);
                return (0, Some(e.into()));
            }
            Err(_) => {
                self.drop_connection().await;
                Counters::inc(&c.failures);
                return (0, Some(Error::Unavailable("replay timed out".into())));
            }
        };
        for (i, (r, v)) in records.iter().zip(values).enumerate() {
            let answered = match r {
                Record::Add { .. } => cmd::parse_add(v).map(|o| c.outcome(&o)),
                _ => cmd::parse_count(v).map(|_| ()),
            };
            match answered {
                Ok(()) => Counters::inc(&c.replayed),
                Err(e) if e.is_unavailable() => {
                    Counters::inc(&c.failures);
                    return (i, Some(e));
                }
                Err(e) => {
                    Counters::inc(&c.rejected);
                    tracing::error!(record = ?r, error = %e, "vigil-client: redis refused a replayed write");
                    let st = self.inner.state.lock().await;
                    if let Some(j) = &st.journal {
                        j.dead_letter(r, &e.to_string());
                    }
                }
            }
        }
        (records.len(), None)
    }

    /// Moves the memory store into the journal once the journal takes writes again, so that
    /// they survive a crash (memory mode only, while Redis is still down).
    async fn migrate_memory(&self) {
        let mut st = self.inner.state.lock().await;
        if self.mode() != Store::Memory || st.journal.is_none() {
            return;
        }
        while let Some((n, record)) = st.memory.oldest(1).pop() {
            let appended = st.journal.as_mut().map(|j| j.append(&record).is_ok());
            if appended != Some(true) {
                self.sync_gauges(&st);
                return;
            }
            st.memory.remove(n);
        }
        self.sync_gauges(&st);
        self.set_mode(Store::File, "journal writable again");
    }
}

fn record_cmd(r: &Record) -> Cmd {
    let ids =
        |ids: &[String]| -> Vec<AlertId> { ids.iter().filter_map(|s| s.parse().ok()).collect() };
    match r {
        Record::Add { key, doc, id } => {
            // An unparsable ID cannot come from this client; send it as is so Redis says so.
            match id.parse::<AlertId>() {
                Ok(id) => cmd::add(key, doc, id),
                Err(_) => redis::cmd("ALERT.ADD")
                    .arg(key)
                    .arg(doc)
                    .arg("ID")
                    .arg(id)
                    .clone(),
            }
        }
        Record::Ack { key, ids: i } => cmd::ids_cmd("ALERT.ACK", key, &ids(i)),
        Record::Resolve { key, ids: i } => cmd::ids_cmd("ALERT.RESOLVE", key, &ids(i)),
        Record::Del { key, ids: i } => cmd::ids_cmd("ALERT.DEL", key, &ids(i)),
    }
}

/// The background probe: while anything waits in a fallback store, replay it (which first
/// checks that Redis and the module answer). Holds only a weak reference between rounds, so
/// dropping the last client stops it.
async fn probe(inner: Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let client = Client { inner: strong };
        let waiting = client.mode() != Store::Redis || client.pending() > 0;
        if waiting && client.replay().await.is_err() {
            Counters::inc(&client.inner.counters.probe_failures);
            client.migrate_memory().await;
        }
        let wake = client.inner.wake.clone();
        let interval = client.inner.config.probe_interval;
        drop(client);
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = wake.notified() => {}
        }
    }
}
