//! Python arguments into the Rust client's types. Only the shapes are read here (a str or a
//! dict, one ID or several, an amount as int, str or Decimal); what an ID, an amount, a
//! severity or a status means is decided by vigil-client (through vigil-core), as in the
//! module.

use crate::errors::{invalid_argument, InvalidArgument};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyMapping, PyString};
use std::time::Duration;
use vigil_client::{
    AlertId, Amount, Bound as RangeBound, Cursor, Filters, GroupBy, Matchers, Severity, Status,
};

/// A non-negative integer argument (a ms time, a count, a duration, a silence ID): an int out
/// of the u64 range is `InvalidArgument` (a ValueError and a VigilError, as the README says of
/// a bad argument), not the bare OverflowError of a plain `u64`; anything but an int stays a
/// TypeError.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Natural(pub u64);

impl From<Natural> for u64 {
    fn from(n: Natural) -> u64 {
        n.0
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for Natural {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Natural> {
        match obj.extract::<u64>() {
            Ok(n) => Ok(Natural(n)),
            Err(e) if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(obj.py()) => {
                let shown: &Bound<'py, PyAny> = &obj;
                Err(invalid_argument(format!(
                    "invalid integer {shown}: expected one from 0 to {}",
                    u64::MAX
                )))
            }
            Err(e) => Err(e),
        }
    }
}

/// A count or size of the client's own (a usize): a Natural that fits.
pub fn size(n: Natural) -> PyResult<usize> {
    usize::try_from(n.0).map_err(|_| {
        invalid_argument(format!(
            "invalid integer {}: expected one from 0 to {}",
            n.0,
            usize::MAX
        ))
    })
}

/// QUOTA.SET's thresholds: percentages, refused here when they cannot be one (the server
/// says what is wrong with 0 or 1001).
pub fn pcts(at: Vec<Natural>) -> PyResult<Vec<u16>> {
    at.into_iter()
        .map(|n| {
            u16::try_from(n.0).map_err(|_| {
                invalid_argument(format!(
                    "invalid pct {}: expected an integer from 1 to 1000",
                    n.0
                ))
            })
        })
        .collect()
}

/// A document: a `str` is sent as it is (the server parses it); anything else is what
/// `json.dumps` makes of it. Whether it is an acceptable alert is the server's (or, in
/// fallback, vigil-core's) to say.
pub fn document(doc: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(text) = doc.cast::<PyString>() {
        return Ok(text.to_str()?.to_owned());
    }
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let dumps = DUMPS.import(doc.py(), "json", "dumps")?;
    // Compact, as the server would store it (it drops whitespace between tokens anyway).
    let kwargs = PyDict::new(doc.py());
    kwargs.set_item("ensure_ascii", false)?;
    kwargs.set_item("separators", (",", ":"))?;
    dumps.call((doc,), Some(&kwargs))?.extract()
}

fn alert_id(text: &str) -> PyResult<AlertId> {
    text.parse()
        .map_err(|_| invalid_argument(format!("invalid alert ID '{text}', expected <ts>-<seq>")))
}

/// One ID (`"<ts>-<seq>"`) or an iterable of them.
pub fn ids(ids: &Bound<'_, PyAny>) -> PyResult<Vec<AlertId>> {
    if let Ok(one) = ids.cast::<PyString>() {
        return Ok(vec![alert_id(one.to_str()?)?]);
    }
    ids.try_iter()?
        .map(|id| alert_id(id?.cast::<PyString>()?.to_str()?))
        .collect()
}

/// An optional explicit ID.
pub fn opt_id(id: Option<&str>) -> PyResult<Option<AlertId>> {
    id.map(alert_id).transpose()
}

/// An amount: `int`, `str` or `decimal.Decimal` in the server's grammar (at most 6 decimals,
/// at most 10^18); a `float` goes through its shortest repr (`0.1` is `0.1`).
pub fn amount(value: &Bound<'_, PyAny>) -> PyResult<Amount> {
    let py = value.py();
    let text: String = if let Ok(s) = value.cast::<PyString>() {
        s.to_str()?.to_owned()
    } else if value.is_instance_of::<PyBool>() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "an amount is an int, str or Decimal, not a bool",
        ));
    } else if value.is_instance_of::<PyInt>() {
        value.str()?.to_str()?.to_owned()
    } else {
        static DECIMAL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let decimal = DECIMAL.import(py, "decimal", "Decimal")?;
        let exact = if value.is_instance_of::<PyFloat>() {
            decimal.call1((value.repr()?,))?
        } else if value.is_instance(decimal)? {
            value.clone()
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "an amount is an int, str or Decimal, not {}",
                value.get_type().name()?
            )));
        };
        // Positional notation: Decimal("1E+3") is 1000 in the server's grammar.
        let builtins = py.import("builtins")?;
        builtins.getattr("format")?.call1((exact, "f"))?.extract()?
    };
    text.parse()
        .map_err(|_| invalid_argument(format!("invalid amount '{text}'")))
}

