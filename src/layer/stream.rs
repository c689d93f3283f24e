//! The readers the pipeline is composed of, and how a structured `Error` crosses the
//! `io::Read` boundary: a reader that fails for a reason of its own (a budget, an abort, a
//! failed write of the blob copy, a read error of the blob file) wraps its `Error` in a
//! `StreamError`; `read_error` unwraps it again, and turns every other read error (a decoder or
//! tar parser complaint, an early EOF) into `LayerFormat`.
//!
//! Progress is counted in compressed bytes, the unit of the blob's size: `Counted` tells how
//! much of the compressed stream the decoder has taken, each `Chunk` carries that count, and
//! `ChunkReader` publishes it once the tar reader is past the chunk.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};

use crate::error::Error;

#[derive(Debug)]
pub struct StreamError(pub Error);

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StreamError {}

fn wrap(error: Error) -> io::Error {
    io::Error::other(StreamError(error))
}

/// The structured error behind a failed read of the pipeline.
pub fn read_error(error: io::Error) -> Error {
    if error
        .get_ref()
        .is_some_and(<dyn std::error::Error + Send + Sync>::is::<StreamError>)
    {
        let inner = error.into_inner().expect("checked above");
        return inner.downcast::<StreamError>().expect("checked above").0;
    }
    Error::LayerFormat {
        reason: error.to_string(),
        source: Some(error),
    }
}

/// Chunks handed over by `LayerSink.write`, read in order; EOF once the sender is dropped.
pub struct ChannelSource<'a> {
    receiver: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    offset: usize,
    cancel: &'a AtomicBool,
}

impl<'a> ChannelSource<'a> {
    pub fn new(receiver: Receiver<Vec<u8>>, cancel: &'a AtomicBool) -> Self {
        Self {
            receiver,
            chunk: Vec::new(),
            offset: 0,
            cancel,
        }
    }
}

impl Read for ChannelSource<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        while self.offset == self.chunk.len() {
            let next = self.receiver.recv();
            if self.cancel.load(Ordering::Relaxed) {
                return Err(wrap(Error::Cancelled));
            }
            match next {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.offset = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let count = buffer.len().min(self.chunk.len() - self.offset);
        buffer[..count].copy_from_slice(&self.chunk[self.offset..self.offset + count]);
        self.offset += count;
        Ok(count)
    }
}

/// Uncompressed bytes from the decoding thread, with the compressed bytes the decoder had
/// consumed once it produced them.
pub struct Chunk {
    pub data: Vec<u8>,
    pub consumed: u64,
}

/// The uncompressed stream as chunks from the decoding thread; consumed chunks go back to it
/// for reuse (a fresh 1 MiB allocation per chunk would cost a page fault per 4 KiB).
///
/// Once the tar reader asks for more than a chunk holds, every entry that chunk carried is
/// written: `progress` then counts the compressed bytes the chunk was decoded from, but never
/// one the next chunk still needs (a decoder may take the last input bytes before it has
/// given out all the output), so the count stays below the blob's size until the pipeline
/// itself sets it when the layer is done.
pub struct ChunkReader<'a> {
    receiver: Receiver<Chunk>,
    recycle: Sender<Vec<u8>>,
    chunk: Chunk,
    offset: usize,
    progress: &'a AtomicU64,
}

impl<'a> ChunkReader<'a> {
    pub fn new(
        receiver: Receiver<Chunk>,
        recycle: Sender<Vec<u8>>,
        progress: &'a AtomicU64,
    ) -> Self {
        Self {
            receiver,
            recycle,
            chunk: Chunk {
                data: Vec::new(),
                consumed: 0,
            },
            offset: 0,
            progress,
        }
    }
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        while self.offset == self.chunk.data.len() {
            let Ok(next) = self.receiver.recv() else {
                return Ok(0); // the decoding thread ended (its result says why)
            };
            let past = self.chunk.consumed.min(next.consumed.saturating_sub(1));
            self.progress.fetch_max(past, Ordering::Relaxed);
            let used = std::mem::replace(&mut self.chunk, next);
            let _ = self.recycle.send(used.data);
            self.offset = 0;
        }
        let data = &self.chunk.data;
        let count = buffer.len().min(data.len() - self.offset);
        buffer[..count].copy_from_slice(&data[self.offset..self.offset + count]);
        self.offset += count;
        Ok(count)
    }
}

/// Counts the bytes its consumer took from a buffered reader (`read`, or `consume` after
/// `fill_buf`), not what the buffer read ahead.
pub struct Counted<'a, R> {
    inner: R,
    count: &'a Cell<u64>,
}

impl<'a, R> Counted<'a, R> {
    pub fn new(inner: R, count: &'a Cell<u64>) -> Self {
        Self { inner, count }
    }
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let count = self.inner.read(buffer)?;
        self.count.set(self.count.get() + count as u64);
        Ok(count)
    }
}

impl<R: BufRead> BufRead for Counted<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount);
        self.count.set(self.count.get() + amount as u64);
    }
}

/// A blob file read for `extract_blob`; its errors name the file.
pub struct FileSource<'a> {
    file: File,
    path: PathBuf,
    cancel: &'a AtomicBool,
}

impl<'a> FileSource<'a> {
    pub fn open(path: PathBuf, cancel: &'a AtomicBool) -> Result<Self, Error> {
        let file = File::open(&path).map_err(|source| Error::io(&path, source))?;
        Ok(Self { file, path, cancel })
    }
}

impl Read for FileSource<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(wrap(Error::Cancelled));
        }
        self.file
            .read(buffer)
            .map_err(|source| wrap(Error::io(&self.path, source)))
    }
}

/// Copies what is read to the blob file (when there is one).
pub struct Tee<R> {
    inner: R,
    blob: Option<(BufWriter<File>, PathBuf)>,
}

impl<R: Read> Tee<R> {
    pub fn new(inner: R, blob: Option<(File, PathBuf)>) -> Self {
        let blob = blob.map(|(file, path)| (BufWriter::with_capacity(1 << 20, file), path));
        Self { inner, blob }
    }

    /// Flushes the blob copy, and fsyncs it if `sync`.
    pub fn finish(self, sync: bool) -> Result<(), Error> {
        if let Some((writer, path)) = self.blob {
            let file = writer
                .into_inner()
                .map_err(|error| Error::io(&path, error.into_error()))?;
            if sync {
                file.sync_all().map_err(|source| Error::io(&path, source))?;
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let count = self.inner.read(buffer)?;
        if let Some((writer, path)) = &mut self.blob {
            writer
                .write_all(&buffer[..count])
                .map_err(|source| wrap(Error::io(&*path, source)))?;
        }
        Ok(count)
    }
}

/// Fails once more than `limit` bytes were read.
pub struct Budget<R> {
    inner: R,
    limit: Option<u64>,
    used: u64,
}

impl<R: Read> Budget<R> {
    pub fn new(inner: R, limit: Option<u64>) -> Self {
        Self {
            inner,
            limit,
            used: 0,
        }
    }
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let count = self.inner.read(buffer)?;
        self.used += count as u64;
        match self.limit {
            Some(limit) if self.used > limit => Err(wrap(Error::LimitExceeded {
                what: "uncompressed bytes",
                limit,
            })),
            _ => Ok(count),
        }
    }
}

/// Reads `reader` to its end, discarding the bytes.
pub fn drain(reader: &mut impl Read) -> Result<(), Error> {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(read_error(error)),
        }
    }
}
