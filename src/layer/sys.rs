//! Thin, fd-relative wrappers over the Linux syscalls the extractor needs. Every call takes a
//! directory fd and a single component name (or a path resolved by `openat2` inside a root),
//! never an absolute path, so nothing here can be steered outside the layer root by a symlink.
//! Errors are the raw `io::Error`; the callers attach the entry path.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// Retries a call interrupted by a signal (EINTR); `openat2` also reports EAGAIN when a
/// concurrent rename raced its resolution.
fn retry(mut call: impl FnMut() -> libc::c_int) -> io::Result<libc::c_int> {
    loop {
        match check(call()) {
            Err(error) if matches!(error.raw_os_error(), Some(libc::EINTR | libc::EAGAIN)) => {}
            other => return other,
        }
    }
}

fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open call and is owned by no one else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `openat2(dir, path, flags, resolve)`: the resolution is confined by `resolve`.
pub fn openat2(dir: BorrowedFd<'_>, path: &CStr, flags: i32, resolve: u64) -> io::Result<OwnedFd> {
    // SAFETY: open_how is a plain C struct; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    let fd = retry(|| {
        // SAFETY: `path` is NUL-terminated, `how` lives across the call and its size is passed.
        unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                path.as_ptr(),
                &raw const how,
                std::mem::size_of::<libc::open_how>(),
            ) as libc::c_int
        }
    })?;
    Ok(owned(fd))
}

/// `openat(dir, name, flags | O_CLOEXEC, mode)`.
pub fn openat(dir: BorrowedFd<'_>, name: &CStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated; the fd is borrowed for the call only.
    let fd = retry(|| unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode,
        )
    })?;
    Ok(owned(fd))
}

pub fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) }).map(drop)
}

pub fn symlinkat(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated.
    check(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// `linkat` without `AT_SYMLINK_FOLLOW`: a hardlink to a symlink links the symlink itself.
pub fn linkat(
    old_dir: BorrowedFd<'_>,
    old_name: &CStr,
    new_dir: BorrowedFd<'_>,
    new_name: &CStr,
) -> io::Result<()> {
    // SAFETY: both names are NUL-terminated.
    check(unsafe {
        libc::linkat(
            old_dir.as_raw_fd(),
            old_name.as_ptr(),
            new_dir.as_raw_fd(),
            new_name.as_ptr(),
            0,
        )
    })
    .map(drop)
}

pub fn mknodat(dir: BorrowedFd<'_>, name: &CStr, mode: u32, device: u64) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), mode, device) }).map(drop)
}

pub fn unlinkat(dir: BorrowedFd<'_>, name: &CStr, flags: i32) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`; an empty name stats `dir` itself.
pub fn lstatat(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data, fully written by a successful call.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    let flags = libc::AT_SYMLINK_NOFOLLOW
        | if name.is_empty() {
            libc::AT_EMPTY_PATH
        } else {
            0
        };
    // SAFETY: `name` is NUL-terminated and `stat` is a valid out pointer.
    check(unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &raw mut stat, flags) })?;
    Ok(stat)
}

/// `fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW)`; an empty name changes `dir` itself.
pub fn lchownat(dir: BorrowedFd<'_>, name: &CStr, uid: u32, gid: u32) -> io::Result<()> {
    let flags = libc::AT_SYMLINK_NOFOLLOW
        | if name.is_empty() {
            libc::AT_EMPTY_PATH
        } else {
            0
        };
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::fchownat(dir.as_raw_fd(), name.as_ptr(), uid, gid, flags) }).map(drop)
}

pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: plain syscall on a borrowed fd.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

/// `fchmodat(dir, name, mode, 0)`: only for names this extractor just created as non-symlinks.
pub fn fchmodat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::fchmodat(dir.as_raw_fd(), name.as_ptr(), mode, 0) }).map(drop)
}

/// The atime and mtime of `stat`, as `lutimensat` takes them: a copy keeps its source's times.
pub fn times_of(stat: &libc::stat) -> [libc::timespec; 2] {
    [
        libc::timespec {
            tv_sec: stat.st_atime,
            tv_nsec: stat.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: stat.st_mtime,
            tv_nsec: stat.st_mtime_nsec,
        },
    ]
}

/// Sets atime and mtime of `name` in `dir` (of `dir` itself for an empty name), not following
/// a symlink.
pub fn lutimensat(dir: BorrowedFd<'_>, name: &CStr, times: [libc::timespec; 2]) -> io::Result<()> {
    if name.is_empty() {
        // SAFETY: times has the 2 entries futimens reads.
        return check(unsafe { libc::futimens(dir.as_raw_fd(), times.as_ptr()) }).map(drop);
    }
    // SAFETY: `name` is NUL-terminated; times has 2 entries.
    check(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            name.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

pub fn fsetxattr(fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated; value pointer and length describe one slice.
    check(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
    .map(drop)
}

/// The value of an xattr, or None when it is absent or unsupported.
pub fn fgetxattr(fd: BorrowedFd<'_>, name: &CStr) -> Option<Vec<u8>> {
    let mut buffer = vec![0u8; 256];
    // SAFETY: `name` is NUL-terminated; buffer pointer and length describe one slice.
    let length = unsafe {
        libc::fgetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
        )
    };
    let length = usize::try_from(length).ok()?;
    buffer.truncate(length);
    Some(buffer)
}

pub fn readlinkat(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buffer = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: `name` is NUL-terminated; buffer pointer and length describe one slice.
    let length = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
        )
    };
    let length = usize::try_from(length).map_err(|_| io::Error::last_os_error())?;
    buffer.truncate(length);
    Ok(buffer)
}

