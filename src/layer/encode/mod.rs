//! The layer pipeline in the other direction: a directory tree (or an existing tar file) in,
//! a compressed layer blob out, both digests taken in the same pass:
//!
//! ```text
//! walk (fd-relative, sorted) -> tar -> 256 KiB buffer -> Sha256 (diff_id)
//!   -> gzip (pigz-style blocks on `threads` workers) | zstd (its own workers) | none
//!   -> Sha256 (digest) -> 1 MiB buffer -> out_path (O_EXCL, fsynced)
//! ```
//!
//! `walk` writes the tar stream, `header` its ustar/PAX blocks, `gzip` the parallel deflate.
//! The output is reproducible: entries sorted, times whole seconds (clamped to `epoch` when
//! given), owners numeric, and neither compressor's bytes depend on the thread count. The
//! output file is created with `O_EXCL` (never replacing anything) and removed on any error,
//! `Cancelled` included: the `cancel` flag (Ctrl-C through `enter_native`) is checked between
//! entries and between data chunks.

mod gzip;
mod header;
mod walk;

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layer::compression::{Compression, Decoder};
pub use gzip::ParallelGzip;
pub use walk::WalkOptions;

const TAR_BUFFER: usize = 256 * 1024;
const OUT_BUFFER: usize = 1 << 20;

/// How to compress, as owned values.
#[derive(Clone, Copy, Debug)]
pub struct EncodeOptions {
    pub compression: Compression,
    /// gzip 1-9 (default 6, docker's `DefaultCompression`), zstd 1-19 (default 3).
    pub level: Option<u32>,
    /// Compression threads (at least 1).
    pub threads: usize,
}

impl EncodeOptions {
    fn level(&self) -> Result<u32> {
        let (default, range) = match self.compression {
            Compression::Gzip => (6, 1..=9),
            Compression::Zstd => (3, 1..=19),
            Compression::None => return Ok(0),
        };
        let level = self.level.unwrap_or(default);
        if range.contains(&level) {
            Ok(level)
        } else {
            Err(Error::Unsupported {
                what: "compression level",
                value: format!("{level} (the range is {}-{})", range.start(), range.end()),
            })
        }
    }
}

/// What one encoding wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// sha256 of the written (compressed) file.
    pub digest: Digest,
    /// sha256 of the uncompressed tar stream.
    pub diff_id: Digest,
    pub size: u64,
    pub uncompressed_size: u64,
    /// Tar entries written (PAX headers are part of their entry); 0 for `compress_file`.
    pub entries: u64,
}

/// Hashes and counts what passes through to `inner`.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    fn finish(self) -> (Digest, u64, W) {
        (
            Digest::from_bytes(self.hasher.finalize().into()),
            self.count,
            self.inner,
        )
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(data)?;
        self.hasher.update(&data[..written]);
        self.count += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

type Output = Hashing<BufWriter<File>>;

/// The compressor between the tar stream's hash and the output's. One per encoding, never
/// moved on a hot path, so the size difference of the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Compressor {
    Gzip(ParallelGzip<Output>),
    Zstd(zstd::stream::write::Encoder<'static, Output>),
    None(Output),
}

impl Compressor {
    fn new(out: Output, options: &EncodeOptions) -> io::Result<Self> {
        let threads = options.threads.max(1);
        let level = options.level().map_err(io::Error::other)?;
        Ok(match options.compression {
            Compression::Gzip => Self::Gzip(ParallelGzip::new(out, level, threads)?),
            Compression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(out, level as i32)?;
                // Always with workers (even one): zstd's output is the same for any number of
                // workers >= 1, but not between 0 (inline) and 1.
                encoder.multithread(threads as u32)?;
                encoder.include_checksum(true)?;
                Self::Zstd(encoder)
            }
            Compression::None => Self::None(out),
        })
    }

    fn finish(self) -> io::Result<Output> {
        match self {
            Self::Gzip(encoder) => encoder.finish(),
            Self::Zstd(encoder) => encoder.finish(),
            Self::None(out) => Ok(out),
        }
    }
}

