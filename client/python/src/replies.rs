//! The Rust client's replies as the dataclasses of `vigil._types`: IDs as `"<ts>-<seq>"`,
//! amounts as `decimal.Decimal`, severities, statuses, stores and outcomes as their words.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyModule};
use vigil_client::{
    AddOutcome, AddReply, Alert, AlertInfo, Amount, Change, EvictReply, Group, IncrEvictReply,
    LruCandidate, LruInfo, Metrics, QuotaReply, ReadReply, Silence, Store,
};

/// A reply that becomes a Python object once the call is over (with the GIL held: on the
/// calling thread for `vigil.Client`, on a thread of the runtime's blocking pool for
/// `vigil.aio.Client`).
pub trait ToPython: Send + 'static {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
}

/// A dataclass of `vigil._types`, made from keyword arguments.
fn make<'py>(
    py: Python<'py>,
    class: &str,
    fields: Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    static TYPES: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let types =
        TYPES.get_or_try_init(py, || Ok::<_, PyErr>(py.import("vigil._types")?.unbind()))?;
    types.bind(py).getattr(class)?.call((), Some(&fields))
}

macro_rules! dataclass {
    ($py:expr, $class:literal { $($name:literal => $value:expr),* $(,)? }) => {{
        let fields = PyDict::new($py);
        $(fields.set_item(pyo3::intern!($py, $name), $value)?;)*
        make($py, $class, fields)
    }};
}

fn decimal<'py>(py: Python<'py>, a: Amount) -> PyResult<Bound<'py, PyAny>> {
    static DECIMAL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    DECIMAL
        .import(py, "decimal", "Decimal")?
        .call1((a.to_string(),))
}

fn opt_decimal<'py>(py: Python<'py>, a: Option<Amount>) -> PyResult<Option<Bound<'py, PyAny>>> {
    a.map(|a| decimal(py, a)).transpose()
}

impl ToPython for () {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(py.None().into_bound(py))
    }
}

macro_rules! plain {
    ($($t:ty),*) => {$(
        impl ToPython for $t {
            fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                Ok(self.into_pyobject(py)?.to_owned().into_any())
            }
        }
    )*};
}
plain!(u64, bool, String);

impl ToPython for Store {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.as_str().to_owned().to_python(py)
    }
}

impl<T: ToPython> ToPython for Option<T> {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Some(v) => v.to_python(py),
            None => ().to_python(py),
        }
    }
}

impl<T: ToPython> ToPython for Vec<T> {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let items = self
            .into_iter()
            .map(|v| v.to_python(py))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, items)?.into_any())
    }
}

impl ToPython for Alert {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // The document from the rendered JSON text: Python's ints are exact, where serde_json's
        // `Value` holds big integers as floats.
        static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let document = LOADS.import(py, "json", "loads")?.call1((&self.json,))?;
        dataclass!(py, "Alert" {
            "id" => self.id.to_string(),
            "ts" => self.ts,
            "status" => self.status.as_str(),
            "count" => self.count,
            "last_seen" => self.last_seen,
            "severity" => self.severity.as_str(),
            "source" => self.source,
            "type" => self.kind,
            "labels" => self.labels,
            "document" => document,
            "json" => self.json,
        })
    }
}

impl ToPython for AddReply {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (alert_id, count, retry_after_ms) = match self.outcome {
            AddOutcome::Added(id) => (Some(id), Some(1), None),
            AddOutcome::Duplicate { id, count } | AddOutcome::Exists { id, count } => {
                (Some(id), Some(count), None)
            }
            AddOutcome::Limited { retry_after_ms } => (None, None, Some(retry_after_ms)),
            AddOutcome::Expired => (None, None, None),
        };
        dataclass!(py, "AddOutcome" {
            "outcome" => self.outcome.as_str(),
            "store" => self.store.as_str(),
            "id" => self.id.to_string(),
            "alert_id" => alert_id.map(|id| id.to_string()),
            "count" => count,
            "retry_after_ms" => retry_after_ms,
        })
    }
}

