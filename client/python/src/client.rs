//! `vigil.Client` and `vigil.aio.Client`: two faces of one `vigil_client::Client`, running on
//! one tokio runtime for the whole process. Each call is written once, in `calls!` below: its
//! Python arguments are read with the GIL held, then its Rust future either runs to the end
//! with the GIL released (`vigil.Client`) or becomes an asyncio future
//! (`vigil.aio.Client`, through `runtime::start`).
//!
//! A new call of the Rust client is one more entry in `calls!` (and a line in each `.pyi`).

use crate::args::{self, Natural};
use crate::errors::{self, invalid_argument, ClosedError};
use crate::feed::{AsyncFeed, Feed, FeedSlot};
use crate::replies::ToPython;
use crate::runtime::{runtime, start};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;
use vigil_client::{
    AddOptions, Alert, Config, DryRunOptions, EvictOptions, IncrOptions, QuotaSettings, RangeQuery,
    ReadOptions, StreamOptions, Trim,
};

/// Runs a call to its end with the GIL released, then builds its reply.
fn wait<T: ToPython>(
    py: Python<'_>,
    call: impl Future<Output = Result<T, vigil_client::Error>> + Send,
) -> PyResult<Py<PyAny>> {
    let reply = py
        .detach(|| runtime().block_on(call))
        .map_err(errors::to_py)?;
    Ok(reply.to_python(py)?.unbind())
}

/// What both classes hold: the Rust client until `close()`.
struct Shared {
    client: RwLock<Option<vigil_client::Client>>,
    /// Set by `close()`: the feeds of this client look at it.
    closed: Arc<AtomicBool>,
    /// The feeds of this client, emptied by `close()`.
    feeds: Mutex<Vec<Weak<FeedSlot>>>,
    /// The URL without its credentials, for `repr`.
    shown_url: String,
    /// How long a closing client waits for the Rust client to end (its journal directory
    /// free): a probe's round against a server that does not answer, connect and command.
    close_limit: Duration,
}

/// `url` as a string, or a list of seed URLs.
fn urls(url: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(one) = url.cast::<PyString>() {
        return Ok(vec![one.to_str()?.to_owned()]);
    }
    url.try_iter()?.map(|u| u?.extract()).collect()
}