impl Write for Compressor {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Self::Gzip(encoder) => encoder.write(data),
            Self::Zstd(encoder) => encoder.write(data),
            Self::None(out) => out.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Gzip(encoder) => encoder.flush(),
            Self::Zstd(encoder) => encoder.flush(),
            Self::None(out) => out.flush(),
        }
    }
}

/// The tar stream's sink: hashed (`diff_id`), compressed, hashed again, written.
type TarSink = BufWriter<Hashing<Compressor>>;

/// The output file: created `O_EXCL`; removed again unless `keep` is called.
struct OutFile {
    path: PathBuf,
    kept: bool,
}

impl OutFile {
    fn create(path: &Path, options: &EncodeOptions) -> Result<(Self, TarSink)> {
        options.level()?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let guard = Self {
            path: path.to_owned(),
            kept: false,
        };
        let output = Hashing::new(BufWriter::with_capacity(OUT_BUFFER, file));
        let compressor = Compressor::new(output, options).map_err(|e| Error::io(path, e))?;
        let sink = BufWriter::with_capacity(TAR_BUFFER, Hashing::new(compressor));
        Ok((guard, sink))
    }

    /// Ends the streams, fsyncs the file and keeps it.
    fn finish(mut self, sink: TarSink, entries: u64) -> Result<Encoded> {
        let path = self.path.clone();
        let tar = sink
            .into_inner()
            .map_err(|error| Error::io(&path, error.into_error()))?;
        let (diff_id, uncompressed_size, compressor) = tar.finish();
        let output = compressor.finish().map_err(|e| Error::io(&path, e))?;
        let (digest, size, buffered) = output.finish();
        let file = buffered
            .into_inner()
            .map_err(|error| Error::io(&path, error.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&path, e))?;
        self.kept = true;
        Ok(Encoded {
            digest,
            diff_id,
            size,
            uncompressed_size,
            entries,
        })
    }
}

impl Drop for OutFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A layer of the tree at `source`, compressed into the new file `out_path`.
pub fn encode_layer(
    source: &Path,
    out_path: &Path,
    options: &EncodeOptions,
    walk: WalkOptions,
    cancel: &AtomicBool,
) -> Result<Encoded> {
    encode_layer_excluding(source, out_path, options, walk, Vec::new(), cancel)
}

/// `encode_layer` without the paths `excluded` (relative to `source`) and what they hold.
pub fn encode_layer_excluding(
    source: &Path,
    out_path: &Path,
    options: &EncodeOptions,
    walk: WalkOptions,
    excluded: Vec<Vec<u8>>,
    cancel: &AtomicBool,
) -> Result<Encoded> {
    let (out, sink) = OutFile::create(out_path, options)?;
    let walker = walk::Walker::new(sink, source, out_path, walk, cancel).excluding(excluded);
    let (sink, entries) = walker.run()?;
    out.finish(sink, entries)
}

/// The tar file at `source` compressed into the new file `out_path`.
pub fn compress_file(
    source: &Path,
    source_compression: Compression,
    out_path: &Path,
    options: &EncodeOptions,
    cancel: &AtomicBool,
) -> Result<Encoded> {
    let file = File::open(source).map_err(|e| Error::io(source, e))?;
    let mut input = Decoder::new(
        source_compression,
        BufReader::with_capacity(OUT_BUFFER, file),
    )
    .map_err(|e| Error::io(source, e))?;
    let (out, mut sink) = OutFile::create(out_path, options)?;
    let mut buffer = vec![0u8; OUT_BUFFER];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let read = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(Error::io(source, error)),
        };
        sink.write_all(&buffer[..read])
            .map_err(|e| Error::io(out_path, e))?;
    }
    out.finish(sink, 0)
}

/// The CPUs this process may run on (at least 1).
#[must_use]
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

#[cfg(test)]
mod tests;
