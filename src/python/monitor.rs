//! The embedded per-container monitor executable (built by build.rs from monitor/main.rs).

use pyo3::prelude::*;
use pyo3::types::PyBytes;

static MONITOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hybridock-monitor"));

/// The monitor's executable bytes; the caller installs them once into the store.
#[pyfunction]
pub fn monitor_executable(py: Python<'_>) -> Bound<'_, PyBytes> {
    PyBytes::new(py, MONITOR)
}
