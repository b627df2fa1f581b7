//! QUOTA.*: Redis only (a quota is shared by every client, no local answer is safe), never
//! journaled: while Redis is unavailable these calls return `Error::Unavailable`.

use crate::client::Client;
use crate::commands as cmd;
use crate::error::Error;
use crate::types::*;

impl Client {
    /// `QUOTA.SET key LIMIT amount [WINDOW ms]`. It replaces the quota's whole configuration:
    /// a quota that had threshold alerts has none after it (see [`Client::quota_set_with`]).
    pub async fn quota_set(
        &self,
        key: &str,
        limit: Amount,
        window_ms: Option<u64>,
    ) -> Result<(), Error> {
        let settings = QuotaSettings {
            window_ms,
            ..QuotaSettings::new(limit)
        };
        self.quota_set_with(key, &settings).await
    }

    /// `QUOTA.SET key LIMIT amount [WINDOW ms] [ALERTS stream AT pct [pct ...]]`: with
    /// [`QuotaSettings::alerts`], a write to the quota that takes usage from below `pct`% of
    /// the limit to at or above it adds a `quota_threshold` alert to the stream (in the same
    /// atomic step; the stream in the quota's slot), and one that takes it back below resolves
    /// that alert. Thresholds usage has reached already raise their alert at once.
    pub async fn quota_set_with(&self, key: &str, settings: &QuotaSettings) -> Result<(), Error> {
        self.redis_only(key, cmd::quota_set(key, settings), cmd::ok)
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
        self.redis_only(key, cmd::quota_incr(key, amount, opts), |v| {
            cmd::parse_quota(v)?.ok_or_else(|| Error::Protocol("QUOTA.INCR answered nil".into()))
        })
        .await
    }

    /// `QUOTA.INCR key amount [LIMIT amount] EVICT tracker [MAX n]`: when the amount would take
    /// the (cumulative) quota above its limit, the least recently used keys of `tracker` (an
    /// LRU tracker whose namespace holds `key`) are deleted and the quota lowered by their
    /// sizes until it fits, then the amount is applied, in one atomic step. All or nothing: if
    /// it cannot fit after `max` keys (the server's default is 1000), nothing is evicted and
    /// the amount is refused. Not retried: an increment (and an eviction) is not idempotent.
    pub async fn incr_evict(
        &self,
        key: &str,
        amount: Amount,
        tracker: &str,
        max: Option<u64>,
        limit: Option<Amount>,
    ) -> Result<IncrEvictReply, Error> {
        let opts = IncrOptions {
            limit,
            force: false,
        };
        self.incr_evict_with(key, amount, tracker, max, &opts).await
    }

    /// [`Client::incr_evict`] with every option of QUOTA.INCR: `opts.limit` (`LIMIT`) and
    /// `opts.force` (`FORCE`: the amount is applied even when it cannot fit; keys are then
    /// evicted only when it fits after evicting them, otherwise it is applied without evicting
    /// and reported as over).
    pub async fn incr_evict_with(
        &self,
        key: &str,
        amount: Amount,
        tracker: &str,
        max: Option<u64>,
        opts: &IncrOptions,
    ) -> Result<IncrEvictReply, Error> {
        let c = cmd::quota_incr_evict(key, amount, tracker, max, opts);
        self.redis_only(key, c, cmd::parse_incr_evict).await
    }

    /// `QUOTA.INCR ... DRYRUN`: what [`Client::quota_incr`] (or, with `opts.evict`,
    /// [`Client::incr_evict`]) would answer now, the keys it would evict included, and nothing
    /// changes: no key is created, no limit set, nothing evicted, no threshold alert raised.
    pub async fn dry_run(
        &self,
        key: &str,
        amount: Amount,
        opts: &DryRunOptions,
    ) -> Result<IncrEvictReply, Error> {
        let c = cmd::quota_dry_run(key, amount, opts);
        self.redis_only(key, c, cmd::parse_incr_evict).await
    }

    /// QUOTA.GET: `None` for a missing key.
    pub async fn quota_get(&self, key: &str) -> Result<Option<QuotaReply>, Error> {
        self.redis_only(key, cmd::key_only("QUOTA.GET", key), cmd::parse_quota)
            .await
    }

    /// QUOTA.RESET.
    pub async fn quota_reset(&self, key: &str) -> Result<(), Error> {
        self.redis_only(key, cmd::key_only("QUOTA.RESET", key), cmd::ok)
            .await
    }
}
