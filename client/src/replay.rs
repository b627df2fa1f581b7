//! The replay: what the fallback stores hold goes to Redis, with each write's own TS and ID,
//! in the order it was made for each key, and an entry is removed only once Redis answered it.
//!
//! One pass sends the writes of the lanes Redis serves again (all of them on a single
//! server; in a cluster, the slots whose node answers), a batch at a time (one pipeline per
//! node). A write that finds Redis unavailable stops its key for the rest of the pass: the
//! writes after it for that key are not counted as done even if Redis answered them (they are
//! sent again, after it, in the next pass), so that each key's writes take effect in order.
//! A lane whose writes are all done leaves fallback.

use crate::client::Client;
use crate::commands as cmd;
use crate::error::Error;
use crate::feed::{Matchers, Silence};
use crate::journal::{Entry, Pos};
use crate::metrics::Counters;
use crate::record::{Answer, Record};
use crate::types::Store;
use redis::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// What one pass has learnt: the lanes Redis serves, and the keys stopped by a failure.
struct Pass {
    up: HashSet<u16>,
    stopped: HashSet<String>,
}

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
            let Some(left) = limit.checked_sub(start.elapsed()).filter(|l| !l.is_zero()) else {
                return Ok(false);
            };
            // Not past the limit: a probe interval longer than what is left would overrun it.
            tokio::time::sleep(self.inner.config.probe_interval.min(left)).await;
        }
    }

    /// One pass: the writes of the lanes Redis serves again go to Redis (the journal's, then
    /// the memory store's), and the lanes that have none left leave fallback.
    /// Err(Unavailable) while some lane still waits for Redis.
    pub(crate) async fn replay(&self) -> Result<(), Error> {
        let _one = self.inner.replay_lock.lock().await;
        let lanes: Vec<u16> = self.state().lanes.keys().copied().collect();
        if lanes.is_empty() && !self.inner.redis.any_down() {
            return Ok(());
        }
        let up = self.inner.redis.check(&lanes).await;
        self.state().serving = up.clone();
        let mut pass = Pass {
            up,
            stopped: HashSet::new(),
        };
        if !pass.up.is_empty() {
            self.replay_journal(&mut pass).await?;
            self.replay_memory(&mut pass).await;
        }
        // Lanes with nothing left leave fallback; the order of a lane's writes is kept by the
        // writes lock (none lands in the journal after the lane was found empty).
        let _turn = self.inner.writes.lock().await;
        let journal_empty = self.inner.journal.get().is_none_or(|j| j.pending() == 0);
        let left = {
            let mut st = self.state();
            if journal_empty && st.memory.is_empty() {
                // Nothing waits anywhere (no write is between its count and its append while
                // we hold the writes lock): no lane counts a write, whatever was skipped.
                for n in st.lanes.values_mut() {
                    *n = 0;
                }
            }
            let free: Vec<u16> = st
                .lanes
                .iter()
                .filter(|(lane, n)| **n == 0 && pass.up.contains(lane))
                .map(|(lane, _)| *lane)
                .collect();
            for lane in &free {
                st.lanes.remove(lane);
                st.serving.remove(lane);
            }
            if !free.is_empty() {
                let free: HashSet<u16> = free.into_iter().collect();
                st.local
                    .clear_where(|key| free.contains(&self.inner.redis.lane(key)));
            }
            st.lanes.len()
        };
        if let Some(j) = self.inner.journal.get() {
            if j.pending() == 0 {
                j.reset().await;
            }
            // The next outage tries the journal first again.
            if left == 0 && self.state().memory.is_empty() {
                self.inner.level.store(
                    crate::client::mode_code(Store::File),
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
        }
        self.update_mode("replay complete");
        if left > 0 {
            return Err(Error::Unavailable(format!(
                "{left} lane(s) still wait for redis"
            )));
        }
        Ok(())
    }

    /// Whether the pass sends this write.
    fn sendable(&self, pass: &Pass, r: &Record) -> bool {
        pass.up.contains(&self.lane_of(r.key())) && !pass.stopped.contains(r.key())
    }

    async fn replay_journal(&self, pass: &mut Pass) -> Result<(), Error> {
        let Some(j) = self.inner.journal.get() else {
            return Ok(());
        };
        let batch_size = self.inner.config.replay_batch.max(1);
        let mut after: Option<Pos> = None;
        let mut read_any = false;
        loop {
            let batch: Vec<Entry> = j.read_pending(after, batch_size).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.pos());
            read_any = true;
            let todo: Vec<&Entry> = batch
                .iter()
                .filter(|e| self.sendable(pass, &e.record))
                .collect();
            if todo.is_empty() {
                continue;
            }
            let records: Vec<&Record> = todo.iter().map(|e| &e.record).collect();
            let done = self.send_batch(&records, pass).await;
            let entries: Vec<(u64, u64, u64)> = todo
                .iter()
                .zip(&done)
                .filter(|(_, d)| **d)
                .map(|(e, _)| (e.generation, e.start, e.end))
                .collect();
            self.lanes_done(
                records
                    .iter()
                    .zip(&done)
                    .filter(|(_, d)| **d)
                    .map(|(r, _)| *r),
            );
            if !entries.is_empty() {
                j.mark_done(entries).await;
            }
            if pass.up.is_empty() {
                break;
            }
        }
        if !read_any && j.pending() > 0 {
            j.skip_unreadable_all().await;
        }
        Ok(())
    }

    async fn replay_memory(&self, pass: &mut Pass) {
        let batch_size = self.inner.config.replay_batch.max(1);
        let mut after: Option<u64> = None;
        loop {
            let batch = self.state().memory.after(after, batch_size);
            let Some((last, _)) = batch.last() else { break };
            after = Some(*last);
            let todo: Vec<&(u64, Record)> = batch
                .iter()
                .filter(|(_, r)| self.sendable(pass, r))
                .collect();
            if todo.is_empty() {
                continue;
            }
            let records: Vec<&Record> = todo.iter().map(|(_, r)| r).collect();
            let done = self.send_batch(&records, pass).await;
            let mut st = self.state();
            for ((n, r), d) in todo.iter().zip(&done) {
                // A record pushed out of the full store meanwhile was already uncounted.
                if *d && st.memory.remove(*n) {
                    let lane = self.lane_of(r.key());
                    if let Some(c) = st.lanes.get_mut(&lane) {
                        *c = c.saturating_sub(1);
                    }
                }
            }
            self.sync_memory_gauge(&st);
            drop(st);
            if pass.up.is_empty() {
                break;
            }
        }
    }

    /// Counts journal records Redis answered out of their lanes.
    fn lanes_done<'a>(&self, records: impl Iterator<Item = &'a Record>) {
        let mut st = self.state();
        for r in records {
            let lane = self.lane_of(r.key());
            if let Some(c) = st.lanes.get_mut(&lane) {
                *c = c.saturating_sub(1);
            }
        }
    }

    /// Sends records (pipelined, one pipeline per node) and reads each answer in order:
    /// whether each one is done. An error reply about a record itself (it would fail again)
    /// counts as done: it is kept in `rejected.jsonl` and counted.
    async fn send_batch(&self, records: &[&Record], pass: &mut Pass) -> Vec<bool> {
        let c = &self.inner.counters;
        let cmds: Vec<(&str, redis::Cmd)> = records
            .iter()
            .map(|r| (r.key(), self.command_of(r)))
            .collect();
        let limit = self
            .inner
            .config
            .command_timeout
            .max(Duration::from_secs(5));
        let values = self.inner.redis.send(&cmds, limit).await;
        let mut done = vec![false; records.len()];
        for (i, (r, res)) in records.iter().zip(values).enumerate() {
            if pass.stopped.contains(r.key()) {
                continue;
            }
            let lane = self.lane_of(r.key());
            let res = match res {
                Ok(v) => self.inner.redis.follow(r.key(), &cmds[i].1, v).await,
                Err(e) => {
                    // The node did not answer at all: nothing more goes to it in this pass,
                    // and reads of its lane answer from the fallback stores again.
                    pass.up.remove(&lane);
                    self.state().serving.remove(&lane);
                    Err(e)
                }
            };
            let answer = match res {
                Ok(v) => self.settle(r, v).await,
                Err(e) => Err(e),
            };
            match answer {
                Ok(Some(answer)) => {
                    if let Answer::Add(outcome) = answer {
                        c.outcome(&outcome);
                    }
                    Counters::inc(&c.replayed);
                    done[i] = true;
                }
                Ok(None) => done[i] = true,
                Err(e) if e.is_unavailable() => {
                    Counters::inc(&c.failures);
                    pass.stopped.insert(r.key().to_owned());
                }
                Err(e) => {
                    Counters::inc(&c.rejected);
                    tracing::error!(record = ?r, error = %e, "vigil-client: redis refused a replayed write");
                    if let Some(j) = self.inner.journal.get() {
                        j.dead_letter((*r).clone(), e.to_string()).await;
                    }
                    done[i] = true;
                }
            }
        }
        done
    }

    /// Redis's answer to a replayed record. A silence answers `Ok(None)` (done, not
    /// counted as replayed) when its UNTIL passed during the outage (it would have ended
    /// already), and counts as replayed when Redis holds it already under its ID (an earlier
    /// send whose answer was lost) or has ended it by the UNSILENCE still pending behind it.
    /// When its ID was used by another silence meanwhile, one never sent before is made under
    /// the ID Redis gives (or found made so by an earlier attempt); one that may have reached
    /// Redis before (its send timed out) is an error: it may have been made and ended since.
    async fn settle(&self, r: &Record, v: Value) -> Result<Option<Answer>, Error> {
        let Record::Silence {
            key,
            id,
            until,
            matchers,
            comment,
            unsent,
        } = r
        else {
            return r.answer(v).map(Some);
        };
        let e = match r.answer(v) {
            Ok(a) => return Ok(Some(a)),
            Err(e) => e,
        };
        let Error::Server { detail, .. } = &e else {
            return Err(e);
        };
        if detail.contains("is not in the future") {
            tracing::info!(key = %key, id, "vigil-client: a silence made while redis was away ended before the replay");
            return Ok(None);
        }
        if detail.contains("already used") || detail.contains("already exists") {
            let held = self
                .inner
                .redis
                .call(key, &crate::commands::key_only("ALERT.SILENCES", key))
                .await
                .and_then(crate::commands::parse_silences)?;
            if held.iter().any(|s| s.id == *id) {
                return Ok(Some(Answer::Silence(*id)));
            }
            // Made and ended already: an earlier replay sent it and the UNSILENCE that the
            // fallback stores still hold after it (their answers were lost).
            if self.unsilence_pending(key, *id).await {
                tracing::info!(key = %key, id, "vigil-client: a silence replayed before was ended already by its replayed UNSILENCE");
                return Ok(Some(Answer::Silence(*id)));
            }
            if *unsent {
                let same = |s: &&Silence| {
                    s.until == *until
                        && same_matchers(&s.matchers, matchers)
                        && s.comment == *comment
                };
                // An earlier attempt of this very step may have made it (its answer lost).
                let new = match held.iter().find(same) {
                    Some(s) => s.id,
                    None => {
                        let c = cmd::silence(key, *until, matchers, comment.as_deref(), None);
                        self.inner
                            .redis
                            .call(key, &c)
                            .await
                            .and_then(cmd::parse_count)?
                    }
                };
                tracing::warn!(key = %key, id, new, "vigil-client: a silence made while redis was away found its ID used by another silence; made under the ID redis gave");
                self.state()
                    .renamed_silences
                    .insert((key.clone(), *id), new);
                // Kept before the silence counts as replayed, for the UNSILENCE after it.
                if let Some(j) = self.inner.journal.get() {
                    if let Err(e) = j.keep_rename(key.clone(), *id, new).await {
                        tracing::error!(key = %key, id, new, error = %e, "vigil-client: could not keep a silence's new ID beside the journal");
                    }
                }
                return Ok(Some(Answer::Silence(new)));
            }
            return Err(Error::Server {
                code: "ERR".into(),
                detail: format!(
                    "{detail} (a silence made by another client while this one could not reach the stream took its ID)"
                ),
            });
        }
        Err(e)
    }

    /// Whether the fallback stores hold an UNSILENCE of silence `id` of `key` (looked for only
    /// when a replayed silence finds its ID used and the silence gone).
    async fn unsilence_pending(&self, key: &str, id: u64) -> bool {
        let is_it =
            |r: &Record| matches!(r, Record::Unsilence { key: k, id: i } if k == key && *i == id);
        if let Some(j) = self.inner.journal.get() {
            if let Ok(records) = j.pending_records().await {
                if records.iter().any(is_it) {
                    return true;
                }
            }
        }
        let memory = self.state().memory.oldest(usize::MAX);
        memory.iter().any(|(_, r)| is_it(r))
    }

    /// Moves the memory store into the journal once the journal takes writes again, so that
    /// they survive a crash (memory level only, while Redis is still down).
    pub(crate) async fn migrate_memory(&self) {
        let Some(j) = self.inner.journal.get() else {
            return;
        };
        let _turn = self.inner.writes.lock().await;
        if self.level() != Store::Memory {
            return;
        }
        loop {
            let Some((n, record)) = self.state().memory.oldest(1).pop() else {
                break;
            };
            let settings = self.inner.settings.learnt(record.key());
            if j.append(record, settings).await.is_err() {
                self.sync_memory_gauge(&self.state());
                return;
            }
            let mut st = self.state();
            st.memory.remove(n);
            self.sync_memory_gauge(&st);
        }
        self.set_level(Store::File, "journal writable again");
    }
}

/// Whether two silences match the same alerts (the server may order labels its own way).
fn same_matchers(a: &Matchers, b: &Matchers) -> bool {
    let sorted = |m: &Matchers| {
        let mut labels = m.labels.clone();
        labels.sort();
        labels
    };
    a.min_severity == b.min_severity
        && a.source == b.source
        && a.kind == b.kind
        && sorted(a) == sorted(b)
}
