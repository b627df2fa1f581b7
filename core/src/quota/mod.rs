//! Quotas: a limit and a usage, cumulative or over a sliding window.
pub mod codec;
pub mod meter;

pub use meter::{Quota, QuotaError, Report};
