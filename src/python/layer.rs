//! Glue for the layer pipeline: `LayerSink` (streaming, fed by `write`), `extract_blob`,
//! `sha256_file` and the `LayerResult` they return; the way back, `encode_layer` and
//! `compress_file`, and their `EncodedLayer`. Arguments become owned Rust values first;
//! all heavy work runs with the GIL released.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use super::{enter_native, errors::to_py};
use crate::digest::{sha256_file as digest_file, Digest};
use crate::error::Result;
use crate::layer::encode::{self, available_threads, EncodeOptions, Encoded, WalkOptions};
use crate::layer::{
    extract_file, extract_layer, ChannelSource, Compression, LayerOptions, LayerSummary,
    PendingLinks,
};

/// Chunks queued between `write` and the worker (a bounded queue: a slow disk slows the
/// download instead of buffering the layer in memory).
const QUEUE_CHUNKS: usize = 64;

#[pyclass(frozen, module = "hybridock._native")]
pub struct LayerResult(LayerSummary, Mutex<PendingLinks>, AtomicU64);

impl From<LayerSummary> for LayerResult {
    fn from(mut summary: LayerSummary) -> Self {
        let pending = std::mem::take(&mut summary.pending);
        let unpacked = AtomicU64::new(summary.unpacked_size);
        Self(summary, Mutex::new(pending), unpacked)
    }
}

#[pymethods]
impl LayerResult {
    #[getter]
    fn digest(&self) -> String {
        self.0.digest.to_string()
    }
    /// Distinct lower-layer targets of hardlinks still to be linked (0 unless extracted with
    /// `defer_lower_links`, and 0 again after `link_lower`).
    #[getter]
    fn pending_links(&self) -> PyResult<usize> {
        Ok(self.pending()?.len())
    }
    /// Makes the pending hardlinks into lower layers (copies, as the sequential path does);
    /// returns how many targets were copied. Free when nothing is pending.
    #[pyo3(signature = (lower_dirs, *, sync=true))]
    fn link_lower(&self, py: Python<'_>, lower_dirs: Vec<PathBuf>, sync: bool) -> PyResult<u64> {
        let pending = std::mem::take(&mut *self.pending()?);
        if pending.is_empty() {
            return Ok(0);
        }
        let cancel = AtomicBool::new(false);
        let linked = enter_native(py, &cancel, move || {
            let effects = crate::layer::effects::for_current_process();
            pending.resolve(&lower_dirs, effects.as_ref(), sync)
        })?;
        self.2.fetch_add(linked.size, Ordering::Relaxed);
        Ok(linked.targets)
    }
    #[getter]
    fn diff_id(&self) -> String {
        self.0.diff_id.to_string()
    }
    #[getter]
    fn compressed_size(&self) -> u64 {
        self.0.compressed_size
    }
    #[getter]
    fn uncompressed_size(&self) -> u64 {
        self.0.uncompressed_size
    }
    /// docker's directory.Size of the extracted tree: the apparent sizes of non-directories
    /// (a symlink's target length), each inode once; links made by `link_lower` included.
    #[getter]
    fn unpacked_size(&self) -> u64 {
        self.2.load(Ordering::Relaxed)
    }
    #[getter]
    fn entries(&self) -> u64 {
        self.0.entries
    }
    fn __repr__(&self) -> String {
        format!(
            "LayerResult(digest={:?}, diff_id={:?}, entries={}, pending_links={})",
            self.digest(),
            self.diff_id(),
            self.0.entries,
            self.pending_links().unwrap_or_default(),
        )
    }
}

impl LayerResult {
    fn pending(&self) -> PyResult<std::sync::MutexGuard<'_, PendingLinks>> {
        self.1
            .lock()
            .map_err(|_| PyRuntimeError::new_err("LayerResult poisoned"))
    }
}

