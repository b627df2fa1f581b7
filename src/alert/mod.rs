//! Alert streams (`vigil-alr`): the core (`doc`, `stream`), then the commands, persistence and
//! the retention sweep that stand between it and Redis.
pub mod commands;
pub mod dedup;
pub mod doc;
pub mod rdb;
pub mod registry;
pub mod stream;
pub mod sweep;
