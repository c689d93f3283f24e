//! Glue for the build context: `scan_context` walks and hashes with the GIL released; the
//! `.dockerignore` filter, a Python callable, is called back once per directory.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::enter_native;
use crate::build::context::{self, ContextEntry, Decision};
use crate::build::copy::{copy_tree, CopyOptions};
use crate::error::{Error, Result};
use crate::layer::encode::available_threads;

/// (path, kind, mode, uid, gid, size, link target, sha256 hex of a file's content).
type EntryTuple = (OsString, char, u32, u32, u32, u64, OsString, Option<String>);

fn to_tuple(entry: ContextEntry) -> EntryTuple {
    let path = OsString::from_vec(entry.path);
    let link = OsString::from_vec(entry.link);
    (
        path,
        entry.kind,
        entry.mode,
        entry.uid,
        entry.gid,
        entry.size,
        link,
        entry.sha256.map(hex::encode),
    )
}

/// One answer of the Python filter: 0 exclude, 1 include, 2 walk an excluded directory.
fn decision(code: u8) -> Option<Decision> {
    match code {
        0 => Some(Decision::Exclude),
        1 => Some(Decision::Include),
        2 => Some(Decision::Descend),
        _ => None,
    }
}

fn ask(filter: &Py<PyAny>, prefix: &[u8], names: &[(Vec<u8>, bool)]) -> PyResult<Vec<Decision>> {
    Python::attach(|py| {
        let listed: Vec<(&OsStr, bool)> = names
            .iter()
            .map(|(name, is_dir)| (OsStr::from_bytes(name), *is_dir))
            .collect();
        let codes: Vec<u8> = filter
            .call1(py, (OsStr::from_bytes(prefix), listed))?
            .extract(py)?;
        codes
            .into_iter()
            .map(|code| {
                decision(code).ok_or_else(|| PyValueError::new_err(format!("bad decision {code}")))
            })
            .collect()
    })
}

#[pyfunction]
#[pyo3(signature = (root, filter=None, *, threads=None))]
fn scan_context(
    py: Python<'_>,
    root: PathBuf,
    filter: Option<Py<PyAny>>,
    threads: Option<usize>,
) -> PyResult<Vec<EntryTuple>> {
    if threads == Some(0) {
        return Err(PyValueError::new_err("threads must be at least 1"));
    }
    let threads = threads.unwrap_or_else(available_threads);
    let cancel = AtomicBool::new(false);
    let cancel_ref = &cancel;
    let raised: Mutex<Option<PyErr>> = Mutex::new(None);
    let raised_ref = &raised;
    let scanned = enter_native(py, &cancel, move || -> Result<Vec<EntryTuple>> {
        let mut call = |prefix: &[u8], names: &[(Vec<u8>, bool)]| -> Result<Vec<Decision>> {
            let filter = filter.as_ref().ok_or(Error::Cancelled)?;
            ask(filter, prefix, names).map_err(|error| {
                *raised_ref
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
                Error::Cancelled
            })
        };
        let has_filter = filter.is_some();
        let filter_arg: Option<&mut context::Filter<'_>> =
            if has_filter { Some(&mut call) } else { None };
        let entries = context::scan(&root, filter_arg, threads, cancel_ref)?;
        Ok(entries.into_iter().map(to_tuple).collect())
    });
    if let Some(error) = raised
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        return Err(error);
    }
    scanned
}

#[pyfunction]
#[pyo3(signature = (source_root, source, destination_root, destination, *, keep=None, owner=(0, 0), mode=None))]
#[allow(clippy::too_many_arguments)] // keyword arguments of one Python call
fn copy_context_tree(
    py: Python<'_>,
    source_root: PathBuf,
    source: OsString,
    destination_root: PathBuf,
    destination: OsString,
    keep: Option<Vec<OsString>>,
    owner: (u32, u32),
    mode: Option<u32>,
) -> PyResult<u64> {
    let keep: Option<HashSet<Vec<u8>>> =
        keep.map(|paths| paths.into_iter().map(OsString::into_vec).collect());
    let options = CopyOptions { owner, mode };
    let cancel = AtomicBool::new(false);
    let cancel_ref = &cancel;
    enter_native(py, &cancel, move || {
        let kept = keep
            .as_ref()
            .map(|set| move |path: &[u8]| set.contains(path));
        let keep_ref: Option<&crate::build::copy::Keep<'_>> =
            kept.as_ref().map(|f| f as &crate::build::copy::Keep<'_>);
        copy_tree(
            &source_root,
            source.as_bytes(),
            &destination_root,
            destination.as_bytes(),
            keep_ref,
            options,
            cancel_ref,
        )
    })
}

pub(super) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(scan_context, module)?)?;
    module.add_function(wrap_pyfunction!(copy_context_tree, module)?)
}
