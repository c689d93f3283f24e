//! The directory walk that writes a layer's tar stream. Every step is fd-relative: each
//! directory is opened `O_NOFOLLOW` from its parent's fd, each name is `lstat`ed and opened
//! relative to its directory, so no symlink, however it changes during the walk, leads out of
//! the tree. Names are sorted bytewise in each directory and a directory's entry precedes its
//! contents, so the same tree always gives the same stream.
//!
//! The tree may be a running container's upper dir: a name that vanishes (or changes type)
//! between `readdir` and its open is skipped, not an error; a regular file is read through
//! its fd and described by that fd's `fstat`, so header and data agree. A file that shrinks
//! while it is read is an error (its entry would lie about its size).
//!
//! Hardlinks: the first path of an inode (in walk order) holds the data, later ones are tar
//! links to it. Sockets are skipped. Overlay mode turns overlayfs' whiteout formats into OCI
//! ones (a char device 0/0, or an empty file with `trusted.overlay.whiteout` /
//! `user.overlay.whiteout`, becomes `.wh.<name>`; a directory with `trusted.overlay.opaque=y`
//! / `user.overlay.opaque=y` gets `.wh..wh..opq` as its first entry). The overlay xattrs
//! (`trusted.overlay.*`, `user.overlay.*`) and `security.selinux` (a host label) are never
//! written, in either mode.
//!
//! Excluded paths (relative to the root, as the entries are named) are left out with all they
//! hold: a commit leaves out the mount points the runtime made in a container's upper dir.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::layer::encode::header::{self, Entry, Kind};
use crate::layer::sys;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const READ_BUFFER: usize = 1 << 20;

/// How the walk treats the tree.
#[derive(Clone, Copy, Debug, Default)]
pub struct WalkOptions {
    /// The tree is an overlay upper dir: whiteouts and opaque dirs become OCI entries.
    pub overlay: bool,
    /// Modification times above this are clamped to it (`SOURCE_DATE_EPOCH`).
    pub epoch: Option<i64>,
}

pub struct Walker<'a, W: Write> {
    out: W,
    root: PathBuf,
    /// Named by errors of writes to `out`.
    out_path: PathBuf,
    options: WalkOptions,
    cancel: &'a AtomicBool,
    links: HashMap<(u64, u64), Vec<u8>>,
    buffer: Vec<u8>,
    entries: u64,
    excluded: Vec<Vec<u8>>,
}

impl<'a, W: Write> Walker<'a, W> {
    pub fn new(
        out: W,
        root: &Path,
        out_path: &Path,
        options: WalkOptions,
        cancel: &'a AtomicBool,
    ) -> Self {
        Self {
            out,
            root: root.to_owned(),
            out_path: out_path.to_owned(),
            options,
            cancel,
            links: HashMap::new(),
            buffer: vec![0u8; READ_BUFFER],
            entries: 0,
            excluded: Vec::new(),
        }
    }

    /// Leaves out `paths` (relative to the root, `/`-separated) and everything below them.
    #[must_use]
    pub fn excluding(mut self, paths: Vec<Vec<u8>>) -> Self {
        self.excluded = paths;
        self
    }

