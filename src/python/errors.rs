//! The one conversion from the core `Error` to Python exceptions. The classes are declared in
//! python/hybridock/errors.py and imported here, so Python code catches the same classes the
//! native module raises.

use pyo3::exceptions::{PyInterruptedError, PyValueError};
use pyo3::prelude::*;

use crate::error::Error;

pyo3::import_exception!(hybridock.errors, DigestMismatch);
pyo3::import_exception!(hybridock.errors, UnsafeLayer);
pyo3::import_exception!(hybridock.errors, LayerFormatError);
pyo3::import_exception!(hybridock.errors, LayerLimitExceeded);
pyo3::import_exception!(hybridock.errors, StoreError);
pyo3::import_exception!(hybridock.errors, NetworkError);
pyo3::import_exception!(hybridock.errors, ConfigError);

/// Maps a core error onto the `HybridockError` tree. I/O errors become `StoreError` with
/// `errno` and `filename` set, as `OSError(errno, strerror, filename)` would (ENOSPC included).
/// A refused network step becomes `NetworkError(message, errno)`.
pub(crate) fn to_py(error: Error) -> PyErr {
    let message = error.to_string();
    match error {
        Error::Io { path, source } => match source.raw_os_error() {
            Some(errno) => {
                let path = path.into_os_string();
                let reason = source.to_string();
                let strerror = reason
                    .split(" (os error")
                    .next()
                    .unwrap_or(&reason)
                    .to_owned();
                StoreError::new_err((errno, strerror, path))
            }
            None => StoreError::new_err(message),
        },
        Error::InvalidDigest { .. } => PyValueError::new_err(message),
        Error::DigestMismatch { .. } => DigestMismatch::new_err(message),
        Error::UnsafePath { .. } => UnsafeLayer::new_err(message),
        Error::LayerFormat { .. } | Error::Unsupported { .. } => LayerFormatError::new_err(message),
        Error::LimitExceeded { .. } => LayerLimitExceeded::new_err(message),
        Error::Cancelled => PyInterruptedError::new_err(message),
        Error::Network { source, .. } => {
            NetworkError::new_err((message, source.raw_os_error().unwrap_or(0)))
        }
        Error::LinkConflict { .. } => NetworkError::new_err((message, libc::EEXIST)),
        Error::InvalidNetworkValue { .. } => ConfigError::new_err(message),
    }
}
