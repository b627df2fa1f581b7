//! Alert streams: documents (`doc`), IDs (`id`), the stream with its dedup and rate limits
//! (`stream`, `dedup`), and the defaults of the configs that set up a new stream (`defaults`).
pub mod codec;
pub mod cover;
pub mod dedup;
pub mod defaults;
pub mod doc;
pub mod filter;
pub mod id;
pub mod index;
pub mod keys;
pub mod revs;
pub mod scan;
pub mod stream;

pub use doc::{Document, Fingerprint, Severity};
pub use filter::Filter;
pub use id::{parse_ms, AlertId, Status, MAX_COUNTED, MAX_COUNTER, MAX_MS};
pub use stream::{
    AddResult, Alert, AlertError, Group, GroupBy, Outcome, RangeQuery, ReadQuery, ReadResult,
    Settings, Silence, Stats, Stream, MAX_SILENCES,
};