    /// Writes every entry below the root and the trailer; returns the writer and the number
    /// of entries written.
    pub fn run(mut self) -> Result<(W, u64)> {
        let root_path = self.root.clone();
        let c_root = CString::new(root_path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::io(&root_path, io::Error::from(io::ErrorKind::InvalidInput)))?;
        // SAFETY: AT_FDCWD is valid for every *at call and never closed.
        let cwd = unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) };
        let root = sys::openat(cwd, &c_root, libc::O_RDONLY | libc::O_DIRECTORY, 0)
            .map_err(|e| Error::io(&root_path, e))?;
        if self.options.overlay && is_opaque(root.as_fd()) {
            let stat = sys::lstatat(root.as_fd(), c"").map_err(|e| self.io(b"", e))?;
            self.marker(OPAQUE_MARKER.to_vec(), &stat)?;
        }
        self.directory(root.as_fd(), b"")?;
        header::write_trailer(&mut self.out).map_err(|e| Error::io(&self.out_path, e))?;
        Ok((self.out, self.entries))
    }

    fn io(&self, path: &[u8], source: io::Error) -> Error {
        Error::io(
            self.root.join(String::from_utf8_lossy(path).as_ref()),
            source,
        )
    }

    fn check_cancel(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    fn clamp(&self, mtime: i64) -> i64 {
        match self.options.epoch {
            Some(epoch) if mtime > epoch => epoch,
            _ => mtime,
        }
    }

    /// Every entry below the open directory `dir`, whose path is `prefix` ("" for the root).
    fn directory(&mut self, dir: BorrowedFd<'_>, prefix: &[u8]) -> Result<()> {
        let mut names = sys::list_dir(dir).map_err(|e| self.io(prefix, e))?;
        names.sort();
        for name in names {
            self.check_cancel()?;
            let mut path = prefix.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name.to_bytes());
            if self.excluded.contains(&path) {
                continue;
            }
            self.child(dir, &name, path)?;
        }
        Ok(())
    }

    fn child(&mut self, dir: BorrowedFd<'_>, name: &CStr, path: Vec<u8>) -> Result<()> {
        let stat = match sys::lstatat(dir, name) {
            Ok(stat) => stat,
            Err(error) if vanished(&error) => return Ok(()),
            Err(error) => return Err(self.io(&path, error)),
        };
        match stat.st_mode & libc::S_IFMT {
            libc::S_IFDIR => self.subdirectory(dir, name, &path),
            libc::S_IFREG => self.regular(dir, name, path),
            libc::S_IFLNK => {
                let target = match sys::readlinkat(dir, name) {
                    Ok(target) => target,
                    Err(error) if vanished(&error) => return Ok(()),
                    Err(error) => return Err(self.io(&path, error)),
                };
                let mut entry = self.entry_of(path, Kind::Symlink, &stat);
                entry.link = target;
                self.emit_if_not_linked(entry, &stat)
            }
            libc::S_IFCHR if self.options.overlay && stat.st_rdev == 0 => {
                let whiteout = whiteout_path(&path);
                self.marker(whiteout, &stat)
            }
            libc::S_IFCHR | libc::S_IFBLK => {
                let kind = if stat.st_mode & libc::S_IFMT == libc::S_IFCHR {
                    Kind::Char
                } else {
                    Kind::Block
                };
                let mut entry = self.entry_of(path, kind, &stat);
                entry.device = (libc::major(stat.st_rdev), libc::minor(stat.st_rdev));
                self.emit_if_not_linked(entry, &stat)
            }
            libc::S_IFIFO => {
                let entry = self.entry_of(path, Kind::Fifo, &stat);
                self.emit_if_not_linked(entry, &stat)
            }
            _ => Ok(()), // sockets: not part of an image
        }
    }

    fn entry_of(&self, path: Vec<u8>, kind: Kind, stat: &libc::stat) -> Entry {
        let mut entry = Entry::new(path, kind);
        entry.mode = stat.st_mode & 0o7777;
        entry.uid = u64::from(stat.st_uid);
        entry.gid = u64::from(stat.st_gid);
        entry.mtime = self.clamp(stat.st_mtime);
        entry
    }

    /// A whiteout or opaque marker: an empty regular file, mode 0, owner and time of what it
    /// stands for.
    fn marker(&mut self, path: Vec<u8>, stat: &libc::stat) -> Result<()> {
        let mut entry = self.entry_of(path, Kind::Regular, stat);
        entry.mode = 0;
        self.emit(&entry)
    }

    fn emit(&mut self, entry: &Entry) -> Result<()> {
        header::write_header(&mut self.out, entry).map_err(|e| Error::io(&self.out_path, e))?;
        self.entries += 1;
        Ok(())
    }

    /// Emits `entry`, or a hardlink entry to the first path of the same inode.
    fn emit_if_not_linked(&mut self, entry: Entry, stat: &libc::stat) -> Result<()> {
        if let Some(link) = self.first_path(&entry.name, stat) {
            return self.emit(&entry.into_link(link));
        }
        self.emit(&entry)
    }

    /// The path already written for this inode, if any (else remembers `path` for it).
    fn first_path(&mut self, path: &[u8], stat: &libc::stat) -> Option<Vec<u8>> {
        if stat.st_nlink <= 1 {
            return None;
        }
        let key = (stat.st_dev, stat.st_ino);
        if let Some(first) = self.links.get(&key) {
            return Some(first.clone());
        }
        self.links.insert(key, path.to_vec());
        None
    }

    fn subdirectory(&mut self, parent: BorrowedFd<'_>, name: &CStr, path: &[u8]) -> Result<()> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        let dir = match sys::openat(parent, name, flags, 0) {
            Ok(dir) => dir,
            Err(error) if raced(&error) => return Ok(()),
            Err(error) => return Err(self.io(path, error)),
        };
        let stat = sys::lstatat(dir.as_fd(), c"").map_err(|e| self.io(path, e))?;
        let mut entry = self.entry_of(path.to_vec(), Kind::Directory, &stat);
        entry.xattrs = recorded_xattrs(dir.as_fd());
        self.emit(&entry)?;
        if self.options.overlay && is_opaque(dir.as_fd()) {
            let mut marker = path.to_vec();
            marker.push(b'/');
            marker.extend_from_slice(OPAQUE_MARKER);
            self.marker(marker, &stat)?;
        }
        self.directory(dir.as_fd(), path)
    }

    fn regular(&mut self, dir: BorrowedFd<'_>, name: &CStr, path: Vec<u8>) -> Result<()> {
        // O_NONBLOCK: if the name became a FIFO since the lstat, the open must not wait.
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK;
        let file = match sys::openat(dir, name, flags, 0) {
            Ok(file) => file,
            Err(error) if raced(&error) => return Ok(()),
            Err(error) => return Err(self.io(&path, error)),
        };
        let stat = sys::lstatat(file.as_fd(), c"").map_err(|e| self.io(&path, e))?;
        if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Ok(()); // replaced by something else since the lstat: gone as a file
        }
        let xattrs = recorded_xattrs(file.as_fd());
        if self.options.overlay && stat.st_size == 0 && is_xattr_whiteout(file.as_fd()) {
            return self.marker(whiteout_path(&path), &stat);
        }
        let mut entry = self.entry_of(path, Kind::Regular, &stat);
        if let Some(link) = self.first_path(&entry.name, &stat) {
            return self.emit(&entry.into_link(link));
        }
        entry.size = u64::try_from(stat.st_size).unwrap_or(0);
        entry.xattrs = xattrs;
        self.emit(&entry)?;
        self.copy_data(file, &entry.name, entry.size)
    }

    /// Exactly `size` bytes of the file, then the block padding.
    fn copy_data(&mut self, file: OwnedFd, path: &[u8], size: u64) -> Result<()> {
        let mut file = std::fs::File::from(file);
        let mut left = size;
        while left > 0 {
            self.check_cancel()?;
            let want = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(self.buffer.len());
            let read = match file.read(&mut self.buffer[..want]) {
                Ok(0) => {
                    let shrank = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while it was read",
                    );
                    return Err(self.io(path, shrank));
                }
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(self.io(path, error)),
            };
            self.out
                .write_all(&self.buffer[..read])
                .map_err(|e| Error::io(&self.out_path, e))?;
            left -= read as u64;
        }
        header::pad(&mut self.out, size).map_err(|e| Error::io(&self.out_path, e))
    }
}