/// `redis://user:secret@host` shown as `redis://***@host`.
fn without_credentials(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// The options of both constructors.
struct Options {
    cluster: Option<bool>,
    journal_dir: Option<PathBuf>,
    memory_capacity: usize,
    command_timeout: f64,
    connect_timeout: f64,
    probe_interval: f64,
    max_journal_bytes: u64,
    replay_batch: usize,
    max_document_bytes: usize,
}

impl Shared {
    fn open(py: Python<'_>, url: &Bound<'_, PyAny>, o: Options) -> PyResult<Shared> {
        let urls = urls(url)?;
        let config_error =
            |why: String| errors::ConfigError::new_err(format!("invalid configuration: {why}"));
        // Several URLs are the seeds of a Redis Cluster; one URL is a single server unless
        // `cluster=True`.
        let config = match (o.cluster.unwrap_or(urls.len() > 1), urls.as_slice()) {
            (_, []) => return Err(config_error("no URL given".into())),
            (true, _) => Config::cluster(urls.iter().cloned()),
            (false, [url]) => Config::new(url.as_str()),
            (false, _) => {
                return Err(config_error(format!(
                    "{} URLs given with cluster=False: several URLs are the seeds of a cluster",
                    urls.len()
                )))
            }
        };
        let shown_url = urls
            .iter()
            .map(|u| without_credentials(u))
            .collect::<Vec<_>>()
            .join(",");
        let command_timeout = args::seconds("command_timeout", o.command_timeout)?;
        let connect_timeout = args::seconds("connect_timeout", o.connect_timeout)?;
        let mut config = config
            .memory_capacity(o.memory_capacity)
            .command_timeout(command_timeout)
            .connect_timeout(connect_timeout)
            .probe_interval(args::seconds("probe_interval", o.probe_interval)?)
            .max_journal_bytes(o.max_journal_bytes);
        config.replay_batch = o.replay_batch;
        config.max_document_bytes = o.max_document_bytes;
        if let Some(dir) = o.journal_dir {
            config = config.journal_dir(dir);
        }
        let client = py
            .detach(|| runtime().block_on(vigil_client::Client::open(config)))
            .map_err(errors::to_py)?;
        Ok(Shared {
            client: RwLock::new(Some(client)),
            closed: Arc::new(AtomicBool::new(false)),
            feeds: Mutex::new(Vec::new()),
            shown_url,
            close_limit: command_timeout.saturating_add(connect_timeout),
        })
    }

    /// The Rust client (a clone: an `Arc`), or ClosedError after `close()`.
    fn client(&self) -> PyResult<vigil_client::Client> {
        self.client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| ClosedError::new_err("the client is closed"))
    }

    /// Closes: later calls raise ClosedError, the feeds let go of the client (a `next` under
    /// way keeps it until it returns); the Rust client, None if closed already.
    fn take(&self) -> Option<vigil_client::Client> {
        let client = self
            .client
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.closed.store(true, Ordering::Relaxed);
        let feeds = std::mem::take(&mut *self.feeds.lock().unwrap_or_else(|e| e.into_inner()));
        for slot in feeds.iter().filter_map(Weak::upgrade) {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        client
    }

    /// Closes, then waits (GIL released, `close_limit` at most) until the Rust client has
    /// ended and its journal directory is free.
    fn close(&self, py: Python<'_>) {
        if let Some(client) = self.take() {
            let limit = self.close_limit;
            py.detach(|| runtime().block_on(client.close(limit)));
        }
    }

    /// Closes, and an awaitable done once the Rust client has ended (`close_limit` at most).
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.take() {
            Some(client) => {
                let limit = self.close_limit;
                start(py, async move {
                    client.close(limit).await;
                    Ok(())
                })
            }
            None => crate::runtime::ready(py, py.None().into_bound(py)),
        }
    }

    /// Keeps `slot` for `close()` to empty (and forgets the feeds Python has dropped).
    fn keep_feed(&self, slot: Weak<FeedSlot>) {
        let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        feeds.retain(|f| f.strong_count() > 0);
        feeds.push(slot);
    }

    fn repr(&self, class: &str) -> String {
        match self.client() {
            Ok(c) => format!(
                "<{class} url='{}' mode='{}' pending={}>",
                self.shown_url,
                c.mode().as_str(),
                c.pending()
            ),
            Err(_) => format!("<{class} url='{}' closed>", self.shown_url),
        }
    }
}

/// The synchronous client: each call waits for its answer with the GIL released, so other
/// Python threads run meanwhile.
#[pyclass(module = "vigil", name = "Client", frozen)]
pub struct Client {
    inner: Shared,
}

/// The asyncio client: each call returns an awaitable and never blocks the event loop.
#[pyclass(module = "vigil.aio", name = "Client", frozen)]
pub struct AsyncClient {
    inner: Shared,
}

/// `ALERT.GET` with one ID answers one alert (or None), with several a list.
enum Got {
    One(Option<Alert>),
    Many(Vec<Option<Alert>>),
}

impl ToPython for Got {
    fn to_python<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Got::One(a) => a.to_python(py),
            Got::Many(v) => v.to_python(py),
        }
    }
}

