//! The one error type of the runtime: a message in runc's words (exit status 1).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeError(pub String);

impl RuntimeError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for RuntimeError {}

impl From<std::io::Error> for RuntimeError {
    fn from(error: std::io::Error) -> Self {
        Self(strip_os_error(&error))
    }
}

/// An `io::Error`'s text without " (os error N)".
#[must_use]
pub fn strip_os_error(error: &std::io::Error) -> String {
    let text = error.to_string();
    text.split(" (os error").next().unwrap_or(&text).to_owned()
}

/// `what path: reason`.
pub fn io_context(
    what: &str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> RuntimeError {
    let prefix = format!("{what} {}", path.display());
    move |error| RuntimeError(format!("{prefix}: {}", strip_os_error(&error)))
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
