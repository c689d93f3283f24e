//! Confinement of layer paths. A tar entry name is first normalised lexically
//! (`normalize`): a leading `/` is dropped (tar and docker extract absolute names relative to
//! the root), empty and `.` components vanish, and a `..` that would climb above the root is
//! refused. Then every lookup goes through `Root::resolve`, `openat2` with
//! `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` on a fd of the root: the kernel resolves symlinks
//! met on the way as if the root were `/`, so a layer symlink `a -> /etc` makes `a/passwd`
//! land in `<root>/etc/passwd`, never in the host's `/etc`. The final component is never
//! followed: callers create and change it with `*at` calls on the resolved parent fd and
//! `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`. Nothing here ever joins an entry name onto a host path.
//! Where `openat2` is missing (kernel < 5.6, or a seccomp profile that refuses it, as older
//! docker defaults do) the same resolution is done by `resolve_by_walk`, an fd-relative walk
//! that never lets `..` or a symlink leave the root; a test checks both agree.

use std::collections::VecDeque;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

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
    // No path operation of the kernel takes more; refusing early also bounds the work of
    // creating missing parents (one confined lookup per component).
    if raw.len() >= libc::PATH_MAX as usize {
        return Err("path longer than PATH_MAX");
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

/// Set once `openat2` turned out to be unavailable in this process.
static OPENAT2_MISSING: AtomicBool = AtomicBool::new(false);

/// Makes every later `Root::resolve` of this process use the component walk (tests only: the
/// walk must confine exactly as `openat2` does).
#[cfg(test)]
pub(crate) fn force_walk(walk: bool) {
    OPENAT2_MISSING.store(walk, Ordering::Relaxed);
}

/// Linux's own limit on symlinks followed in one lookup.
const MAX_SYMLINKS: usize = 40;

/// `RESOLVE_IN_ROOT` done by hand, for kernels or sandboxes without `openat2`: one component
/// at a time with `O_NOFOLLOW`, fd-relative, keeping the chain of directory fds so that `..`
/// steps back one fd and stops at the root; a symlink is read and its target spliced into the
/// remaining path (an absolute target restarts at the root). The final component is followed
/// unless `flags` has `O_NOFOLLOW`, as with `openat2`.
pub(crate) fn resolve_by_walk(
    root: BorrowedFd<'_>,
    path: &[u8],
    flags: i32,
) -> io::Result<OwnedFd> {
    let mut chain: Vec<OwnedFd> = vec![root.try_clone_to_owned()?];
    let mut pending: VecDeque<Vec<u8>> = split_components(path).collect();
    let mut symlinks = 0;
    while let Some(name) = pending.pop_front() {
        if name == b".." {
            if chain.len() > 1 {
                chain.pop();
            }
            continue;
        }
        let current = chain.last().expect("the root is never popped").as_fd();
        let name_c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let last = pending.is_empty();
        let stat = sys::lstatat(current, &name_c)?;
        if stat.st_mode & libc::S_IFMT == libc::S_IFLNK && !(last && flags & libc::O_NOFOLLOW != 0)
        {
            symlinks += 1;
            if symlinks > MAX_SYMLINKS {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            let target = sys::readlinkat(current, &name_c)?;
            if target.starts_with(b"/") {
                chain.truncate(1);
            }
            for component in split_components(&target).rev() {
                pending.push_front(component);
            }
            continue;
        }
        if last {
            return sys::openat(current, &name_c, flags | libc::O_NOFOLLOW, 0);
        }
        let next = sys::openat(
            current,
            &name_c,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )?;
        chain.push(next);
    }
    let current = chain.last().expect("the root is never popped").as_fd();
    sys::openat(current, c".", flags, 0)
}

fn split_components(path: &[u8]) -> impl DoubleEndedIterator<Item = Vec<u8>> + '_ {
    path.split(|&byte| byte == b'/')
        .filter(|component| !component.is_empty() && *component != b".")
        .map(<[u8]>::to_vec)
}

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
        if !OPENAT2_MISSING.load(Ordering::Relaxed) {
            match sys::openat2(self.fd(), &path.to_cstring(), flags, RESOLVE) {
                Err(error) if matches!(error.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                    // Kernel < 5.6, or a seccomp filter (docker's older default profile)
                    // that refuses openat2: use the component walk from now on.
                    OPENAT2_MISSING.store(true, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        resolve_by_walk(self.fd(), path.as_bytes(), flags)
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
        assert!(
            normalize(&b"a/".repeat(2048)).is_err(),
            "longer than PATH_MAX"
        );
        assert!(
            normalize(&b"a/".repeat(2000)).is_ok(),
            "deep but short enough"
        );
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
    fn walk_matches_openat2() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir_all(base.join("etc/ssl")).unwrap();
        std::fs::create_dir_all(base.join("usr/lib")).unwrap();
        std::fs::write(base.join("etc/passwd"), b"").unwrap();
        let links = [
            ("abs", "/etc"),
            ("up", "../../../.."),
            ("rel", "usr/lib"),
            ("chain", "abs/ssl"),
            ("loop", "loop"),
            ("usr/lib/back", "../../etc"),
            ("dangling", "/missing/x"),
        ];
        for (name, target) in links {
            std::os::unix::fs::symlink(target, base.join(name)).unwrap();
        }
        let root = Root::open(base).unwrap();
        let cases = [
            "etc",
            "abs",
            "abs/passwd",
            "up",
            "up/etc/ssl",
            "rel",
            "chain",
            "loop",
            "usr/lib/back/passwd",
            "dangling",
            "missing",
            "etc/passwd/x",
            "abs/../usr",
        ];
        for case in cases {
            for flags in [
                libc::O_PATH,
                libc::O_PATH | libc::O_NOFOLLOW,
                libc::O_PATH | libc::O_DIRECTORY,
            ] {
                let path = normalize(case.as_bytes()).unwrap();
                let kernel = sys::openat2(root.fd(), &path.to_cstring(), flags, RESOLVE);
                let walked = resolve_by_walk(root.fd(), path.as_bytes(), flags);
                let identity = |result: io::Result<OwnedFd>| {
                    result
                        .map(|fd| {
                            let stat = sys::lstatat(fd.as_fd(), c"").unwrap();
                            (stat.st_dev, stat.st_ino)
                        })
                        .map_err(|error| error.raw_os_error())
                };
                assert_eq!(
                    identity(walked),
                    identity(kernel),
                    "{case} flags {flags:#o}"
                );
            }
        }
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
