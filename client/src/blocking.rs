//! A blocking wrapper around the async [`crate::Client`], for programs without tokio. It owns
//! a small runtime whose one worker thread runs the background probe; journal fsyncs run on
//! the runtime's blocking pool, so a slow disk never holds up that thread.

use crate::calls::Feed as AsyncFeed;
use crate::client::Client as AsyncClient;
use crate::config::Config;
use crate::error::Error;
use crate::feed::{
    Change, Cursor, Filters, Group, GroupBy, Matchers, ReadOptions, ReadReply, Silence,
};
use crate::metrics::Metrics;
use crate::types::*;
use std::sync::Arc;
use std::time::Duration;

/// The blocking client: the same calls as [`crate::Client`], each waiting for its answer.
pub struct Client {
    // Dropped before the runtime, which stops the probe (a `Feed` keeps both alive).
    inner: AsyncClient,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Client {
    pub fn open(config: Config) -> Result<Client, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("vigil-client")
            .enable_all()
            .build()?;
        let inner = runtime.block_on(AsyncClient::open(config))?;
        Ok(Client {
            inner,
            runtime: Arc::new(runtime),
        })
    }

    /// The async client this one wraps.
    pub fn as_async(&self) -> &AsyncClient {
        &self.inner
    }

    pub fn mode(&self) -> Store {
        self.inner.mode()
    }

    pub fn pending(&self) -> u64 {
        self.inner.pending()
    }

    pub fn metrics(&self) -> Metrics {
        self.inner.metrics()
    }

    pub fn prometheus(&self) -> String {
        self.inner.prometheus()
    }

    /// Drops this client and waits, at most `limit`, until it has ended and its journal
    /// directory is free (see [`crate::Client::close`]).
    pub fn close(self, limit: Duration) -> bool {
        let Client { inner, runtime } = self;
        runtime.block_on(inner.close(limit))
    }

    pub fn flush(&self, limit: Duration) -> Result<bool, Error> {
        self.runtime.block_on(self.inner.flush(limit))
    }

    pub fn add(&self, key: &str, doc: &str) -> Result<AddReply, Error> {
        self.runtime.block_on(self.inner.add(key, doc))
    }

    pub fn add_with(&self, key: &str, doc: &str, opts: AddOptions) -> Result<AddReply, Error> {
        self.runtime.block_on(self.inner.add_with(key, doc, opts))
    }

    pub fn get(&self, key: &str, ids: &[AlertId]) -> Result<Vec<Option<Alert>>, Error> {
        self.runtime.block_on(self.inner.get(key, ids))
    }

    pub fn range(&self, key: &str, q: &RangeQuery) -> Result<Vec<Alert>, Error> {
        self.runtime.block_on(self.inner.range(key, q))
    }

    pub fn ack(&self, key: &str, ids: &[AlertId]) -> Result<u64, Error> {
        self.runtime.block_on(self.inner.ack(key, ids))
    }

    pub fn resolve(&self, key: &str, ids: &[AlertId]) -> Result<u64, Error> {
        self.runtime.block_on(self.inner.resolve(key, ids))
    }

    pub fn del(&self, key: &str, ids: &[AlertId]) -> Result<u64, Error> {
        self.runtime.block_on(self.inner.del(key, ids))
    }

    pub fn info(&self, key: &str) -> Result<AlertInfo, Error> {
        self.runtime.block_on(self.inner.info(key))
    }

    pub fn create(&self, key: &str, opts: &StreamOptions) -> Result<(), Error> {
        self.runtime.block_on(self.inner.create(key, opts))
    }

    pub fn alter(&self, key: &str, opts: &StreamOptions) -> Result<(), Error> {
        self.runtime.block_on(self.inner.alter(key, opts))
    }

    pub fn trim(&self, key: &str, t: Trim) -> Result<u64, Error> {
        self.runtime.block_on(self.inner.trim(key, t))
    }

    pub fn read(
        &self,
        key: &str,
        cursor: &Cursor,
        options: &ReadOptions,
    ) -> Result<ReadReply, Error> {
        self.runtime.block_on(self.inner.read(key, cursor, options))
    }

    /// See [`crate::Client::follow`].
    pub fn follow(&self, key: &str, cursor: Cursor, options: ReadOptions) -> Feed {
        Feed {
            inner: self.inner.follow(key, cursor, options),
            runtime: self.runtime.clone(),
        }
    }

    pub fn silence(
        &self,
        key: &str,
        until: u64,
        matchers: &Matchers,
        comment: Option<&str>,
    ) -> Result<u64, Error> {
        self.runtime
            .block_on(self.inner.silence(key, until, matchers, comment))
    }

