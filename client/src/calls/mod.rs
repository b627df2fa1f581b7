//! The typed calls, one file per data type (the change feed, [`Feed`] over it, silences and
//! groups in `feed.rs`). Alert writes and reads go through the cascade (`Client::write`,
//! `Client::read_or_local`); stream settings, quotas and LRU trackers are Redis only.

mod alerts;
mod feed;
mod lru;
mod quota;

pub use feed::Feed;
