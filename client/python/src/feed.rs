//! `vigil.Feed` and `vigil.aio.Feed`: a stream's change feed followed from a cursor, over
//! `vigil_client::Feed` (which reads on until a change comes, and starts again from `0` when
//! its cursor is ahead of the stream). `vigil.Feed` is an iterator, `vigil.aio.Feed` an async
//! iterator; both have `next(timeout=None)` and the `cursor` to store.

use crate::args;
use crate::errors::{self, ClosedError};
use crate::replies::ToPython;
use crate::runtime::runtime;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_client::Change;

/// How long the blocking flavour waits at a time before it looks for a signal (Ctrl-C).
const SLICE: Duration = Duration::from_millis(200);

/// Where a feed lives until its client is closed. The client keeps a weak reference to it and
/// empties it at `close()`: the feed's hold on the client (so the journal's lock) goes then,
/// not when Python collects the feed object.
pub type FeedSlot = Mutex<Option<Arc<tokio::sync::Mutex<vigil_client::Feed>>>>;

/// What both flavours hold.
struct Shared {
    /// The feed, until its client is closed (emptied by `close()`, or by the next call once
    /// `closed` is set), which then raises ClosedError.
    feed: Arc<FeedSlot>,
    closed: Arc<AtomicBool>,
    /// The feed's cursor after the last change returned, and its restarts: readable while
    /// a `next` waits.
    cursor: Arc<Mutex<String>>,
    restarts: Arc<AtomicU64>,
    key: String,
}

impl Shared {
    fn new(feed: vigil_client::Feed, closed: Arc<AtomicBool>) -> Shared {
        Shared {
            closed,
            cursor: Arc::new(Mutex::new(feed.cursor().to_string())),
            restarts: Arc::new(AtomicU64::new(feed.restarts())),
            key: feed.key().to_owned(),
            feed: Arc::new(Mutex::new(Some(Arc::new(tokio::sync::Mutex::new(feed))))),
        }
    }

    /// The feed, or ClosedError once its client is closed.
    fn feed(&self) -> PyResult<Arc<tokio::sync::Mutex<vigil_client::Feed>>> {
        let mut feed = self.feed.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(Relaxed) {
            *feed = None;
        }
        feed.clone()
            .ok_or_else(|| ClosedError::new_err("the client of this feed is closed"))
    }

    /// The next change, or None after `limit`; the cursor copy follows.
    fn next_within(
        &self,
        limit: Option<Duration>,
    ) -> PyResult<
        impl std::future::Future<Output = Result<Option<Change>, vigil_client::Error>> + Send + 'static,
    > {
        let (feed, cursor) = (self.feed()?, self.cursor.clone());
        let restarts = self.restarts.clone();
        Ok(async move {
            let mut feed = feed.lock().await;
            let change = match limit {
                Some(limit) => feed.next_within(limit).await,
                None => feed.next().await.map(Some),
            };
            *cursor.lock().unwrap_or_else(|e| e.into_inner()) = feed.cursor().to_string();
            restarts.store(feed.restarts(), Relaxed);
            change
        })
    }

    fn cursor(&self) -> String {
        self.cursor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn restarts(&self) -> u64 {
        self.restarts.load(Relaxed)
    }
}

/// Follows one stream's changes (``Client.follow``): iterate over it, or call
/// ``next(timeout)``; store ``cursor`` to go on later from the change after the last one
/// returned.
#[pyclass(module = "vigil", name = "Feed", frozen)]
pub struct Feed {
    inner: Shared,
}

/// The asyncio flavour (``vigil.aio.Client.follow``): ``async for change in feed``.
#[pyclass(module = "vigil.aio", name = "Feed", frozen)]
pub struct AsyncFeed {
    inner: Shared,
}

impl Feed {
    pub fn new(feed: vigil_client::Feed, closed: Arc<AtomicBool>) -> Feed {
        Feed {
            inner: Shared::new(feed, closed),
        }
    }

    /// Where the feed lives, for its client to empty at `close()`.
    pub fn slot(&self) -> std::sync::Weak<FeedSlot> {
        Arc::downgrade(&self.inner.feed)
    }
}

impl AsyncFeed {
    pub fn new(feed: vigil_client::Feed, closed: Arc<AtomicBool>) -> AsyncFeed {
        AsyncFeed {
            inner: Shared::new(feed, closed),
        }
    }

    /// Where the feed lives, for its client to empty at `close()`.
    pub fn slot(&self) -> std::sync::Weak<FeedSlot> {
        Arc::downgrade(&self.inner.feed)
    }
}

#[pymethods]
impl Feed {
    /// The next change; None if `timeout` seconds passed first. Without a timeout it waits
    /// as long as it takes; Ctrl-C stops it either way.
    #[pyo3(signature = (timeout = None))]
    fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let limit = timeout.map(|t| args::seconds("timeout", t)).transpose()?;
        // In slices, looking for a signal between them (a slice cut short leaves the feed
        // where it was: `vigil_client::Feed::next` is cancel-safe), until the timeout if any.
        let deadline = limit.map(|limit| Instant::now() + limit);
        let change = loop {
            let slice = match deadline {
                Some(deadline) => SLICE.min(deadline.saturating_duration_since(Instant::now())),
                None => SLICE,
            };
            if let Some(change) = wait(py, &self.inner, slice)? {
                break Some(change);
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                break None;
            }
            py.check_signals()?;
        };
        Ok(change.to_python(py)?.unbind())
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.next(py, None)
    }

    /// The position after the last change returned: store it, and follow from it later.
    #[getter]
    fn cursor(&self) -> String {
        self.inner.cursor()
    }

    #[getter]
    fn key(&self) -> String {
        self.inner.key.clone()
    }

    /// Times the feed started again from `0` because its cursor was ahead of the stream.
    #[getter]
    fn restarts(&self) -> u64 {
        self.inner.restarts()
    }

    fn __repr__(&self) -> String {
        format!(
            "<vigil.Feed key='{}' cursor='{}'>",
            self.inner.key,
            self.inner.cursor()
        )
    }
}

fn wait(py: Python<'_>, feed: &Shared, limit: Duration) -> PyResult<Option<Change>> {
    let next = feed.next_within(Some(limit))?;
    py.detach(|| runtime().block_on(next))
        .map_err(errors::to_py)
}

#[pymethods]
impl AsyncFeed {
    /// Awaits the next change; None if `timeout` seconds passed first.
    #[pyo3(signature = (timeout = None))]
    fn next<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let limit = timeout.map(|t| args::seconds("timeout", t)).transpose()?;
        let next = self.inner.next_within(limit)?;
        crate::runtime::start(py, next)
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.next(py, None)
    }

    #[getter]
    fn cursor(&self) -> String {
        self.inner.cursor()
    }

    #[getter]
    fn key(&self) -> String {
        self.inner.key.clone()
    }

    #[getter]
    fn restarts(&self) -> u64 {
        self.inner.restarts()
    }

    fn __repr__(&self) -> String {
        format!(
            "<vigil.aio.Feed key='{}' cursor='{}'>",
            self.inner.key,
            self.inner.cursor()
        )
    }
}