#[allow(clippy::too_many_arguments)]
fn options(
    dest: PathBuf,
    compression: &str,
    expected_digest: &str,
    expected_diff_id: Option<&str>,
    lower_dirs: Option<Vec<PathBuf>>,
    defer_lower_links: bool,
    blob_path: Option<PathBuf>,
    max_bytes: Option<u64>,
    max_entries: Option<u64>,
    sync: bool,
) -> PyResult<LayerOptions> {
    if defer_lower_links && lower_dirs.as_ref().is_some_and(|dirs| !dirs.is_empty()) {
        return Err(PyValueError::new_err(
            "lower_dirs and defer_lower_links exclude each other",
        ));
    }
    Ok(LayerOptions {
        dest,
        compression: compression.parse().map_err(to_py)?,
        expected_digest: expected_digest.parse().map_err(to_py)?,
        expected_diff_id: expected_diff_id
            .map(str::parse::<Digest>)
            .transpose()
            .map_err(to_py)?,
        lower_dirs: lower_dirs.unwrap_or_default(),
        defer_lower_links,
        blob_path,
        max_bytes,
        max_entries,
        sync,
    })
}

struct Running {
    /// None once `close` ended the stream.
    sender: Option<SyncSender<Vec<u8>>>,
    worker: JoinHandle<Result<LayerSummary>>,
}

/// Raised when the worker ends (its outcome is then ready for `finish`).
#[derive(Default)]
struct Ended {
    ended: Mutex<bool>,
    signal: Condvar,
}

impl Ended {
    /// Whether the worker ended within `timeout`.
    fn wait(&self, timeout: Duration) -> bool {
        let ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        let (ended, _) = self
            .signal
            .wait_timeout_while(ended, timeout, |ended| !*ended)
            .unwrap_or_else(PoisonError::into_inner);
        *ended
    }
}

/// Held by the worker thread: raises `Ended` when dropped, so also when the worker panics.
struct EndedOnDrop(Arc<Ended>);

impl Drop for EndedOnDrop {
    fn drop(&mut self) {
        *self.0.ended.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.0.signal.notify_all();
    }
}

#[pyclass(frozen, module = "hybridock._native")]
pub struct LayerSink {
    running: Mutex<Option<Running>>,
    cancel: Arc<AtomicBool>,
    consumed: Arc<AtomicU64>,
    ended: Arc<Ended>,
}

