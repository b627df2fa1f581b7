//! The tokio runtime the clients of a process run on, and the bridge that hands the result of
//! a `vigil.aio` call to its asyncio event loop.
//!
//! Two events in the life of a process shape both:
//! - **fork.** The runtime's threads do not survive a fork: a child forked from a process that
//!   had built the runtime builds its own on first use (the parent's is left, never dropped:
//!   dropping it would wait for threads the child does not have).
//! - **exit.** A runtime thread that hands a result over calls into Python (the loop's
//!   `call_soon_threadsafe`, which releases the GIL while it writes to the loop's wake-up
//!   socket). Should the interpreter finalize meanwhile, Python 3.11 ends that thread with
//!   `pthread_exit` when it takes the GIL again, which unwinds through Rust frames and aborts
//!   the process. So an `atexit` hook, which runs before finalization, stops new hand-overs
//!   and waits (GIL released, 5 s at most) for those under way; a result that comes later is
//!   dropped, its awaiting code being gone.

use crate::errors;
use crate::replies::ToPython;
use pyo3::prelude::*;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Runtime};

/// The runtime and the process it was built in.
static RUNTIME: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

/// The runtime of this process (its calls, probes, connections and journal's blocking pool),
/// built on first use, and again in a forked child.
pub fn runtime() -> &'static Runtime {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    match *slot {
        Some((owner, rt)) if owner == pid => rt,
        _ => {
            // Two workers are plenty for a client: the calls are I/O; journal fsyncs and reply
            // conversions run on the blocking pool.
            let rt = Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("vigil-client")
                .enable_all()
                .build()
                .expect("a tokio runtime (threads and an event source)");
            let rt: &'static Runtime = Box::leak(Box::new(rt));
            *slot = Some((pid, rt));
            rt
        }
    }
}

/// Set by the `atexit` hook: no more results are handed to Python.
static EXITING: AtomicBool = AtomicBool::new(false);
/// Hand-overs under way.
static HANDING: AtomicUsize = AtomicUsize::new(0);

/// A hand-over under way, counted until dropped; None once the interpreter is exiting.
struct Handing;

fn handing() -> Option<Handing> {
    HANDING.fetch_add(1, SeqCst);
    if EXITING.load(SeqCst) {
        HANDING.fetch_sub(1, SeqCst);
        return None;
    }
    Some(Handing)
}

impl Drop for Handing {
    fn drop(&mut self) {
        HANDING.fetch_sub(1, SeqCst);
    }
}

/// Registered with `atexit` when the module loads.
#[pyfunction]
pub fn _at_exit(py: Python<'_>) {
    EXITING.store(true, SeqCst);
    py.detach(|| {
        let start = Instant::now();
        while HANDING.load(SeqCst) > 0 && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// The call as an asyncio future of the running loop: the call runs on the runtime, and its
/// reply (or exception) is set on the loop's thread. Cancelling the future drops the call (a
/// write that already reached the journal stays there: vigil-client finishes it in a task of
/// its own).
pub fn start<'py, T: ToPython>(
    py: Python<'py>,
    call: impl Future<Output = Result<T, vigil_client::Error>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>> {
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let future = event_loop.call_method0("create_future")?;
    let (event_loop, awaited) = (event_loop.unbind(), future.clone().unbind());
    let task = runtime().spawn(async move {
        let result = call.await;
        // The reply becomes Python objects with the GIL held: on the blocking pool.
        let _ = tokio::task::spawn_blocking(move || hand_over(event_loop, awaited, result)).await;
    });
    future.call_method1(
        "add_done_callback",
        (Cancel {
            task: task.abort_handle(),
        },),
    )?;
    Ok(future)
}

/// An asyncio future of the running loop that is done already, with `value`.
pub fn ready<'py>(py: Python<'py>, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let future = py
        .import("asyncio")?
        .call_method0("get_running_loop")?
        .call_method0("create_future")?;
    future.call_method1("set_result", (value,))?;
    Ok(future)
}

fn hand_over<T: ToPython>(
    event_loop: Py<PyAny>,
    awaited: Py<PyAny>,
    result: Result<T, vigil_client::Error>,
) {
    let Some(_handing) = handing() else {
        return;
    };
    Python::attach(|py| {
        let (ok, value) = match result.map_err(errors::to_py).and_then(|r| r.to_python(py)) {
            Ok(v) => (true, v.unbind()),
            Err(e) => (false, e.into_value(py).into_any()),
        };
        // A closed loop (its asyncio.run returned) refuses: nobody awaits the result.
        let _ = event_loop
            .bind(py)
            .call_method1("call_soon_threadsafe", (Complete, awaited, ok, value));
    });
}

/// Sets the result or the exception of a future unless it is done (cancelled meanwhile).
#[pyclass]
struct Complete;

#[pymethods]
impl Complete {
    fn __call__(
        &self,
        future: &Bound<'_, PyAny>,
        ok: bool,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if future.call_method0("done")?.is_truthy()? {
            return Ok(());
        }
        let method = if ok { "set_result" } else { "set_exception" };
        future.call_method1(method, (value,))?;
        Ok(())
    }
}

/// A future's done callback: a cancelled future drops its call.
#[pyclass]
struct Cancel {
    task: tokio::task::AbortHandle,
}

#[pymethods]
impl Cancel {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.task.abort();
        }
        Ok(())
    }
}
