//! # vigil-client
//!
//! The Rust client of the Vigil Redis module: typed calls for every `ALERT.*`, `QUOTA.*` and
//! `LRU.*` command a client sends (not the module extensions that replication and the AOF send:
//! `ALERT.IMPORT`, `LRU.TOUCHAT`, `LRU.EVICTED`), async on tokio ([`Client`]) with a blocking wrapper ([`blocking::Client`]),
//! and a cascade of stores that never loses an alert:
//!
//! 1. **Redis** (with the module loaded) answers while it can.
//! 2. When Redis is unreachable, slower than [`Config::command_timeout`], or lacks the module
//!    (`unknown command`), writes go to the **file journal** in [`Config::journal_dir`], each
//!    fsync'ed before the call returns.
//! 3. When the journal cannot be written either (disk full, read-only, at
//!    [`Config::max_journal_bytes`]), writes go to the bounded **memory store**, which drops
//!    its oldest write when full and says so (a counter and a `tracing` warning).
//!
//! Reads (`get`, `range`, `info`) answer from the store in use, with the module's dedup, rate
//! limit, retention and MAXLEN rules applied to what it holds. A background probe notices when
//! Redis answers again and replays the journal, then the memory store, in order, with each
//! write's own TS and ID, deleting an entry only once Redis answered it. Every alert the
//! client writes carries an ID (`<ts>-<random 63-bit seq>`), so a replay, or a retry after a
//! timeout that did reach Redis, answers `exists` and never stores a second alert — for
//! outages shorter than the server's `vigil.alert-id-memory-ms` (default 24 h): Redis remembers
//! an ID folded into an older alert that long after its `ts` (see the README, "How long
//! 'nothing is doubled' holds"). A journal left by a process that died is replayed by the next
//! one opened on the same directory.
//!
//! The write is acknowledged by the store that took it ([`AddReply::store`]): the outcome is
//! final from Redis, provisional from a fallback store (Redis gives the final one on replay,
//! counted in [`Metrics`]).
//!
//! [`Client::follow`] follows a stream's change feed (ALERT.READ) from a stored [`Cursor`] as a
//! [`Feed`]; silences ([`Client::silence`]) carry an ID the client makes, so that one kept in the
//! journal is replayed exactly once. [`Config::cluster`] speaks to a Redis Cluster: the
//! fallback is decided per slot, so a shard that cannot be reached sends only its own slots'
//! writes to the fallback stores while the others go on writing to Redis.
//!
//! ## Example
//!
//! This runs anywhere: nothing listens on port 1, so the alert goes to the journal, and would
//! be replayed to Redis by the probe (or by the next client opened on that directory) once a
//! server with the module answers there.
//!
//! ```
//! use std::time::Duration;
//! use vigil_client::{Client, Config, RangeQuery, Severity, Store};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), vigil_client::Error> {
//! let journal = std::env::temp_dir().join(format!("vigil-doc-{}", std::process::id()));
//! let config = Config::new("redis://127.0.0.1:1/")
//!     .journal_dir(&journal)
//!     .command_timeout(Duration::from_millis(500));
//! let client = Client::open(config).await?;
//!
//! let doc = r#"{"severity":"high","source":"db-1","type":"disk","labels":{"mount":"/"}}"#;
//! let reply = client.add("alerts:prod", doc).await?;
//! assert_eq!(reply.store, Store::File); // fsync'ed in the journal
//! assert_eq!(reply.outcome.as_str(), "added");
//!
//! // The same alert again folds into the first one, as Redis would do.
//! let again = client.add("alerts:prod", doc).await?;
//! assert_eq!(again.outcome.as_str(), "duplicate");
//!
//! // Reads answer from the journal while Redis is away.
//! let high = client
//!     .range("alerts:prod", &RangeQuery::all().min_severity(Severity::High))
//!     .await?;
//! assert_eq!(high.len(), 1);
//! assert_eq!(high[0].count, 2);
//!
//! let m = client.metrics();
//! assert_eq!((m.mode, m.pending, m.fallbacks), (Store::File, 2, 2));
//! assert!(client.prometheus().contains("vigil_client_pending{store=\"file\"} 2"));
//! # drop(client);
//! # let _ = std::fs::remove_dir_all(&journal);
//! # Ok(())
//! # }
//! ```
//!
//! With Redis up, the same calls answer from Redis; [`Client::flush`] waits until the
//! fallback stores are empty.

mod backend;
pub mod blocking;
mod calls;
mod cascade;
mod client;
mod cluster;
mod commands;
mod config;
mod connection;
mod error;
mod feed;
mod journal;
mod local;
mod memory;
mod metrics;
pub mod notify;
mod open;
mod probe;
mod record;
mod replay;
mod types;

pub use calls::Feed;
pub use client::Client;
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub use config::SyncHook;
pub use config::{Config, StreamSettings};
pub use error::Error;
pub use feed::{
    Change, Cursor, Filters, Group, GroupBy, Matchers, ReadOptions, ReadReply, Silence,
};
pub use metrics::Metrics;
pub use types::*;
