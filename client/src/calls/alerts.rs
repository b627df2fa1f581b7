//! ALERT.*: writes that fall back (ADD, ACK, RESOLVE, DEL), reads that answer from the
//! fallback stores in fallback (GET, RANGE, INFO), and the settings calls (Redis only).

use crate::client::{now_ms, Client};
use crate::commands as cmd;
use crate::config::StreamSettings;
use crate::error::Error;
use crate::record::{Answer, IdsOp, Record};
use crate::types::*;

fn unexpected(answer: Answer) -> Error {
    Error::Protocol(format!("unexpected answer {answer:?}"))
}

impl Client {
    /// ALERT.ADD with a client-made ID (`<now>-<random>`): see [`Client::add_with`].
    pub async fn add(&self, key: &str, doc: &str) -> Result<AddReply, Error> {
        self.add_with(key, doc, AddOptions::default()).await
    }

    /// Writes one alert. The write always carries an ID (made here unless given), so that a
    /// retry or a replay is idempotent. Redis answers with the final outcome; when it is
    /// unavailable the alert goes to the journal (fsync'ed before this returns) or, failing
    /// that, to the memory store, whose outcome is provisional (see [`AddReply::store`]).
    /// Errors only for a document the server would refuse, and other input errors (a `ts`
    /// that disagrees with the ts of the given `id`, as ALERT.ADD answers).
    pub async fn add_with(
        &self,
        key: &str,
        doc: &str,
        opts: AddOptions,
    ) -> Result<AddReply, Error> {
        if let (Some(ts), Some(id)) = (opts.ts, opts.id) {
            if ts != id.ts {
                return Err(Error::InvalidInput(format!(
                    "TS {ts} disagrees with the timestamp of ID {}-{}",
                    id.ts, id.seq
                )));
            }
        }
        let id = opts
            .id
            .unwrap_or_else(|| AlertId::random(opts.ts.unwrap_or_else(now_ms)));
        let (store, answer) = self.write(Record::add(key, doc, id)).await?;
        let Answer::Add(outcome) = answer else {
            return Err(unexpected(answer));
        };
        if store == Store::Redis {
            self.inner.counters.outcome(&outcome);
            self.learn_settings(key);
        }
        Ok(AddReply { outcome, store, id })
    }

    async fn ids_write(&self, op: IdsOp, key: &str, ids: &[AlertId]) -> Result<u64, Error> {
        // No IDs: nothing to change, in every mode (no call, nothing journaled).
        if ids.is_empty() {
            return Ok(0);
        }
        match self.write(Record::ids(op, key, ids)).await? {
            (_, Answer::Count(n)) => Ok(n),
            (_, answer) => Err(unexpected(answer)),
        }
    }

    /// ALERT.ACK. In fallback, journaled and replayed in order; the count is then the
    /// alerts the fallback store holds whose status changed. No IDs: 0, in every mode (no
    /// call, nothing journaled), as for `resolve` and `del`.
    pub async fn ack(&self, key: &str, ids: &[AlertId]) -> Result<u64, Error> {
        self.ids_write(IdsOp::Ack, key, ids).await
    }

    /// ALERT.RESOLVE (journaled in fallback, as [`Client::ack`]).
    pub async fn resolve(&self, key: &str, ids: &[AlertId]) -> Result<u64, Error> {
        self.ids_write(IdsOp::Resolve, key, ids).await
    }

    /// ALERT.DEL (journaled in fallback, as [`Client::ack`]).
    pub async fn del(&self, key: &str, ids: &[AlertId]) -> Result<u64, Error> {
        self.ids_write(IdsOp::Del, key, ids).await
    }

    /// ALERT.GET: from Redis, or in fallback from what the fallback stores hold.
    /// No IDs: an empty answer, in every mode.
    pub async fn get(&self, key: &str, ids: &[AlertId]) -> Result<Vec<Option<Alert>>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read_or_local(
            key,
            cmd::ids_cmd("ALERT.GET", key, ids),
            cmd::parse_alerts,
            |l| l.get(key, ids),
        )
        .await
    }

    /// ALERT.RANGE: from Redis, or in fallback from what the fallback stores hold (same
    /// filters, order and COUNT).
    pub async fn range(&self, key: &str, q: &RangeQuery) -> Result<Vec<Alert>, Error> {
        let from_redis = |v| cmd::parse_alerts(v).map(|a| a.into_iter().flatten().collect());
        self.read_or_local(key, cmd::range(key, q), from_redis, |l| l.range(key, q))
            .await
    }

    /// ALERT.INFO: from Redis, or in fallback the fallback store's view of the stream.
    pub async fn info(&self, key: &str) -> Result<AlertInfo, Error> {
        let from_redis = |v| {
            let info = cmd::parse_alert_info(v)?;
            self.inner
                .settings
                .set(key, StreamSettings::from_info(&info));
            Ok(info)
        };
        self.read_or_local(key, cmd::info(key), from_redis, |l| {
            // Whether Redis holds the stream only Redis can say.
            l.info(key).ok_or_else(|| {
                Error::Unavailable(format!(
                    "redis is unreachable and the fallback stores hold nothing of {key}"
                ))
            })
        })
        .await
    }

    /// ALERT.CREATE (Redis only: whether the key exists is the server's to say).
    pub async fn create(&self, key: &str, opts: &StreamOptions) -> Result<(), Error> {
        self.redis_only(key, cmd::create(key, opts), cmd::ok)
            .await?;
        let mut s = self.inner.settings.defaults();
        s.apply(opts);
        self.inner.settings.set(key, s);
        Ok(())
    }

    /// ALERT.ALTER (Redis only).
    pub async fn alter(&self, key: &str, opts: &StreamOptions) -> Result<(), Error> {
        self.redis_only(key, cmd::alter(key, opts), cmd::ok).await?;
        let mut s = self.inner.settings.get(key);
        s.apply(opts);
        self.inner.settings.set(key, s);
        Ok(())
    }

    /// ALERT.TRIM (Redis only: `MAXLEN n` replayed later would remove other alerts than the
    /// ones it meant, as the stream in Redis will have changed meanwhile).
    pub async fn trim(&self, key: &str, t: Trim) -> Result<u64, Error> {
        self.redis_only(key, cmd::trim(key, t), cmd::parse_count)
            .await
    }

    /// The first time a stream is written, learn its settings in the background, so that
    /// fallback outcomes use its dedup window, rate limit, retention and MAXLEN.
    fn learn_settings(&self, key: &str) {
        if !self.inner.settings.first_sight(key) {
            return;
        }
        let client = self.clone();
        let key = key.to_owned();
        tokio::spawn(async move {
            let info = client.inner.redis.call(&key, &cmd::info(&key)).await;
            if let Ok(info) = info.and_then(cmd::parse_alert_info) {
                client
                    .inner
                    .settings
                    .set(&key, StreamSettings::from_info(&info));
            }
        });
    }
}
