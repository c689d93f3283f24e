//! Pipeline and extraction tests. Tar streams are built in the test (`tar::Builder`, or raw
//! headers for hostile names the builder refuses). Most tests run the whole pipeline with
//! `RootlessEffects` on a tempdir (no privilege needed); the `as_root_*` tests use the real
//! overlay format and skip themselves when the probe (mknod of a 0:0 char device) fails.
//! This file holds the shared builders; the cases are in the submodules.

mod confinement;
mod deferred;
mod entries;
mod progress;
mod sizes;
mod stream;
mod whiteouts;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};

use tar::{EntryType, Header};

use crate::digest::Digest;
use crate::error::Error;
use crate::layer::effects::{FsEffects, RootlessEffects};
use crate::layer::{extract_layer_with, Compression, LayerOptions, LayerSummary};

/// A tar stream under construction.
pub(super) struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    pub(super) fn new() -> Self {
        Self(tar::Builder::new(Vec::new()))
    }

    /// An entry with a raw name and link name (no validation), mode, ids and mtime.
    pub(super) fn raw(
        mut self,
        name: &[u8],
        kind: EntryType,
        link: &[u8],
        data: &[u8],
        mode: u32,
    ) -> Self {
        let mut header = Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_600_000_000);
        header.set_cksum();
        self.0.append(&header, data).unwrap();
        self
    }

    pub(super) fn dir(self, name: &str) -> Self {
        self.raw(name.as_bytes(), EntryType::Directory, b"", b"", 0o755)
    }

    pub(super) fn file(self, name: &str, data: &[u8]) -> Self {
        self.raw(name.as_bytes(), EntryType::Regular, b"", data, 0o644)
    }

    pub(super) fn symlink(self, name: &str, target: &str) -> Self {
        self.raw(
            name.as_bytes(),
            EntryType::Symlink,
            target.as_bytes(),
            b"",
            0o777,
        )
    }

    pub(super) fn hardlink(self, name: &str, target: &str) -> Self {
        self.raw(
            name.as_bytes(),
            EntryType::Link,
            target.as_bytes(),
            b"",
            0o644,
        )
    }

    /// An entry with full header control.
    pub(super) fn with(
        mut self,
        name: &str,
        kind: EntryType,
        data: &[u8],
        edit: impl FnOnce(&mut Header),
    ) -> Self {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_600_000_000);
        edit(&mut header);
        self.0.append_data(&mut header, name, data).unwrap();
        self
    }

    /// A PAX extended header applying to the next entry.
    pub(super) fn pax(mut self, records: &[(&str, &[u8])]) -> Self {
        let mut body = Vec::new();
        for (key, value) in records {
            let rest = format!(" {key}=").len() + value.len() + 1;
            let mut length = rest + 1;
            while length.to_string().len() + rest != length {
                length += 1;
            }
            body.extend(format!("{length} {key}=").as_bytes());
            body.extend(*value);
            body.push(b'\n');
        }
        let mut header = Header::new_ustar();
        header.set_path("PaxHeaders/x").unwrap();
        header.set_entry_type(EntryType::XHeader);
        header.set_size(body.len() as u64);
        header.set_cksum();
        self.0.append(&header, &body[..]).unwrap();
        self
    }

    pub(super) fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

pub(super) struct Dirs {
    _temp: tempfile::TempDir,
    pub(super) dest: PathBuf,
    pub(super) outside: PathBuf,
}

pub(super) fn dirs() -> Dirs {
    let temp = tempfile::tempdir().unwrap();
    let dest = temp.path().join("dest");
    let outside = temp.path().join("outside");
    fs::create_dir(&dest).unwrap();
    fs::create_dir(&outside).unwrap();
    Dirs {
        dest,
        outside,
        _temp: temp,
    }
}

pub(super) fn options(dest: &Path, stream: &[u8], compression: Compression) -> LayerOptions {
    LayerOptions {
        dest: dest.to_owned(),
        compression,
        expected_digest: Digest::of(stream),
        expected_diff_id: None,
        lower_dirs: Vec::new(),
        defer_lower_links: false,
        blob_path: None,
        max_bytes: None,
        max_entries: None,
        sync: false,
    }
}

pub(super) fn run_with(
    tar: &[u8],
    options: &LayerOptions,
    effects: &dyn FsEffects,
) -> Result<LayerSummary, Error> {
    extract_layer_with(
        tar,
        options,
        effects,
        &AtomicBool::new(false),
        &AtomicU64::new(0),
    )
}

pub(super) fn extract(tar: &[u8], dest: &Path) -> Result<LayerSummary, Error> {
    run_with(
        tar,
        &options(dest, tar, Compression::None),
        &RootlessEffects,
    )
}

pub(super) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

pub(super) fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let file = fs::File::open(path).ok()?;
    let name = std::ffi::CString::new(name).unwrap();
    crate::layer::sys::fgetxattr(std::os::fd::AsFd::as_fd(&file), &name)
}

/// docker's directory.Size: the apparent sizes of everything but directories (lstat: a
/// symlink's target length), each inode once.
pub(super) fn directory_size(root: &Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else if seen.insert(std::os::unix::fs::MetadataExt::ino(&meta)) {
                total += meta.len();
            }
        }
    }
    total
}

/// Whether this process can write the overlay format (root with `CAP_MKNOD` on this fs).
pub(super) fn can_mknod() -> bool {
    let dir = tempfile::tempdir().unwrap();
    let name = std::ffi::CString::new(
        dir.path()
            .join("probe")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    // SAFETY: `name` is NUL-terminated.
    unsafe { libc::mknod(name.as_ptr(), libc::S_IFCHR, 0) == 0 }
}
