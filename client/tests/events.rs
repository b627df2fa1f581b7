//! A `tracing` event on every mode change (its own test binary: the subscriber it installs is
//! per thread, and callsite interest is shared by the process).

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{free_port, Kind, Redis};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use vigil_client::*;

/// Keeps every event as `field=value ...` text.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl Subscriber for Collect {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(format!("{} ", event.metadata().level()));
        event.record(&mut line);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Collect {
    fn mode_changes(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|l| l.contains("mode change"))
            .cloned()
            .collect()
    }
}

#[tokio::test]
async fn every_mode_change_is_a_tracing_event() {
    support::init();
    let events = Collect::default();
    let _guard = tracing::subscriber::set_default(events.clone());

    let port = free_port();
    let dir = support::TempDir::new("events");
    let c = Client::open(
        Config::new(format!("redis://127.0.0.1:{port}/"))
            .journal_dir(dir.join("journal"))
            .probe_interval(Duration::from_millis(50)),
    )
    .await
    .unwrap();
    assert_eq!(c.add("e", "{}").await.unwrap().store, Store::File);
    let server = Redis::start(port, &dir.join("srv"), Kind::Module);
    assert!(c.flush(Duration::from_secs(10)).await.unwrap());

    let changes = events.mode_changes();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(
        changes[0].starts_with("WARN") && changes[0].contains("from=redis to=file"),
        "{changes:?}"
    );
    assert!(
        changes[1].starts_with("INFO") && changes[1].contains("from=file to=redis"),
        "{changes:?}"
    );
    assert_eq!(c.metrics().mode_changes, 2);
    drop(server);
}
