//! Opening a client: its journal (recovering what an earlier run left in it), its state, and
//! the background probe that replays the fallback stores to Redis.

use crate::backend::Backend;
use crate::client::{now_ms, Client};
use crate::config::Config;
use crate::error::Error;
use crate::journal::SharedJournal;
use crate::probe;

impl Client {
    /// Opens the journal (replaying on start whatever an earlier process left in it) and
    /// starts the background probe. Does not wait for Redis: the first call connects.
    pub async fn open(config: Config) -> Result<Client, Error> {
        let redis = Backend::open(&config)?;
        let journal = match &config.journal_dir {
            None => None,
            Some(dir) => match SharedJournal::open(dir, config.max_journal_bytes).await {
                Ok(j) => Some(j),
                Err(e) if e.kind() == std::io::ErrorKind::ResourceBusy => {
                    return Err(Error::Config(e.to_string()));
                }
                Err(e) => {
                    // Not fatal: writes that Redis cannot take go to the memory store.
                    tracing::error!(dir = %dir.display(), error = %e, "vigil-client: journal unavailable, falling back to memory only");
                    None
                }
            },
        };
        #[cfg(feature = "test-hooks")]
        if let Some(j) = &journal {
            j.set_sync_hook(config.journal_sync_hook.clone()).await;
        }
        let client = Client::new(config, redis, journal);
        client.recover().await?;
        probe::start(&client);
        Ok(client)
    }

    /// Rebuilds the local view from what the journal holds, and starts in file mode if it
    /// holds anything (so that new writes queue behind it, in order).
    async fn recover(&self) -> Result<(), Error> {
        let records = match &self.inner.journal {
            Some(j) => j.pending_records().await?,
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
