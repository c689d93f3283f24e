//! One streaming pass over a layer (umoci's `VerifiedReadCloser`, composed readers), on two
//! threads so that decompression and hashing overlap with the kernel's file creation:
//!
//! ```text
//! decoding thread:   source -> Tee (copy to the blob file) -> Sha256 (digest)
//!                    -> 1 MiB BufReader -> Counted -> Decoder -> Budget (max_bytes)
//!                    -> Sha256 (diff_id) -> 1 MiB chunks (bounded queue, recycled buffers)
//! extracting thread: chunks -> tar::Archive -> Extractor
//! ```
//!
//! Progress (`consumed`) is what the extraction has consumed, in compressed bytes: each chunk
//! carries the compressed bytes the decoder had taken to produce it, and the extracting thread
//! publishes that once the tar reader is past the chunk (its entries are written). It reaches
//! the blob's size only when the whole pass succeeded: digests verified, directory metadata
//! applied (and, with `sync`, everything flushed).
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

use std::cell::Cell;
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};

use crate::digest::{Digest, Sha256Reader};
use crate::error::{Error, Result};
use crate::layer::compression::{Compression, Decoder};
use crate::layer::effects::{self, FsEffects};
use crate::layer::extract::Extractor;
use crate::layer::lower::PendingLinks;
use crate::layer::path::Root;
use crate::layer::stream::{drain, read_error, Budget, Chunk, ChunkReader, Counted, Tee};
use crate::layer::sys;

const READ_BUFFER: usize = 1 << 20;
/// Uncompressed bytes handed from the decoding thread to the extracting thread at a time.
const CHUNK: usize = 1 << 20;
/// Chunks in flight between the two threads (buffers are recycled, not reallocated).
const QUEUED_CHUNKS: usize = 4;

/// Everything one pipeline run needs, as owned values.
#[derive(Clone, Debug)]
pub struct LayerOptions {
    pub dest: PathBuf,
    pub compression: Compression,
    pub expected_digest: Digest,
    pub expected_diff_id: Option<Digest>,
    /// Extracted parent layers, nearest first.
    pub lower_dirs: Vec<PathBuf>,
    /// Record hardlinks into lower layers as `LayerSummary::pending` instead of resolving
    /// them now (then `lower_dirs` must be empty): the layer can be extracted before its
    /// parents, and `PendingLinks::resolve` finishes it once they are in place.
    pub defer_lower_links: bool,
    pub blob_path: Option<PathBuf>,
    pub max_bytes: Option<u64>,
    pub max_entries: Option<u64>,
    /// syncfs the destination (and fsync the blob) before reporting success.
    pub sync: bool,
}

/// What one pass saw; both digests are verified.
#[derive(Debug)]
pub struct LayerSummary {
    pub digest: Digest,
    pub diff_id: Digest,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    /// docker's directory.Size of the extracted tree (its `images` SIZE): the apparent sizes
    /// of non-directories, each inode once; pending links add theirs when resolved.
    pub unpacked_size: u64,
    pub entries: u64,
    /// Links into lower layers still to be made (always empty without `defer_lower_links`).
    pub pending: PendingLinks,
}

/// Runs the pipeline with the effects that fit this process (root or rootless). `cancel` is
/// the shared stop flag: raised by the caller (abort, Ctrl-C) it stops every stage at its next
/// check; the pipeline raises it itself when extraction fails. `consumed` is the progress
/// the caller may read meanwhile: compressed bytes the extraction has consumed, the whole
/// stream's size once the layer is extracted and verified (never before).
pub fn extract_layer(
    source: impl Read + Send,
    options: &LayerOptions,
    cancel: &AtomicBool,
    consumed: &AtomicU64,
) -> Result<LayerSummary> {
    let effects = effects::for_current_process();
    extract_layer_with(source, options, effects.as_ref(), cancel, consumed)
}

/// Runs the pipeline with explicit filesystem effects; cleans up on error.
pub fn extract_layer_with(
    source: impl Read + Send,
    options: &LayerOptions,
    effects: &dyn FsEffects,
    cancel: &AtomicBool,
    consumed: &AtomicU64,
) -> Result<LayerSummary> {
    let result = run(source, options, effects, cancel, consumed);
    if result.is_err() {
        clean_up(options);
    }
    result
}

fn run(
    source: impl Read + Send,
    options: &LayerOptions,
    effects: &dyn FsEffects,
    cancel: &AtomicBool,
    consumed: &AtomicU64,
) -> Result<LayerSummary> {
    if options.defer_lower_links && !options.lower_dirs.is_empty() {
        return Err(Error::Unsupported {
            what: "layer options",
            value: "lower_dirs together with defer_lower_links".to_owned(),
        });
    }
    let root = open_dest(&options.dest)?;
    let lowers = if options.defer_lower_links {
        None
    } else {
        Some(
            options
                .lower_dirs
                .iter()
                .map(|dir| Root::open(dir))
                .collect::<Result<Vec<_>>>()?,
        )
    };
    let blob = match &options.blob_path {
        Some(path) => Some((
            File::create(path).map_err(|e| Error::io(path, e))?,
            path.clone(),
        )),
        None => None,
    };
    let mut extractor = Extractor::new(root, lowers, effects, cancel, options.max_entries);
    let (chunks, received) = sync_channel::<Chunk>(QUEUED_CHUNKS);
    let (recycle, spare) = channel::<Vec<u8>>();
    let (decoded, extracted) = std::thread::scope(|scope| {
        let decoding = std::thread::Builder::new()
            .name("hybridock-decode".into())
            .spawn_scoped(scope, move || {
                decode(source, blob, options, &chunks, &spare)
            });
        let tar_stream = ChunkReader::new(received, recycle, consumed);
        let extracted = extract(&mut extractor, tar_stream);
        if extracted.is_err() {
            // Stop the decoding thread at its next read, and tell the feeder (LayerSink.write
            // checks the flag) that nothing more is wanted: the error surfaces at once.
            cancel.store(true, Ordering::Relaxed);
        }
        let decoded = match decoding {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(error) => Err(Error::io("decoding thread", error)),
        };
        (decoded, extracted)
    });
    // When both failed and the decoder stopped only because the extractor had hung up
    // (Cancelled), the extractor's error is the cause; any other decoder error (corrupt
    // stream, budget, source I/O) is the root cause of whatever the extractor saw.
    let decoded = match (decoded, extracted) {
        (Ok(decoded), Ok(())) => decoded,
        (Err(Error::Cancelled) | Ok(_), Err(error)) | (Err(error), _) => return Err(error),
    };
    verify(&options.expected_digest, &decoded.digest)?;
    if let Some(expected) = &options.expected_diff_id {
        verify(expected, &decoded.diff_id)?;
    }
    let extracted = extractor.finish(options.sync)?;
    decoded.tee.finish(options.sync)?;
    consumed.store(decoded.compressed_size, Ordering::Relaxed);
    Ok(LayerSummary {
        digest: decoded.digest,
        diff_id: decoded.diff_id,
        compressed_size: decoded.compressed_size,
        uncompressed_size: decoded.uncompressed_size,
        unpacked_size: extracted.unpacked_size,
        entries: extracted.entries,
        pending: extracted.pending,
    })
}