pub fn syncfs(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscall on a borrowed fd.
    check(unsafe { libc::syncfs(fd.as_raw_fd()) }).map(drop)
}

/// The names in a directory (without `.` and `..`), read through a duplicate of `dir`.
pub fn list_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<std::ffi::CString>> {
    let duplicate = dir.try_clone_to_owned()?;
    let reopened = openat(
        duplicate.as_fd(),
        c".",
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    )?;
    let raw = std::os::fd::IntoRawFd::into_raw_fd(reopened);
    // SAFETY: `raw` is an owned, open directory fd; fdopendir takes ownership of it.
    let stream = unsafe { libc::fdopendir(raw) };
    if stream.is_null() {
        let error = io::Error::last_os_error();
        drop(owned(raw));
        return Err(error);
    }
    let mut names = Vec::new();
    loop {
        // SAFETY: `stream` is a valid DIR* until closedir below.
        let entry = unsafe { libc::readdir64(stream) };
        if entry.is_null() {
            break;
        }
        // SAFETY: readdir returned a valid dirent whose d_name is NUL-terminated.
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
        if name != c"." && name != c".." {
            names.push(name.to_owned());
        }
    }
    // SAFETY: `stream` is valid and closed exactly once.
    unsafe { libc::closedir(stream) };
    Ok(names)
}

/// Removes `name` in `dir` and, if it is a directory, everything below it, without ever
/// following a symlink (each level is opened with `O_NOFOLLOW` relative to its parent fd).
/// Returns the apparent bytes of the non-directories whose last link went.
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<u64> {
    let stat = lstatat(dir, name)?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFDIR {
        unlinkat(dir, name, 0)?;
        let last_link = stat.st_nlink <= 1;
        return Ok(if last_link {
            u64::try_from(stat.st_size).unwrap_or(0)
        } else {
            0
        });
    }
    let child = openat(
        dir,
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )?;
    let mut freed = 0;
    for entry in list_dir(child.as_fd())? {
        freed += remove_all_at(child.as_fd(), &entry)?;
    }
    unlinkat(dir, name, libc::AT_REMOVEDIR)?;
    Ok(freed)
}

/// `makedev(major, minor)`.
pub fn makedev(major: u32, minor: u32) -> u64 {
    libc::makedev(major, minor)
}

/// All xattrs of an open file, best effort (empty when unsupported).
pub fn list_xattrs(fd: BorrowedFd<'_>) -> Vec<(std::ffi::CString, Vec<u8>)> {
    let mut names = vec![0u8; 4096];
    // SAFETY: buffer pointer and length describe one slice.
    let length =
        unsafe { libc::flistxattr(fd.as_raw_fd(), names.as_mut_ptr().cast(), names.len()) };
    let Ok(length) = usize::try_from(length) else {
        return Vec::new();
    };
    names[..length]
        .split(|&byte| byte == 0)
        .filter(|name| !name.is_empty())
        .filter_map(|name| {
            let name = std::ffi::CString::new(name).ok()?;
            let mut value = vec![0u8; 65536];
            // SAFETY: `name` is NUL-terminated; buffer pointer and length describe one slice.
            let size = unsafe {
                libc::fgetxattr(
                    fd.as_raw_fd(),
                    name.as_ptr(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            };
            value.truncate(usize::try_from(size).ok()?);
            Some((name, value))
        })
        .collect()
}

/// `FS_TOPDIR_FL` (linux/fs.h; not in the libc crate).
pub const FS_TOPDIR_FL: libc::c_int = 0x0002_0000;

/// The inode flags (`lsattr`) of an open file or directory (`FS_IOC_GETFLAGS`).
pub fn inode_flags(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int (the kernel's get/put_user size) to the pointer.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::FS_IOC_GETFLAGS, &raw mut flags) })?;
    Ok(flags)
}

/// Marks the directory open as `dir` (`O_RDONLY`) as a "top of a hierarchy" (`chattr +T`):
/// ext4 then places each new subdirectory like a top-level one (Orlov: a lightly used block
/// group) instead of next to its parent.
pub fn set_topdir(dir: BorrowedFd<'_>) -> io::Result<()> {
    let flags = inode_flags(dir)?;
    if flags & FS_TOPDIR_FL != 0 {
        return Ok(());
    }
    let flags = flags | FS_TOPDIR_FL;
    // SAFETY: FS_IOC_SETFLAGS reads one int from the pointer, which lives across the call.
    check(unsafe { libc::ioctl(dir.as_raw_fd(), libc::FS_IOC_SETFLAGS, &raw const flags) })
        .map(drop)
}