    pub fn unsilence(&self, key: &str, id: u64) -> Result<bool, Error> {
        self.runtime.block_on(self.inner.unsilence(key, id))
    }

    pub fn silences(&self, key: &str) -> Result<Vec<Silence>, Error> {
        self.runtime.block_on(self.inner.silences(key))
    }

    pub fn groups(
        &self,
        key: &str,
        start: Bound,
        end: Bound,
        by: &GroupBy,
        filters: &Filters,
    ) -> Result<Vec<Group>, Error> {
        self.runtime
            .block_on(self.inner.groups(key, start, end, by, filters))
    }

    pub fn quota_set(&self, key: &str, limit: Amount, window_ms: Option<u64>) -> Result<(), Error> {
        self.runtime
            .block_on(self.inner.quota_set(key, limit, window_ms))
    }

    pub fn quota_set_with(&self, key: &str, settings: &QuotaSettings) -> Result<(), Error> {
        self.runtime
            .block_on(self.inner.quota_set_with(key, settings))
    }

    pub fn quota_incr(
        &self,
        key: &str,
        amount: Amount,
        opts: &IncrOptions,
    ) -> Result<QuotaReply, Error> {
        self.runtime
            .block_on(self.inner.quota_incr(key, amount, opts))
    }

    pub fn incr_evict(
        &self,
        key: &str,
        amount: Amount,
        tracker: &str,
        max: Option<u64>,
        limit: Option<Amount>,
    ) -> Result<IncrEvictReply, Error> {
        self.runtime
            .block_on(self.inner.incr_evict(key, amount, tracker, max, limit))
    }

    pub fn incr_evict_with(
        &self,
        key: &str,
        amount: Amount,
        tracker: &str,
        max: Option<u64>,
        opts: &IncrOptions,
    ) -> Result<IncrEvictReply, Error> {
        self.runtime
            .block_on(self.inner.incr_evict_with(key, amount, tracker, max, opts))
    }

    pub fn dry_run(
        &self,
        key: &str,
        amount: Amount,
        opts: &DryRunOptions,
    ) -> Result<IncrEvictReply, Error> {
        self.runtime.block_on(self.inner.dry_run(key, amount, opts))
    }

    pub fn quota_get(&self, key: &str) -> Result<Option<QuotaReply>, Error> {
        self.runtime.block_on(self.inner.quota_get(key))
    }

    pub fn quota_reset(&self, key: &str) -> Result<(), Error> {
        self.runtime.block_on(self.inner.quota_reset(key))
    }

    pub fn lru_touch(&self, tracker: &str, keys: &[(&str, Amount)]) -> Result<u64, Error> {
        self.runtime.block_on(self.inner.lru_touch(tracker, keys))
    }

    pub fn lru_forget(&self, tracker: &str, keys: &[&str]) -> Result<u64, Error> {
        self.runtime.block_on(self.inner.lru_forget(tracker, keys))
    }

    pub fn lru_candidates(&self, tracker: &str, count: u64) -> Result<Vec<LruCandidate>, Error> {
        self.runtime
            .block_on(self.inner.lru_candidates(tracker, count))
    }

    pub fn lru_evict(
        &self,
        tracker: &str,
        target: Amount,
        opts: &EvictOptions,
    ) -> Result<EvictReply, Error> {
        self.runtime
            .block_on(self.inner.lru_evict(tracker, target, opts))
    }

    pub fn lru_info(&self, tracker: &str) -> Result<LruInfo, Error> {
        self.runtime.block_on(self.inner.lru_info(tracker))
    }
}

/// A blocking [`crate::Feed`]: an endless iterator of changes (`next()` waits as long as it
/// takes). It owns what it needs (it keeps the client's runtime and probe alive), so it can
/// outlive the [`Client`] it came from.
pub struct Feed {
    inner: AsyncFeed,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Feed {
    pub fn key(&self) -> &str {
        self.inner.key()
    }

    /// The position after the last change returned (store it to go on later).
    pub fn cursor(&self) -> &Cursor {
        self.inner.cursor()
    }

    pub fn restarts(&self) -> u64 {
        self.inner.restarts()
    }

    /// The next change, or `None` if none came within `limit` (so that a caller can check
    /// for its own shutdown between waits).
    pub fn next_within(&mut self, limit: Duration) -> Result<Option<Change>, Error> {
        self.runtime.block_on(self.inner.next_within(limit))
    }
}

impl Iterator for Feed {
    type Item = Result<Change, Error>;

    /// The next change, waiting as long as it takes (never `None`).
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.runtime.block_on(self.inner.next()))
    }
}
