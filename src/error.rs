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
    /// A layer entry that would write outside the root, or replace the root itself.
    #[error("unsafe layer entry {entry:?}: {reason}")]
    UnsafePath { entry: String, reason: String },
    /// A stream that is not a valid (compressed) tar archive: corrupt, truncated, or with an
    /// entry that contradicts itself (a hardlink to nothing, a parent that is a file).
    #[error("invalid layer: {reason}")]
    LayerFormat {
        reason: String,
        #[source]
        source: Option<std::io::Error>,
    },
    /// A configured budget (uncompressed bytes, entries) that the layer exceeds.
    #[error("layer exceeds the limit of {limit} {what}")]
    LimitExceeded { what: &'static str, limit: u64 },
    /// A request this build cannot serve (an unknown compression, an unknown tar entry type).
    #[error("unsupported {what}: {value}")]
    Unsupported { what: &'static str, value: String },
    /// The pipeline was stopped on purpose (`abort`, Ctrl-C) before it finished.
    #[error("layer pipeline cancelled")]
    Cancelled,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub fn unsafe_path(entry: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::UnsafePath {
            entry: entry.into(),
            reason: reason.into(),
        }
    }

    pub fn format(reason: impl Into<String>) -> Self {
        Self::LayerFormat {
            reason: reason.into(),
            source: None,
        }
    }
}
