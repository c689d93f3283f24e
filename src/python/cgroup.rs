//! Glue for the cgroup device program: `attach_device_filter(directory, rules)` confines a
//! cgroup2 directory to the devices docker-shaped `(rule, allow)` pairs allow. A rule that
//! cannot be used raises `hybridock.errors.ConfigError`; a `bpf(2)` call the kernel refuses,
//! `OSError` with its errno.

use std::path::PathBuf;

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

use crate::cgroup::{self, DeviceFilterError};

pyo3::import_exception!(hybridock.errors, ConfigError);

fn to_py_err(error: &DeviceFilterError) -> PyErr {
    match error.errno() {
        Some(errno) => PyOSError::new_err((errno, error.to_string())),
        None => ConfigError::new_err(error.to_string()),
    }
}

/// Compiles `rules` (applied in order from deny all, as the v1 devices files take them) into
/// a `BPF_PROG_TYPE_CGROUP_DEVICE` program and attaches it to the cgroup `directory`.
#[pyfunction]
#[allow(clippy::needless_pass_by_value)] // pyo3 hands arguments over by value
fn attach_device_filter(
    py: Python<'_>,
    directory: PathBuf,
    rules: Vec<(String, bool)>,
) -> PyResult<()> {
    let rules = cgroup::parse_rules(rules.iter().map(|(rule, allow)| (rule.as_str(), *allow)))
        .map_err(|error| to_py_err(&error))?;
    py.detach(|| cgroup::attach_device_filter(&directory, &rules))
        .map_err(|error| to_py_err(&error))
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(attach_device_filter, module)?)
}
