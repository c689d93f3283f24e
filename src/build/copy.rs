//! COPY's fast path: the contents of a build context directory copied into a directory of a
//! step's upper dir, under names that nothing below the upper dir shows (the caller routes
//! the others through the overlay view), so no merging is needed. Both sides are
//! fd-relative: each is reached with `openat2` beneath its root and no symlink
//! (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`), each level below opened `O_NOFOLLOW` from its
//! parent's fd, and every entry is created with `O_EXCL`/`mkdirat`/`symlinkat`, never
//! through an existing name. A symlink is copied as a symlink; hardlinked files stay
//! hardlinked; times (a directory's set after its contents) and file capabilities are kept;
//! owners become `owner` (the context's are the host's: `BuildKit` sends 0:0) and modes
//! `mode` when given (`--chmod`).
//!
//! `keep` (relative to the context root) limits the copy to what `.dockerignore` kept.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::layer::sys;

const CAPABILITY: &std::ffi::CStr = c"security.capability";
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;

/// What the copy does to each entry's metadata.
#[derive(Clone, Copy, Debug, Default)]
pub struct CopyOptions {
    pub owner: (u32, u32),
    pub mode: Option<u32>,
}

/// Whether a context path (relative to its root) is in the context.
pub type Keep<'a> = dyn Fn(&[u8]) -> bool + Sync + 'a;

/// The directory `source` (relative to `source_root`) copied, contents only, into the empty
/// directory `destination` (relative to `destination_root`); returns the entries made.
pub fn copy_tree(
    source_root: &Path,
    source: &[u8],
    destination_root: &Path,
    destination: &[u8],
    keep: Option<&Keep<'_>>,
    options: CopyOptions,
    cancel: &AtomicBool,
) -> Result<u64> {
    let from = open_beneath(source_root, source)?;
    let into = open_beneath(destination_root, destination)?;
    let mut copy = Copy {
        source_root,
        keep,
        options,
        cancel,
        links: HashMap::new(),
        made: 0,
        destination: into
            .try_clone()
            .map_err(|e| Error::io(destination_root, e))?,
    };
    copy.directory(from.as_fd(), into.as_fd(), source, b"")?;
    Ok(copy.made)
}

fn open_beneath(root: &Path, path: &[u8]) -> Result<OwnedFd> {
    let c_root = CString::new(root.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::io(root, io::Error::from(io::ErrorKind::InvalidInput)))?;
    // SAFETY: AT_FDCWD is valid for every *at call and never closed.
    let cwd = unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) };
    let root_fd = sys::openat(cwd, &c_root, libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .map_err(|e| Error::io(root, e))?;
    let relative = if path.is_empty() { &b"."[..] } else { path };
    let c_path = CString::new(relative)
        .map_err(|_| Error::io(root, io::Error::from(io::ErrorKind::InvalidInput)))?;
    let resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    sys::openat2(
        root_fd.as_fd(),
        &c_path,
        libc::O_RDONLY | libc::O_DIRECTORY,
        resolve,
    )
    .map_err(|e| Error::io(root.join(String::from_utf8_lossy(path).as_ref()), e))
}

struct Copy<'a> {
    source_root: &'a Path,
    keep: Option<&'a Keep<'a>>,
    options: CopyOptions,
    cancel: &'a AtomicBool,
    /// (dev, ino) of a source file -> its copy, relative to the destination directory.
    links: HashMap<(u64, u64), CString>,
    made: u64,
    destination: OwnedFd,
}

