//! The background probe: while anything waits in a fallback store, replay it (which first
//! checks that Redis and the module answer).

use crate::client::{Client, Inner};
use crate::metrics::Counters;
use crate::types::Store;
use std::sync::Weak;

/// Starts the probe of `client`. It holds only a weak reference between rounds, so dropping
/// the last clone of the client stops it.
pub(crate) fn start(client: &Client) {
    tokio::spawn(probe(std::sync::Arc::downgrade(&client.inner)));
}

async fn probe(inner: Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let client = Client { inner: strong };
        client.retry_journal().await;
        let waiting =
            client.mode() != Store::Redis || client.pending() > 0 || client.inner.redis.any_down();
        if waiting && client.replay().await.is_err() {
            Counters::inc(&client.inner.counters.probe_failures);
            client.migrate_memory().await;
        }
        let wake = client.inner.wake.clone();
        let interval = client.inner.config.probe_interval;
        drop(client);
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = wake.notified() => {}
        }
    }
}
