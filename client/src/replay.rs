//! The replay: what the fallback stores hold goes to Redis in order, with each write's own TS
//! and ID, and an entry is removed only once Redis answered it.

use crate::client::Client;
use crate::commands as cmd;
use crate::error::Error;
use crate::metrics::Counters;
use crate::record::{Answer, Record};
use crate::types::Store;
use redis::Value;
use std::time::{Duration, Instant};

impl Client {
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

    /// Replays the journal, then the memory store, to Redis in order, and goes back to redis
    /// mode once both are empty. Err(Unavailable) when Redis (or the module) is still down.
    pub(crate) async fn replay(&self) -> Result<(), Error> {
        let _one = self.inner.replay_lock.lock().await;
        self.module_answers().await?;
        let batch_size = self.inner.config.replay_batch.max(1);
        loop {
            if let Some(j) = &self.inner.journal {
                if let Some((generation, entries)) = j.next_batch(batch_size).await? {
                    if entries.is_empty() {
                        j.skip_unreadable(generation).await;
                        continue;
                    }
                    let records: Vec<Record> = entries.iter().map(|e| e.record.clone()).collect();
                    let (done, err) = self.send_batch(&records).await;
                    if done > 0 {
                        j.confirm(generation, entries[done - 1].end, done as u64)
                            .await;
                    }
                    match err {
                        Some(e) => return Err(e),
                        None => continue,
                    }
                }
            }
            let memory_batch = self.state().memory.oldest(batch_size);
            if !memory_batch.is_empty() {
                let records: Vec<Record> = memory_batch.iter().map(|(_, r)| r.clone()).collect();
                let (done, err) = self.send_batch(&records).await;
                let mut st = self.state();
                for (n, _) in &memory_batch[..done] {
                    st.memory.remove(*n);
                }
                self.sync_memory_gauge(&st);
                drop(st);
                match err {
                    Some(e) => return Err(e),
                    None => continue,
                }
            }
            // Both empty: switch back, unless a write slipped in before we took our turn.
            let _turn = self.inner.writes.lock().await;
            let journal_empty = self.inner.journal.as_ref().is_none_or(|j| j.pending() == 0);
            if journal_empty && self.state().memory.is_empty() {
                if let Some(j) = &self.inner.journal {
                    j.reset().await;
                }
                self.state().local.clear();
                self.set_mode(Store::Redis, "replay complete");
                return Ok(());
            }
        }
    }

    /// Redis answers and the module is loaded (`COMMAND INFO` answers nil for an unknown
    /// command).
    async fn module_answers(&self) -> Result<(), Error> {
        let info = self
            .inner
            .redis
            .call(&cmd::command_info("ALERT.ADD"))
            .await
            .and_then(cmd::checked);
        match info {
            Ok(Value::Array(items)) if items.first().is_none_or(|v| *v == Value::Nil) => {
                Err(Error::Unavailable("the vigil module is not loaded".into()))
            }
            Err(e) if e.is_unavailable() => Err(e),
            // A user without the right to COMMAND: the replay itself will tell.
            _ => Ok(()),
        }
    }

    /// Sends records in one pipeline. Returns how many, from the first, Redis answered, and
    /// the error that stopped it, if any. An error reply about a record itself (it would fail
    /// again) counts as answered: it is kept in `rejected.jsonl` and counted.
    async fn send_batch(&self, records: &[Record]) -> (usize, Option<Error>) {
        let c = &self.inner.counters;
        let mut pipe = redis::pipe();
        for r in records {
            pipe.add_command(r.command());
        }
        let limit = self
            .inner
            .config
            .command_timeout
            .max(Duration::from_secs(5));
        let values = match self.inner.redis.pipeline(&pipe, records.len(), limit).await {
            Ok(values) => values,
            Err(e) => {
                Counters::inc(&c.failures);
                return (0, Some(e));
            }
        };
        for (i, (r, v)) in records.iter().zip(values).enumerate() {
            match r.answer(v) {
                Ok(answer) => {
                    if let Answer::Add(outcome) = answer {
                        c.outcome(&outcome);
                    }
                    Counters::inc(&c.replayed);
                }
                Err(e) if e.is_unavailable() => {
                    Counters::inc(&c.failures);
                    return (i, Some(e));
                }
                Err(e) => {
                    Counters::inc(&c.rejected);
                    tracing::error!(record = ?r, error = %e, "vigil-client: redis refused a replayed write");
                    if let Some(j) = &self.inner.journal {
                        j.dead_letter(r.clone(), e.to_string()).await;
                    }
                }
            }
        }
        (records.len(), None)
    }

    /// Moves the memory store into the journal once the journal takes writes again, so that
    /// they survive a crash (memory mode only, while Redis is still down).
    pub(crate) async fn migrate_memory(&self) {
        let Some(j) = &self.inner.journal else {
            return;
        };
        let _turn = self.inner.writes.lock().await;
        if self.mode() != Store::Memory {
            return;
        }
        loop {
            let Some((n, record)) = self.state().memory.oldest(1).pop() else {
                break;
            };
            if j.append(record).await.is_err() {
                self.sync_memory_gauge(&self.state());
                return;
            }
            let mut st = self.state();
            st.memory.remove(n);
            self.sync_memory_gauge(&st);
        }
        self.set_mode(Store::File, "journal writable again");
    }
}
