//! The change feed (ALERT.READ, and [`Feed`] over it), silences (SILENCE, UNSILENCE,
//! SILENCES) and ALERT.GROUPS. In fallback, READ, SILENCES and GROUPS answer from what the
//! fallback stores hold (the writes made while Redis was away, never Redis's content);
//! SILENCE is journaled with its ID and replayed exactly once.

use crate::client::{now_ms, Client};
use crate::commands as cmd;
use crate::error::Error;
use crate::feed::*;
use crate::metrics::Counters;
use crate::record::{Answer, Record};
use crate::types::{Bound, Store};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl Client {
    /// ALERT.READ: the alerts of `key` whose last change is after `cursor`, in the order of
    /// those changes, each once in its current state, and where to read on from. With
    /// `options.block`, waits up to that long when there is nothing to return (an empty
    /// reply, `next` unchanged, when the time ran out).
    ///
    /// In fallback, the fallback store answers with its own changes (see [`Cursor`]): a
    /// cursor Redis gave reads them from their start, as none of them reached Redis. A
    /// cursor ahead of the stream in Redis is `Err(Error::Server)` with
    /// [`Error::is_cursor_ahead`]: read again from [`Cursor::start`] ([`Feed`] does it).
    pub async fn read(
        &self,
        key: &str,
        cursor: &Cursor,
        options: &ReadOptions,
    ) -> Result<ReadReply, Error> {
        let deadline = options.block.map(|b| Instant::now() + b);
        let lane = self.lane_of(key);
        if !self.lane_held(lane) {
            match self.read_redis(key, cursor, options).await {
                Ok(reply) => return Ok(reply),
                Err(e) if e.is_unavailable() => {
                    Counters::inc(&self.inner.counters.failures);
                    self.hold_lane(lane, &e.to_string());
                }
                Err(e) => return Err(e),
            }
        }
        self.read_local(key, cursor.clone(), options, deadline)
            .await
    }

    async fn read_redis(
        &self,
        key: &str,
        cursor: &Cursor,
        o: &ReadOptions,
    ) -> Result<ReadReply, Error> {
        let redis = &self.inner.redis;
        let mut after = cursor.redis_part().to_owned();
        if cursor.is_now() && o.block.is_some() {
            // A blocked read that times out answers nil, without a position: take the
            // position of `$` first, so that the next read starts where this one did.
            let v = redis.call(key, &cmd::read(key, "$", o, None)).await?;
            if let Some((next, _)) = cmd::parse_read(v)? {
                after = next;
            }
        }
        let c = cmd::read(key, &after, o, o.block);
        let v = match o.block {
            Some(b) => {
                let limit = b + self.inner.config.command_timeout;
                redis.blocking_call(key, &c, limit).await?
            }
            None => redis.call(key, &c).await?,
        };
        let (next, changes) = match cmd::parse_read(v)? {
            Some((next, items)) => (
                Cursor::redis(next),
                items
                    .into_iter()
                    .map(|(cursor, alert)| Change {
                        cursor: Cursor::redis(cursor),
                        alert,
                    })
                    .collect(),
            ),
            None => (Cursor::redis(after), Vec::new()),
        };
        Ok(ReadReply {
            next,
            changes,
            store: Store::Redis,
        })
    }

    /// READ from the fallback stores, waiting (with `deadline`) for a change they make, or for
    /// the lane to leave fallback (the next read then asks Redis).
    async fn read_local(
        &self,
        key: &str,
        mut cursor: Cursor,
        o: &ReadOptions,
        deadline: Option<Instant>,
    ) -> Result<ReadReply, Error> {
        let lane = self.lane_of(key);
        loop {
            let changed = self.inner.local_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (next, changes) = {
                let mut st = self.state();
                st.local.end_silences(key, now_ms());
                st.local.read(key, &cursor, o)?
            };
            let store = self.level();
            let now = Instant::now();
            match deadline {
                Some(d) if changes.is_empty() && now < d => cursor = next,
                _ => {
                    return Ok(ReadReply {
                        next,
                        changes,
                        store,
                    })
                }
            }
            let Some(d) = deadline else { continue };
            let wake = d.min(now + self.inner.config.probe_interval);
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
            if !self.lane_held(lane) {
                return Ok(ReadReply {
                    next: cursor,
                    changes: Vec::new(),
                    store,
                });
            }
        }
    }

    /// Follows the changes of `key` from `cursor` (a stored one, [`Cursor::start`] or
    /// [`Cursor::now`]): see [`Feed`]. `options.block` is how long one read waits on the
    /// server (default 5 s); the feed reads again until a change comes.
    pub fn follow(&self, key: &str, cursor: Cursor, options: ReadOptions) -> Feed {
        Feed::new(self.clone(), key, cursor, options)
    }

    /// A silence ID: the clock in microseconds (above the IDs the server gives from 1, so that
    /// an ID made while Redis was away is still free when it is replayed), never twice.
    fn next_silence_id(&self) -> u64 {
        let last = &self.inner.last_silence_id;
        let mut id = now_us();
        loop {
            let prev = last.load(Relaxed);
            id = id.max(prev + 1);
            if last.compare_exchange(prev, id, Relaxed, Relaxed).is_ok() {
                return id;
            }
        }
    }

    /// ALERT.SILENCE: until `until` (ms), alerts matching all of `matchers` are left out of
    /// the feed (READ without `with_silenced`). Returns the silence's ID.
    ///
    /// The client gives every silence its ID (`ID`, the clock in µs), so that a silence kept
    /// in the journal while Redis is unavailable is replayed exactly once: a replay that
    /// finds it already held (the first send reached Redis, its answer was lost) counts it
    /// done. In fallback the silence applies at once to the fallback stores' feed.
    pub async fn silence(
        &self,
        key: &str,
        until: u64,
        matchers: &Matchers,
        comment: Option<&str>,
    ) -> Result<u64, Error> {
        let record = Record::Silence {
            key: key.to_owned(),
            id: self.next_silence_id(),
            until,
            matchers: matchers.clone(),
            comment: comment.map(str::to_owned),
        };
        match self.write(record).await {
            Ok((_, Answer::Silence(id))) => Ok(id),
            Ok((_, other)) => Err(Error::Protocol(format!("unexpected answer {other:?}"))),
            // The stream holds a silence with a higher ID (made with a clock ahead of ours):
            // let the server choose.
            Err(Error::Server { detail, .. }) if detail.contains("already used") => {
                let c = cmd::silence(key, until, matchers, comment, None);
                self.redis_only(key, c, cmd::parse_count).await
            }
            Err(e) => Err(e),
        }
    }

    /// ALERT.UNSILENCE: true if the silence was ended. While Redis is unavailable, only a
    /// silence made meanwhile (held by the fallback stores) can be ended: it is journaled and
    /// replayed after it; any other is `Err(Unavailable)`.
    pub async fn unsilence(&self, key: &str, id: u64) -> Result<bool, Error> {
        let record = Record::Unsilence {
            key: key.to_owned(),
            id,
        };
        match self.write(record).await? {
            (_, Answer::Count(n)) => Ok(n > 0),
            (_, other) => Err(Error::Protocol(format!("unexpected answer {other:?}"))),
        }
    }

    /// ALERT.SILENCES: the active silences, by ID. In fallback, those made meanwhile.
    pub async fn silences(&self, key: &str) -> Result<Vec<Silence>, Error> {
        self.read_or_local(
            key,
            cmd::key_only("ALERT.SILENCES", key),
            cmd::parse_silences,
            |l| {
                let now = now_ms();
                Ok(l.silences(key)
                    .into_iter()
                    .filter(|s| s.until > now)
                    .collect())
            },
        )
        .await
    }

    /// ALERT.GROUPS: the alerts between `start` and `end` that pass `filters`, counted by
    /// `by`, ordered by value (the group `None` first).
    pub async fn groups(
        &self,
        key: &str,
        start: Bound,
        end: Bound,
        by: &GroupBy,
        filters: &Filters,
    ) -> Result<Vec<Group>, Error> {
        self.read_or_local(
            key,
            cmd::groups(key, start, end, by, filters),
            cmd::parse_groups,
            |l| Ok(l.groups(key, start, end, by, filters)),
        )
        .await
    }
}
