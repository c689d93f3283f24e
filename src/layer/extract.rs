//! Confined extraction of one layer's tar entries into a fresh directory, in overlayfs format.
//!
//! Invariants, and the hazards they answer:
//! - Every name goes through `path::normalize` and every lookup through `Root` (openat2
//!   `RESOLVE_IN_ROOT`); the final component is created with `*at` calls on the parent fd and
//!   never followed, so a layer symlink cannot redirect a write outside the root.
//! - A later entry replaces an earlier one of the same name (tar semantics), except that a
//!   directory over a directory merges. A file replacing a directory removes the directory's
//!   subtree fd-relatively, without following symlinks.
//! - Owners are applied before modes (chown clears setuid/setgid), xattrs after chown (it
//!   clears `security.capability`), times last. Directory modes and times are applied at the
//!   end, deepest first: entries written into a directory would change its mtime, and a
//!   read-only directory would refuse later entries when not root.
//! - xattrs in overlayfs' own namespaces (`trusted.overlay.*`, `user.overlay.*`) are dropped:
//!   a layer must not forge whiteouts, opaque markers or redirects. Other xattrs are best
//!   effort: refused ones (EOPNOTSUPP, EPERM for `security.*` without privilege) are skipped,
//!   and they are applied to regular files and directories only (setting one on a symlink or
//!   device node needs a path-based call, which confinement rules out).
//! - A hardlink target is resolved in this layer first, then in the lower layers (nearest
//!   first, honouring their whiteouts and opaque dirs) and then COPIED into this layer (data
//!   via `copy_file_range`, owner, mode, xattrs, times). Linking across layer dirs would share
//!   one inode between two layers that are refcounted and removed independently, so a change
//!   of one (a repair, a chmod by a tool) would silently change the other; a copy is always
//!   correct. Later hardlinks to the same lower target link to that first copy. With
//!   `defer_lower_links` the copy is a placeholder filled later (lower.rs), so that a layer
//!   can be extracted while its parents are still being extracted.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::layer::effects::{FsEffects, NodeKind, Target};
use crate::layer::lower::PendingLinks;
use crate::layer::meta::{read_meta, Meta};
use crate::layer::path::{self, component, normalize, EntryPath, Root};
use crate::layer::stream::read_error;
use crate::layer::sys;
use crate::layer::whiteout::{classify, SpecialName};

const COPY_BUFFER: usize = 1 << 20;

pub struct Extractor<'a> {
    pub(super) root: Root,
    pub(super) lowers: Vec<Root>,
    pub(super) effects: &'a dyn FsEffects,
    cancel: &'a AtomicBool,
    max_entries: Option<u64>,
    entries: u64,
    /// docker's directory.Size of the tree so far: apparent sizes of non-directories, each
    /// inode once (kept as entries add and replace nodes: no walk at the end).
    pub(super) unpacked_size: u64,
    /// The parent directory of the previous entry (one slot: an entry only ever changes
    /// `parent/name`, which is never a prefix of `parent`, so the slot stays valid).
    parent_cache: Option<(EntryPath, OwnedFd)>,
    deferred_dirs: HashMap<EntryPath, (u32, [libc::timespec; 2])>,
    pub(super) copied_from_lower: HashMap<EntryPath, EntryPath>,
    /// `Some` when links to lower layers are deferred (`lowers` is then empty).
    pub(super) pending: Option<PendingLinks>,
    buffer: Vec<u8>,
}

impl<'a> Extractor<'a> {
    /// `lowers` are the lower layer roots (nearest first), or `None` to defer links into
    /// lower layers.
    pub fn new(
        root: Root,
        lowers: Option<Vec<Root>>,
        effects: &'a dyn FsEffects,
        cancel: &'a AtomicBool,
        max_entries: Option<u64>,
    ) -> Self {
        let pending = match lowers {
            Some(_) => None,
            None => Some(PendingLinks::new(root.path().to_owned())),
        };
        Self {
            root,
            lowers: lowers.unwrap_or_default(),
            effects,
            cancel,
            max_entries,
            entries: 0,
            unpacked_size: 0,
            parent_cache: None,
            deferred_dirs: HashMap::new(),
            copied_from_lower: HashMap::new(),
            pending,
            buffer: vec![0; COPY_BUFFER],
        }
    }

