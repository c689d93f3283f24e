//! Hardlinks into lower layers: the lookup overlayfs would do, the copy into this layer, and
//! the deferred form of both that lets a layer be extracted before its parents are.
//!
//! Lookup: the target is searched in the lower layer dirs nearest first: a whiteout of the
//! target or of one of its ancestors ends the search (the file was deleted), a non-directory
//! ancestor hides it, and an opaque ancestor stops the search below that layer. Every step is
//! an `O_NOFOLLOW` open relative to the lower root, so a lower symlink never leads out of it.
//!
//! Deferred links (`LayerOptions::defer_lower_links`): a hardlink whose target is not in this
//! layer's tree yet becomes a *placeholder*, an empty regular file created at the link's name
//! and held open (one per distinct lower target; a second link to the same target links to the
//! placeholder, exactly as the sequential path links it to the first copy). Since the
//! extractor sees a node at that name, every later entry treats it exactly as it would treat
//! the copy: a later entry of the same name replaces it, a whiteout keeps it, a link to it
//! links to its inode. `PendingLinks::resolve` then looks each target up in the lower dirs and
//! fills the held inode in place (data, owner, mode, xattrs, times), so every name still linked
//! to it gets the copy and nothing is looked up by path in the destination. Holding the fd is
//! what makes this safe: the inode cannot be freed and its number reused by a later file, and a
//! placeholder whose every name was replaced within the layer has `st_nlink == 0` and is
//! skipped. A lower target that is a symlink or device node cannot be written into a regular
//! file, so for those the names recorded for the placeholder are re-resolved (confined, final
//! component not followed), checked to still be the placeholder inode, and replaced by the node
//! (the first) and links to it (the others), restoring their directories' mode and times.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::layer::effects::{FsEffects, NodeKind, Target};
use crate::layer::path::{self, component, EntryPath, Root};
use crate::layer::sys;

pub(super) enum Lookup {
    Found(OwnedFd, CString, libc::stat),
    Hidden,
    Absent,
}

/// A node found in a lower layer: its host path (for messages), parent fd, name and stat.
pub(super) struct LowerNode {
    pub(super) describe: PathBuf,
    pub(super) dir: OwnedFd,
    pub(super) name: CString,
    pub(super) stat: libc::stat,
}

/// `target` as overlayfs would see it through `lowers` (nearest first).
pub(super) fn find_lower(
    effects: &dyn FsEffects,
    lowers: &[Root],
    target: &EntryPath,
) -> Option<LowerNode> {
    for lower in lowers {
        match lookup(effects, lower, target) {
            Lookup::Found(dir, name, stat) => {
                return Some(LowerNode {
                    describe: lower.describe(target),
                    dir,
                    name,
                    stat,
                });
            }
            Lookup::Hidden => return None,
            Lookup::Absent => {}
        }
    }
    None
}

pub(super) fn not_found(display: &str, target: &EntryPath) -> Error {
    Error::format(format!(
        "hardlink {display:?}: target {} exists in neither this layer nor a lower one",
        target.display()
    ))
}

pub(super) fn points_to_dir(display: &str) -> Error {
    Error::format(format!("hardlink {display:?} points to a directory"))
}

fn lookup(effects: &dyn FsEffects, lower: &Root, target: &EntryPath) -> Lookup {
    let mut stop_here = false;
    let Ok(mut parent) = lower.resolve_dir(&EntryPath::root()) else {
        return Lookup::Absent;
    };
    if effects.is_opaque(parent.as_fd()) {
        stop_here = true;
    }
    let components: Vec<&[u8]> = target.as_bytes().split(|&byte| byte == b'/').collect();
    let (last, ancestors) = components.split_last().expect("target is not the root");
    for name in ancestors {
        let name_c = component(name);
        let Ok(stat) = sys::lstatat(parent.as_fd(), &name_c) else {
            return if stop_here {
                Lookup::Hidden
            } else {
                Lookup::Absent
            };
        };
        if !path::is_dir(&stat) {
            return Lookup::Hidden; // a whiteout or a file hides everything below it
        }
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        parent = match sys::openat(parent.as_fd(), &name_c, flags, 0) {
            Ok(fd) => fd,
            Err(_) => return Lookup::Hidden,
        };
        if effects.is_opaque(parent.as_fd()) {
            stop_here = true;
        }
    }
    let name = component(last);
    match sys::lstatat(parent.as_fd(), &name) {
        Ok(stat) if effects.is_whiteout(parent.as_fd(), &name, &stat) => Lookup::Hidden,
        Ok(stat) => Lookup::Found(parent, name, stat),
        Err(_) if stop_here => Lookup::Hidden,
        Err(_) => Lookup::Absent,
    }
}

