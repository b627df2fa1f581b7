//! LRU trackers (`vigil-lru`): the core (`tracker`, `namespace`), then the commands and
//! persistence; `crate::events` keeps trackers true to the keyspace.
pub mod commands;
pub mod namespace;
pub mod rdb;
pub mod tracker;
