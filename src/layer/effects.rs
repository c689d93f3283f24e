//! The filesystem effects that depend on privilege, behind one small trait (umoci's FsEval):
//! ownership, device nodes, whiteouts, opaque markers and xattrs. The extractor's ordering and
//! whiteout logic calls only this trait for them, so the same logic runs — and is unit-tested
//! on a tempdir — with `OverlayEffects` (root: real lchown/mknod, whiteouts as char 0:0,
//! `trusted.overlay.opaque`) or `RootlessEffects` (no chown, no device nodes, whiteouts in the
//! overlayfs `userxattr` format: an empty file with `user.overlay.whiteout`, its directory
//! marked `user.overlay.opaque=x`, opaque directories `user.overlay.opaque=y`; kernel >= 6.8).
//!
//! Decided behaviour without root: character and block devices are skipped (they could not be
//! opened inside a user namespace anyway, and rootless podman/umoci skip them too); FIFOs are
//! created (mkfifo needs no privilege); owners stay the caller's.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use crate::layer::sys;

/// What to change the owner of: an open fd, or a name in a directory (not followed).
#[derive(Clone, Copy)]
pub enum Target<'a> {
    Fd(BorrowedFd<'a>),
    At(BorrowedFd<'a>, &'a CStr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Char,
    Block,
    Fifo,
}

pub trait FsEffects: Send + Sync {
    fn chown(&self, target: Target<'_>, uid: u32, gid: u32) -> io::Result<()>;
    /// Creates a device node or FIFO; `Ok(false)` if this mode skips it on purpose.
    fn mknod(
        &self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        kind: NodeKind,
        mode: u32,
        device: u64,
    ) -> io::Result<bool>;
    /// Creates the whiteout `name` in `parent` (which must not exist yet).
    fn whiteout(&self, parent: BorrowedFd<'_>, name: &CStr) -> io::Result<()>;
    /// Whether the existing `name` in `parent`, with `stat`, is a whiteout.
    fn is_whiteout(&self, parent: BorrowedFd<'_>, name: &CStr, stat: &libc::stat) -> bool;
    /// Marks the directory open as `dir` (`O_RDONLY`) opaque.
    fn mark_opaque(&self, dir: BorrowedFd<'_>) -> io::Result<()>;
    fn is_opaque(&self, dir: BorrowedFd<'_>) -> bool;
    /// Sets an xattr from the layer on an open file or directory.
    fn set_xattr(&self, fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> io::Result<()>;
}

/// Root: the overlayfs format the kernel reads from any lower dir.
pub struct OverlayEffects;

const TRUSTED_OPAQUE: &CStr = c"trusted.overlay.opaque";

impl FsEffects for OverlayEffects {
    fn chown(&self, target: Target<'_>, uid: u32, gid: u32) -> io::Result<()> {
        match target {
            Target::Fd(fd) => sys::lchownat(fd, c"", uid, gid),
            Target::At(parent, name) => sys::lchownat(parent, name, uid, gid),
        }
    }

    fn mknod(
        &self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        kind: NodeKind,
        mode: u32,
        device: u64,
    ) -> io::Result<bool> {
        let file_type = match kind {
            NodeKind::Char => libc::S_IFCHR,
            NodeKind::Block => libc::S_IFBLK,
            NodeKind::Fifo => libc::S_IFIFO,
        };
        sys::mknodat(parent, name, file_type | (mode & 0o7777), device)?;
        Ok(true)
    }

    fn whiteout(&self, parent: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
        sys::mknodat(parent, name, libc::S_IFCHR, sys::makedev(0, 0))
    }

    fn is_whiteout(&self, _parent: BorrowedFd<'_>, _name: &CStr, stat: &libc::stat) -> bool {
        stat.st_mode & libc::S_IFMT == libc::S_IFCHR && stat.st_rdev == 0
    }

    fn mark_opaque(&self, dir: BorrowedFd<'_>) -> io::Result<()> {
        sys::fsetxattr(dir, TRUSTED_OPAQUE, b"y")
    }

    fn is_opaque(&self, dir: BorrowedFd<'_>) -> bool {
        sys::fgetxattr(dir, TRUSTED_OPAQUE).as_deref() == Some(b"y")
    }

    fn set_xattr(&self, fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
        sys::fsetxattr(fd, name, value)
    }
}

/// Without root: overlayfs' unprivileged (`userxattr`) format, no owners, no devices.
pub struct RootlessEffects;

const USER_OPAQUE: &CStr = c"user.overlay.opaque";
const USER_WHITEOUT: &CStr = c"user.overlay.whiteout";

impl FsEffects for RootlessEffects {
    fn chown(&self, _target: Target<'_>, _uid: u32, _gid: u32) -> io::Result<()> {
        Ok(())
    }

    fn mknod(
        &self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        kind: NodeKind,
        mode: u32,
        _device: u64,
    ) -> io::Result<bool> {
        if kind != NodeKind::Fifo {
            return Ok(false);
        }
        sys::mknodat(parent, name, libc::S_IFIFO | (mode & 0o7777), 0)?;
        Ok(true)
    }

    fn whiteout(&self, parent: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        let file = sys::openat(parent, name, flags, 0o000)?;
        sys::fsetxattr(file.as_fd(), USER_WHITEOUT, b"y")?;
        let directory = sys::openat(parent, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        if !self.is_opaque(directory.as_fd()) {
            sys::fsetxattr(directory.as_fd(), USER_OPAQUE, b"x")?;
        }
        Ok(())
    }

    fn is_whiteout(&self, parent: BorrowedFd<'_>, name: &CStr, stat: &libc::stat) -> bool {
        if stat.st_mode & libc::S_IFMT == libc::S_IFCHR && stat.st_rdev == 0 {
            return true;
        }
        if stat.st_mode & libc::S_IFMT != libc::S_IFREG || stat.st_size != 0 {
            return false;
        }
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK;
        sys::openat(parent, name, flags, 0)
            .ok()
            .and_then(|file| sys::fgetxattr(file.as_fd(), USER_WHITEOUT))
            .is_some()
    }

    fn mark_opaque(&self, dir: BorrowedFd<'_>) -> io::Result<()> {
        sys::fsetxattr(dir, USER_OPAQUE, b"y")
    }

    fn is_opaque(&self, dir: BorrowedFd<'_>) -> bool {
        sys::fgetxattr(dir, USER_OPAQUE).as_deref() == Some(b"y")
    }

    fn set_xattr(&self, fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
        sys::fsetxattr(fd, name, value)
    }
}

/// The effects that fit the calling process: `OverlayEffects` with `CAP_MKNOD`/`CAP_CHOWN` (root),
/// else `RootlessEffects`.
#[must_use]
pub fn for_current_process() -> Box<dyn FsEffects> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        Box::new(OverlayEffects)
    } else {
        Box::new(RootlessEffects)
    }
}
