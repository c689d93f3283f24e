//! The build context read once: a confined walk of the context directory and the sha256 of
//! every regular file's content, computed on all cores.
//!
//! The walk is fd-relative: each directory is opened `O_NOFOLLOW` from its parent's fd and
//! each name `lstat`ed in it, so a symlink in the context is reported as a symlink (its
//! target read, never followed). A `filter`, asked once per directory with the names in it,
//! decides what the context holds (`.dockerignore`): a name is left out with all below it,
//! kept, or (a directory excluded that an exception may re-include something under) walked
//! without being kept itself; such a directory is kept after all when something below it
//! is, as `BuildKit` keeps the parents of what it sends.
//!
//! The files are then hashed by `threads` workers, each reopening its file with `openat2`
//! beneath the root (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`): a name swapped for a symlink
//! since the walk is refused by the kernel, never followed. A file's size is the number of
//! bytes hashed, so digest and size always agree.

use std::ffi::{CStr, CString};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::layer::sys;

const READ_BUFFER: usize = 256 * 1024;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;

/// What the filter says of one name in a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Not in the context, nor anything below it.
    Exclude,
    /// In the context (a directory: walked).
    Include,
    /// A directory not in the context itself, walked because something below it may be.
    Descend,
}

/// One name of the context, relative to its root (`/`-separated, no leading `/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextEntry {
    pub path: Vec<u8>,
    /// `d` directory, `f` regular file, `l` symlink, `c`/`b` devices, `p` FIFO, `s` socket.
    pub kind: char,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// A symlink's target, as read (empty for anything else).
    pub link: Vec<u8>,
    /// sha256 of a regular file's content.
    pub sha256: Option<[u8; 32]>,
}

/// Asked once per directory (its path, "" for the root) with its names and whether each is
/// a directory; answers one decision per name, in order.
pub type Filter<'a> = dyn FnMut(&[u8], &[(Vec<u8>, bool)]) -> Result<Vec<Decision>> + 'a;

/// Every entry the filter keeps below `root`, in walk order (sorted names, a directory
/// before what it holds), regular files hashed by `threads` workers.
pub fn scan(
    root: &Path,
    filter: Option<&mut Filter<'_>>,
    threads: usize,
    cancel: &AtomicBool,
) -> Result<Vec<ContextEntry>> {
    let c_root = CString::new(root.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::io(root, io::Error::from(io::ErrorKind::InvalidInput)))?;
    // SAFETY: AT_FDCWD is valid for every *at call and never closed.
    let cwd = unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) };
    let root_fd = sys::openat(cwd, &c_root, libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .map_err(|e| Error::io(root, e))?;
    let mut walk = Walk {
        root,
        filter,
        cancel,
        entries: Vec::new(),
    };
    walk.directory(root_fd.as_fd(), b"")?;
    let mut entries = walk.entries;
    hash_files(root, root_fd.as_fd(), &mut entries, threads.max(1), cancel)?;
    Ok(entries)
}

struct Walk<'a, 'f> {
    root: &'a Path,
    filter: Option<&'a mut Filter<'f>>,
    cancel: &'a AtomicBool,
    entries: Vec<ContextEntry>,
}

impl Walk<'_, '_> {
    fn io(&self, path: &[u8], source: io::Error) -> Error {
        Error::io(
            self.root.join(String::from_utf8_lossy(path).as_ref()),
            source,
        )
    }