impl LayerSink {
    fn running(&self) -> PyResult<std::sync::MutexGuard<'_, Option<Running>>> {
        self.running
            .lock()
            .map_err(|_| PyRuntimeError::new_err("LayerSink poisoned"))
    }

    fn take(&self) -> PyResult<Running> {
        self.running()?
            .take()
            .ok_or_else(|| PyValueError::new_err("LayerSink is already finished or aborted"))
    }

    /// Joins the worker (GIL released, Ctrl-C aborts it) and returns its outcome.
    fn join(&self, py: Python<'_>, running: Running) -> PyResult<LayerSummary> {
        drop(running.sender);
        let worker = running.worker;
        enter_native(py, &self.cancel, move || {
            worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for LayerSink {
    /// A sink dropped without `finish` or `abort` (an exception in the caller) stops its
    /// worker, which then removes what it wrote. It is not joined here: a garbage collection
    /// must not wait for a disk.
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

#[pymethods]
impl LayerSink {
    #[new]
    #[pyo3(signature = (dest, compression, expected_digest, expected_diff_id=None, *, lower_dirs=None, defer_lower_links=false, blob_path=None, max_bytes=None, max_entries=None, sync=true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        dest: PathBuf,
        compression: &str,
        expected_digest: &str,
        expected_diff_id: Option<&str>,
        lower_dirs: Option<Vec<PathBuf>>,
        defer_lower_links: bool,
        blob_path: Option<PathBuf>,
        max_bytes: Option<u64>,
        max_entries: Option<u64>,
        sync: bool,
    ) -> PyResult<Self> {
        let options = options(
            dest,
            compression,
            expected_digest,
            expected_diff_id,
            lower_dirs,
            defer_lower_links,
            blob_path,
            max_bytes,
            max_entries,
            sync,
        )?;
        let cancel = Arc::new(AtomicBool::new(false));
        let consumed = Arc::new(AtomicU64::new(0));
        let ended = Arc::new(Ended::default());
        let (sender, receiver) = sync_channel::<Vec<u8>>(QUEUE_CHUNKS);
        let (worker_cancel, worker_consumed) = (Arc::clone(&cancel), Arc::clone(&consumed));
        let ended_on_drop = EndedOnDrop(Arc::clone(&ended));
        let worker = std::thread::Builder::new()
            .name("hybridock-layer".into())
            .spawn(move || {
                let _ended_on_drop = ended_on_drop;
                extract_layer(
                    ChannelSource::new(receiver, &worker_cancel),
                    &options,
                    &worker_cancel,
                    &worker_consumed,
                )
            })
            .map_err(|error| {
                PyRuntimeError::new_err(format!("cannot start the layer worker: {error}"))
            })?;
        Ok(Self {
            running: Mutex::new(Some(Running {
                sender: Some(sender),
                worker,
            })),
            cancel,
            consumed,
            ended,
        })
    }

    /// Queues a copy of `data`; blocks (GIL released) while the queue is full. If the worker
    /// already failed, raises its error (and the sink is finished).
    fn write(&self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        let sender = self
            .running
            .lock()
            .ok()
            .and_then(|r| r.as_ref().and_then(|r| r.sender.clone()));
        let sender = sender.ok_or_else(|| {
            PyValueError::new_err("LayerSink is already closed, finished or aborted")
        })?;
        let chunk = data.to_vec();
        // The stop flag is raised by the worker when it failed: raise its error now.
        if !self.cancel.load(Ordering::Relaxed) && py.detach(move || sender.send(chunk)).is_ok() {
            return Ok(());
        }
        let running = self.take()?;
        match self.join(py, running) {
            Err(error) => Err(error),
            Ok(_) => Err(PyRuntimeError::new_err(
                "layer worker ended before the stream did",
            )),
        }
    }

    /// Compressed bytes the extraction has consumed so far; the stream's size only once the
    /// layer is extracted and verified. A lock-free read.
    #[getter]
    fn consumed(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    /// Ends the stream without waiting: the worker finishes in the background (`wait` tells
    /// when, `finish` returns its result). Idempotent.
    fn close(&self) -> PyResult<()> {
        if let Some(running) = self.running()?.as_mut() {
            running.sender = None;
        }
        Ok(())
    }

    /// Waits up to `timeout` seconds (GIL released) for the worker to end; whether it has.
    fn wait(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let timeout = Duration::try_from_secs_f64(timeout)
            .map_err(|error| PyValueError::new_err(format!("timeout: {error}")))?;
        let ended = Arc::clone(&self.ended);
        Ok(py.detach(move || ended.wait(timeout)))
    }

    /// Ends the stream, waits for the worker and returns the verified result.
    fn finish(&self, py: Python<'_>) -> PyResult<LayerResult> {
        let running = self.take()?;
        self.join(py, running).map(LayerResult::from)
    }

    /// Stops the worker and waits for it; what it wrote is removed. Idempotent.
    fn abort(&self, py: Python<'_>) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Ok(running) = self.take() {
            let _ = self.join(py, running);
        }
    }
}

#[pyfunction]
#[pyo3(signature = (blob_path, dest, compression, expected_digest, expected_diff_id=None, *, lower_dirs=None, defer_lower_links=false, max_bytes=None, max_entries=None, sync=true))]
#[allow(clippy::too_many_arguments)]
fn extract_blob(
    py: Python<'_>,
    blob_path: PathBuf,
    dest: PathBuf,
    compression: &str,
    expected_digest: &str,
    expected_diff_id: Option<&str>,
    lower_dirs: Option<Vec<PathBuf>>,
    defer_lower_links: bool,
    max_bytes: Option<u64>,
    max_entries: Option<u64>,
    sync: bool,
) -> PyResult<LayerResult> {
    let options = options(
        dest,
        compression,
        expected_digest,
        expected_diff_id,
        lower_dirs,
        defer_lower_links,
        None,
        max_bytes,
        max_entries,
        sync,
    )?;
    let cancel = AtomicBool::new(false);
    let (options_ref, cancel_ref) = (&options, &cancel);
    enter_native(py, &cancel, move || {
        extract_file(&blob_path, options_ref, cancel_ref)
    })
    .map(LayerResult::from)
}

#[pyclass(frozen, module = "hybridock._native")]
pub struct EncodedLayer(Encoded);

#[pymethods]
impl EncodedLayer {
    #[getter]
    fn digest(&self) -> String {
        self.0.digest.to_string()
    }
    #[getter]
    fn diff_id(&self) -> String {
        self.0.diff_id.to_string()
    }
    #[getter]
    fn size(&self) -> u64 {
        self.0.size
    }
    #[getter]
    fn uncompressed_size(&self) -> u64 {
        self.0.uncompressed_size
    }
    #[getter]
    fn entries(&self) -> u64 {
        self.0.entries
    }
    fn __repr__(&self) -> String {
        format!(
            "EncodedLayer(digest={:?}, diff_id={:?}, size={}, entries={})",
            self.digest(),
            self.diff_id(),
            self.0.size,
            self.0.entries,
        )
    }
}

fn encode_options(
    compression: &str,
    level: Option<u32>,
    threads: Option<usize>,
) -> PyResult<EncodeOptions> {
    if threads == Some(0) {
        return Err(PyValueError::new_err("threads must be at least 1"));
    }
    Ok(EncodeOptions {
        compression: compression.parse().map_err(to_py)?,
        level,
        threads: threads.unwrap_or_else(available_threads),
    })
}

#[pyfunction]
#[pyo3(signature = (source, out_path, compression="gzip", level=None, *, overlay=false, epoch=None, threads=None, exclude=Vec::new()))]
#[allow(clippy::too_many_arguments)]
fn encode_layer(
    py: Python<'_>,
    source: PathBuf,
    out_path: PathBuf,
    compression: &str,
    level: Option<u32>,
    overlay: bool,
    epoch: Option<i64>,
    threads: Option<usize>,
    exclude: Vec<String>,
) -> PyResult<EncodedLayer> {
    let options = encode_options(compression, level, threads)?;
    let walk = WalkOptions { overlay, epoch };
    let excluded = exclude.into_iter().map(String::into_bytes).collect();
    let cancel = AtomicBool::new(false);
    let cancel_ref = &cancel;
    enter_native(py, &cancel, move || {
        encode::encode_layer_excluding(&source, &out_path, &options, walk, excluded, cancel_ref)
    })
    .map(EncodedLayer)
}

#[pyfunction]
#[pyo3(signature = (
    source, out_path, compression="gzip", level=None, *, threads=None, source_compression="none"
))]
fn compress_file(
    py: Python<'_>,
    source: PathBuf,
    out_path: PathBuf,
    compression: &str,
    level: Option<u32>,
    threads: Option<usize>,
    source_compression: &str,
) -> PyResult<EncodedLayer> {
    let options = encode_options(compression, level, threads)?;
    let source_compression = source_compression.parse::<Compression>().map_err(to_py)?;
    let cancel = AtomicBool::new(false);
    let cancel_ref = &cancel;
    enter_native(py, &cancel, move || {
        encode::compress_file(&source, source_compression, &out_path, &options, cancel_ref)
    })
    .map(EncodedLayer)
}