impl Copy<'_> {
    fn io(&self, path: &[u8], source: io::Error) -> Error {
        Error::io(
            self.source_root
                .join(String::from_utf8_lossy(path).as_ref()),
            source,
        )
    }

    /// The contents of `from` (context path `path`) into `into` (`relative` below the
    /// destination directory).
    fn directory(
        &mut self,
        from: BorrowedFd<'_>,
        into: BorrowedFd<'_>,
        path: &[u8],
        relative: &[u8],
    ) -> Result<()> {
        let mut names = sys::list_dir(from).map_err(|e| self.io(path, e))?;
        names.sort();
        for name in names {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            let child_path = join(path, name.to_bytes());
            if self.keep.is_some_and(|keep| !keep(&child_path)) {
                continue;
            }
            let child_relative = join(relative, name.to_bytes());
            self.entry(from, into, &name, &child_path, &child_relative)?;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        from: BorrowedFd<'_>,
        into: BorrowedFd<'_>,
        name: &CStr,
        path: &[u8],
        relative: &[u8],
    ) -> Result<()> {
        let stat = sys::lstatat(from, name).map_err(|e| self.io(path, e))?;
        let fail = |e| self.io(path, e);
        match stat.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
                let sub = sys::openat(from, name, flags, 0).map_err(fail)?;
                sys::mkdirat(into, name, 0o700).map_err(fail)?;
                let made = sys::openat(into, name, flags, 0).map_err(fail)?;
                self.made += 1;
                self.directory(sub.as_fd(), made.as_fd(), path, relative)?;
                self.finish(made.as_fd(), c"", &stat, false)
                    .map_err(|e| self.io(path, e))
            }
            libc::S_IFREG => self.file(from, into, name, path, relative, &stat),
            libc::S_IFLNK => {
                let target = sys::readlinkat(from, name).map_err(fail)?;
                let target = CString::new(target)
                    .map_err(|_| self.io(path, io::Error::from(io::ErrorKind::InvalidData)))?;
                sys::symlinkat(&target, into, name).map_err(fail)?;
                self.made += 1;
                self.finish(into, name, &stat, true)
                    .map_err(|e| self.io(path, e))
            }
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
                let kind = stat.st_mode & libc::S_IFMT;
                sys::mknodat(into, name, kind | 0o600, stat.st_rdev).map_err(fail)?;
                self.made += 1;
                self.finish(into, name, &stat, true)
                    .map_err(|e| self.io(path, e))
            }
            _ => Ok(()), // sockets: not part of an image
        }
    }

    fn file(
        &mut self,
        from: BorrowedFd<'_>,
        into: BorrowedFd<'_>,
        name: &CStr,
        path: &[u8],
        relative: &[u8],
        stat: &libc::stat,
    ) -> Result<()> {
        let key = (stat.st_dev, stat.st_ino);
        if stat.st_nlink > 1 {
            if let Some(first) = self.links.get(&key) {
                sys::linkat(self.destination.as_fd(), first, into, name)
                    .map_err(|e| self.io(path, e))?;
                self.made += 1;
                return Ok(());
            }
        }
        let read_flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK;
        let source = sys::openat(from, name, read_flags, 0).map_err(|e| self.io(path, e))?;
        let opened = sys::lstatat(source.as_fd(), c"").map_err(|e| self.io(path, e))?;
        if opened.st_mode & libc::S_IFMT != libc::S_IFREG {
            let changed = io::Error::new(io::ErrorKind::InvalidData, "changed during the copy");
            return Err(self.io(path, changed));
        }
        let write_flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        let target = sys::openat(into, name, write_flags, 0o600).map_err(|e| self.io(path, e))?;
        let mut reader = std::fs::File::from(source);
        let mut writer = std::fs::File::from(target);
        io::copy(&mut reader, &mut writer).map_err(|e| self.io(path, e))?;
        self.made += 1;
        self.finish(writer.as_fd(), c"", &opened, false)
            .map_err(|e| self.io(path, e))?;
        // After the chown, which drops file capabilities: the one xattr docker's copy keeps.
        if let Some(value) = sys::fgetxattr(reader.as_fd(), CAPABILITY) {
            sys::fsetxattr(writer.as_fd(), CAPABILITY, &value).map_err(|e| self.io(path, e))?;
        }
        if stat.st_nlink > 1 {
            let relative = CString::new(relative)
                .map_err(|_| self.io(path, io::Error::from(io::ErrorKind::InvalidData)))?;
            self.links.insert(key, relative);
        }
        Ok(())
    }

    /// Owner, mode (not a symlink's) and times of `name` in `dir` (of `dir` for "").
    fn finish(
        &self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        stat: &libc::stat,
        symlink_or_node: bool,
    ) -> io::Result<()> {
        let (uid, gid) = self.options.owner;
        sys::lchownat(dir, name, uid, gid)?;
        let is_symlink = stat.st_mode & libc::S_IFMT == libc::S_IFLNK;
        if !is_symlink {
            let mode = self.options.mode.unwrap_or(stat.st_mode & 0o7777);
            if symlink_or_node {
                sys::fchmodat(dir, name, mode)?;
            } else {
                sys::fchmod(dir, mode)?;
            }
        }
        sys::lutimensat(dir, name, sys::times_of(stat))
    }
}

fn join(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = prefix.to_vec();
    if !path.is_empty() {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

#[cfg(test)]
mod tests;
