//! The embedded helper executables (built by build.rs from monitor/main.rs): the per-container
//! monitor and the static `--init`.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

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
