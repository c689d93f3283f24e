//! OCI whiteouts, written in overlayfs format. `.wh.<name>` becomes a whiteout node for
//! `<name>` and `.wh..wh..opq` marks its directory opaque (through `FsEffects`, so the node and
//! marker format follow the privilege mode). Other `.wh..wh.*` names are aufs bookkeeping
//! (hardlink dirs) and are ignored, as docker does.
//!
//! Whiteouts hide lower layers only (OCI image-spec, "Whiteouts"): the destination is a fresh
//! directory, so a name that already exists there was written by this same layer and is kept.
//! If that existing node is a directory it is additionally marked opaque, because the
//! whiteout still says the lower layers' directory of that name is gone; a later entry of this
//! layer that recreates a whited-out name replaces the whiteout node (see `Extractor::clear`,
//! which marks a directory recreated over a whiteout opaque for the same reason).

use std::ffi::CStr;
use std::os::fd::AsFd;

use crate::error::Result;
use crate::layer::extract::Extractor;
use crate::layer::path::{self, EntryPath};
use crate::layer::sys;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const AUFS_METADATA_PREFIX: &[u8] = b".wh..wh.";

#[derive(Debug, PartialEq, Eq)]
pub enum SpecialName<'a> {
    Plain,
    Opaque,
    Whiteout(&'a [u8]),
    AufsMetadata,
}

/// Classifies the last component of an entry name; `Err(reason)` for a whiteout whose target
/// could not be confined (`.wh..`, `.wh...`, `.wh.` alone).
pub fn classify(name: &[u8]) -> std::result::Result<SpecialName<'_>, &'static str> {
    if name == OPAQUE {
        return Ok(SpecialName::Opaque);
    }
    if name.starts_with(AUFS_METADATA_PREFIX) {
        return Ok(SpecialName::AufsMetadata);
    }
    let Some(target) = name.strip_prefix(WHITEOUT_PREFIX) else {
        return Ok(SpecialName::Plain);
    };
    match target {
        b"" | b"." | b".." => Err("whiteout of an empty, '.' or '..' name"),
        _ => Ok(SpecialName::Whiteout(target)),
    }
}

impl Extractor<'_> {
    /// `.wh..wh..opq` in `dir`: mark `dir` (created if missing) opaque.
    pub(super) fn apply_opaque(&mut self, dir: &EntryPath) -> Result<()> {
        let directory = match dir.split_last() {
            Some((parent, name)) => {
                let parent_fd = self.take_parent(&parent)?;
                let name_c = path::component(name);
                let directory =
                    open_or_create_dir(parent_fd.as_fd(), &name_c).map_err(|e| self.io(dir, e))?;
                self.keep_parent(parent, parent_fd);
                directory
            }
            None => self
                .root
                .resolve(dir, libc::O_RDONLY | libc::O_DIRECTORY)
                .map_err(|e| self.io(dir, e))?,
        };
        self.effects
            .mark_opaque(directory.as_fd())
            .map_err(|e| self.io(dir, e))
    }

    /// `.wh.<name>` in `parent`.
    pub(super) fn apply_whiteout(&mut self, parent: &EntryPath, name: &CStr) -> Result<()> {
        let parent_fd = self.take_parent(parent)?;
        let path = parent.join(name.to_bytes());
        match sys::lstatat(parent_fd.as_fd(), name) {
            Ok(stat) if path::is_dir(&stat) => {
                let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
                let dir = sys::openat(parent_fd.as_fd(), name, flags, 0)
                    .map_err(|e| self.io(&path, e))?;
                self.effects
                    .mark_opaque(dir.as_fd())
                    .map_err(|e| self.io(&path, e))?;
            }
            Ok(_) => {} // this layer's own node already hides the lower one
            Err(error) if error.raw_os_error() == Some(libc::ENOENT) => {
                self.effects
                    .whiteout(parent_fd.as_fd(), name)
                    .map_err(|e| self.io(&path, e))?;
            }
            Err(error) => return Err(self.io(&path, error)),
        }
        self.keep_parent(parent.clone(), parent_fd);
        Ok(())
    }
}

fn open_or_create_dir(
    parent: std::os::fd::BorrowedFd<'_>,
    name: &CStr,
) -> std::io::Result<std::os::fd::OwnedFd> {
    match sys::mkdirat(parent, name, 0o755) {
        Ok(()) => {}
        Err(error) if error.raw_os_error() == Some(libc::EEXIST) => {}
        Err(error) => return Err(error),
    }
    sys::openat(
        parent,
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_cases() {
        let cases: &[(&str, &[u8], Result<SpecialName<'_>, ()>)] = &[
            ("plain", b"file", Ok(SpecialName::Plain)),
            ("opaque", b".wh..wh..opq", Ok(SpecialName::Opaque)),
            ("whiteout", b".wh.file", Ok(SpecialName::Whiteout(b"file"))),
            (
                "whiteout of dotfile",
                b".wh..bashrc",
                Ok(SpecialName::Whiteout(b".bashrc")),
            ),
            (
                "aufs hardlink dir",
                b".wh..wh.plnk",
                Ok(SpecialName::AufsMetadata),
            ),
            ("dotdot", b".wh...", Err(())),
            ("dot", b".wh..", Err(())),
            ("empty", b".wh.", Err(())),
        ];
        for (name, raw, expected) in cases {
            assert_eq!(&classify(raw).map_err(|_| ()), expected, "{name}");
        }
    }
}
