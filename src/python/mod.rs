//! The only place that uses pyo3: thin glue from Python values to the pure core and back.
//! Heavy work always goes through `enter_native`; errors through `errors::to_py`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

mod build;
mod cgroup;
mod errors;
mod layer;
mod monitor;
mod net;
mod seccomp;
mod spawn;

/// How often a waiting call wakes up to look for Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// The one way into heavy native work (polars' `enter_polars`): `work` runs on a scoped
/// thread while this thread waits with the GIL released, waking every 100 ms to run Python's
/// signal handlers. On Ctrl-C `cancel` is raised, the work is joined (it stops at its next
/// check) and the `KeyboardInterrupt` propagates; otherwise a core `Error` becomes the matching
/// `HybridockError` and a panic a `RuntimeError`.
pub(crate) fn enter_native<T: Send>(
    py: Python<'_>,
    cancel: &AtomicBool,
    work: impl FnOnce() -> crate::error::Result<T> + Send,
) -> PyResult<T> {
    std::thread::scope(|scope| {
        let (done, mut finished) = mpsc::channel::<()>();
        let worker = scope.spawn(move || {
            let _signal_on_exit = done; // dropped when the work ends, even by a panic
            work()
        });
        loop {
            // The receiver is moved in and out: it is Send but not Sync.
            let (receiver, outcome) = py.detach(move || {
                let outcome = finished.recv_timeout(SIGNAL_POLL);
                (finished, outcome)
            });
            finished = receiver;
            match outcome {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(interrupt) = py.check_signals() {
                        cancel.store(true, Ordering::Relaxed);
                        let _ = py.detach(|| worker.join());
                        return Err(interrupt);
                    }
                }
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        match py.detach(|| worker.join()) {
            Ok(result) => result.map_err(errors::to_py),
            Err(_) => Err(PyRuntimeError::new_err("native layer worker panicked")),
        }
    })
}

/// `sha256:<hex>` of a small in-memory value (cache keys, embedded programs): one call, no
/// `hashlib` (whose OpenSSL load is a few ms of every CLI start).
#[pyfunction]
fn sha256(data: &[u8]) -> String {
    crate::digest::Digest::of(data).to_string()
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    layer::register(module)?;
    build::register(module)?;
    spawn::register(module)?;
    seccomp::register(module)?;
    cgroup::register(module)?;
    net::register(module)?;
    module.add_function(wrap_pyfunction!(monitor::monitor_executable, module)?)?;
    module.add_function(wrap_pyfunction!(monitor::init_executable, module)?)?;
    module.add_function(wrap_pyfunction!(sha256, module)?)?;
    module.add_class::<monitor::PyJsonLog>()?;
    Ok(())
}
