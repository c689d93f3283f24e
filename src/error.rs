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
    /// A network step the kernel refused (a netlink request, a namespace switch): `operation`
    /// names the step and the link, as `creating bridge hybridock0`.
    #[error("{operation}: {}", strerror(source))]
    Network {
        operation: String,
        #[source]
        source: std::io::Error,
    },
    /// A name the kernel already has for another interface (a veth name taken, a bridge's
    /// name held by a link that is no bridge).
    #[error("{operation}: {reason}")]
    LinkConflict { operation: String, reason: String },
    /// A network value that cannot be used (an interface name, a MAC, a prefix length).
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidNetworkValue {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// An I/O error's text without Rust's " (os error N)" suffix: `File exists`.
#[must_use]
pub fn strerror(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
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

    pub fn network(operation: impl Into<String>, source: std::io::Error) -> Self {
        Self::Network {
            operation: operation.into(),
            source,
        }
    }

    pub fn format(reason: impl Into<String>) -> Self {
        Self::LayerFormat {
            reason: reason.into(),
            source: None,
        }
    }
}
