//! The only place that uses pyo3: thin glue from Python values to the pure core and back.

use pyo3::prelude::*;

mod spawn;

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    spawn::register(module)?;
    Ok(())
}
