//! Opening a client: its journal (recovering what an earlier run left in it), its state, and
//! the background probe that replays the fallback stores to Redis.

use crate::backend::Backend;
use crate::client::{now_ms, Client};
use crate::config::Config;
use crate::error::Error;
use crate::journal::SharedJournal;
use crate::probe;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

impl Client {
    /// Opens the journal (replaying on start whatever an earlier process left in it) and
    /// starts the background probe. Does not wait for Redis: the first call connects.
    pub async fn open(config: Config) -> Result<Client, Error> {
        let redis = Backend::open(&config)?;
        let journal = match &config.journal_dir {
            None => None,
            Some(dir) => match open_journal(&config, dir).await {
                Ok(j) => Some(j),
                Err(e) if e.kind() == std::io::ErrorKind::ResourceBusy => {
                    return Err(Error::Config(e.to_string()));
                }
                Err(e) => {
                    // Not fatal: writes that Redis cannot take go to the memory store, and the
                    // probe tries the directory again.
                    tracing::error!(dir = %dir.display(), error = %e, "vigil-client: journal unavailable, using the memory store until it can be opened");
                    None
                }
            },
        };
        let client = Client::new(config, redis, journal);
        client.recover().await?;
        probe::start(&client);
        Ok(client)
    }

    /// Opens the journal that could not be opened before (its directory missing, unwritable,
    /// or held by another client), once it can be: called by the probe, tried at most once a
    /// second (or once per probe interval, if longer), until it succeeds. What an earlier run left in it is recovered as at
    /// open (those writes were made before any of this client's, and replay first), then the
    /// memory store moves into it behind them and later fallback writes go to it again.
    pub(crate) async fn retry_journal(&self) {
        let Some(dir) = &self.inner.config.journal_dir else {
            return;
        };
        if self.inner.journal.get().is_some() {
            return;
        }
        let now = crate::client::now_ms();
        if now < self.inner.journal_retry_at.load(Relaxed) {
            return;
        }
        let pause = self.inner.config.probe_interval.max(Duration::from_secs(1));
        self.inner
            .journal_retry_at
            .store(now.saturating_add(pause.as_millis() as u64), Relaxed);
        {
            // No fallback write between the journal's arrival and its recovery.
            let _turn = self.inner.writes.lock().await;
            match open_journal(&self.inner.config, dir).await {
                Ok(j) => {
                    let _ = self.inner.journal.set(j);
                    tracing::info!(dir = %dir.display(), "vigil-client: journal opened");
                }
                Err(e) => {
                    tracing::debug!(dir = %dir.display(), error = %e, "vigil-client: journal still unavailable");
                    return;
                }
            }
            if let Err(e) = self.recover().await {
                tracing::error!(dir = %dir.display(), error = %e, "vigil-client: could not read what the journal holds");
            }
        }
        // The memory store's writes go behind the journal's, and fallback writes to the
        // journal again.
        self.migrate_memory().await;
    }

    /// Rebuilds the local view from what the journal holds, under the stream settings it kept
    /// (and takes the silence IDs the replay changed), and starts in file mode if it holds anything (so that new writes queue behind it, in order).
    async fn recover(&self) -> Result<(), Error> {
        let records = match self.inner.journal.get() {
            Some(j) => {
                // The settings the journal's writes were answered under, before its records
                // are read back under them.
                self.inner.settings.keep(j.kept_settings().await?);
                let renamed = j.kept_renames().await?;
                self.state()
                    .renamed_silences
                    .extend(renamed.into_iter().map(|(key, id, new)| ((key, id), new)));
                j.pending_records().await?
            }
            None => Vec::new(),
        };
        if records.is_empty() {
            return Ok(());
        }
        tracing::info!(
            pending = records.len(),
            "vigil-client: journal from an earlier run found, replaying"
        );
        let now = now_ms();
        let mut st = self.state();
        for r in &records {
            // A record the rules refuse now was kept by an older client: Redis will say.
            let _ = st.local.apply(r, || self.inner.settings.get(r.key()), now);
            *st.lanes.entry(self.lane_of(r.key())).or_insert(0) += 1;
        }
        drop(st);
        self.update_mode("journal holds unreplayed writes");
        Ok(())
    }
}

/// Opens the journal in `dir` with the client's settings (and, in tests, its fsync hook).
async fn open_journal(config: &Config, dir: &std::path::Path) -> std::io::Result<SharedJournal> {
    let j = SharedJournal::open(dir, config.max_journal_bytes).await?;
    #[cfg(feature = "test-hooks")]
    j.set_sync_hook(config.journal_sync_hook.clone()).await;
    Ok(j)
}
