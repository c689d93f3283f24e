//! The only place that uses pyo3: thin glue from Python values to the pure core and back.

mod monitor;

use pyo3::prelude::*;

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add_function(wrap_pyfunction!(monitor::monitor_executable, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::init_executable, module)?)?;
    Ok(())
}
