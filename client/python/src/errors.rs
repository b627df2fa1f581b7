//! vigil-client's errors as the exceptions of `vigil._errors` (defined in Python, so that they
//! can have several bases: `Unavailable` is also a `ConnectionError`, `InvalidArgument` a
//! `ValueError`).

use pyo3::PyErr;
use vigil_client::Error;

pyo3::import_exception!(vigil._errors, ServerError);
pyo3::import_exception!(vigil._errors, InvalidDocument);
pyo3::import_exception!(vigil._errors, InvalidArgument);
pyo3::import_exception!(vigil._errors, Unavailable);
pyo3::import_exception!(vigil._errors, ProtocolError);
pyo3::import_exception!(vigil._errors, JournalError);
pyo3::import_exception!(vigil._errors, ConfigError);
pyo3::import_exception!(vigil._errors, ClosedError);

/// The exception for an error of the Rust client.
pub fn to_py(e: Error) -> PyErr {
    let message = e.to_string();
    match e {
        Error::Server { code, detail } => ServerError::new_err((message, code, detail)),
        Error::InvalidDocument(_) => InvalidDocument::new_err(message),
        Error::Unavailable(_) => Unavailable::new_err(message),
        Error::Protocol(_) => ProtocolError::new_err(message),
        // OSError(errno, text) sets .errno, as the OSError the journal met.
        Error::Io(io) => match io.raw_os_error() {
            Some(errno) => JournalError::new_err((errno, message)),
            None => JournalError::new_err(message),
        },
        Error::Config(_) => ConfigError::new_err(message),
        Error::InvalidInput(_) => InvalidArgument::new_err(message),
    }
}

/// An argument refused before anything was sent.
pub fn invalid_argument(message: String) -> PyErr {
    InvalidArgument::new_err(message)
}
