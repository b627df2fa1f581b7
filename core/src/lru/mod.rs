//! LRU trackers: sizes and access order of a namespace's keys, and eviction.
pub mod codec;
pub mod namespace;
pub mod tracker;

pub use namespace::{check_in, hash_tag, namespace, tracker_namespace, NamespaceError};
pub use tracker::{Change, Evicted, Plan, Tracker, TrackerError};
