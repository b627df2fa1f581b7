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
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
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
        if self.redis_answers(key, lane) {
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
            unsent: false,
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

/// How long [`Feed::next`] asks the server to wait in one read.
const FEED_BLOCK: Duration = Duration::from_secs(5);

/// Follows one stream's changes from a cursor: [`Feed::next`] waits for the next change, and
/// [`Feed::cursor`] is the position to store so that a feed opened on it later goes on with
/// the change after the last one returned.
///
/// When Redis answers `ERR cursor is ahead of the stream` (the stream went back: an older
/// copy was restored, or the key was deleted), the feed starts again from `0`, returning every
/// alert the stream holds, and counts it in [`Feed::restarts`]. While the client is in
/// fallback, the changes come from its fallback store (see [`Cursor`]).
pub struct Feed {
    client: Client,
    key: String,
    options: ReadOptions,
    cursor: Cursor,
    /// Changes read and not yet returned; then `after` is where the read ended.
    buffered: VecDeque<Change>,
    after: Cursor,
    restarts: u64,
}

impl Feed {
    fn new(client: Client, key: &str, cursor: Cursor, options: ReadOptions) -> Feed {
        Feed {
            client,
            key: key.to_owned(),
            options,
            after: cursor.clone(),
            cursor,
            buffered: VecDeque::new(),
            restarts: 0,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The position after the last change returned: store it, and open a feed on it to go on.
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// Times the feed started again from `0` because its cursor was ahead of the stream.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// The next change, waiting as long as it takes. Cancel-safe: a call dropped before it
    /// returns leaves the feed where it was.
    pub async fn next(&mut self) -> Result<Change, Error> {
        loop {
            if let Some(change) = self.next_until(None).await? {
                return Ok(change);
            }
        }
    }

    /// The next change, or `None` if none came within `limit`. Its reads wait on the server
    /// no longer than the time left, so that one that runs out is answered (nil) and its
    /// connection serves again; the answer may come a round trip after `limit`. `ZERO`
    /// reads once without waiting.
    pub async fn next_within(&mut self, limit: Duration) -> Result<Option<Change>, Error> {
        let deadline = Instant::now() + limit;
        // The reads have limits of their own (the time left and the command timeout): this
        // one only guards against a wait that would outlive both.
        let guard = limit + 2 * self.client.inner.config.command_timeout;
        match tokio::time::timeout(guard, self.next_until(Some(deadline))).await {
            Ok(change) => change,
            Err(_) => Ok(None),
        }
    }

    /// The next change, or `None` once `deadline` passed (never before one read).
    async fn next_until(&mut self, deadline: Option<Instant>) -> Result<Option<Change>, Error> {
        let mut read = false;
        loop {
            if let Some(change) = self.buffered.pop_front() {
                self.cursor = match self.buffered.front() {
                    Some(_) => change.cursor.clone(),
                    None => self.after.clone(),
                };
                return Ok(Some(change));
            }
            let mut options = self.options.clone();
            if self.cursor.is_now() {
                // `$` means "after the read that takes it": pin it to a position with a read
                // that does not wait, so that a call dropped while it waits (a timeout) leaves
                // that position, not `$`, which the next call would take later and so skip
                // what was written in between.
                options.block = None;
                self.cursor = self
                    .client
                    .read(&self.key, &self.cursor, &options)
                    .await?
                    .next;
                continue;
            }
            let block = options.block.unwrap_or(FEED_BLOCK);
            options.block = match deadline {
                None => Some(block),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if read && left.is_zero() {
                        return Ok(None);
                    }
                    // BLOCK counts whole milliseconds and 0 waits without a limit: under
                    // 1 ms left, a read that does not wait.
                    let left = Duration::from_millis(left.as_millis() as u64);
                    (!left.is_zero()).then(|| block.min(left))
                }
            };
            read = true;
            match self.client.read(&self.key, &self.cursor, &options).await {
                Ok(reply) if reply.changes.is_empty() => self.cursor = reply.next,
                Ok(reply) => {
                    self.after = reply.next;
                    self.buffered = reply.changes.into();
                }
                Err(e) if e.is_cursor_ahead() => {
                    tracing::warn!(key = %self.key, cursor = %self.cursor, "vigil-client: feed cursor ahead of the stream, reading again from 0");
                    self.restarts += 1;
                    self.cursor = Cursor::start();
                }
                Err(e) => return Err(e),
            }
        }
    }
}
