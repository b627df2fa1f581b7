//! The bridge's log: `tracing` events (its own and the client's) as one line each on stderr,
//! `<time> <LEVEL> <message> field=value ...`. The crate has no subscriber crate, and a daemon
//! needs no more than this.

use super::alertmanager::rfc3339;
use std::fmt::Write as _;
use std::io::Write as _;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

struct Stderr {
    max: Level,
}

struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line {
            message: String::new(),
            fields: String::new(),
        };
        event.record(&mut line);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let text = format!(
            "{} {:5} {}{}\n",
            rfc3339(now),
            event.metadata().level(),
            line.message,
            line.fields
        );
        // One write per line, so that lines of two threads do not mix.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Reads a level name: error, warn, info, debug, trace.
pub fn parse_level(s: &str) -> Option<Level> {
    s.parse().ok()
}

/// Installs the stderr log for the whole process, for events at `max` and above. Does
/// nothing if a subscriber is already installed.
pub fn init(max: Level) {
    let _ = tracing::subscriber::set_global_default(Stderr { max });
}
