//! Hardlinks. A target is resolved in this layer first (confined like every lookup); linking
//! to this layer's own inode is a plain `linkat`. A target that is not in this layer lives in
//! a lower one: it is looked up in the lower layer dirs (see lower.rs for the rules) and
//! copied into this layer (see extract.rs for why a copy and not a cross-layer link), or, with
//! `defer_lower_links`, left as a placeholder that `PendingLinks::resolve` fills once the lower
//! layers exist (lower.rs).

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};

use crate::error::Result;
use crate::layer::extract::Extractor;
use crate::layer::lower::{self, find_lower, not_found};
use crate::layer::path::{self, component, normalize, EntryPath};
use crate::layer::sys;

impl Extractor<'_> {
    pub(super) fn make_hardlink(
        &mut self,
        path: &EntryPath,
        raw_target: &[u8],
        display: &str,
    ) -> Result<()> {
        let target = normalize(raw_target).map_err(|reason| {
            crate::error::Error::unsafe_path(display, format!("hardlink target: {reason}"))
        })?;
        let Some((target_parent, target_name)) = target.split_last() else {
            return Err(crate::error::Error::unsafe_path(
                display,
                "hardlink to the layer root",
            ));
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
            if self.pending.is_some() {
                self.defer_link(path, &target, display)?;
            } else {
                self.copy_from_lower(path, &target, display)?;
            }
            self.copied_from_lower.insert(target, path.clone());
            return Ok(());
        };
        if path::is_dir(&target_stat) {
            return Err(lower::points_to_dir(display));
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
        if let Some(pending) = self.pending.as_mut() {
            pending.linked(&target_stat, path);
        }
        self.keep_parent(parent, parent_fd);
        Ok(())
    }

    /// The existing, non-whiteout node `parent/name` of this layer, if any.
    fn find_in_layer(
        &self,
        parent: &EntryPath,
        name: &[u8],
    ) -> Result<Option<(OwnedFd, std::ffi::CString, libc::stat)>> {
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

    /// Makes room at `path` and returns its parent fd and name.
    fn clear_for(&mut self, path: &EntryPath) -> Result<(EntryPath, OwnedFd, std::ffi::CString)> {
        let (parent, name) = path.split_last().expect("root handled by the caller");
        let parent_fd = self.take_parent(&parent)?;
        let name = component(name);
        if sys::lstatat(parent_fd.as_fd(), &name).is_ok() {
            self.clear(parent_fd.as_fd(), &name, false)
                .map_err(|e| self.io(path, e))?;
        }
        Ok((parent, parent_fd, name))
    }

    fn copy_from_lower(
        &mut self,
        path: &EntryPath,
        target: &EntryPath,
        display: &str,
    ) -> Result<()> {
        let Some(source) = find_lower(self.effects, &self.lowers, target) else {
            return Err(not_found(display, target));
        };
        let (parent, parent_fd, name) = self.clear_for(path)?;
        let describe = self.root.describe(path);
        if source.stat.st_mode & libc::S_IFMT == libc::S_IFREG {
            let mut copy = self.create_file(&parent_fd, &name, path)?;
            lower::fill_regular(self.effects, &source, &mut copy, &describe)?;
        } else {
            lower::make_special(
                self.effects,
                &source,
                parent_fd.as_fd(),
                &name,
                &describe,
                display,
            )?;
        }
        // a regular file's data or a symlink's target; 0 for a device node
        self.unpacked_size += u64::try_from(source.stat.st_size).unwrap_or(0);
        self.keep_parent(parent, parent_fd);
        Ok(())
    }

    /// Leaves a placeholder for a link whose target is not in this layer (lower.rs).
    fn defer_link(&mut self, path: &EntryPath, target: &EntryPath, display: &str) -> Result<()> {
        let (parent, parent_fd, name) = self.clear_for(path)?;
        let file = self.create_file(&parent_fd, &name, path)?;
        let stat = sys::lstatat(file.as_fd(), c"").map_err(|e| self.io(path, e))?;
        self.pending.as_mut().expect("deferring").add(
            file,
            &stat,
            path.clone(),
            target.clone(),
            display,
        );
        self.keep_parent(parent, parent_fd);
        Ok(())
    }

    fn create_file(
        &self,
        parent_fd: &OwnedFd,
        name: &std::ffi::CStr,
        path: &EntryPath,
    ) -> Result<File> {
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        let fd =
            sys::openat(parent_fd.as_fd(), name, flags, 0o600).map_err(|e| self.io(path, e))?;
        Ok(File::from(fd))
    }
}
