//! The one error type of the native core. Every variant is structured (what failed, on which
//! path or entry) so that the Python glue can map it onto the `HybridockError` tree without
//! parsing strings. I/O errors always name the path they happened on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid digest {value:?}: expected sha256:<64 lowercase hex>")]
    InvalidDigest { value: String },
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}