/// Copies a lower regular file into `copy` (already created, writable): data, owner, mode,
/// xattrs (best effort), times. I/O errors on `copy` name `dest`.
pub(super) fn fill_regular(
    effects: &dyn FsEffects,
    source: &LowerNode,
    copy: &mut File,
    dest: &Path,
) -> Result<()> {
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW;
    let mut reader = File::from(
        sys::openat(source.dir.as_fd(), &source.name, flags, 0)
            .map_err(|e| Error::io(&source.describe, e))?,
    );
    let to_dest = |e| Error::io(dest, e);
    std::io::copy(&mut reader, copy).map_err(to_dest)?;
    let stat = &source.stat;
    effects
        .chown(Target::Fd(copy.as_fd()), stat.st_uid, stat.st_gid)
        .map_err(to_dest)?;
    sys::fchmod(copy.as_fd(), stat.st_mode & 0o7777).map_err(to_dest)?;
    for (key, value) in sys::list_xattrs(reader.as_fd()) {
        // Best effort, as for xattrs from the tar (see extract.rs).
        let _ = effects.set_xattr(copy.as_fd(), &key, &value);
    }
    sys::lutimensat(copy.as_fd(), c"", sys::times_of(stat)).map_err(to_dest)
}

/// Creates a copy of a lower symlink or device node at `parent/name` (which must not exist).
/// Regular files go through `fill_regular`; a directory is refused (`display` names the link).
pub(super) fn make_special(
    effects: &dyn FsEffects,
    source: &LowerNode,
    parent: BorrowedFd<'_>,
    name: &std::ffi::CStr,
    dest: &Path,
    display: &str,
) -> Result<()> {
    let stat = &source.stat;
    let to_dest = |e| Error::io(dest, e);
    let mode = stat.st_mode & 0o7777;
    match stat.st_mode & libc::S_IFMT {
        libc::S_IFLNK => {
            let link = sys::readlinkat(source.dir.as_fd(), &source.name)
                .map_err(|e| Error::io(&source.describe, e))?;
            let link = CString::new(link).map_err(|_| Error::format("symlink with NUL"))?;
            sys::symlinkat(&link, parent, name).map_err(to_dest)?;
            effects
                .chown(Target::At(parent, name), stat.st_uid, stat.st_gid)
                .map_err(to_dest)?;
            sys::lutimensat(parent, name, sys::times_of(stat)).map_err(to_dest)
        }
        kind @ (libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO) => {
            let node = match kind {
                libc::S_IFCHR => NodeKind::Char,
                libc::S_IFBLK => NodeKind::Block,
                _ => NodeKind::Fifo,
            };
            let created = effects
                .mknod(parent, name, node, mode, stat.st_rdev)
                .map_err(to_dest)?;
            if created {
                effects
                    .chown(Target::At(parent, name), stat.st_uid, stat.st_gid)
                    .map_err(to_dest)?;
                sys::fchmodat(parent, name, mode).map_err(to_dest)?;
                sys::lutimensat(parent, name, sys::times_of(stat)).map_err(to_dest)?;
            }
            Ok(())
        }
        _ => Err(points_to_dir(display)),
    }
}

/// One deferred lower target: the held placeholder inode and every name linked to it.
struct Placeholder {
    file: File,
    ino: u64,
    target: EntryPath,
    /// The link entry that made it first, then later links to it (in extraction order).
    names: Vec<EntryPath>,
    display: String,
}

/// Hardlinks of one extracted layer that wait for its lower layers (see the module doc).
/// Empty unless the layer was extracted with `defer_lower_links`.
#[derive(Default)]
pub struct PendingLinks {
    dest: PathBuf,
    placeholders: Vec<Placeholder>,
    /// `(st_dev, st_ino)` of each placeholder -> its index.
    by_inode: HashMap<(u64, u64), usize>,
}

impl std::fmt::Debug for PendingLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLinks")
            .field("dest", &self.dest)
            .field("targets", &self.len())
            .finish_non_exhaustive()
    }
}

impl PendingLinks {
    pub(super) fn new(dest: PathBuf) -> Self {
        Self {
            dest,
            ..Self::default()
        }
    }

    /// Distinct lower targets waiting (0: the layer is complete as extracted).
    #[must_use]
    pub fn len(&self) -> usize {
        self.placeholders.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.placeholders.is_empty()
    }

    /// The layer directory the links belong to.
    #[must_use]
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Records the placeholder just created at `name` (open as `file`) for `target`.
    pub(super) fn add(
        &mut self,
        file: File,
        stat: &libc::stat,
        name: EntryPath,
        target: EntryPath,
        display: &str,
    ) {
        self.by_inode
            .insert((stat.st_dev, stat.st_ino), self.placeholders.len());
        self.placeholders.push(Placeholder {
            file,
            ino: stat.st_ino,
            target,
            names: vec![name],
            display: display.to_owned(),
        });
    }

    /// Notes that `name` was just hardlinked to the inode `stat` describes.
    pub(super) fn linked(&mut self, stat: &libc::stat, name: &EntryPath) {
        if let Some(&index) = self.by_inode.get(&(stat.st_dev, stat.st_ino)) {
            self.placeholders[index].names.push(name.clone());
        }
    }

