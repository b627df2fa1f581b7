//! Quotas (`vigil-quo`): the rules live in `vigil_core::quota`; here are the commands, the
//! threshold alerts they raise, and the persistence.
pub mod commands;
pub mod rdb;
pub mod thresholds;
