//! Confinement of layer paths. A tar entry name is first normalised lexically
//! (`normalize`): a leading `/` is dropped (tar and docker extract absolute names relative to
//! the root), empty and `.` components vanish, and a `..` that would climb above the root is
//! refused. Then every lookup goes through `Root::resolve`, `openat2` with
//! `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` on a fd of the root: the kernel resolves symlinks
//! met on the way as if the root were `/`, so a layer symlink `a -> /etc` makes `a/passwd`
//! land in `<root>/etc/passwd`, never in the host's `/etc`. The final component is never
//! followed: callers create and change it with `*at` calls on the resolved parent fd and
//! `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`. Nothing here ever joins an entry name onto a host path.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::layer::sys;

/// Why a name is refused; the caller adds the entry name.
pub const ESCAPES_ROOT: &str = "path escapes the layer root through '..'";

/// A normalised entry path: components joined by `/`, no leading `/`, no `.` or `..`, no NUL.
/// Empty means the root itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EntryPath(Vec<u8>);

impl EntryPath {
    #[must_use]
    pub fn root() -> Self {
        Self(Vec::new())
    }

    #[must_use]
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The parent path and the last component; `None` for the root.
    #[must_use]
    pub fn split_last(&self) -> Option<(EntryPath, &[u8])> {
        if self.0.is_empty() {
            return None;
        }
        Some(match self.0.iter().rposition(|&byte| byte == b'/') {
            Some(index) => (EntryPath(self.0[..index].to_vec()), &self.0[index + 1..]),
            None => (EntryPath::root(), &self.0[..]),
        })
    }

    #[must_use]
    pub fn join(&self, name: &[u8]) -> EntryPath {
        let mut bytes = self.0.clone();
        if !bytes.is_empty() {
            bytes.push(b'/');
        }
        bytes.extend_from_slice(name);
        EntryPath(bytes)
    }

    /// Number of components (0 for the root).
    #[must_use]
    pub fn depth(&self) -> usize {
        if self.0.is_empty() {
            0
        } else {
            self.0.split(|&byte| byte == b'/').count()
        }
    }

    /// The path as a C string for `openat2` (`.` for the root).
    #[must_use]
    pub fn to_cstring(&self) -> CString {
        if self.0.is_empty() {
            c".".to_owned()
        } else {
            // Normalisation refused NUL bytes.
            CString::new(self.0.clone()).expect("normalised paths contain no NUL")
        }
    }

    #[must_use]
    pub fn display(&self) -> String {
        format!("/{}", String::from_utf8_lossy(&self.0))
    }
}

/// Lexically normalises a tar entry name; `Err(reason)` if it cannot be confined.
pub fn normalize(raw: &[u8]) -> std::result::Result<EntryPath, &'static str> {
    if raw.contains(&0) {
        return Err("path contains a NUL byte");
    }
    let mut components: Vec<&[u8]> = Vec::new();
    for component in raw.split(|&byte| byte == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                if components.pop().is_none() {
                    return Err(ESCAPES_ROOT);
                }
            }
            _ => components.push(component),
        }
    }
    Ok(EntryPath(components.join(&b'/')))
}

/// A component name as a C string (callers pass components of normalised paths).
#[must_use]
pub fn component(name: &[u8]) -> CString {
    CString::new(name).expect("normalised components contain no NUL")
}

/// An open layer root: every lookup below it is confined by the kernel.
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

const RESOLVE: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

impl Root {
    /// Opens an existing directory as a root (`O_PATH`: it is only ever a lookup base).
    pub fn open(path: &Path) -> Result<Self> {
        let c_path = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::io(path, io::Error::from(io::ErrorKind::InvalidInput)))?;
        let fd = sys::openat(
            current_directory(),
            &c_path,
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )
        .map_err(|source| Error::io(path, source))?;
        Ok(Self {
            fd,
            path: path.to_owned(),
        })
    }

    #[must_use]
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `path` inside the root with `flags`, symlinks resolved as if the root were `/`.
    pub fn resolve(&self, path: &EntryPath, flags: i32) -> io::Result<OwnedFd> {
        sys::openat2(self.fd(), &path.to_cstring(), flags, RESOLVE)
    }

    /// An `O_PATH` fd of the directory at `path` inside the root.
    pub fn resolve_dir(&self, path: &EntryPath) -> io::Result<OwnedFd> {
        self.resolve(path, libc::O_PATH | libc::O_DIRECTORY)
    }

    /// The host path of an entry, for error messages only (never opened).
    #[must_use]
    pub fn describe(&self, path: &EntryPath) -> PathBuf {
        self.path
            .join(String::from_utf8_lossy(path.as_bytes()).as_ref())
    }
}

fn current_directory() -> BorrowedFd<'static> {
    // SAFETY: AT_FDCWD is a valid "fd" for every *at call and is never closed.
    unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) }
}

/// Whether the stat describes a directory.
#[must_use]
pub fn is_dir(stat: &libc::stat) -> bool {
    stat.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// `CStr` view of a component for error messages.
#[must_use]
pub fn lossy(name: &CStr) -> String {
    name.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_cases() {
        let cases: &[(&str, &[u8], Option<&str>)] = &[
            ("plain", b"a/b", Some("a/b")),
            (
                "leading slash is relative",
                b"/etc/passwd",
                Some("etc/passwd"),
            ),
            ("dot prefix", b"./a/./b/", Some("a/b")),
            ("root dot", b".", Some("")),
            ("root dot slash", b"./", Some("")),
            ("root slash", b"/", Some("")),
            ("inner dotdot", b"a/b/../c", Some("a/c")),
            ("dotdot to root", b"a/..", Some("")),
            ("escape", b"../x", None),
            ("deep escape", b"a/../../x", None),
            ("absolute escape", b"/../x", None),
            ("nul", b"a\0b", None),
        ];
        for (name, raw, expected) in cases {
            let got = normalize(raw)
                .ok()
                .map(|path| String::from_utf8(path.0).unwrap());
            assert_eq!(got.as_deref(), *expected, "{name}");
        }
    }

    #[test]
    fn split_and_join() {
        let path = normalize(b"a/b/c").unwrap();
        let (parent, name) = path.split_last().unwrap();
        assert_eq!(parent.as_bytes(), b"a/b");
        assert_eq!(name, b"c");
        assert_eq!(parent.join(b"c"), path);
        assert_eq!(path.depth(), 3);
        assert!(EntryPath::root().split_last().is_none());
    }

    #[test]
    fn resolve_keeps_symlinks_inside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", dir.path().join("up")).unwrap();
        let root = Root::open(dir.path()).unwrap();
        for name in ["link", "up"] {
            let fd = root
                .resolve_dir(&normalize(name.as_bytes()).unwrap())
                .unwrap();
            let stat = sys::lstatat(fd.as_fd(), c"").unwrap();
            let inside = std::fs::metadata(dir.path().join("etc")).unwrap();
            assert_eq!(
                stat.st_ino,
                std::os::unix::fs::MetadataExt::ino(&inside),
                "{name}"
            );
        }
    }
}