    /// Resolves every pending link against `lower_dirs` (the extracted parent layers, nearest
    /// first): each placeholder still linked somewhere becomes the copy of its lower target.
    /// A target missing or whited out in the lower layers, or a directory, is a `LayerFormat`
    /// error (as in the sequential path); the layer is then unusable and the caller removes it.
    /// With `sync`, the destination's filesystem is flushed afterwards. Returns the number of
    /// targets copied and the bytes they add to the layer's unpacked size. Free (no syscall
    /// at all) when nothing is pending.
    pub fn resolve(
        self,
        lower_dirs: &[PathBuf],
        effects: &dyn FsEffects,
        sync: bool,
    ) -> Result<Linked> {
        let mut linked = Linked::default();
        if self.placeholders.is_empty() {
            return Ok(linked);
        }
        let lowers = lower_dirs
            .iter()
            .map(|dir| Root::open(dir))
            .collect::<Result<Vec<_>>>()?;
        let root = Root::open(&self.dest)?;
        for mut placeholder in self.placeholders {
            let first = &placeholder.names[0];
            let describe = root.describe(first);
            let stat =
                sys::lstatat(placeholder.file.as_fd(), c"").map_err(|e| Error::io(&describe, e))?;
            // The target must exist below even when every name of the link was replaced
            // later in the layer: the sequential path refuses such a layer, and so do we.
            let Some(source) = find_lower(effects, &lowers, &placeholder.target) else {
                return Err(not_found(&placeholder.display, &placeholder.target));
            };
            if stat.st_nlink == 0 {
                continue; // every name was replaced later in the layer: nothing to fill
            }
            let copied = match source.stat.st_mode & libc::S_IFMT {
                libc::S_IFREG => {
                    fill_regular(effects, &source, &mut placeholder.file, &describe)?;
                    true
                }
                libc::S_IFDIR => return Err(points_to_dir(&placeholder.display)),
                _ => replace_names(effects, &root, &placeholder, &source)?,
            };
            if copied {
                // a regular file's data or a symlink's target; 0 for a device node
                linked.size += u64::try_from(source.stat.st_size).unwrap_or(0);
            }
            linked.targets += 1;
        }
        if sync {
            let dir = root.resolve(&EntryPath::root(), libc::O_RDONLY | libc::O_DIRECTORY);
            dir.and_then(|dir| sys::syncfs(dir.as_fd()))
                .map_err(|e| Error::io(root.path(), e))?;
        }
        Ok(linked)
    }
}

/// What `PendingLinks::resolve` made.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Linked {
    /// Lower targets copied.
    pub targets: u64,
    /// Bytes the copies add to the layer's unpacked size.
    pub size: u64,
}

/// Replaces each name still linked to the placeholder by the copy of a lower symlink or
/// device node (the first) or a hardlink to that copy (the others); whether a copy was made.
fn replace_names(
    effects: &dyn FsEffects,
    root: &Root,
    placeholder: &Placeholder,
    source: &LowerNode,
) -> Result<bool> {
    let mut made: Option<(OwnedFd, CString)> = None;
    for name_path in &placeholder.names {
        let (parent, name) = name_path.split_last().expect("a link is never the root");
        let name = component(name);
        let describe = root.describe(name_path);
        let to_dest = |e| Error::io(&describe, e);
        let Ok(dir) = root.resolve(&parent, libc::O_RDONLY | libc::O_DIRECTORY) else {
            continue; // the parent was replaced later in the layer
        };
        match sys::lstatat(dir.as_fd(), &name) {
            Ok(stat) if stat.st_ino == placeholder.ino && !path::is_dir(&stat) => {}
            _ => continue, // replaced later in the layer
        }
        let dir_stat = sys::lstatat(dir.as_fd(), c"").map_err(to_dest)?;
        let writable = dir_stat.st_mode & 0o200 != 0;
        if !writable {
            sys::fchmod(dir.as_fd(), (dir_stat.st_mode & 0o7777) | 0o700).map_err(to_dest)?;
        }
        sys::unlinkat(dir.as_fd(), &name, 0).map_err(to_dest)?;
        let created = match &made {
            Some((first_dir, first_name)) => {
                sys::linkat(first_dir.as_fd(), first_name, dir.as_fd(), &name).map_err(to_dest)
            }
            None => make_special(
                effects,
                source,
                dir.as_fd(),
                &name,
                &describe,
                &placeholder.display,
            ),
        };
        if !writable {
            sys::fchmod(dir.as_fd(), dir_stat.st_mode & 0o7777).map_err(to_dest)?;
        }
        sys::lutimensat(dir.as_fd(), c"", sys::times_of(&dir_stat)).map_err(to_dest)?;
        created?;
        if made.is_none() {
            if sys::lstatat(dir.as_fd(), &name).is_err() {
                return Ok(false); // a device node skipped without privilege: nothing to link to
            }
            made = Some((dir, name));
        }
    }
    Ok(made.is_some())
}