/// Writes the two `#[pymethods]` blocks: `blocking` items go to `vigil.Client`, `asyncio`
/// items to `vigil.aio.Client`, `both` items to each as they are, and each entry of `calls`
/// to each, waited for or awaitable. A call's body reads its arguments (GIL held; `?` raises
/// at once) and ends with the future of the Rust client's call.
macro_rules! classes {
    (
        blocking { $($blocking:tt)* }
        asyncio { $($asyncio:tt)* }
        both { $($both:tt)* }
        calls {
            $(
                $(#[$meta:meta])*
                fn $name:ident($client:ident, $py:ident $(, $arg:ident: $ty:ty)* $(,)?) $body:block
            )*
        }
    ) => {
        // Python calls take their options as keyword arguments, often more than seven.
        #[allow(clippy::too_many_arguments)]
        #[pymethods]
        impl Client {
            $($blocking)*
            $($both)*
            $(
                $(#[$meta])*
                fn $name(&self, $py: Python<'_> $(, $arg: $ty)*) -> PyResult<Py<PyAny>> {
                    let $client = self.inner.client()?;
                    wait($py, $body)
                }
            )*
        }

        #[allow(clippy::too_many_arguments)]
        #[pymethods]
        impl AsyncClient {
            $($asyncio)*
            $($both)*
            $(
                $(#[$meta])*
                fn $name<'py>(&self, $py: Python<'py> $(, $arg: $ty)*) -> PyResult<Bound<'py, PyAny>> {
                    let $client = self.inner.client()?;
                    start($py, $body)
                }
            )*
        }
    };
}

/// CREATE's and ALTER's settings, from the call's arguments.
fn stream_options(
    retention_ms: Option<Natural>,
    maxlen: Option<Natural>,
    dedup_ms: Option<Natural>,
    ratelimit: Option<(Natural, Natural)>,
    autoresolve_ms: Option<Natural>,
    id_memory_ms: Option<Natural>,
) -> StreamOptions {
    StreamOptions {
        retention_ms: retention_ms.map(u64::from),
        maxlen: maxlen.map(u64::from),
        dedup_ms: dedup_ms.map(u64::from),
        ratelimit: ratelimit.map(|(n, w)| (n.0, w.0)),
        autoresolve_ms: autoresolve_ms.map(u64::from),
        id_memory_ms: id_memory_ms.map(u64::from),
    }
}

classes! {
    blocking {
        fn __enter__(slf: Py<Self>) -> Py<Self> {
            slf
        }

        #[pyo3(signature = (*_exc))]
        fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> bool {
            self.inner.close(py);
            false
        }

        /// Lets go of the client: later calls raise ClosedError, its feeds' too. Waits until
        /// calls in flight (a feed's wait included) and the background probe's round have let
        /// go of it, so that its journal directory can be opened again at once, at most
        /// `command_timeout + connect_timeout`. What the journal holds stays there for the
        /// next client opened on the directory.
        fn close(&self, py: Python<'_>) {
            self.inner.close(py);
        }

        fn __repr__(&self) -> String {
            self.inner.repr("vigil.Client")
        }

        /// Follows the changes of `key` from `cursor` (`"0"`, `"$"` or a stored one) as a
        /// `vigil.Feed`; `block_ms` is how long one read waits on the server (default 5 s).
        #[pyo3(signature = (
            key,
            cursor = "0",
            *,
            count = None,
            block_ms = None,
            with_silenced = false,
            min_severity = None,
            source = None,
            r#type = None,
            status = None,
            labels = None,
        ))]
        fn follow(
            &self,
            key: &str,
            cursor: &str,
            count: Option<Natural>,
            block_ms: Option<Natural>,
            with_silenced: bool,
            min_severity: Option<&str>,
            source: Option<String>,
            r#type: Option<String>,
            status: Option<&str>,
            labels: Option<&Bound<'_, PyAny>>,
        ) -> PyResult<Feed> {
            let filters = args::filters(min_severity, source, r#type, status, labels)?;
            let options = ReadOptions { count: count.map(u64::from), block: args::block(block_ms.map(u64::from))?, filters, with_silenced };
            let feed = self.inner.client()?.follow(key, args::cursor(cursor)?, options);
            let feed = Feed::new(feed, self.inner.closed.clone());
            self.inner.keep_feed(feed.slot());
            Ok(feed)
        }
    }

    asyncio {
        fn __aenter__(slf: Py<Self>, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
            crate::runtime::ready(py, slf.into_bound(py).into_any())
        }

        #[pyo3(signature = (*_exc))]
        fn __aexit__<'py>(
            &self,
            py: Python<'py>,
            _exc: &Bound<'py, PyTuple>,
        ) -> PyResult<Bound<'py, PyAny>> {
            self.inner.aclose(py)
        }

        /// Lets go of the client at once: later calls raise ClosedError, its feeds' too. Its
        /// journal directory is free once calls in flight and the background probe's round
        /// have let go of it: `await client.aclose()` (or `async with`) waits for that.
        fn close(&self) {
            self.inner.take();
        }

        /// Closes, and waits (without blocking the event loop) until calls in flight and the
        /// background probe's round have let go of the client, so that its journal directory
        /// can be opened again at once; at most `command_timeout + connect_timeout`.
        fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
            self.inner.aclose(py)
        }

        fn __repr__(&self) -> String {
            self.inner.repr("vigil.aio.Client")
        }

        /// Follows the changes of `key` from `cursor` as a `vigil.aio.Feed` (an async
        /// iterator); see `vigil.Client.follow`.
        #[pyo3(signature = (
            key,
            cursor = "0",
            *,
            count = None,
            block_ms = None,
            with_silenced = false,
            min_severity = None,
            source = None,
            r#type = None,
            status = None,
            labels = None,
        ))]
        fn follow(
            &self,
            key: &str,
            cursor: &str,
            count: Option<Natural>,
            block_ms: Option<Natural>,
            with_silenced: bool,
            min_severity: Option<&str>,
            source: Option<String>,
            r#type: Option<String>,
            status: Option<&str>,
            labels: Option<&Bound<'_, PyAny>>,
        ) -> PyResult<AsyncFeed> {
            let filters = args::filters(min_severity, source, r#type, status, labels)?;
            let options = ReadOptions { count: count.map(u64::from), block: args::block(block_ms.map(u64::from))?, filters, with_silenced };
            let feed = self.inner.client()?.follow(key, args::cursor(cursor)?, options);
            let feed = AsyncFeed::new(feed, self.inner.closed.clone());
            self.inner.keep_feed(feed.slot());
            Ok(feed)
        }
    }

    both {
        /// Opens the journal (replaying on start what an earlier process left in it) and
        /// starts the background probe; does not wait for Redis (the first call connects).
        #[new]
        #[pyo3(signature = (
            url,
            *,
            cluster = None,
            journal_dir = None,
            memory_capacity = Natural(100_000),
            command_timeout = 2.0,
            connect_timeout = 1.0,
            probe_interval = 0.25,
            max_journal_bytes = Natural(0),
            replay_batch = Natural(256),
            max_document_bytes = Natural(65536),
        ),
        // The defaults as Python shows them (pyo3 shows `...` for `Natural(n)`).
        text_signature = "(url, *, cluster=None, journal_dir=None, memory_capacity=100000, command_timeout=2.0, connect_timeout=1.0, probe_interval=0.25, max_journal_bytes=0, replay_batch=256, max_document_bytes=65536)")]
        fn new(
            py: Python<'_>,
            url: &Bound<'_, PyAny>,
            cluster: Option<bool>,
            journal_dir: Option<PathBuf>,
            memory_capacity: Natural,
            command_timeout: f64,
            connect_timeout: f64,
            probe_interval: f64,
            max_journal_bytes: Natural,
            replay_batch: Natural,
            max_document_bytes: Natural,
        ) -> PyResult<Self> {
            let options = Options {
                cluster,
                journal_dir,
                memory_capacity: args::size(memory_capacity)?,
                command_timeout,
                connect_timeout,
                probe_interval,
                max_journal_bytes: max_journal_bytes.into(),
                replay_batch: args::size(replay_batch)?,
                max_document_bytes: args::size(max_document_bytes)?,
            };
            Ok(Self { inner: Shared::open(py, url, options)? })
        }

        /// Where writes go now: `redis`, `file` or `memory`.
        #[getter]
        fn mode(&self) -> PyResult<&'static str> {
            Ok(self.inner.client()?.mode().as_str())
        }

        /// Writes waiting in the journal and the memory store for Redis.
        #[getter]
        fn pending(&self) -> PyResult<u64> {
            Ok(self.inner.client()?.pending())
        }

        /// True after `close()`.
        #[getter]
        fn closed(&self) -> bool {
            self.inner.client().is_err()
        }

        /// A snapshot of the counters (`vigil.Metrics`).
        fn metrics(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
            Ok(self.inner.client()?.metrics().to_python(py)?.unbind())
        }

        /// The counters in the Prometheus text format.
        fn prometheus(&self) -> PyResult<String> {
            Ok(self.inner.client()?.prometheus())
        }

        /// Asks the background probe to check Redis now.
        fn wake_probe(&self) -> PyResult<()> {
            self.inner.client()?.wake_probe();
            Ok(())
        }

    }

    calls {
        /// ALERT.ADD: `doc` a dict (sent through json.dumps) or a JSON str; `ts` in ms (default
        /// now); `id` an explicit `<ts>-<seq>` (default `<ts>-<random>`, so that a retry or a
        /// replay answers `exists`).
        #[pyo3(signature = (key, doc, ts = None, id = None))]
        fn add(client, py, key: String, doc: &Bound<'_, PyAny>, ts: Option<Natural>, id: Option<String>) {
            let doc = args::document(doc)?;
            let id = args::opt_id(id.as_deref())?;
            async move { client.add_with(&key, &doc, AddOptions { ts: ts.map(u64::from), id }).await }
        }

        /// ALERT.GET: one ID answers an Alert or None, an iterable of IDs a list of them.
        fn get(client, py, key: String, ids: &Bound<'_, PyAny>) {
            let one = ids.is_instance_of::<PyString>();
            let ids = args::ids(ids)?;
            async move {
                let got = client.get(&key, &ids).await?;
                Ok::<_, vigil_client::Error>(if one {
                    Got::One(got.into_iter().next().flatten())
                } else {
                    Got::Many(got)
                })
            }
        }

        /// ALERT.RANGE: `start`/`end` are `"-"`, `"+"`, a ms timestamp or an ID.
        #[pyo3(signature = (
            key,
            start = None,
            end = None,
            *,
            rev = false,
            count = None,
            min_severity = None,
            source = None,
            r#type = None,
            status = None,
            labels = None,
        ))]
        fn range(
            client,
            py,
            key: String,
            start: Option<&Bound<'_, PyAny>>,
            end: Option<&Bound<'_, PyAny>>,
            rev: bool,
            count: Option<Natural>,
            min_severity: Option<String>,
            source: Option<String>,
            r#type: Option<String>,
            status: Option<String>,
            labels: Option<&Bound<'_, PyAny>>,
        ) {
            let mut q = RangeQuery::between(
                start.map(args::bound).transpose()?.unwrap_or(vigil_client::Bound::Min),
                end.map(args::bound).transpose()?.unwrap_or(vigil_client::Bound::Max),
            );
            q.rev = rev;
            q.count = count.map(u64::from);
            q.min_severity = min_severity.as_deref().map(args::severity).transpose()?;
            q.source = source;
            q.kind = r#type;
            q.status = status.as_deref().map(args::status).transpose()?;
            q.labels = args::labels(labels)?;
            async move { client.range(&key, &q).await }
        }

        /// ALERT.ACK: the number of alerts whose status changed.
        fn ack(client, py, key: String, ids: &Bound<'_, PyAny>) {
            let ids = args::ids(ids)?;
            async move { client.ack(&key, &ids).await }
        }

        /// ALERT.RESOLVE.
        fn resolve(client, py, key: String, ids: &Bound<'_, PyAny>) {
            let ids = args::ids(ids)?;
            async move { client.resolve(&key, &ids).await }
        }

        /// ALERT.DEL: the number of alerts removed.
        fn delete(client, py, key: String, ids: &Bound<'_, PyAny>) {
            let ids = args::ids(ids)?;
            async move { client.del(&key, &ids).await }
        }

        /// ALERT.INFO.
        fn info(client, py, key: String) {
            async move { client.info(&key).await }
        }

        /// ALERT.READ: the alerts whose last change is after `cursor` (`"0"`: every alert,
        /// `"$"`: only changes after this call, or a cursor a read returned), each once in its
        /// current state, and where to read on from (`ReadReply.next`). `block_ms` (>= 1)
        /// waits that long for a change when there is none. In fallback, the changes the
        /// fallback stores made (they come again from Redis once replayed).
        #[pyo3(signature = (
            key,
            cursor = "0",
            *,
            count = None,
            block_ms = None,
            with_silenced = false,
            min_severity = None,
            source = None,
            r#type = None,
            status = None,
            labels = None,
        ))]
        fn read(
            client,
            py,
            key: String,
            cursor: &str,
            count: Option<Natural>,
            block_ms: Option<Natural>,
            with_silenced: bool,
            min_severity: Option<&str>,
            source: Option<String>,
            r#type: Option<String>,
            status: Option<&str>,
            labels: Option<&Bound<'_, PyAny>>,
        ) {
            let cursor = args::cursor(cursor)?;
            let filters = args::filters(min_severity, source, r#type, status, labels)?;
            let options = ReadOptions { count: count.map(u64::from), block: args::block(block_ms.map(u64::from))?, filters, with_silenced };
            async move { client.read(&key, &cursor, &options).await }
        }

        /// ALERT.SILENCE: until `until` (ms since the epoch), alerts matching all the matchers
        /// given are left out of the feed. Returns the silence's ID (made by the client, so
        /// that one kept in the journal is replayed exactly once).
        #[pyo3(signature = (
            key,
            until,
            *,
            min_severity = None,
            source = None,
            r#type = None,
            labels = None,
            comment = None,
        ))]
        fn silence(
            client,
            py,
            key: String,
            until: Natural,
            min_severity: Option<&str>,
            source: Option<String>,
            r#type: Option<String>,
            labels: Option<&Bound<'_, PyAny>>,
            comment: Option<String>,
        ) {
            let matchers = args::matchers(min_severity, source, r#type, labels)?;
            async move { client.silence(&key, until.0, &matchers, comment.as_deref()).await }
        }

        /// ALERT.UNSILENCE: True if the silence was ended.
        fn unsilence(client, py, key: String, id: Natural) {
            async move { client.unsilence(&key, id.0).await }
        }

        /// ALERT.SILENCES: the active silences, by ID.
        fn silences(client, py, key: String) {
            async move { client.silences(&key).await }
        }

        /// ALERT.GROUPS: the alerts between `start` and `end` passing the filters, counted by
        /// `by` (`severity`, `source`, `type`, `status` or `label:<name>`).
        #[pyo3(signature = (
            key,
            by,
            start = None,
            end = None,
            *,
            min_severity = None,
            source = None,
            r#type = None,
            status = None,
            labels = None,
        ))]
        fn groups(
            client,
            py,
            key: String,
            by: &str,
            start: Option<&Bound<'_, PyAny>>,
            end: Option<&Bound<'_, PyAny>>,
            min_severity: Option<&str>,
            source: Option<String>,
            r#type: Option<String>,
            status: Option<&str>,
            labels: Option<&Bound<'_, PyAny>>,
        ) {
            let by = args::group_by(by)?;
            let start = start.map(args::bound).transpose()?.unwrap_or(vigil_client::Bound::Min);
            let end = end.map(args::bound).transpose()?.unwrap_or(vigil_client::Bound::Max);
            let filters = args::filters(min_severity, source, r#type, status, labels)?;
            async move { client.groups(&key, start, end, &by, &filters).await }
        }

        /// ALERT.CREATE (Redis only). `ratelimit` is `(n, window_ms)`; `(0, 0)` disables it.
        #[pyo3(signature = (key, *, retention_ms = None, maxlen = None, dedup_ms = None, ratelimit = None, autoresolve_ms = None, id_memory_ms = None))]
        fn create(
            client,
            py,
            key: String,
            retention_ms: Option<Natural>,
            maxlen: Option<Natural>,
            dedup_ms: Option<Natural>,
            ratelimit: Option<(Natural, Natural)>,
            autoresolve_ms: Option<Natural>,
            id_memory_ms: Option<Natural>,
        ) {
            let opts = stream_options(retention_ms, maxlen, dedup_ms, ratelimit, autoresolve_ms, id_memory_ms);
            async move { client.create(&key, &opts).await }
        }

        /// ALERT.ALTER (Redis only): only the settings given change.
        #[pyo3(signature = (key, *, retention_ms = None, maxlen = None, dedup_ms = None, ratelimit = None, autoresolve_ms = None, id_memory_ms = None))]
        fn alter(
            client,
            py,
            key: String,
            retention_ms: Option<Natural>,
            maxlen: Option<Natural>,
            dedup_ms: Option<Natural>,
            ratelimit: Option<(Natural, Natural)>,
            autoresolve_ms: Option<Natural>,
            id_memory_ms: Option<Natural>,
        ) {
            let opts = stream_options(retention_ms, maxlen, dedup_ms, ratelimit, autoresolve_ms, id_memory_ms);
            async move { client.alter(&key, &opts).await }
        }

        /// ALERT.TRIM (Redis only), with exactly one of `maxlen` (keep the newest n) and
        /// `min_ts` (remove alerts older than this ms timestamp): the number removed.
        #[pyo3(signature = (key, *, maxlen = None, min_ts = None))]
        fn trim(client, py, key: String, maxlen: Option<Natural>, min_ts: Option<Natural>) {
            let how = match (maxlen, min_ts) {
                (Some(n), None) => Trim::MaxLen(n.0),
                (None, Some(ts)) => Trim::MinTs(ts.0),
                _ => return Err(invalid_argument("trim takes exactly one of maxlen, min_ts".into())),
            };
            async move { client.trim(&key, how).await }
        }

        /// QUOTA.SET key LIMIT limit [WINDOW ms] [ALERTS stream AT pct ...] (Redis only;
        /// `limit` -1 is unlimited). With `alerts` (a stream in the quota's slot) and `at`
        /// (percentages of the limit), a write taking usage to or past a threshold adds a
        /// `quota_threshold` alert there, and one taking it back below resolves it.
        #[pyo3(signature = (key, limit, window_ms = None, *, alerts = None, at = None))]
        fn quota_set(
            client,
            py,
            key: String,
            limit: &Bound<'_, PyAny>,
            window_ms: Option<Natural>,
            alerts: Option<String>,
            at: Option<Vec<Natural>>,
        ) {
            let mut settings = QuotaSettings::new(args::amount(limit)?);
            settings.window_ms = window_ms.map(u64::from);
            let at = at.map(args::pcts).transpose()?;
            settings = match (alerts, at) {
                (None, None) => settings,
                (Some(stream), Some(at)) if !at.is_empty() => settings.alerts(stream, at),
                _ => return Err(invalid_argument("alerts (a stream) and at (percentages) go together".into())),
            };
            async move { client.quota_set_with(&key, &settings).await }
        }

        /// QUOTA.INCR key amount [LIMIT limit] [FORCE] (Redis only, never retried: an
        /// increment is not idempotent).
        #[pyo3(signature = (key, amount = None, *, limit = None, force = false))]
        fn quota_incr(
            client,
            py,
            key: String,
            amount: Option<&Bound<'_, PyAny>>,
            limit: Option<&Bound<'_, PyAny>>,
            force: bool,
        ) {
            let amount = args::opt_amount(amount)?.unwrap_or(vigil_client::Amount::from_int(1));
            let opts = IncrOptions { limit: args::opt_amount(limit)?, force };
            async move { client.quota_incr(&key, amount, &opts).await }
        }

        /// QUOTA.INCR key amount [LIMIT limit] [FORCE] EVICT tracker [MAX n]: when the amount
        /// would take the quota above its limit, the tracker's least recently used keys are
        /// deleted and the quota lowered by their sizes until it fits, then the amount is
        /// applied, in one step; all or nothing (Redis only, never retried). With `force`, an
        /// amount that cannot fit is applied without evicting.
        #[pyo3(signature = (key, amount, tracker, *, max = None, limit = None, force = false))]
        fn quota_incr_evict(
            client,
            py,
            key: String,
            amount: &Bound<'_, PyAny>,
            tracker: String,
            max: Option<Natural>,
            limit: Option<&Bound<'_, PyAny>>,
            force: bool,
        ) {
            let amount = args::amount(amount)?;
            let opts = IncrOptions { limit: args::opt_amount(limit)?, force };
            async move {
                client
                    .incr_evict_with(&key, amount, &tracker, max.map(u64::from), &opts)
                    .await
            }
        }

        /// QUOTA.INCR ... DRYRUN: what `quota_incr` (or with `evict`, `quota_incr_evict`) would
        /// answer now, the keys it would evict included; nothing changes.
        #[pyo3(signature = (key, amount = None, *, limit = None, force = false, evict = None, max = None))]
        fn quota_dry_run(
            client,
            py,
            key: String,
            amount: Option<&Bound<'_, PyAny>>,
            limit: Option<&Bound<'_, PyAny>>,
            force: bool,
            evict: Option<String>,
            max: Option<Natural>,
        ) {
            let amount = args::opt_amount(amount)?.unwrap_or(vigil_client::Amount::from_int(1));
            let opts = DryRunOptions { limit: args::opt_amount(limit)?, force, evict, max: max.map(u64::from) };
            async move { client.dry_run(&key, amount, &opts).await }
        }

        /// QUOTA.GET: None for a missing key.
        fn quota_get(client, py, key: String) {
            async move { client.quota_get(&key).await }
        }

        /// QUOTA.RESET.
        fn quota_reset(client, py, key: String) {
            async move { client.quota_reset(&key).await }
        }

        /// LRU.TOUCH tracker: `keys` a mapping {key: size} or pairs; the keys newly tracked.
        fn lru_touch(client, py, tracker: String, keys: &Bound<'_, PyAny>) {
            let keys = args::sized_keys(keys)?;
            async move {
                let keys: Vec<(&str, vigil_client::Amount)> =
                    keys.iter().map(|(k, size)| (k.as_str(), *size)).collect();
                client.lru_touch(&tracker, &keys).await
            }
        }

        /// LRU.FORGET tracker key [key ...]: the keys no longer tracked.
        fn lru_forget(client, py, tracker: String, keys: &Bound<'_, PyAny>) {
            let keys = args::keys(keys)?;
            async move {
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                client.lru_forget(&tracker, &keys).await
            }
        }

        /// LRU.CANDIDATES: least recently used first.
        #[pyo3(signature = (tracker, count = None))]
        fn lru_candidates(client, py, tracker: String, count: Option<Natural>) {
            let count = count.map_or(10, u64::from);
            async move { client.lru_candidates(&tracker, count).await }
        }

        /// LRU.EVICT tracker target [QUOTA quota] [MAX n]: deletes least recently used keys
        /// until the tracker's total is at most `target` (and lowers `quota` by the sizes
        /// evicted, in the same step).
        #[pyo3(signature = (tracker, target, *, quota = None, max = None))]
        fn lru_evict(
            client,
            py,
            tracker: String,
            target: &Bound<'_, PyAny>,
            quota: Option<String>,
            max: Option<Natural>,
        ) {
            let target = args::amount(target)?;
            let opts = EvictOptions { quota, max: max.map(u64::from) };
            async move { client.lru_evict(&tracker, target, &opts).await }
        }

        /// LRU.INFO.
        fn lru_info(client, py, tracker: String) {
            async move { client.lru_info(&tracker).await }
        }

        /// Replays now and waits until the fallback stores are empty and writes go to Redis
        /// again: False if `timeout` seconds passed first.
        #[pyo3(signature = (timeout = 10.0))]
        fn flush(client, py, timeout: f64) {
            let limit = args::seconds("timeout", timeout)?;
            async move { client.flush(limit).await }
        }
    }
}
