//! LRU trackers (`vigil-lru`): the rules live in `vigil_core::lru`; here are the commands, the
//! eviction they share with QUOTA.INCR ... EVICT, the persistence, the index that lets keyspace
//! events (`crate::events`) find trackers, and how trackers live through a cluster slot
//! migration (`transit`).
pub mod commands;
pub mod evict;
pub mod expiry;
pub mod index;
pub mod rdb;
pub mod transit;