    /// Extracts one entry (its data is read from `entry`).
    pub fn extract<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        self.entries += 1;
        if let Some(limit) = self.max_entries {
            if self.entries > limit {
                return Err(Error::LimitExceeded {
                    what: "entries",
                    limit,
                });
            }
        }
        if self.cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let raw_name = entry.path_bytes().into_owned();
        let display = String::from_utf8_lossy(&raw_name).into_owned();
        let path = normalize(&raw_name).map_err(|reason| Error::unsafe_path(&display, reason))?;
        let meta = read_meta(entry, &display)?;
        if let Some((parent, name)) = path.split_last() {
            match classify(name).map_err(|reason| Error::unsafe_path(&display, reason))? {
                SpecialName::Opaque => return self.apply_opaque(&parent),
                SpecialName::Whiteout(target) => {
                    return self.apply_whiteout(&parent, &component(target));
                }
                SpecialName::AufsMetadata => return Ok(()),
                SpecialName::Plain => {}
            }
        }
        if path.is_root() && !kind.is_dir() {
            return Err(Error::unsafe_path(
                &display,
                "a non-directory cannot replace the root",
            ));
        }
        match kind {
            tar::EntryType::Directory => self.make_dir(&path, &meta),
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.make_file(&path, entry, &meta)
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(std::borrow::Cow::into_owned)
                    .unwrap_or_default();
                self.make_symlink(&path, &target, &meta, &display)
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(std::borrow::Cow::into_owned)
                    .unwrap_or_default();
                self.make_hardlink(&path, &target, &display)
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let node = match kind {
                    tar::EntryType::Char => NodeKind::Char,
                    tar::EntryType::Block => NodeKind::Block,
                    _ => NodeKind::Fifo,
                };
                let header = entry.header();
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                self.make_node(&path, node, sys::makedev(major, minor), &meta)
            }
            other => Err(Error::Unsupported {
                what: "tar entry type",
                value: format!("{other:?} for {display:?}"),
            }),
        }
    }

    /// Applies deferred directory modes and times (deepest first), then flushes the whole
    /// filesystem of the root once if `sync` (cheaper than one fsync per file, and what makes
    /// the caller's rename of the finished tree atomic after a crash). With pending links the
    /// flush is left to `PendingLinks::resolve`, which changes the tree once more.
    pub fn finish(mut self, sync: bool) -> Result<Extracted> {
        let mut dirs: Vec<_> = self.deferred_dirs.drain().collect();
        dirs.sort_by_key(|(path, _)| std::cmp::Reverse(path.depth()));
        for (path, (mode, times)) in dirs {
            let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
            let Ok(dir) = self.root.resolve(&path, flags) else {
                continue; // replaced later in the layer by a non-directory
            };
            let describe = || self.root.describe(&path);
            sys::fchmod(dir.as_fd(), mode).map_err(|source| Error::io(describe(), source))?;
            sys::lutimensat(dir.as_fd(), c"", times)
                .map_err(|source| Error::io(describe(), source))?;
        }
        let pending = self.pending.take().unwrap_or_default();
        if sync && pending.is_empty() {
            // syncfs needs a real fd, not the O_PATH one the root is held by.
            let dir = self
                .root
                .resolve(&EntryPath::root(), libc::O_RDONLY | libc::O_DIRECTORY);
            dir.and_then(|dir| sys::syncfs(dir.as_fd()))
                .map_err(|source| Error::io(self.root.path(), source))?;
        }
        Ok(Extracted {
            entries: self.entries,
            unpacked_size: self.unpacked_size,
            pending,
        })
    }

    /// The parent directory fd of an entry, creating missing directories (mode 0755, like
    /// docker's `MkdirAll`) inside the root. The fd is taken out of the cache; `keep_parent`
    /// puts it back.
    pub(super) fn take_parent(&mut self, parent: &EntryPath) -> Result<OwnedFd> {
        if let Some((cached, fd)) = self.parent_cache.take() {
            if &cached == parent {
                return Ok(fd);
            }
        }
        match self.root.resolve_dir(parent) {
            Ok(fd) => Ok(fd),
            Err(error) if error.raw_os_error() == Some(libc::ENOENT) => self.create_dirs(parent),
            Err(error) => Err(self.resolve_error(parent, error)),
        }
    }

    pub(super) fn keep_parent(&mut self, parent: EntryPath, fd: OwnedFd) {
        self.parent_cache = Some((parent, fd));
    }

    fn create_dirs(&mut self, target: &EntryPath) -> Result<OwnedFd> {
        let mut current = self
            .root
            .resolve_dir(&EntryPath::root())
            .map_err(|e| self.io(target, e))?;
        let mut prefix = EntryPath::root();
        for name in target.as_bytes().split(|&byte| byte == b'/') {
            prefix = prefix.join(name);
            match self.root.resolve_dir(&prefix) {
                Ok(fd) => current = fd,
                Err(error) if error.raw_os_error() == Some(libc::ENOENT) => {
                    match sys::mkdirat(current.as_fd(), &component(name), 0o755) {
                        Ok(()) => {}
                        Err(error) if error.raw_os_error() == Some(libc::EEXIST) => {
                            return Err(not_a_directory(&prefix)); // e.g. a dangling symlink
                        }
                        Err(error) => return Err(self.io(&prefix, error)),
                    }
                    current = self
                        .root
                        .resolve_dir(&prefix)
                        .map_err(|e| self.io(&prefix, e))?;
                }
                Err(error) => return Err(self.resolve_error(&prefix, error)),
            }
        }
        Ok(current)
    }

    fn resolve_error(&self, path: &EntryPath, error: io::Error) -> Error {
        match error.raw_os_error() {
            Some(libc::ENOTDIR | libc::ELOOP | libc::ENOENT) => not_a_directory(path),
            _ => self.io(path, error),
        }
    }

    pub(super) fn io(&self, path: &EntryPath, source: io::Error) -> Error {
        Error::io(self.root.describe(path), source)
    }

    /// Makes room for a new entry at `parent/name`: a directory over a directory is kept
    /// (returns `Kept`), anything else is removed (and no longer counted). Reports whether it
    /// was a whiteout.
    pub(super) fn clear(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        keep_dir: bool,
    ) -> io::Result<Cleared> {
        let stat = sys::lstatat(parent, name)?;
        if keep_dir && path::is_dir(&stat) {
            return Ok(Cleared::KeptDirectory);
        }
        let whiteout = self.effects.is_whiteout(parent, name, &stat);
        let freed = sys::remove_all_at(parent, name)?;
        self.unpacked_size = self.unpacked_size.saturating_sub(freed);
        Ok(Cleared::Removed { whiteout })
    }

    fn make_dir(&mut self, path: &EntryPath, meta: &Meta) -> Result<()> {
        let (dir, opaque) = if let Some((parent, name)) = path.split_last() {
            let parent_fd = self.take_parent(&parent)?;
            let name = component(name);
            let mut opaque = false;
            match sys::mkdirat(parent_fd.as_fd(), &name, 0o700) {
                Ok(()) => {}
                Err(error) if error.raw_os_error() == Some(libc::EEXIST) => {
                    match self
                        .clear(parent_fd.as_fd(), &name, true)
                        .map_err(|e| self.io(path, e))?
                    {
                        Cleared::KeptDirectory => {}
                        Cleared::Removed { whiteout } => {
                            opaque = whiteout; // the whiteout's "lower is gone" must survive
                            sys::mkdirat(parent_fd.as_fd(), &name, 0o700)
                                .map_err(|e| self.io(path, e))?;
                        }
                    }
                }
                Err(error) => return Err(self.io(path, error)),
            }
            let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
            let dir =
                sys::openat(parent_fd.as_fd(), &name, flags, 0).map_err(|e| self.io(path, e))?;
            self.keep_parent(parent, parent_fd);
            (dir, opaque)
        } else {
            let flags = libc::O_RDONLY | libc::O_DIRECTORY;
            (
                self.root
                    .resolve(path, flags)
                    .map_err(|e| self.io(path, e))?,
                false,
            )
        };
        self.effects
            .chown(Target::Fd(dir.as_fd()), meta.uid, meta.gid)
            .map_err(|e| self.io(path, e))?;
        self.set_xattrs(dir.as_fd(), path, meta)?;
        if opaque {
            self.effects
                .mark_opaque(dir.as_fd())
                .map_err(|e| self.io(path, e))?;
        }
        self.deferred_dirs
            .insert(path.clone(), (meta.mode, meta.times));
        Ok(())
    }

    fn make_file<R: Read>(&mut self, path: &EntryPath, entry: &mut R, meta: &Meta) -> Result<()> {
        let (parent, name) = path.split_last().expect("root handled by the caller");
        let parent_fd = self.take_parent(&parent)?;
        let name = component(name);
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        let fd = match sys::openat(parent_fd.as_fd(), &name, flags, 0o600) {
            Ok(fd) => fd,
            Err(error) if error.raw_os_error() == Some(libc::EEXIST) => {
                self.clear(parent_fd.as_fd(), &name, false)
                    .map_err(|e| self.io(path, e))?;
                sys::openat(parent_fd.as_fd(), &name, flags, 0o600).map_err(|e| self.io(path, e))?
            }
            Err(error) => return Err(self.io(path, error)),
        };
        self.keep_parent(parent, parent_fd);
        let mut file = File::from(fd);
        loop {
            let read = match entry.read(&mut self.buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(read_error(error)),
            };
            file.write_all(&self.buffer[..read])
                .map_err(|e| self.io(path, e))?;
            self.unpacked_size += read as u64;
        }
        self.apply_meta(file.as_fd(), path, meta)
    }

    /// Owner, then mode, then xattrs, then times, on an open regular file.
    pub(super) fn apply_meta(
        &self,
        fd: BorrowedFd<'_>,
        path: &EntryPath,
        meta: &Meta,
    ) -> Result<()> {
        self.effects
            .chown(Target::Fd(fd), meta.uid, meta.gid)
            .map_err(|e| self.io(path, e))?;
        sys::fchmod(fd, meta.mode).map_err(|e| self.io(path, e))?;
        self.set_xattrs(fd, path, meta)?;
        sys::lutimensat(fd, c"", meta.times).map_err(|e| self.io(path, e))
    }

    fn set_xattrs(&self, fd: BorrowedFd<'_>, path: &EntryPath, meta: &Meta) -> Result<()> {
        for (name, value) in &meta.xattrs {
            let bytes = name.as_bytes();
            if bytes.starts_with(b"trusted.overlay.") || bytes.starts_with(b"user.overlay.") {
                continue;
            }
            match self.effects.set_xattr(fd, name, value) {
                Ok(()) => {}
                Err(error)
                    if matches!(
                        error.raw_os_error(),
                        Some(libc::EOPNOTSUPP | libc::EPERM | libc::EACCES)
                    ) => {}
                Err(error) => return Err(self.io(path, error)),
            }
        }
        Ok(())
    }

    fn make_symlink(
        &mut self,
        path: &EntryPath,
        target: &[u8],
        meta: &Meta,
        display: &str,
    ) -> Result<()> {
        let target = CString::new(target)
            .ok()
            .filter(|target| {
                !target.is_empty() && target.as_bytes().len() < libc::PATH_MAX as usize
            })
            .ok_or_else(|| {
                Error::format(format!(
                    "symlink {display:?} has an empty or invalid target"
                ))
            })?;
        let (parent, name) = path.split_last().expect("root handled by the caller");
        let parent_fd = self.take_parent(&parent)?;
        let name = component(name);
        if let Err(error) = sys::symlinkat(&target, parent_fd.as_fd(), &name) {
            if error.raw_os_error() != Some(libc::EEXIST) {
                return Err(self.io(path, error));
            }
            self.clear(parent_fd.as_fd(), &name, false)
                .map_err(|e| self.io(path, e))?;
            sys::symlinkat(&target, parent_fd.as_fd(), &name).map_err(|e| self.io(path, e))?;
        }
        self.unpacked_size += target.as_bytes().len() as u64; // what lstat reports
        let at = Target::At(parent_fd.as_fd(), &name);
        self.effects
            .chown(at, meta.uid, meta.gid)
            .map_err(|e| self.io(path, e))?;
        sys::lutimensat(parent_fd.as_fd(), &name, meta.times).map_err(|e| self.io(path, e))?;
        self.keep_parent(parent, parent_fd);
        Ok(())
    }

    fn make_node(
        &mut self,
        path: &EntryPath,
        kind: NodeKind,
        device: u64,
        meta: &Meta,
    ) -> Result<()> {
        let (parent, name) = path.split_last().expect("root handled by the caller");
        let parent_fd = self.take_parent(&parent)?;
        let name = component(name);
        let created = match self
            .effects
            .mknod(parent_fd.as_fd(), &name, kind, meta.mode, device)
        {
            Err(error) if error.raw_os_error() == Some(libc::EEXIST) => {
                self.clear(parent_fd.as_fd(), &name, false)
                    .map_err(|e| self.io(path, e))?;
                self.effects
                    .mknod(parent_fd.as_fd(), &name, kind, meta.mode, device)
            }
            other => other,
        }
        .map_err(|e| self.io(path, e))?;
        if created {
            let at = Target::At(parent_fd.as_fd(), &name);
            self.effects
                .chown(at, meta.uid, meta.gid)
                .map_err(|e| self.io(path, e))?;
            // The node was just created by us, so fchmodat's final-component follow is moot.
            sys::fchmodat(parent_fd.as_fd(), &name, meta.mode).map_err(|e| self.io(path, e))?;
            sys::lutimensat(parent_fd.as_fd(), &name, meta.times).map_err(|e| self.io(path, e))?;
        }
        self.keep_parent(parent, parent_fd);
        Ok(())
    }
}

/// What one layer's extraction made.
pub struct Extracted {
    pub entries: u64,
    /// docker's directory.Size of the tree (links still pending count once resolved).
    pub unpacked_size: u64,
    pub pending: PendingLinks,
}

pub(super) enum Cleared {
    KeptDirectory,
    Removed { whiteout: bool },
}

fn not_a_directory(path: &EntryPath) -> Error {
    Error::format(format!(
        "{} is not a directory inside the layer",
        path.display()
    ))
}
