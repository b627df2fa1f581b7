//! `vigil._vigil`: the Python binding of vigil-client. The calls, the cascade (Redis → file
//! journal → memory), the replay and the typed replies are the Rust client's; this crate reads
//! Python arguments (`args`), builds the dataclasses of `vigil._types` from the replies
//! (`replies`), raises the exceptions of `vigil._errors` (`errors`), and runs each call either
//! to its end or as an asyncio awaitable (`client`).

mod args;
mod client;
mod errors;
mod feed;
mod replies;
mod runtime;

use pyo3::prelude::*;

#[pymodule]
fn _vigil(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Results of asyncio calls stop being handed over before the interpreter finalizes.
    let at_exit = wrap_pyfunction!(runtime::_at_exit, m)?;
    m.py()
        .import("atexit")?
        .call_method1("register", (at_exit,))?;
    // Both classes are named `Client` (in `vigil` and in `vigil.aio`): added under names of
    // their own here, re-exported by vigil/__init__.py and vigil/aio.py.
    m.add("Client", m.py().get_type::<client::Client>())?;
    m.add("AsyncClient", m.py().get_type::<client::AsyncClient>())?;
    m.add("Feed", m.py().get_type::<feed::Feed>())?;
    m.add("AsyncFeed", m.py().get_type::<feed::AsyncFeed>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
