//! The embedded helper executables (built by build.rs from monitor/main.rs): the per-container
//! monitor and the static `--init`; and the monitor's json-file log writer, for attached runs.

use std::path::PathBuf;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::jsonlog::{self, JsonLog};

static MONITOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hybridock-monitor"));
static INIT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hybridock-init"));

/// The monitor's executable bytes; the caller installs them once into the store.
#[pyfunction]
pub fn monitor_executable(py: Python<'_>) -> Bound<'_, PyBytes> {
    PyBytes::new(py, MONITOR)
}

/// The static init's executable bytes (empty when this build has no static libc).
#[pyfunction]
pub fn init_executable(py: Python<'_>) -> Bound<'_, PyBytes> {
    PyBytes::new(py, INIT)
}

/// A container's `container.log`, in docker's json-file format: the writer the monitor uses
/// for detached containers, here for attached ones.
#[pyclass(name = "JsonLog")]
pub struct PyJsonLog {
    log: Option<JsonLog>,
}

#[pymethods]
impl PyJsonLog {
    #[new]
    #[allow(clippy::needless_pass_by_value)] // pyo3 hands arguments over by value
    fn new(path: PathBuf) -> PyResult<Self> {
        JsonLog::open(&path)
            .map(|log| Self { log: Some(log) })
            .map_err(|error| PyOSError::new_err(format!("cannot open {}: {error}", path.display())))
    }

    /// Takes a chunk of "stdout" or "stderr"; writes every line it completes.
    fn write(&mut self, stream: &str, data: &[u8]) -> PyResult<()> {
        let stream = match stream {
            "stdout" => jsonlog::Stream::Stdout,
            "stderr" => jsonlog::Stream::Stderr,
            other => return Err(PyValueError::new_err(format!("no stream {other:?}"))),
        };
        if let Some(log) = self.log.as_mut() {
            log.write(stream, data);
        }
        Ok(())
    }

    /// Writes the lines still without a newline and closes the file.
    fn close(&mut self) {
        if let Some(mut log) = self.log.take() {
            log.finish();
        }
    }
}