    fn directory(&mut self, dir: BorrowedFd<'_>, prefix: &[u8]) -> Result<()> {
        let mut names = sys::list_dir(dir).map_err(|e| self.io(prefix, e))?;
        names.sort();
        let mut found = Vec::with_capacity(names.len());
        for name in names {
            let stat = sys::lstatat(dir, &name).map_err(|e| self.io(name.to_bytes(), e))?;
            found.push((name, stat));
        }
        let decisions = match self.filter.as_deref_mut() {
            None => vec![Decision::Include; found.len()],
            Some(filter) => {
                let listed: Vec<(Vec<u8>, bool)> = found
                    .iter()
                    .map(|(name, stat)| (name.to_bytes().to_vec(), is_dir(stat)))
                    .collect();
                let decisions = filter(prefix, &listed)?;
                if decisions.len() != listed.len() {
                    return Err(Error::Unsupported {
                        what: "context filter answer",
                        value: format!("{} decisions for {} names", decisions.len(), listed.len()),
                    });
                }
                decisions
            }
        };
        for ((name, stat), decision) in found.into_iter().zip(decisions) {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            if decision == Decision::Exclude || (decision == Decision::Descend && !is_dir(&stat)) {
                continue;
            }
            let mut path = prefix.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name.to_bytes());
            self.child(dir, &name, path, &stat, decision)?;
        }
        Ok(())
    }

    fn child(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        path: Vec<u8>,
        stat: &libc::stat,
        decision: Decision,
    ) -> Result<()> {
        let mut entry = ContextEntry {
            path,
            kind: kind(stat.st_mode),
            mode: stat.st_mode & 0o7777,
            uid: stat.st_uid,
            gid: stat.st_gid,
            size: 0,
            link: Vec::new(),
            sha256: None,
        };
        match entry.kind {
            'd' => {
                let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
                let sub = sys::openat(dir, name, flags, 0).map_err(|e| self.io(&entry.path, e))?;
                let path = entry.path.clone();
                if decision == Decision::Include {
                    self.entries.push(entry);
                    return self.directory(sub.as_fd(), &path);
                }
                let at = self.entries.len();
                self.directory(sub.as_fd(), &path)?;
                if self.entries.len() > at {
                    self.entries.insert(at, entry);
                }
                return Ok(());
            }
            'l' => {
                entry.link = sys::readlinkat(dir, name).map_err(|e| self.io(&entry.path, e))?;
                entry.size = entry.link.len() as u64;
            }
            _ => {}
        }
        self.entries.push(entry);
        Ok(())
    }
}

fn is_dir(stat: &libc::stat) -> bool {
    stat.st_mode & libc::S_IFMT == libc::S_IFDIR
}

fn kind(mode: u32) -> char {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => 'd',
        libc::S_IFREG => 'f',
        libc::S_IFLNK => 'l',
        libc::S_IFCHR => 'c',
        libc::S_IFBLK => 'b',
        libc::S_IFIFO => 'p',
        _ => 's',
    }
}

/// Hashes every regular file of `entries` in place, `threads` files at a time.
fn hash_files(
    root: &Path,
    root_fd: BorrowedFd<'_>,
    entries: &mut [ContextEntry],
    threads: usize,
    cancel: &AtomicBool,
) -> Result<()> {
    let files: Vec<usize> = (0..entries.len())
        .filter(|&index| entries[index].kind == 'f')
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, u64, [u8; 32])>> = Mutex::new(Vec::with_capacity(files.len()));
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let shared: &[ContextEntry] = entries;
    std::thread::scope(|scope| {
        for _ in 0..threads.min(files.len()) {
            scope.spawn(|| {
                let mut buffer = vec![0u8; READ_BUFFER];
                let mut done = Vec::new();
                loop {
                    let claimed = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&index) = files.get(claimed) else {
                        break;
                    };
                    if cancel.load(Ordering::Relaxed) {
                        record(&failure, Error::Cancelled);
                        break;
                    }
                    let path = &shared[index].path;
                    match hash_file(root_fd, path, &mut buffer) {
                        Ok((size, digest)) => done.push((index, size, digest)),
                        Err(source) => {
                            let path = root.join(String::from_utf8_lossy(path).as_ref());
                            record(&failure, Error::io(path, source));
                            cancel.store(true, Ordering::Relaxed);
                            break;
                        }
                    }
                }
                results
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(done);
            });
        }
    });
    if let Some(error) = failure
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        return Err(error);
    }
    let results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (index, size, digest) in results {
        entries[index].size = size;
        entries[index].sha256 = Some(digest);
    }
    Ok(())
}

fn record(failure: &Mutex<Option<Error>>, error: Error) {
    let mut slot = failure
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if slot.is_none() {
        *slot = Some(error);
    }
}

/// The size and sha256 of the regular file at `path` beneath `root`, no symlink followed.
fn hash_file(root: BorrowedFd<'_>, path: &[u8], buffer: &mut [u8]) -> io::Result<(u64, [u8; 32])> {
    let c_path = CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK;
    let resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    let fd: OwnedFd = sys::openat2(root, &c_path, flags, resolve)?;
    let stat = sys::lstatat(fd.as_fd(), c"")?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no longer a regular file",
        ));
    }
    let mut file = std::fs::File::from(fd);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        match file.read(buffer) {
            Ok(0) => break,
            Ok(read) => {
                hasher.update(&buffer[..read]);
                size += read as u64;
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok((size, hasher.finalize().into()))
}

#[cfg(test)]
mod tests;
