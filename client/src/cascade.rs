//! The cascade Redis → file journal → memory: a write goes to the first store that works, a
//! read answers from Redis or, in fallback, from what the fallback stores hold; calls that
//! only Redis can answer say when it is unavailable.

use crate::client::{mode_code, now_ms, Client};
use crate::error::Error;
use crate::local::LocalStreams;
use crate::metrics::Counters;
use crate::record::{Answer, Record};
use crate::types::Store;
use redis::{Cmd, Value};

impl Client {
    /// A write that can fall back: in redis mode, Redis answers it; when Redis is
    /// unavailable (or the client is in fallback), the write is kept in the journal, or in
    /// memory if the journal cannot take it, and the fallback stores' view answers.
    pub(crate) async fn write(&self, record: Record) -> Result<(Store, Answer), Error> {
        let mut redis_error: Option<String> = None;
        loop {
            if self.mode() == Store::Redis {
                let answer = self
                    .inner
                    .redis
                    .call(&record.command())
                    .await
                    .and_then(|v| record.answer(v));
                match answer {
                    Ok(a) => return Ok((Store::Redis, a)),
                    Err(e) if e.is_unavailable() => {
                        Counters::inc(&self.inner.counters.failures);
                        redis_error = Some(e.to_string());
                    }
                    Err(e) => return Err(e),
                }
            }
            // A task of its own: a caller that stops waiting (a timeout around the call)
            // cannot stop the write between the journal and the local view.
            let client = self.clone();
            let (r, why) = (record.clone(), redis_error.clone());
            let kept = tokio::spawn(async move { client.keep(r, why.as_deref()).await })
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e)))??;
            if let Some(kept) = kept {
                return Ok(kept);
            }
        }
    }

    /// Keeps a write in the journal (fsync'ed before this returns), or in memory if the
    /// journal cannot take it, and applies it to the local view. Returns None when Redis came
    /// back while this write waited for its turn (the caller tries Redis).
    async fn keep(
        &self,
        record: Record,
        redis_error: Option<&str>,
    ) -> Result<Option<(Store, Answer)>, Error> {
        // Nothing is kept that Redis would refuse: it could never be replayed.
        record.check(self.inner.config.max_document_bytes)?;
        let _turn = self.inner.writes.lock().await;
        let mode = self.mode();
        if mode == Store::Redis && redis_error.is_none() {
            return Ok(None);
        }
        let c = &self.inner.counters;
        let mut store = Store::Memory;
        if mode != Store::Memory {
            if let Some(j) = &self.inner.journal {
                // The fsync runs on the blocking pool; reads and Redis calls go on meanwhile.
                match j.append(record.clone()).await {
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
                }
            }
            let key = record.key();
            let answer = st
                .local
                .apply(&record, || self.inner.settings.get(key), now_ms());
            self.sync_memory_gauge(&st);
            answer
        };
        Counters::inc(if store == Store::Memory {
            &c.fallback_memory
        } else {
            &c.fallback_file
        });
        Counters::inc(&c.fallbacks);
        if mode_code(store) > mode_code(mode) {
            let why = if store == Store::Memory && mode == Store::File {
                "journal write failed"
            } else {
                redis_error.unwrap_or("redis unavailable")
            };
            self.set_mode(store, why);
        }
        Ok(Some((store, answer?)))
    }

    /// A read with a fallback: Redis answers in redis mode; when it is unavailable (or the
    /// client is in fallback), `local` answers from what the fallback stores hold.
    pub(crate) async fn read<T>(
        &self,
        c: Cmd,
        parse: impl FnOnce(Value) -> Result<T, Error>,
        local: impl FnOnce(&LocalStreams) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.mode() == Store::Redis {
            match self.inner.redis.call(&c).await.and_then(parse) {
                Ok(v) => return Ok(v),
                Err(e) if e.is_unavailable() => {
                    // Later calls use the fallback stores until the probe sees Redis again.
                    Counters::inc(&self.inner.counters.failures);
                    let to = if self.inner.journal.is_some() {
                        Store::File
                    } else {
                        Store::Memory
                    };
                    self.leave_redis(to, &e.to_string());
                }
                Err(e) => return Err(e),
            }
        }
        local(&self.state().local)
    }

    /// A call that only Redis can answer: unavailability is an error for the caller.
    pub(crate) async fn redis_only<T>(
        &self,
        c: Cmd,
        parse: impl FnOnce(Value) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let res = self.inner.redis.call(&c).await.and_then(parse);
        if let Err(e) = &res {
            if e.is_unavailable() {
                Counters::inc(&self.inner.counters.failures);
            }
        }
        res
    }
}