/// An optional amount.
pub fn opt_amount(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Amount>> {
    value.map(amount).transpose()
}

/// A range bound: `"-"`, `"+"`, a ms timestamp (`int` or digits: every alert of that
/// millisecond) or a full ID `"<ts>-<seq>"`.
pub fn bound(value: &Bound<'_, PyAny>) -> PyResult<RangeBound> {
    if value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>() {
        let ts: u64 = value.extract().map_err(|_| {
            invalid_argument(format!(
                "invalid range bound {value}: a ms timestamp is from 0 to {}",
                u64::MAX
            ))
        })?;
        return Ok(RangeBound::Ts(ts));
    }
    let Ok(text) = value.cast::<PyString>() else {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "a range bound is '-', '+', a ms timestamp (int) or an ID '<ts>-<seq>'",
        ));
    };
    let text = text.to_str()?;
    match text {
        "-" => Ok(RangeBound::Min),
        "+" => Ok(RangeBound::Max),
        t if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => t
            .parse()
            .map(RangeBound::Ts)
            .map_err(|_| invalid_argument(format!("invalid range bound '{t}'"))),
        t => alert_id(t).map(RangeBound::Id).map_err(|_| {
            invalid_argument(format!(
                "invalid range bound '{t}', expected '-', '+', a ms timestamp or <ts>-<seq>"
            ))
        }),
    }
}

pub fn severity(text: &str) -> PyResult<Severity> {
    Severity::parse(text).ok_or_else(|| {
        invalid_argument(format!(
            "invalid severity '{text}', expected critical|high|medium|low|info"
        ))
    })
}

pub fn status(text: &str) -> PyResult<Status> {
    Status::parse(text).ok_or_else(|| {
        invalid_argument(format!(
            "invalid status '{text}', expected active|acked|resolved"
        ))
    })
}

/// `(name, value)` pairs from a mapping or an iterable of pairs.
fn pairs<'py>(value: &Bound<'py, PyAny>) -> PyResult<Vec<(String, Bound<'py, PyAny>)>> {
    let items = match value.cast::<PyMapping>() {
        Ok(mapping) => mapping.items()?.into_any(),
        Err(_) => value.clone(),
    };
    items
        .try_iter()?
        .map(|pair| {
            let (name, v): (String, Bound<'py, PyAny>) = pair?.extract()?;
            Ok((name, v))
        })
        .collect()
}

/// Label filters: `{"name": "value"}` or `[("name", "value"), ...]` (all must match).
pub fn labels(value: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    pairs(value)?
        .into_iter()
        .map(|(name, v)| Ok((name, v.extract::<String>()?)))
        .collect()
}

/// LRU.TOUCH's keys: `{"key": size}` or `[("key", size), ...]`.
pub fn sized_keys(value: &Bound<'_, PyAny>) -> PyResult<Vec<(String, Amount)>> {
    pairs(value)?
        .into_iter()
        .map(|(key, size)| Ok((key, amount(&size)?)))
        .collect()
}

/// One key or an iterable of keys.
pub fn keys(value: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(one) = value.cast::<PyString>() {
        return Ok(vec![one.to_str()?.to_owned()]);
    }
    value.try_iter()?.map(|k| k?.extract()).collect()
}

/// Seconds (a Python timeout) as a Duration.
pub fn seconds(name: &str, secs: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(secs).map_err(|_| {
        PyErr::new::<InvalidArgument, _>(format!(
            "{name} must be a number of seconds >= 0, got {secs}"
        ))
    })
}

/// A change-feed cursor: `"0"`, `"$"`, or one a read returned (kept as text).
pub fn cursor(text: &str) -> PyResult<Cursor> {
    text.parse().map_err(crate::errors::to_py)
}

/// ALERT.READ's BLOCK: at least 1 ms (the server's `BLOCK 0`, without a limit, is what
/// `follow()` is for).
pub fn block(block_ms: Option<u64>) -> PyResult<Option<Duration>> {
    match block_ms {
        Some(0) => Err(invalid_argument(
            "block_ms must be >= 1 (follow() waits without a limit)".into(),
        )),
        b => Ok(b.map(Duration::from_millis)),
    }
}

/// The filters of RANGE, READ and GROUPS, from their keyword arguments.
pub fn filters(
    min_severity: Option<&str>,
    source: Option<String>,
    kind: Option<String>,
    status: Option<&str>,
    labels: Option<&Bound<'_, PyAny>>,
) -> PyResult<Filters> {
    Ok(Filters {
        min_severity: min_severity.map(severity).transpose()?,
        source,
        kind,
        status: status.map(self::status).transpose()?,
        labels: self::labels(labels)?,
    })
}

/// What a silence matches.
pub fn matchers(
    min_severity: Option<&str>,
    source: Option<String>,
    kind: Option<String>,
    labels: Option<&Bound<'_, PyAny>>,
) -> PyResult<Matchers> {
    Ok(Matchers {
        min_severity: min_severity.map(severity).transpose()?,
        source,
        kind,
        labels: self::labels(labels)?,
    })
}

/// ALERT.GROUPS's BY: `severity`, `source`, `type`, `status` or `label:<name>`.
pub fn group_by(text: &str) -> PyResult<GroupBy> {
    match text {
        "severity" => Ok(GroupBy::Severity),
        "source" => Ok(GroupBy::Source),
        "type" => Ok(GroupBy::Type),
        "status" => Ok(GroupBy::Status),
        t => match t.strip_prefix("label:") {
            Some(name) if !name.is_empty() => Ok(GroupBy::Label(name.to_owned())),
            _ => Err(invalid_argument(format!(
                "invalid group '{t}', expected severity|source|type|status|label:<name>"
            ))),
        },
    }
}
