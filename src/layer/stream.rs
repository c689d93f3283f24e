//! The readers the pipeline is composed of, and how a structured `Error` crosses the
//! `io::Read` boundary: a reader that fails for a reason of its own (a budget, an abort, a
//! failed write of the blob copy, a read error of the blob file) wraps its `Error` in a
//! `StreamError`; `read_error` unwraps it again, and turns every other read error (a decoder or
//! tar parser complaint, an early EOF) into `LayerFormat`.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// The uncompressed stream as chunks from the decoding thread; consumed chunks go back to it
/// for reuse (a fresh 1 MiB allocation per chunk would cost a page fault per 4 KiB).
pub struct ChunkReader {
    receiver: Receiver<Vec<u8>>,
    recycle: Sender<Vec<u8>>,
    chunk: Vec<u8>,
    offset: usize,
}

impl ChunkReader {
    pub fn new(receiver: Receiver<Vec<u8>>, recycle: Sender<Vec<u8>>) -> Self {
        Self {
            receiver,
            recycle,
            chunk: Vec::new(),
            offset: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        while self.offset == self.chunk.len() {
            let Ok(next) = self.receiver.recv() else {
                return Ok(0); // the decoding thread ended (its result says why)
            };
            let used = std::mem::replace(&mut self.chunk, next);
            let _ = self.recycle.send(used);
            self.offset = 0;
        }
        let count = buffer.len().min(self.chunk.len() - self.offset);
        buffer[..count].copy_from_slice(&self.chunk[self.offset..self.offset + count]);
        self.offset += count;
        Ok(count)
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