#[pyfunction]
fn sha256_file(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    let cancel = AtomicBool::new(false);
    enter_native(py, &cancel, move || digest_file(&path)).map(|digest| digest.to_string())
}

/// Flushes the whole filesystem that holds `path` (one `syncfs`): after layers extracted with
/// `sync=False` (e.g. several at once), one call makes them all durable before their renames.
#[pyfunction]
fn syncfs(py: Python<'_>, path: PathBuf) -> PyResult<()> {
    let cancel = AtomicBool::new(false);
    enter_native(py, &cancel, move || crate::layer::syncfs_path(&path))
}

/// Marks `path` so that ext4 spreads the directories made in it over lightly used block
/// groups (`chattr +T`); False where the filesystem has no such flag. See
/// `layer::spread_subdirectories` for why a pull wants it on the store's tmp/.
#[pyfunction]
fn spread_subdirectories(py: Python<'_>, path: PathBuf) -> PyResult<bool> {
    let cancel = AtomicBool::new(false);
    enter_native(py, &cancel, move || {
        crate::layer::spread_subdirectories(&path)
    })
}

pub(super) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<LayerResult>()?;
    module.add_class::<LayerSink>()?;
    module.add_class::<EncodedLayer>()?;
    module.add_function(wrap_pyfunction!(encode_layer, module)?)?;
    module.add_function(wrap_pyfunction!(compress_file, module)?)?;
    module.add_function(wrap_pyfunction!(extract_blob, module)?)?;
    module.add_function(wrap_pyfunction!(sha256_file, module)?)?;
    module.add_function(wrap_pyfunction!(syncfs, module)?)?;
    module.add_function(wrap_pyfunction!(spread_subdirectories, module)?)?;
    Ok(())
}
