//! Helpers shared by the data types, free of the Redis API.
pub mod amount;
pub mod chunked;
pub mod memsize;
