//! The typed calls, one file per data type. Alert writes and reads go through the cascade
//! (`Client::write`, `Client::read`); stream settings, quotas and LRU trackers are Redis only.

mod alerts;
mod lru;
mod quota;
