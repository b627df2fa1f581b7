//! Counters of the cascade, and their Prometheus text export.

use crate::types::{AddOutcome, Store};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub(crate) struct Counters {
    pub failures: AtomicU64,
    pub probe_failures: AtomicU64,
    pub journal_failures: AtomicU64,
    pub fallbacks: AtomicU64,
    pub fallback_file: AtomicU64,
    pub fallback_memory: AtomicU64,
    pub replayed: AtomicU64,
    pub rejected: AtomicU64,
    pub dropped: AtomicU64,
    pub mode_changes: AtomicU64,
    pub added: AtomicU64,
    pub duplicate: AtomicU64,
    pub exists: AtomicU64,
    pub limited: AtomicU64,
    pub expired: AtomicU64,
}

impl Counters {
    /// Counts an outcome Redis gave (directly or on replay).
    pub fn outcome(&self, o: &AddOutcome) {
        let c = match o {
            AddOutcome::Added(_) => &self.added,
            AddOutcome::Duplicate { .. } => &self.duplicate,
            AddOutcome::Exists { .. } => &self.exists,
            AddOutcome::Limited { .. } => &self.limited,
            AddOutcome::Expired => &self.expired,
        };
        c.fetch_add(1, Relaxed);
    }

    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }
}

/// A snapshot of the client's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metrics {
    /// The store writes go to now.
    pub mode: Store,
    /// Calls that found Redis or the module unavailable (timeouts, refused or dropped
    /// connections, `unknown command`, LOADING...), and each replayed write that did.
    pub failures: u64,
    /// Background health checks that found Redis still unavailable.
    pub probe_failures: u64,
    /// Journal appends that failed (disk full, read-only, size limit).
    pub journal_failures: u64,
    /// Writes kept in a fallback store (file or memory).
    pub fallbacks: u64,
    pub fallback_file: u64,
    pub fallback_memory: u64,
    /// Writes held in the journal and memory store, waiting for Redis.
    pub pending: u64,
    pub pending_file: u64,
    pub pending_memory: u64,
    /// Slots whose writes go to the fallback stores (a cluster); on a single server 1 while
    /// in fallback, else 0.
    pub fallback_slots: u64,
    /// Writes replayed to Redis (each answered by Redis).
    pub replayed: u64,
    /// Writes Redis refused on replay with an error (kept in `rejected.jsonl`).
    pub rejected: u64,
    /// Writes pushed out of the full memory store (lost).
    pub dropped: u64,
    pub mode_changes: u64,
    /// ALERT.ADD outcomes given by Redis, directly or on replay.
    pub added: u64,
    pub duplicate: u64,
    pub exists: u64,
    pub limited: u64,
    pub expired: u64,
}

impl Metrics {
    pub(crate) fn new(c: &Counters, mode: Store, pending_file: u64, pending_memory: u64) -> Self {
        let g = |a: &AtomicU64| a.load(Relaxed);
        Metrics {
            mode,
            failures: g(&c.failures),
            probe_failures: g(&c.probe_failures),
            journal_failures: g(&c.journal_failures),
            fallbacks: g(&c.fallbacks),
            fallback_file: g(&c.fallback_file),
            fallback_memory: g(&c.fallback_memory),
            pending: pending_file + pending_memory,
            pending_file,
            pending_memory,
            fallback_slots: 0,
            replayed: g(&c.replayed),
            rejected: g(&c.rejected),
            dropped: g(&c.dropped),
            mode_changes: g(&c.mode_changes),
            added: g(&c.added),
            duplicate: g(&c.duplicate),
            exists: g(&c.exists),
            limited: g(&c.limited),
            expired: g(&c.expired),
        }
    }

    /// The counters in the Prometheus text exposition format (version 0.0.4), metric names
    /// prefixed `vigil_client_`, ready to serve on a `/metrics` endpoint.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP vigil_client_{name} {help}");
            let _ = writeln!(out, "# TYPE vigil_client_{name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(out, "vigil_client_{name}{labels} {v}");
            }
        };
        let modes = [Store::Redis, Store::File, Store::Memory];
        let mode_labels: Vec<String> = modes
            .iter()
            .map(|m| format!("{{mode=\"{}\"}}", m.as_str()))
            .collect();
        let mode_samples: Vec<(&str, u64)> = modes
            .iter()
            .zip(&mode_labels)
            .map(|(m, l)| (l.as_str(), u64::from(*m == self.mode)))
            .collect();
        metric(
            "mode",
            "gauge",
            "1 for the store writes go to now.",
            &mode_samples,
        );
        metric(
            "failures_total",
            "counter",
            "Calls that found Redis or the module unavailable.",
            &[("", self.failures)],
        );
        metric(
            "probe_failures_total",
            "counter",
            "Health checks that found Redis still unavailable.",
            &[("", self.probe_failures)],
        );
        metric(
            "journal_failures_total",
            "counter",
            "Journal appends that failed.",
            &[("", self.journal_failures)],
        );
        metric(
            "fallbacks_total",
            "counter",
            "Writes kept in a fallback store.",
            &[
                ("{store=\"file\"}", self.fallback_file),
                ("{store=\"memory\"}", self.fallback_memory),
            ],
        );
        metric(
            "pending",
            "gauge",
            "Writes waiting for replay to Redis.",
            &[
                ("{store=\"file\"}", self.pending_file),
                ("{store=\"memory\"}", self.pending_memory),
            ],
        );
        metric(
            "fallback_slots",
            "gauge",
            "Slots whose writes go to the fallback stores (1 on a single server in fallback).",
            &[("", self.fallback_slots)],
        );
        metric(
            "replayed_total",
            "counter",
            "Writes replayed to Redis.",
            &[("", self.replayed)],
        );
        metric(
            "rejected_total",
            "counter",
            "Writes Redis refused on replay.",
            &[("", self.rejected)],
        );
        metric(
            "dropped_total",
            "counter",
            "Writes pushed out of the full memory store.",
            &[("", self.dropped)],
        );
        metric(
            "mode_changes_total",
            "counter",
            "Changes of the store writes go to.",
            &[("", self.mode_changes)],
        );
        metric(
            "outcomes_total",
            "counter",
            "ALERT.ADD outcomes given by Redis.",
            &[
                ("{outcome=\"added\"}", self.added),
                ("{outcome=\"duplicate\"}", self.duplicate),
                ("{outcome=\"exists\"}", self.exists),
                ("{outcome=\"limited\"}", self.limited),
                ("{outcome=\"expired\"}", self.expired),
            ],
        );
        out
    }
}