impl ToPython for AlertInfo {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        dataclass!(py, "AlertInfo" {
            "length" => self.length,
            "first_ts" => self.first_ts,
            "last_ts" => self.last_ts,
            "retention" => self.retention,
            "maxlen" => self.maxlen,
            "dedup" => self.dedup,
            "ratelimit_n" => self.ratelimit_n,
            "ratelimit_window" => self.ratelimit_window,
            "added" => self.added,
            "duplicates" => self.duplicates,
            "limited" => self.limited,
            "expired" => self.expired,
            "trimmed" => self.trimmed,
            "memory" => self.memory,
            "autoresolve" => self.autoresolve,
            "autoresolved" => self.autoresolved,
            "id_memory" => self.id_memory,
            "remembered_ids" => self.remembered_ids,
        })
    }
}

impl ToPython for QuotaReply {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        dataclass!(py, "QuotaReply" {
            "allowed" => self.allowed,
            "usage" => decimal(py, self.usage)?,
            "limit" => opt_decimal(py, self.limit)?,
            "remaining" => opt_decimal(py, self.remaining)?,
            "reset_ms" => self.reset_ms,
        })
    }
}

impl ToPython for LruCandidate {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        dataclass!(py, "LruCandidate" {
            "key" => self.key,
            "size" => decimal(py, self.size)?,
            "last_used_ms" => self.last_used_ms,
        })
    }
}

impl ToPython for EvictReply {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        dataclass!(py, "EvictReply" {
            "evicted" => self.evicted,
            "freed" => decimal(py, self.freed)?,
            "total" => decimal(py, self.total)?,
            "keys" => self.keys,
        })
    }
}

impl ToPython for LruInfo {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        dataclass!(py, "LruInfo" {
            "keys" => self.keys,
            "total" => decimal(py, self.total)?,
            "oldest_ms" => self.oldest_ms,
            "evicted" => self.evicted,
        })
    }
}

impl ToPython for Metrics {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        dataclass!(py, "Metrics" {
            "mode" => self.mode.as_str(),
            "failures" => self.failures,
            "probe_failures" => self.probe_failures,
            "journal_failures" => self.journal_failures,
            "fallbacks" => self.fallbacks,
            "fallback_file" => self.fallback_file,
            "fallback_memory" => self.fallback_memory,
            "pending" => self.pending,
            "pending_file" => self.pending_file,
            "pending_memory" => self.pending_memory,
            "fallback_slots" => self.fallback_slots,
            "replayed" => self.replayed,
            "rejected" => self.rejected,
            "dropped" => self.dropped,
            "mode_changes" => self.mode_changes,
            "added" => self.added,
            "duplicate" => self.duplicate,
            "exists" => self.exists,
            "limited" => self.limited,
            "expired" => self.expired,
        })
    }
}

impl ToPython for Change {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        dataclass!(py, "Change" {
            "cursor" => self.cursor.to_string(),
            "alert" => self.alert.to_python(py)?,
        })
    }
}

impl ToPython for ReadReply {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        dataclass!(py, "ReadReply" {
            "next" => self.next.to_string(),
            "changes" => self.changes.to_python(py)?,
            "store" => self.store.as_str(),
        })
    }
}

impl ToPython for Silence {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let m = self.matchers;
        dataclass!(py, "Silence" {
            "id" => self.id,
            "until" => self.until,
            "min_severity" => m.min_severity.map(|s| s.as_str()),
            "source" => m.source,
            "type" => m.kind,
            "labels" => m.labels.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
            "comment" => self.comment,
            "covered" => self.covered,
        })
    }
}

impl ToPython for Group {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        dataclass!(py, "Group" {
            "value" => self.value,
            "alerts" => self.alerts,
            "occurrences" => self.occurrences,
            "newest_ts" => self.newest_ts,
        })
    }
}

impl ToPython for IncrEvictReply {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        dataclass!(py, "IncrEvictReply" {
            "quota" => self.quota.to_python(py)?,
            "evicted" => self.evicted,
        })
    }
}