/// What the decoding thread saw.
struct Decoded<R> {
    digest: Digest,
    compressed_size: u64,
    diff_id: Digest,
    uncompressed_size: u64,
    tee: Tee<R>,
}

/// The decoding thread: source -> digest -> decoder -> budget -> `diff_id`, in chunks to the
/// extracting thread, then both streams drained to their true end.
fn decode<R: Read>(
    source: R,
    blob: Option<(File, PathBuf)>,
    options: &LayerOptions,
    chunks: &SyncSender<Chunk>,
    spare: &Receiver<Vec<u8>>,
) -> Result<Decoded<R>> {
    let mut compressed = Sha256Reader::new(Tee::new(source, blob));
    let decoder_consumed = Cell::new(0);
    let (diff_id, uncompressed_size) = {
        let buffered = BufReader::with_capacity(READ_BUFFER, &mut compressed);
        let counted = Counted::new(buffered, &decoder_consumed);
        let decoder = Decoder::new(options.compression, counted).map_err(read_error)?;
        let mut uncompressed = Sha256Reader::new(Budget::new(decoder, options.max_bytes));
        loop {
            let mut chunk = spare.try_recv().unwrap_or_default();
            chunk.resize(CHUNK, 0);
            let filled = fill(&mut uncompressed, &mut chunk)?;
            if filled == 0 {
                break;
            }
            chunk.truncate(filled);
            let chunk = Chunk {
                data: chunk,
                consumed: decoder_consumed.get(),
            };
            if chunks.send(chunk).is_err() {
                return Err(Error::Cancelled); // the extractor failed and hung up
            }
        }
        let (diff_id, size, _) = uncompressed.finish();
        (diff_id, size)
    };
    drain(&mut compressed)?;
    let (digest, compressed_size, tee) = compressed.finish();
    Ok(Decoded {
        digest,
        compressed_size,
        diff_id,
        uncompressed_size,
        tee,
    })
}

/// Reads until `buffer` is full or the stream ends; returns the bytes read.
fn fill(reader: &mut impl Read, buffer: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(read_error(error)),
        }
    }
    Ok(filled)
}

/// The extracting side: every tar entry, then the trailer and padding.
fn extract(extractor: &mut Extractor<'_>, mut tar_stream: ChunkReader<'_>) -> Result<()> {
    {
        let mut archive = tar::Archive::new(&mut tar_stream);
        for entry in archive.entries().map_err(read_error)? {
            extractor.extract(&mut entry.map_err(read_error)?)?;
        }
    }
    drain(&mut tar_stream)
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
    extract_layer(source, options, cancel, &AtomicU64::new(0))
}

/// One `syncfs` of the filesystem holding `path` (a directory or file).
pub fn syncfs_path(path: &Path) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    sys::syncfs(file.as_fd()).map_err(|e| Error::io(path, e))
}

/// Marks `dir` so that the filesystem spreads the directories made in it (`chattr +T`);
/// `Ok(false)` where the filesystem has no such flag (tmpfs, xfs, btrfs).
///
/// Why: on ext4 without a journal (this kind of machine's disk), creating an inode scans, from
/// the start of its block group, past every inode of that group deleted in the last 1-6
/// minutes (`recently_deleted` in `find_inode_bit`), once per file. A directory goes next to
/// its parent, so a layer extracted soon after a store was removed (a cold re-pull, a cleaned
/// and refilled store) landed in exactly those groups: a 13,000-file layer took 8-14 s instead
/// of 2 s, all of it kernel time in that scan. Under a marked parent, ext4 places each new
/// directory like a top-level one: a lightly used group chosen by a hash of its name, so the
/// store's per-layer temp directories (random names) start in a fresh group and their
/// subtrees follow them. The flag only steers placement.
pub fn spread_subdirectories(dir: &Path) -> Result<bool> {
    let file = File::open(dir).map_err(|e| Error::io(dir, e))?;
    match sys::set_topdir(file.as_fd()) {
        Ok(()) => Ok(true),
        Err(error)
            if matches!(
                error.raw_os_error(),
                Some(libc::ENOTTY | libc::EOPNOTSUPP | libc::EINVAL | libc::EPERM)
            ) =>
        {
            Ok(false)
        }
        Err(error) => Err(Error::io(dir, error)),
    }
}
