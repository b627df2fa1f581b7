//! LRU trackers (`vigil-lru`): the core (`tracker`, `namespace`), then the commands,
//! persistence and the keyspace-event handlers that keep trackers true to the keyspace.
pub mod commands;
pub mod events;
pub mod namespace;
pub mod rdb;
pub mod tracker;
