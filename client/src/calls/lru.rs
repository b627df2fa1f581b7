//! LRU.*: Redis only (a tracker tracks keys of the keyspace).

use crate::client::Client;
use crate::commands as cmd;
use crate::error::Error;
use crate::types::*;

impl Client {
    /// LRU.TOUCH tracker key size [key size ...]: the keys newly tracked. No keys: 0, without
    /// a call (Redis up or not), as for `lru_forget`.
    pub async fn lru_touch(&self, tracker: &str, keys: &[(&str, Amount)]) -> Result<u64, Error> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.redis_only(tracker, cmd::lru_touch(tracker, keys), cmd::parse_count)
            .await
    }

    /// LRU.FORGET tracker key [key ...].
    pub async fn lru_forget(&self, tracker: &str, keys: &[&str]) -> Result<u64, Error> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.redis_only(tracker, cmd::lru_forget(tracker, keys), cmd::parse_count)
            .await
    }

    /// LRU.CANDIDATES tracker count: least recently used first.
    pub async fn lru_candidates(
        &self,
        tracker: &str,
        count: u64,
    ) -> Result<Vec<LruCandidate>, Error> {
        self.redis_only(
            tracker,
            cmd::lru_candidates(tracker, count),
            cmd::parse_candidates,
        )
        .await
    }

    /// `LRU.EVICT tracker target [QUOTA quotakey] [MAX n]`.
    pub async fn lru_evict(
        &self,
        tracker: &str,
        target: Amount,
        opts: &EvictOptions,
    ) -> Result<EvictReply, Error> {
        self.redis_only(
            tracker,
            cmd::lru_evict(tracker, target, opts),
            cmd::parse_evict,
        )
        .await
    }

    /// LRU.INFO tracker.
    pub async fn lru_info(&self, tracker: &str) -> Result<LruInfo, Error> {
        self.redis_only(
            tracker,
            cmd::key_only("LRU.INFO", tracker),
            cmd::parse_lru_info,
        )
        .await
    }
}
