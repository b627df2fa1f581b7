//! Quotas: a limit and a usage, cumulative or over a sliding window, and the thresholds that
//! raise alerts.
pub mod codec;
pub mod meter;
pub mod thresholds;

pub use meter::{Quota, QuotaError, Report, Room};
pub use thresholds::{Thresholds, MAX_PCT};
