//! The cascade Redis → file journal → memory: a write goes to the first store that works, a
//! read answers from Redis or, in fallback, from what the fallback stores hold; calls that
//! only Redis can answer say when it is unavailable. Fallback is decided per lane (a single
//! server is one lane; in a cluster each slot is one).

use crate::client::{mode_code, now_ms, Client};
use crate::error::Error;
use crate::local::LocalStreams;
use crate::metrics::Counters;
use crate::record::{Answer, Record};
use crate::types::Store;
use redis::{Cmd, Value};

impl Client {
    /// A write that can fall back: Redis answers it while its lane is not in fallback; when
    /// Redis is unavailable (or the lane is in fallback), the write is kept in the journal, or
    /// in memory if the journal cannot take it, and the fallback stores' view answers.
    pub(crate) async fn write(&self, record: Record) -> Result<(Store, Answer), Error> {
        let lane = self.lane_of(record.key());
        let mut redis_error: Option<String> = None;
        // Whether an attempt may have reached Redis (it timed out or lost its connection).
        let mut maybe_applied = false;
        loop {
            if !self.lane_held(lane) {
                let c = self.command_of(&record);
                let answer = self
                    .inner
                    .redis
                    .call(record.key(), &c)
                    .await
                    .and_then(|v| record.answer(v));
                match answer {
                    Ok(a) => return Ok((Store::Redis, a)),
                    Err(e) if e.is_unavailable() => {
                        Counters::inc(&self.inner.counters.failures);
                        maybe_applied |= !e.not_applied();
                        redis_error = Some(e.to_string());
                    }
                    Err(e) => return Err(e),
                }
            }
            // A task of its own: a caller that stops waiting (a timeout around the call)
            // cannot stop the write between the journal and the local view.
            let client = self.clone();
            let (r, why) = (record.clone().kept(!maybe_applied), redis_error.clone());
            let kept = tokio::spawn(async move { client.keep(r, lane, why.as_deref()).await })
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e)))??;
            if let Some(kept) = kept {
                return Ok(kept);
            }
        }
    }

    /// Keeps a write in the journal (fsync'ed before this returns), or in memory if the
    /// journal cannot take it, and applies it to the local view. Returns None when the lane
    /// left fallback while this write waited for its turn (the caller tries Redis).
    async fn keep(
        &self,
        record: Record,
        lane: u16,
        redis_error: Option<&str>,
    ) -> Result<Option<(Store, Answer)>, Error> {
        // Nothing is kept that Redis would refuse: it could never be replayed.
        record.check(self.inner.config.max_document_bytes, now_ms())?;
        let _turn = self.inner.writes.lock().await;
        if !self.lane_held(lane) && redis_error.is_none() {
            return Ok(None);
        }
        if let Record::Unsilence { key, id } = &record {
            // Only a silence made while Redis was away can be ended here: whether Redis holds
            // another one is Redis's to say.
            if !self.state().local.has_silence(key, *id) {
                return Err(Error::Unavailable(format!(
                    "{}; silence {id} of '{key}' is not one the fallback stores hold",
                    redis_error.unwrap_or("redis unavailable")
                )));
            }
        }
        let c = &self.inner.counters;
        let level = self.level();
        // Counted before it is appended: a replay running meanwhile may send it and count it
        // done as soon as it is in the journal.
        {
            let mut st = self.state();
            *st.lanes.entry(lane).or_insert(0) += 1;
            if redis_error.is_some() {
                st.serving.remove(&lane);
            }
        }
        let mut store = Store::Memory;
        if level != Store::Memory {
            if let Some(j) = self.inner.journal.get() {
                // The fsync runs on the blocking pool; reads and Redis calls go on meanwhile.
                let settings = self.inner.settings.learnt(record.key());
                match j.append(record.clone(), settings).await {
                    Ok(()) => store = Store::File,
                    Err(e) => {
                        Counters::inc(&c.journal_failures);
                        tracing::error!(dir = %j.dir().display(), error = %e, "vigil-client: journal write failed, using the memory store");
                    }
                }
            }
        }
        let answer = {
            let mut st = self.state();
            if store == Store::Memory {
                if let Some(dropped) = st.memory.push(record.clone()) {
                    Counters::inc(&c.dropped);
                    tracing::warn!(key = dropped.key(), record = ?dropped, "vigil-client: memory store full, dropped its oldest write");
                    st.local.forget(&dropped);
                    let dropped_lane = self.lane_of(dropped.key());
                    if let Some(n) = st.lanes.get_mut(&dropped_lane) {
                        *n = n.saturating_sub(1);
                    }
                }
            }
            let key = record.key();
            let answer = st
                .local
                .apply(&record, || self.inner.settings.get(key), now_ms());
            self.sync_memory_gauge(&st);
            answer
        };
        self.inner.local_changed.notify_waiters();
        Counters::inc(if store == Store::Memory {
            &c.fallback_memory
        } else {
            &c.fallback_file
        });
        Counters::inc(&c.fallbacks);
        let why = redis_error.unwrap_or("redis unavailable");
        if mode_code(store) > mode_code(level) {
            let was_in_fallback = self.mode() != Store::Redis;
            self.set_level(
                store,
                if was_in_fallback {
                    "journal write failed"
                } else {
                    why
                },
            );
        } else {
            self.update_mode(why);
        }
        if self.inner.redis.is_cluster() {
            tracing::debug!(
                key = record.key(),
                slot = lane,
                reason = why,
                "vigil-client: slot in fallback"
            );
        }
        Ok(Some((store, answer?)))
    }

    /// A read with a fallback: Redis answers while the key's lane is not in fallback; when it
    /// is unavailable (or the lane is in fallback), `local` answers from what the fallback
    /// stores hold. In a lane in fallback that the replay found Redis serving again, Redis
    /// answers for a key the fallback stores hold nothing for: on a single server, the one
    /// lane holds every key, and a long replay of one key's writes would otherwise answer
    /// every other key from an empty view.
    pub(crate) async fn read_or_local<T>(
        &self,
        key: &str,
        c: Cmd,
        parse: impl FnOnce(Value) -> Result<T, Error>,
        local: impl FnOnce(&LocalStreams) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let lane = self.lane_of(key);
        if self.redis_answers(key, lane) {
            match self.inner.redis.call(key, &c).await.and_then(parse) {
                Ok(v) => return Ok(v),
                Err(e) if e.is_unavailable() => {
                    Counters::inc(&self.inner.counters.failures);
                    self.hold_lane(lane, &e.to_string());
                }
                Err(e) => return Err(e),
            }
        }
        local(&self.state().local)
    }

    /// The command that makes `record` in Redis: an UNSILENCE of a silence a replay made again
    /// under a new ID names that ID.
    pub(crate) fn command_of(&self, record: &Record) -> Cmd {
        if let Record::Unsilence { key, id } = record {
            let renamed = self
                .state()
                .renamed_silences
                .get(&(key.clone(), *id))
                .copied();
            if let Some(id) = renamed {
                return crate::commands::unsilence(key, id);
            }
        }
        record.command()
    }

    /// Whether a read of `key` goes to Redis: its lane is not in fallback, or the replay
    /// found Redis serving again and the fallback stores hold nothing of the key.
    pub(crate) fn redis_answers(&self, key: &str, lane: u16) -> bool {
        !self.lane_held(lane) || {
            let st = self.state();
            st.serving.contains(&lane) && !st.local.holds(key)
        }
    }

    /// A call that only Redis can answer: unavailability is an error for the caller.
    pub(crate) async fn redis_only<T>(
        &self,
        key: &str,
        c: Cmd,
        parse: impl FnOnce(Value) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let res = self.inner.redis.call(key, &c).await.and_then(parse);
        if let Err(e) = &res {
            if e.is_unavailable() {
                Counters::inc(&self.inner.counters.failures);
            }
        }
        res
    }
}
