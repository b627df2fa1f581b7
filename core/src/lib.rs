//! # vigil-core
//!
//! The rules of Vigil, free of the Redis module API: alert streams (documents, IDs, dedup,
//! rate limits, retention), quotas, LRU trackers and exact amounts. Time is always an
//! argument, so every decision is deterministic: the same on a primary, a replica, an AOF
//! replay and in `vigil-client`'s fallback stores, which use this crate too.
//!
//! The Redis module (`vigil`, the crate at the repository's root) is the glue around it:
//! argument parsing, replies, keys, replication, persistence callbacks and events.

pub mod alert;
pub mod amount;
pub mod bytes;
pub mod chunked;
pub mod codec;
pub mod decimal;
pub mod deltas;
pub mod knobs;
pub mod lru;
pub mod memsize;
pub mod quota;
pub mod thin;
