//! Quotas (`vigil-quo`): the rules live in `vigil_core::quota`; here are the commands and the
//! persistence.
pub mod commands;
pub mod rdb;
