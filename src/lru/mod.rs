//! LRU trackers (`vigil-lru`): the rules live in `vigil_core::lru`; here are the commands, the
//! persistence and the index that lets keyspace events (`crate::events`) find trackers.
pub mod commands;
pub mod index;
pub mod rdb;