/// The xattrs to record, sorted by name: all but overlayfs' own and `SELinux` labels.
fn recorded_xattrs(fd: BorrowedFd<'_>) -> Vec<(CString, Vec<u8>)> {
    let mut xattrs: Vec<_> = sys::list_xattrs(fd)
        .into_iter()
        .filter(|(name, _)| recorded_xattr(name.to_bytes()))
        .collect();
    xattrs.sort();
    xattrs
}

fn recorded_xattr(name: &[u8]) -> bool {
    !(name.starts_with(b"trusted.overlay.")
        || name.starts_with(b"user.overlay.")
        || name == b"security.selinux")
}

fn whiteout_path(path: &[u8]) -> Vec<u8> {
    let split = path
        .iter()
        .rposition(|&byte| byte == b'/')
        .map_or(0, |i| i + 1);
    let mut whiteout = path[..split].to_vec();
    whiteout.extend_from_slice(WHITEOUT_PREFIX);
    whiteout.extend_from_slice(&path[split..]);
    whiteout
}

fn is_opaque(dir: BorrowedFd<'_>) -> bool {
    [c"trusted.overlay.opaque", c"user.overlay.opaque"]
        .iter()
        .any(|name| sys::fgetxattr(dir, name).as_deref() == Some(b"y"))
}

fn is_xattr_whiteout(file: BorrowedFd<'_>) -> bool {
    [c"trusted.overlay.whiteout", c"user.overlay.whiteout"]
        .iter()
        .any(|name| sys::fgetxattr(file, name).is_some())
}

/// A name that is gone since `readdir`.
fn vanished(error: &io::Error) -> bool {
    error.raw_os_error() == Some(libc::ENOENT)
}

/// A name that is gone or is no longer what its `lstat` said (a directory replaced by a
/// symlink or file, a file by a symlink).
fn raced(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteout_names() {
        assert_eq!(whiteout_path(b"a"), b".wh.a");
        assert_eq!(whiteout_path(b"d/e/f"), b"d/e/.wh.f");
    }

    #[test]
    fn xattrs_kept_and_dropped() {
        for (name, kept) in [
            ("security.capability", true),
            ("user.mime_type", true),
            ("trusted.overlay.opaque", false),
            ("user.overlay.whiteout", false),
            ("security.selinux", false),
        ] {
            assert_eq!(recorded_xattr(name.as_bytes()), kept, "{name}");
        }
    }
}
