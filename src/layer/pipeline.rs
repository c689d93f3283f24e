//! One streaming pass over a layer (umoci's `VerifiedReadCloser`, composed readers):
//!
//! ```text
//! source -> Tee (copy to the blob file) -> Sha256 (digest) -> 1 MiB BufReader -> Decoder
//!        -> Budget (max_bytes) -> Sha256 (diff_id) -> tar::Archive -> Extractor
//! ```
//!
//! After the last tar entry the uncompressed stream is drained (the tar trailer and any
//! record padding belong to the `diff_id`), which also reads the decoder to its true end (gzip
//! CRC and size, every zstd frame); then the compressed source is drained too, so the digest
//! covers every byte received. Only then are the digests compared, directory metadata applied
//! and the tree (and the blob copy) flushed to disk. On any error the blob copy is removed and
//! the destination emptied: nothing half-written stays usable.
//!
//! A tar stream that ends without its zero-block trailer is accepted, like Go's archive/tar
//! (docker): integrity is the digests' job, and a stream cut inside a header or a file's data
//! is still a `LayerFormat` error.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use crate::digest::{Digest, Sha256Reader};
use crate::error::{Error, Result};
use crate::layer::compression::{Compression, Decoder};
use crate::layer::effects::{self, FsEffects};
use crate::layer::extract::Extractor;
use crate::layer::path::Root;
use crate::layer::stream::{drain, read_error, Budget, Tee};
use crate::layer::sys;

const READ_BUFFER: usize = 1 << 20;

/// Everything one pipeline run needs, as owned values.
#[derive(Clone, Debug)]
pub struct LayerOptions {
    pub dest: PathBuf,
    pub compression: Compression,
    pub expected_digest: Digest,
    pub expected_diff_id: Option<Digest>,
    /// Extracted parent layers, nearest first.
    pub lower_dirs: Vec<PathBuf>,
    pub blob_path: Option<PathBuf>,
    pub max_bytes: Option<u64>,
    pub max_entries: Option<u64>,
    /// syncfs the destination (and fsync the blob) before reporting success.
    pub sync: bool,
}

/// What one pass saw; both digests are verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSummary {
    pub digest: Digest,
    pub diff_id: Digest,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub entries: u64,
}

/// Runs the pipeline with the effects that fit this process (root or rootless).
pub fn extract_layer(
    source: impl Read,
    options: &LayerOptions,
    cancel: &AtomicBool,
) -> Result<LayerSummary> {
    let effects = effects::for_current_process();
    extract_layer_with(source, options, effects.as_ref(), cancel)
}

/// Runs the pipeline with explicit filesystem effects; cleans up on error.
pub fn extract_layer_with(
    source: impl Read,
    options: &LayerOptions,
    effects: &dyn FsEffects,
    cancel: &AtomicBool,
) -> Result<LayerSummary> {
    let result = run(source, options, effects, cancel);
    if result.is_err() {
        clean_up(options);
    }
    result
}

fn run(
    source: impl Read,
    options: &LayerOptions,
    effects: &dyn FsEffects,
    cancel: &AtomicBool,
) -> Result<LayerSummary> {
    let root = open_dest(&options.dest)?;
    let lowers = options
        .lower_dirs
        .iter()
        .map(|dir| Root::open(dir))
        .collect::<Result<Vec<_>>>()?;
    let blob = match &options.blob_path {
        Some(path) => Some((
            File::create(path).map_err(|e| Error::io(path, e))?,
            path.clone(),
        )),
        None => None,
    };
    let mut compressed = Sha256Reader::new(Tee::new(source, blob));
    let mut extractor = Extractor::new(root, lowers, effects, cancel, options.max_entries);
    let (diff_id, uncompressed_size) = {
        let buffered = BufReader::with_capacity(READ_BUFFER, &mut compressed);
        let decoder = Decoder::new(options.compression, buffered).map_err(read_error)?;
        let mut uncompressed = Sha256Reader::new(Budget::new(decoder, options.max_bytes));
        {
            let mut archive = tar::Archive::new(&mut uncompressed);
            for entry in archive.entries().map_err(read_error)? {
                extractor.extract(&mut entry.map_err(read_error)?)?;
            }
        }
        drain(&mut uncompressed)?;
        let (diff_id, size, _) = uncompressed.finish();
        (diff_id, size)
    };
    drain(&mut compressed)?;
    let (digest, compressed_size, tee) = compressed.finish();
    verify(&options.expected_digest, &digest)?;
    if let Some(expected) = &options.expected_diff_id {
        verify(expected, &diff_id)?;
    }
    let entries = extractor.finish(options.sync)?;
    tee.finish(options.sync)?;
    Ok(LayerSummary {
        digest,
        diff_id,
        compressed_size,
        uncompressed_size,
        entries,
    })
}

fn verify(expected: &Digest, actual: &Digest) -> Result<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::DigestMismatch {
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

/// Opens the destination, creating it (one level) if it does not exist yet.
fn open_dest(dest: &Path) -> Result<Root> {
    match std::fs::create_dir(dest) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(Error::io(dest, error)),
    }
    Root::open(dest)
}

/// Removes the blob copy and everything under the destination (never the destination itself,
/// which the caller made). Best effort: the caller removes both anyway.
fn clean_up(options: &LayerOptions) {
    if let Some(path) = &options.blob_path {
        let _ = std::fs::remove_file(path);
    }
    if let Ok(root) = Root::open(&options.dest) {
        if let Ok(dir) = root.resolve(
            &crate::layer::path::EntryPath::root(),
            libc::O_RDONLY | libc::O_DIRECTORY,
        ) {
            for name in sys::list_dir(dir.as_fd()).unwrap_or_default() {
                let _ = sys::remove_all_at(dir.as_fd(), &name);
            }
        }
    }
}

/// `extract_layer` over a stored blob file.
pub fn extract_file(
    blob: &Path,
    options: &LayerOptions,
    cancel: &AtomicBool,
) -> Result<LayerSummary> {
    let source = crate::layer::stream::FileSource::open(blob.to_owned(), cancel)?;
    extract_layer(source, options, cancel)
}
