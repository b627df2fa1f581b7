//! QUOTA.*: Redis only (a quota is shared by every client, no local answer is safe).

use crate::client::Client;
use crate::commands as cmd;
use crate::error::Error;
use crate::types::*;

impl Client {
    /// `QUOTA.SET key LIMIT amount [WINDOW ms]`.
    pub async fn quota_set(
        &self,
        key: &str,
        limit: Amount,
        window_ms: Option<u64>,
    ) -> Result<(), Error> {
        self.redis_only(key, cmd::quota_set(key, limit, window_ms), cmd::ok)
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
