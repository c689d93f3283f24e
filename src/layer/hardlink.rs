//! Hardlinks. A target is resolved in this layer first (confined like every lookup); linking
//! to this layer's own inode is a plain `linkat`. A target that is not in this layer lives in
//! a lower one: it is looked up in the lower layer
//! dirs nearest first, as overlayfs would see it: a whiteout of the target or of one of its
//! ancestors ends the search (the file was deleted), a non-directory ancestor hides it, and an
//! opaque ancestor stops the search below that layer. Every lookup is confined to the lower
//! root (openat2 `RESOLVE_IN_ROOT`) like writes are to ours. The found node is copied into this
//! layer (see extract.rs for why a copy and not a cross-layer link).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};

use crate::error::{Error, Result};
use crate::layer::effects::{NodeKind, Target};
use crate::layer::extract::Extractor;
use crate::layer::path::{self, component, normalize, EntryPath, Root};
use crate::layer::sys;

enum Lookup {
    Found(OwnedFd, CString, libc::stat),
    Hidden,
    Absent,
}

impl Extractor<'_> {
    pub(super) fn make_hardlink(
        &mut self,
        path: &EntryPath,
        raw_target: &[u8],
        display: &str,
    ) -> Result<()> {
        let target = normalize(raw_target)
            .map_err(|reason| Error::unsafe_path(display, format!("hardlink target: {reason}")))?;
        let Some((target_parent, target_name)) = target.split_last() else {
            return Err(Error::unsafe_path(display, "hardlink to the layer root"));
        };
        let (parent, name) = path.split_last().expect("root handled by the caller");
        if target == *path {
            return Ok(());
        }
        let copy = self.copied_from_lower.get(&target).cloned();
        let found = match self.find_in_layer(&target_parent, target_name)? {
            Some(found) => Some(found),
            None => match copy.as_ref().and_then(EntryPath::split_last) {
                Some((copy_parent, copy_name)) => self.find_in_layer(&copy_parent, copy_name)?,
                None => None,
            },
        };
        let Some((target_dir, target_name, target_stat)) = found else {
            self.copy_from_lower(path, &target, display)?;
            self.copied_from_lower.insert(target, path.clone());
            return Ok(());
        };
        if path::is_dir(&target_stat) {
            return Err(Error::format(format!(
                "hardlink {display:?} points to a directory"
            )));
        }
        let parent_fd = self.take_parent(&parent)?;
        let name = component(name);
        if let Ok(existing) = sys::lstatat(parent_fd.as_fd(), &name) {
            if existing.st_ino == target_stat.st_ino && existing.st_dev == target_stat.st_dev {
                self.keep_parent(parent, parent_fd);
                return Ok(()); // already that inode (e.g. reached through a symlinked parent)
            }
            self.clear(parent_fd.as_fd(), &name, false)
                .map_err(|e| self.io(path, e))?;
        }
        sys::linkat(target_dir.as_fd(), &target_name, parent_fd.as_fd(), &name)
            .map_err(|e| self.io(path, e))?;
        self.keep_parent(parent, parent_fd);
        Ok(())
    }

    /// The existing, non-whiteout node `parent/name` of this layer, if any.
    fn find_in_layer(
        &self,
        parent: &EntryPath,
        name: &[u8],
    ) -> Result<Option<(OwnedFd, CString, libc::stat)>> {
        let Ok(dir) = self.root.resolve_dir(parent) else {
            return Ok(None);
        };
        let name = component(name);
        match sys::lstatat(dir.as_fd(), &name) {
            Ok(stat) if self.effects.is_whiteout(dir.as_fd(), &name, &stat) => Ok(None),
            Ok(stat) => Ok(Some((dir, name, stat))),
            Err(error) if error.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(error) => Err(self.io(&parent.join(name.to_bytes()), error)),
        }
    }

    pub(super) fn copy_from_lower(
        &mut self,
        path: &EntryPath,
        target: &EntryPath,
        display: &str,
    ) -> Result<()> {
        let mut found = None;
        for lower in &self.lowers {
            match self.lookup(lower, target) {
                Lookup::Found(dir, name, stat) => {
                    found = Some((lower.describe(target), dir, name, stat));
                    break;
                }
                Lookup::Hidden => break,
                Lookup::Absent => {}
            }
        }
        let Some((lower_path, source_dir, source_name, stat)) = found else {
            return Err(Error::format(format!(
                "hardlink {display:?}: target {} exists in neither this layer nor a lower one",
                target.display()
            )));
        };
        let lower_error = |source| Error::io(&lower_path, source);
        let (parent, name) = path.split_last().expect("root handled by the caller");
        let parent_fd = self.take_parent(&parent)?;
        let name = component(name);
        if sys::lstatat(parent_fd.as_fd(), &name).is_ok() {
            self.clear(parent_fd.as_fd(), &name, false)
                .map_err(|e| self.io(path, e))?;
        }
        let times = [stat.st_atim(), stat.st_mtim()];
        let mode = stat.st_mode & 0o7777;
        match stat.st_mode & libc::S_IFMT {
            libc::S_IFREG => {
                let flags = libc::O_RDONLY | libc::O_NOFOLLOW;
                let mut source = File::from(
                    sys::openat(source_dir.as_fd(), &source_name, flags, 0).map_err(lower_error)?,
                );
                let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
                let mut copy = File::from(
                    sys::openat(parent_fd.as_fd(), &name, flags, 0o600)
                        .map_err(|e| self.io(path, e))?,
                );
                std::io::copy(&mut source, &mut copy).map_err(|e| self.io(path, e))?;
                self.effects
                    .chown(Target::Fd(copy.as_fd()), stat.st_uid, stat.st_gid)
                    .map_err(|e| self.io(path, e))?;
                sys::fchmod(copy.as_fd(), mode).map_err(|e| self.io(path, e))?;
                for (key, value) in sys::list_xattrs(source.as_fd()) {
                    // Best effort, as for xattrs from the tar (see extract.rs).
                    let _ = self.effects.set_xattr(copy.as_fd(), &key, &value);
                }
                sys::lutimensat(copy.as_fd(), c"", times).map_err(|e| self.io(path, e))?;
            }
            libc::S_IFLNK => {
                let link =
                    sys::readlinkat(source_dir.as_fd(), &source_name).map_err(lower_error)?;
                let link = CString::new(link).map_err(|_| Error::format("symlink with NUL"))?;
                sys::symlinkat(&link, parent_fd.as_fd(), &name).map_err(|e| self.io(path, e))?;
                let at = Target::At(parent_fd.as_fd(), &name);
                self.effects
                    .chown(at, stat.st_uid, stat.st_gid)
                    .map_err(|e| self.io(path, e))?;
                sys::lutimensat(parent_fd.as_fd(), &name, times).map_err(|e| self.io(path, e))?;
            }
            kind @ (libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO) => {
                let node = match kind {
                    libc::S_IFCHR => NodeKind::Char,
                    libc::S_IFBLK => NodeKind::Block,
                    _ => NodeKind::Fifo,
                };
                let created = self
                    .effects
                    .mknod(parent_fd.as_fd(), &name, node, mode, stat.st_rdev)
                    .map_err(|e| self.io(path, e))?;
                if created {
                    let at = Target::At(parent_fd.as_fd(), &name);
                    self.effects
                        .chown(at, stat.st_uid, stat.st_gid)
                        .map_err(|e| self.io(path, e))?;
                    sys::fchmodat(parent_fd.as_fd(), &name, mode).map_err(|e| self.io(path, e))?;
                    sys::lutimensat(parent_fd.as_fd(), &name, times)
                        .map_err(|e| self.io(path, e))?;
                }
            }
            _ => {
                return Err(Error::format(format!(
                    "hardlink {display:?} points to a directory"
                )));
            }
        }
        self.keep_parent(parent, parent_fd);
        Ok(())
    }

    fn lookup(&self, lower: &Root, target: &EntryPath) -> Lookup {
        let mut stop_here = false;
        let mut prefix = EntryPath::root();
        let Ok(mut parent) = lower.resolve_dir(&prefix) else {
            return Lookup::Absent;
        };
        if self.effects.is_opaque(parent.as_fd()) {
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
            prefix = prefix.join(name);
            let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
            parent = match sys::openat(parent.as_fd(), &name_c, flags, 0) {
                Ok(fd) => fd,
                Err(_) => return Lookup::Hidden,
            };
            if self.effects.is_opaque(parent.as_fd()) {
                stop_here = true;
            }
        }
        let name = component(last);
        match sys::lstatat(parent.as_fd(), &name) {
            Ok(stat) if self.effects.is_whiteout(parent.as_fd(), &name, &stat) => Lookup::Hidden,
            Ok(stat) => Lookup::Found(parent, name, stat),
            Err(_) if stop_here => Lookup::Hidden,
            Err(_) => Lookup::Absent,
        }
    }
}

trait StatTimes {
    fn st_atim(&self) -> libc::timespec;
    fn st_mtim(&self) -> libc::timespec;
}

impl StatTimes for libc::stat {
    fn st_atim(&self) -> libc::timespec {
        libc::timespec {
            tv_sec: self.st_atime,
            tv_nsec: self.st_atime_nsec,
        }
    }

    fn st_mtim(&self) -> libc::timespec {
        libc::timespec {
            tv_sec: self.st_mtime,
            tv_nsec: self.st_mtime_nsec,
        }
    }
}
