//! Quotas (`vigil-quo`): the core (`meter`), then the commands and persistence.
pub mod commands;
pub mod meter;
pub mod rdb;
