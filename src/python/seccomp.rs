//! Glue for the seccomp compiler: `compile_seccomp(profile, capabilities) -> bytes`, the BPF
//! program for this host, handed back to `spawn(seccomp_filter=...)`. A profile that cannot be
//! used raises `hybridock.errors.ConfigError`.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::seccomp::{self, Host, SeccompError};

pyo3::import_exception!(hybridock.errors, ConfigError);

pub(crate) fn to_py_err(error: &SeccompError) -> PyErr {
    ConfigError::new_err(error.to_string())
}

/// Compiles docker's seccomp profile JSON for this host's architecture and kernel and a
/// container holding `capabilities` (bit N = capability N).
#[pyfunction]
fn compile_seccomp<'py>(
    py: Python<'py>,
    profile: &str,
    capabilities: u64,
) -> PyResult<Bound<'py, PyBytes>> {
    let program = Host::current(capabilities)
        .and_then(|host| seccomp::compile(profile, &host))
        .map_err(|error| to_py_err(&error))?;
    Ok(PyBytes::new(py, &seccomp::program_bytes(&program)))
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(compile_seccomp, module)?)?;
    module.add(
        "CAPABILITY_NAMES",
        crate::seccomp::CAPABILITY_NAMES.to_vec(),
    )?;
    Ok(())
}
