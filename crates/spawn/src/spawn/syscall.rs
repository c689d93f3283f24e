//! The narrow waist between the container setup logic and the kernel: the [`Syscall`] trait,
//! one method per system call the child makes between `clone` and `execve`, and
//! [`LinuxSyscalls`], its real implementation.
//!
//! Invariants of the Linux implementation, because it runs in the cloned child of a possibly
//! multi-threaded Python process:
//! - no allocation, no locks, no panics: every argument is a pre-built `&CStr`, slice or integer,
//!   and each method is one system call (the error is read from `errno`, which lives in
//!   thread-local storage copied into the child);
//! - credentials change through raw `syscall(SYS_setresuid, ..)` and friends, never glibc's
//!   `setuid`/`setgroups`: glibc broadcasts those to every thread it believes exists (the
//!   "setxid" signal dance), and after a bare `clone` its thread list still names the parent's
//!   threads, so it would wait forever for threads that are not in the child.
//!
//! The recording fake in `fake.rs` implements the same trait for unit tests of the ordering.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;

use libc::{c_char, c_int, c_ulong, gid_t, uid_t};

use crate::seccomp::SockFilter;
use crate::spawn::errors::{FailureRecord, Stage};

/// A raw `errno` value from a failed system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// The current thread's `errno` (async-signal-safe: a thread-local read).
    #[must_use]
    pub fn last() -> Self {
        // SAFETY: __errno_location always returns a valid pointer to this thread's errno.
        Self(unsafe { *libc::__errno_location() })
    }
}

pub type SysResult<T = ()> = Result<T, Errno>;

/// An `argv`/`envp`-style array: owned C strings and the NULL-terminated array of pointers
/// to them, built together so the pointers are valid for as long as the array lives (moving
/// it moves the vectors' headers, never the heap buffers the pointers point into).
#[derive(Debug)]
pub struct CStringArray {
    strings: Vec<CString>,
    pointers: Vec<*const c_char>,
}

impl CStringArray {
    #[must_use]
    pub fn new(strings: Vec<CString>) -> Self {
        let pointers = strings
            .iter()
            .map(|value| value.as_ptr())
            .chain([std::ptr::null()])
            .collect();
        Self { strings, pointers }
    }

    #[must_use]
    pub fn strings(&self) -> &[CString] {
        &self.strings
    }

    fn as_ptr(&self) -> *const *const c_char {
        self.pointers.as_ptr()
    }
}

/// The system calls the container child makes, in the shape the setup steps need them.
/// Every method must be async-signal-safe in the real implementation.
pub trait Syscall {
    fn set_dumpable(&self, dumpable: bool) -> SysResult;
    /// Every catchable signal back to its default action, then an empty signal mask.
    fn reset_signals(&self) -> SysResult;
    fn umask(&self, mask: u32);
    fn open(&self, path: &CStr, flags: c_int) -> SysResult<RawFd>;
    /// `openat2(root, path, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: `path` is
    /// resolved as if `root` were `/`, symlinks and `..` included, so it cannot leave it.
    fn open_in_root(&self, root: RawFd, path: &CStr) -> SysResult<RawFd>;
    /// Creates an empty regular file `name` in `directory` (no symlink followed).
    fn create_file_at(&self, directory: RawFd, name: &CStr) -> SysResult;
    fn write(&self, fd: RawFd, data: &[u8]) -> SysResult;
    /// One read(2) (retried on `EINTR`): the count read, 0 at end of file.
    fn read(&self, fd: RawFd, buffer: &mut [u8]) -> SysResult<usize>;
    fn close(&self, fd: RawFd);
    fn mount(
        &self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: c_ulong,
        data: Option<&CStr>,
    ) -> SysResult;
    /// The `MS_*` per-mount flags (nosuid, nodev, noexec, atime) of the mount at `path`.
    fn mount_flags(&self, path: &CStr) -> SysResult<c_ulong>;
    fn umount2(&self, target: &CStr, flags: c_int) -> SysResult;
    fn mkdirat(&self, directory: RawFd, name: &CStr, mode: u32) -> SysResult;
    fn mknodat(
        &self,
        directory: RawFd,
        name: &CStr,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> SysResult;
    fn symlinkat(&self, target: &CStr, directory: RawFd, name: &CStr) -> SysResult;
    fn chdir(&self, path: &CStr) -> SysResult;
    fn fchdir(&self, fd: RawFd) -> SysResult;
    fn pivot_root(&self, new_root: &CStr, put_old: &CStr) -> SysResult;
    fn sethostname(&self, name: &CStr) -> SysResult;
    fn setrlimit(&self, resource: c_int, soft: u64, hard: u64) -> SysResult;
    fn setgroups(&self, groups: &[gid_t]) -> SysResult;
    fn setresgid(&self, gid: gid_t) -> SysResult;
    fn setresuid(&self, uid: uid_t) -> SysResult;
    fn drop_bounding_capability(&self, capability: u32) -> SysResult;
    /// Sets the effective and permitted sets to `mask` (capability bits) and empties the
    /// inheritable set, as docker has since 20.10.14 (CVE-2022-24769: an inheritable set let a
    /// file with inheritable file capabilities gain them across execve).
    fn set_capabilities(&self, mask: u64) -> SysResult;
    fn set_no_new_privs(&self) -> SysResult;
    /// `seccomp(SECCOMP_SET_MODE_FILTER, 0, program)`, or `prctl(PR_SET_SECCOMP)` on kernels
    /// without the seccomp syscall. No `TSYNC`: the cloned child has exactly one thread.
    fn set_seccomp_filter(&self, program: &[SockFilter]) -> SysResult;
    fn setsid(&self) -> SysResult;
    /// `ioctl(fd, TIOCSCTTY, 0)`: `fd`'s terminal becomes the session's controlling terminal.
    fn set_controlling_terminal(&self, fd: RawFd) -> SysResult;
    /// `fcntl(fd, F_DUPFD_CLOEXEC, minimum)`.
    fn dup_at_least(&self, fd: RawFd, minimum: RawFd) -> SysResult<RawFd>;
    fn dup2(&self, old: RawFd, new: RawFd) -> SysResult;
    /// Closes every fd in `first..=last`.
    fn close_range(&self, first: u32, last: u32) -> SysResult;
    /// `setns(fd, nstype)`: joins the namespace `fd` (an open `/proc/PID/ns/*` file) names.
    fn setns(&self, fd: RawFd, nstype: c_int) -> SysResult;
    /// `ioctl(master, TIOCSPTLCK, &0)`: unlocks a new pty's slave.
    fn unlock_pty(&self, master: RawFd) -> SysResult;
    /// `ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)`: opens the slave of a pty
    /// from its master, without a path lookup (so it is the slave of *this* devpts instance).
    fn pty_peer(&self, master: RawFd) -> SysResult<RawFd>;
    fn fchown(&self, fd: RawFd, uid: uid_t, gid: gid_t) -> SysResult;
    /// `ioctl(fd, TIOCSWINSZ)`: a terminal's size in character cells.
    fn set_window_size(&self, fd: RawFd, rows: u16, columns: u16) -> SysResult;
    /// Sends `fd` over the unix socket `socket` as one `SCM_RIGHTS` message (one data byte).
    fn send_fd(&self, socket: RawFd, fd: RawFd) -> SysResult;
    /// `unshare(flags)`.
    fn unshare(&self, flags: c_int) -> SysResult;
    /// Sets `IFF_UP` on the current network namespace's `lo` (`SIOCGIFFLAGS`/`SIOCSIFFLAGS`
    /// on a throw-away `AF_INET` socket); the kernel then gives it 127.0.0.1/8 and `::1`.
    fn set_loopback_up(&self) -> SysResult;
    /// `clone(CLONE_PARENT | SIGCHLD)` without a stack (fork's semantics, no atfork
    /// handlers): the new process is our parent's child, and the first process of a pid
    /// namespace just unshared. Returns `Ok` in it; the caller instead writes its pid (in the
    /// parent's pid namespace) on `report` as a [`FailureRecord`] of stage `Namespaces`, errno
    /// 0, and `_exit`s.
    fn fork_as_sibling(&self, report: RawFd) -> SysResult;
    /// Returns only on failure (the fake returns `Ok` to stand for a successful exec).
    fn execve(&self, path: &CStr, argv: &CStringArray, envp: &CStringArray) -> SysResult;
    /// `fchownat(directory, name, uid, gid, AT_SYMLINK_NOFOLLOW)`.
    fn fchownat(&self, directory: RawFd, name: &CStr, uid: uid_t, gid: gid_t) -> SysResult;
    /// `faccessat(AT_FDCWD, path, X_OK, AT_EACCESS)`: whether `path` could be executed.
    fn access_executable(&self, path: &CStr) -> SysResult;
    /// `mount_setattr(AT_FDCWD, path, AT_RECURSIVE, MOUNT_ATTR_RDONLY)`: the mount at `path`
    /// and every mount below it read-only.
    fn readonly_recursive(&self, path: &CStr) -> SysResult;
    /// `prctl(PR_SET_KEEPCAPS)`: whether the permitted set survives a change away from uid 0.
    fn set_keep_capabilities(&self, keep: bool) -> SysResult;
    /// capset(2) with the three sets as given (OCI's explicit sets).
    fn set_capability_sets(&self, effective: u64, permitted: u64, inheritable: u64) -> SysResult;
    /// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, capability)`.
    fn raise_ambient_capability(&self, capability: u32) -> SysResult;
}

/// The real system calls.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinuxSyscalls;

fn check(result: c_int) -> SysResult {
    if result < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

fn check_long(result: libc::c_long) -> SysResult<libc::c_long> {
    if result < 0 {
        Err(Errno::last())
    } else {
        Ok(result)
    }
}

fn optional(value: Option<&CStr>) -> *const c_char {
    value.map_or(std::ptr::null(), CStr::as_ptr)
}

/// `struct open_how` of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapabilityHeader {
    version: u32,
    pid: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapabilityData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

impl Syscall for LinuxSyscalls {
    fn set_dumpable(&self, dumpable: bool) -> SysResult {
        // SAFETY: prctl with integer arguments only.
        check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, c_ulong::from(dumpable), 0, 0, 0) })
    }

    fn reset_signals(&self) -> SysResult {
        for signal in 1..=64 {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            // SAFETY: a zeroed sigaction is a valid SIG_DFL action with an empty mask. glibc
            // refuses its two internal signals with EINVAL, which is ignored on purpose.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &raw const action, std::ptr::null_mut());
            }
        }
        // SAFETY: an empty, initialised set; the old mask is not wanted.
        unsafe {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&raw mut empty);
            check(libc::pthread_sigmask(
                libc::SIG_SETMASK,
                &raw const empty,
                std::ptr::null_mut(),
            ))
        }
    }

    fn umask(&self, mask: u32) {
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(mask) };
    }

    fn open(&self, path: &CStr, flags: c_int) -> SysResult<RawFd> {
        // SAFETY: path is NUL-terminated; the mode argument is unused without O_CREAT.
        let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
        check(fd).map(|()| fd)
    }

    fn open_in_root(&self, root: RawFd, path: &CStr) -> SysResult<RawFd> {
        let how = OpenHow {
            flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
            mode: 0,
            resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        // SAFETY: `how` is a valid open_how of the size passed; path is NUL-terminated.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root,
                path.as_ptr(),
                &raw const how,
                std::mem::size_of::<OpenHow>(),
            )
        };
        check_long(fd).map(|fd| fd as RawFd)
    }

    fn create_file_at(&self, directory: RawFd, name: &CStr) -> SysResult {
        let flags =
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: name is NUL-terminated; mode is passed because O_CREAT is set.
        let fd = unsafe { libc::openat(directory, name.as_ptr(), flags, 0o644 as libc::c_uint) };
        check(fd)?;
        self.close(fd);
        Ok(())
    }

    fn write(&self, fd: RawFd, data: &[u8]) -> SysResult {
        let mut written = 0;
        while written < data.len() {
            let rest = &data[written..];
            // SAFETY: rest is a valid slice for its length.
            let count = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
            if count < 0 {
                let error = Errno::last();
                if error.0 != libc::EINTR {
                    return Err(error);
                }
            } else {
                written += count as usize;
            }
        }
        Ok(())
    }

    fn read(&self, fd: RawFd, buffer: &mut [u8]) -> SysResult<usize> {
        loop {
            // SAFETY: buffer is a valid writable slice for its length.
            let count = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
            if count >= 0 {
                return Ok(count as usize);
            }
            let error = Errno::last();
            if error.0 != libc::EINTR {
                return Err(error);
            }
        }
    }

    fn close(&self, fd: RawFd) {
        // SAFETY: closing an fd this code opened; an error leaves nothing to undo.
        unsafe { libc::close(fd) };
    }

    fn mount(
        &self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: c_ulong,
        data: Option<&CStr>,
    ) -> SysResult {
        // SAFETY: every pointer is NUL-terminated or null, as mount(2) accepts.
        check(unsafe {
            libc::mount(
                optional(source),
                target.as_ptr(),
                optional(fstype),
                flags,
                optional(data).cast(),
            )
        })
    }

    fn mount_flags(&self, path: &CStr) -> SysResult<c_ulong> {
        // statfs, not statvfs: one system call, where glibc's statvfs may fall back to reading
        // /proc/mounts (allocation) on kernels that do not report mount flags.
        // SAFETY: statfs fills the zeroed struct; path is NUL-terminated.
        let mut info: libc::statfs64 = unsafe { std::mem::zeroed() };
        check(unsafe { libc::statfs64(path.as_ptr(), &raw mut info) })?;
        let pairs = [
            (libc::ST_NOSUID, libc::MS_NOSUID),
            (libc::ST_NODEV, libc::MS_NODEV),
            (libc::ST_NOEXEC, libc::MS_NOEXEC),
            (libc::ST_NOATIME, libc::MS_NOATIME),
            (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
            (libc::ST_RELATIME, libc::MS_RELATIME),
        ];
        Ok(pairs
            .iter()
            .filter(|(statfs_flag, _)| info.f_flags as c_ulong & statfs_flag != 0)
            .fold(0, |flags, (_, mount_flag)| flags | mount_flag))
    }

    fn umount2(&self, target: &CStr, flags: c_int) -> SysResult {
        // SAFETY: target is NUL-terminated.
        check(unsafe { libc::umount2(target.as_ptr(), flags) })
    }

    fn mkdirat(&self, directory: RawFd, name: &CStr, mode: u32) -> SysResult {
        // SAFETY: name is NUL-terminated.
        check(unsafe { libc::mkdirat(directory, name.as_ptr(), mode) })
    }

    fn mknodat(
        &self,
        directory: RawFd,
        name: &CStr,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> SysResult {
        let device = libc::makedev(major, minor);
        // SAFETY: name is NUL-terminated.
        check(unsafe { libc::mknodat(directory, name.as_ptr(), mode, device) })
    }

    fn symlinkat(&self, target: &CStr, directory: RawFd, name: &CStr) -> SysResult {
        // SAFETY: both strings are NUL-terminated.
        check(unsafe { libc::symlinkat(target.as_ptr(), directory, name.as_ptr()) })
    }

    fn chdir(&self, path: &CStr) -> SysResult {
        // SAFETY: path is NUL-terminated.
        check(unsafe { libc::chdir(path.as_ptr()) })
    }

    fn fchdir(&self, fd: RawFd) -> SysResult {
        // SAFETY: plain integer argument.
        check(unsafe { libc::fchdir(fd) })
    }

    fn pivot_root(&self, new_root: &CStr, put_old: &CStr) -> SysResult {
        // SAFETY: both strings are NUL-terminated; glibc has no wrapper.
        check_long(unsafe {
            libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr())
        })
        .map(drop)
    }

    fn sethostname(&self, name: &CStr) -> SysResult {
        let bytes = name.to_bytes();
        // SAFETY: the pointer and length describe the name without its NUL.
        check(unsafe { libc::sethostname(bytes.as_ptr().cast(), bytes.len()) })
    }

    fn setrlimit(&self, resource: c_int, soft: u64, hard: u64) -> SysResult {
        let limit = libc::rlimit64 {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: pid 0 is the calling process; the new limit is a valid struct.
        check(unsafe {
            libc::prlimit64(
                0,
                resource as libc::__rlimit_resource_t,
                &raw const limit,
                std::ptr::null_mut(),
            )
        })
    }

    fn setgroups(&self, groups: &[gid_t]) -> SysResult {
        // SAFETY: the pointer and length describe the slice; raw syscall, see module doc.
        check_long(unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) })
            .map(drop)
    }

    fn setresgid(&self, gid: gid_t) -> SysResult {
        // SAFETY: integer arguments; raw syscall, see module doc.
        check_long(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }).map(drop)
    }

    fn setresuid(&self, uid: uid_t) -> SysResult {
        // SAFETY: integer arguments; raw syscall, see module doc.
        check_long(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(drop)
    }

    fn drop_bounding_capability(&self, capability: u32) -> SysResult {
        // SAFETY: prctl with integer arguments only.
        check(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, c_ulong::from(capability), 0, 0, 0) })
    }

    fn set_capabilities(&self, mask: u64) -> SysResult {
        let header = CapabilityHeader {
            version: CAPABILITY_VERSION_3,
            pid: 0,
        };
        let low = mask as u32;
        let high = (mask >> 32) as u32;
        let data = [
            CapabilityData {
                effective: low,
                permitted: low,
                inheritable: 0,
            },
            CapabilityData {
                effective: high,
                permitted: high,
                inheritable: 0,
            },
        ];
        // SAFETY: a v3 header with two data elements, as capset(2) expects.
        check_long(unsafe { libc::syscall(libc::SYS_capset, &raw const header, data.as_ptr()) })
            .map(drop)
    }

    fn set_no_new_privs(&self) -> SysResult {
        // SAFETY: prctl with integer arguments only.
        check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
    }

    fn set_seccomp_filter(&self, program: &[SockFilter]) -> SysResult {
        const SECCOMP_SET_MODE_FILTER: libc::c_long = 1;
        let Ok(len) = u16::try_from(program.len()) else {
            return Err(Errno(libc::EINVAL));
        };
        // `SockFilter` is `#[repr(C)]` with `struct sock_filter`'s fields, in its order.
        let header = libc::sock_fprog {
            len,
            filter: program.as_ptr().cast_mut().cast::<libc::sock_filter>(),
        };
        // SAFETY: `header` points at `program`, alive for the call; the kernel copies it.
        let result = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                0 as libc::c_ulong,
                &raw const header,
            )
        };
        match check_long(result) {
            Err(Errno(libc::ENOSYS)) => {
                // SAFETY: as above; prctl reads the same sock_fprog.
                check(unsafe {
                    libc::prctl(
                        libc::PR_SET_SECCOMP,
                        c_ulong::from(libc::SECCOMP_MODE_FILTER),
                        &raw const header,
                    )
                })
            }
            other => other.map(|_| ()),
        }
    }

    fn setsid(&self) -> SysResult {
        // SAFETY: no arguments.
        check(unsafe { libc::setsid() })
    }

    fn set_controlling_terminal(&self, fd: RawFd) -> SysResult {
        // SAFETY: integer arguments; 0 means "do not steal it from another session".
        check(unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) })
    }

    fn dup_at_least(&self, fd: RawFd, minimum: RawFd) -> SysResult<RawFd> {
        // SAFETY: integer arguments.
        let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, minimum) };
        check(new).map(|()| new)
    }

    fn dup2(&self, old: RawFd, new: RawFd) -> SysResult {
        // SAFETY: integer arguments; dup2 leaves the new fd without FD_CLOEXEC.
        check(unsafe { libc::dup2(old, new) })
    }

    fn close_range(&self, first: u32, last: u32) -> SysResult {
        // SAFETY: integer arguments.
        let result = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
        if result == 0 {
            return Ok(());
        }
        let error = Errno::last();
        if error.0 != libc::ENOSYS {
            return Err(error);
        }
        // Kernels before 5.9: close one by one up to the fd limit.
        // SAFETY: a zeroed rlimit is filled by getrlimit.
        let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
        check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) })?;
        let end = u64::from(last).min(limit.rlim_cur.saturating_sub(1));
        for fd in u64::from(first)..=end {
            self.close(fd as RawFd);
        }
        Ok(())
    }

    fn setns(&self, fd: RawFd, nstype: c_int) -> SysResult {
        // SAFETY: integer arguments.
        check(unsafe { libc::setns(fd, nstype) })
    }

    fn unlock_pty(&self, master: RawFd) -> SysResult {
        let unlock: c_int = 0;
        // SAFETY: TIOCSPTLCK reads one int through the pointer, which is valid for the call.
        check(unsafe { libc::ioctl(master, libc::TIOCSPTLCK, &raw const unlock) })
    }

    fn pty_peer(&self, master: RawFd) -> SysResult<RawFd> {
        let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
        // SAFETY: TIOCGPTPEER takes the open flags as a plain integer argument.
        let fd = unsafe { libc::ioctl(master, libc::TIOCGPTPEER, flags) };
        check(fd).map(|()| fd)
    }

    fn fchown(&self, fd: RawFd, uid: uid_t, gid: gid_t) -> SysResult {
        // SAFETY: integer arguments.
        check(unsafe { libc::fchown(fd, uid, gid) })
    }

    fn set_window_size(&self, fd: RawFd, rows: u16, columns: u16) -> SysResult {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: columns,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize through the pointer, valid for the call.
        check(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &raw const size) })
    }

    fn send_fd(&self, socket: RawFd, fd: RawFd) -> SysResult {
        send_fd(socket, fd)
    }

    fn unshare(&self, flags: c_int) -> SysResult {
        // SAFETY: unshare takes flags only.
        check(unsafe { libc::unshare(flags) })
    }

    fn fork_as_sibling(&self, report: RawFd) -> SysResult {
        let flags = (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong;
        // SAFETY: a raw clone without CLONE_VM or a stack: the child runs on its own copy of
        // this stack, like fork, and goes on with the plan's raw system calls.
        let pid = check_long(unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) })?;
        if pid == 0 {
            return Ok(());
        }
        let record = FailureRecord {
            stage: Stage::Namespaces,
            errno: 0,
            step: pid as u32,
        };
        let _ = self.write(report, &record.to_bytes());
        // SAFETY: _exit skips atexit handlers and stdio flushing, which belong to the caller.
        unsafe { libc::_exit(0) }
    }

    fn set_loopback_up(&self) -> SysResult {
        // SAFETY: socket with constant arguments; the fd is closed on every path below.
        let socket =
            unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        check(socket)?;
        // SAFETY: a zeroed ifreq is valid; the name "lo" fits with its NUL; the ioctls read
        // and write only that struct.
        let result = unsafe {
            let mut request: libc::ifreq = std::mem::zeroed();
            for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
                *slot = *byte as c_char;
            }
            check(libc::ioctl(socket, libc::SIOCGIFFLAGS, &raw mut request)).and_then(|()| {
                request.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
                check(libc::ioctl(socket, libc::SIOCSIFFLAGS, &raw const request))
            })
        };
        // SAFETY: our own fd.
        unsafe { libc::close(socket) };
        result
    }

    fn execve(&self, path: &CStr, argv: &CStringArray, envp: &CStringArray) -> SysResult {
        // SAFETY: CStringArray guarantees NULL-terminated arrays of pointers into C strings it
        // owns and that outlive this call; execve only returns on failure.
        unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        Err(Errno::last())
    }

    fn fchownat(&self, directory: RawFd, name: &CStr, uid: uid_t, gid: gid_t) -> SysResult {
        // SAFETY: a NUL-terminated name and integer arguments.
        check(unsafe {
            libc::fchownat(
                directory,
                name.as_ptr(),
                uid,
                gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
    }

    fn access_executable(&self, path: &CStr) -> SysResult {
        // SAFETY: a NUL-terminated path and integer arguments.
        check(unsafe {
            libc::faccessat(libc::AT_FDCWD, path.as_ptr(), libc::X_OK, libc::AT_EACCESS)
        })
    }

    fn readonly_recursive(&self, path: &CStr) -> SysResult {
        /// `struct mount_attr` (linux/mount.h), `MOUNT_ATTR_SIZE_VER0`.
        #[repr(C)]
        struct MountAttr {
            set: u64,
            clear: u64,
            propagation: u64,
            userns_fd: u64,
        }
        const MOUNT_ATTR_RDONLY: u64 = 1;
        let attributes = MountAttr {
            set: MOUNT_ATTR_RDONLY,
            clear: 0,
            propagation: 0,
            userns_fd: 0,
        };
        // SAFETY: a NUL-terminated path and a mount_attr of the size given.
        check_long(unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                path.as_ptr(),
                libc::AT_RECURSIVE,
                &raw const attributes,
                std::mem::size_of::<MountAttr>(),
            )
        })
        .map(drop)
    }

    fn set_keep_capabilities(&self, keep: bool) -> SysResult {
        // SAFETY: prctl with integer arguments only.
        check(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, c_ulong::from(keep), 0, 0, 0) })
    }

    fn set_capability_sets(&self, effective: u64, permitted: u64, inheritable: u64) -> SysResult {
        let header = CapabilityHeader {
            version: CAPABILITY_VERSION_3,
            pid: 0,
        };
        let data = [
            CapabilityData {
                effective: effective as u32,
                permitted: permitted as u32,
                inheritable: inheritable as u32,
            },
            CapabilityData {
                effective: (effective >> 32) as u32,
                permitted: (permitted >> 32) as u32,
                inheritable: (inheritable >> 32) as u32,
            },
        ];
        // SAFETY: a v3 header with two data elements, as capset(2) expects.
        check_long(unsafe { libc::syscall(libc::SYS_capset, &raw const header, data.as_ptr()) })
            .map(drop)
    }

    fn raise_ambient_capability(&self, capability: u32) -> SysResult {
        // SAFETY: prctl with integer arguments only.
        check(unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as c_ulong,
                c_ulong::from(capability),
                0,
                0,
            )
        })
    }
}

/// Room for one `cmsghdr` carrying one fd, aligned for `cmsghdr` (no allocation).
#[repr(C)]
union ControlBuffer {
    bytes: [u8; 64],
    _align: libc::cmsghdr,
}

/// One `SCM_RIGHTS` message carrying `fd` (and one data byte, since a message needs data).
/// Async-signal-safe: stack buffers and one `sendmsg`.
pub fn send_fd(socket: RawFd, fd: RawFd) -> SysResult {
    send_fd_with(socket, fd, b"T")
}

/// [`send_fd`] with `payload` as the message's data (runc's console socket sends the master's
/// name).
pub fn send_fd_with(socket: RawFd, fd: RawFd, payload: &[u8]) -> SysResult {
    let mut vector = libc::iovec {
        iov_base: payload.as_ptr().cast_mut().cast(),
        iov_len: payload.len(),
    };
    let mut control = ControlBuffer { bytes: [0; 64] };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    // SAFETY: msghdr is plain data; every pointer set below is valid for the sendmsg call.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &raw mut vector;
    message.msg_iovlen = 1;
    // SAFETY: taking a field pointer of a local union; the buffer is 64 bytes >= space.
    message.msg_control = unsafe { control.bytes.as_mut_ptr() }.cast();
    message.msg_controllen = space;
    // SAFETY: msg_control points at a zeroed, cmsghdr-aligned buffer of `space` bytes, so the
    // first header and its data fit; CMSG_* only compute addresses inside it.
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&raw const message);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<RawFd>(), fd);
    }
    loop {
        // SAFETY: message describes valid buffers (above) for the duration of the call.
        let sent = unsafe { libc::sendmsg(socket, &raw const message, libc::MSG_NOSIGNAL) };
        if sent >= 0 {
            return Ok(());
        }
        let error = Errno::last();
        if error.0 != libc::EINTR {
            return Err(error);
        }
    }
}

/// Receives one fd sent by [`send_fd`], close-on-exec; `Ok(None)` when the peer closed
/// without sending one. Used by the parent, outside the child's restrictions.
pub fn receive_fd(socket: RawFd) -> std::io::Result<Option<std::os::fd::OwnedFd>> {
    use std::os::fd::FromRawFd;
    let mut data = [0u8; 1];
    let mut vector = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut control = ControlBuffer { bytes: [0; 64] };
    // SAFETY: as in send_fd: plain data, pointers valid for the recvmsg call.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &raw mut vector;
    message.msg_iovlen = 1;
    // SAFETY: a field pointer of a local union.
    message.msg_control = unsafe { control.bytes.as_mut_ptr() }.cast();
    message.msg_controllen = 64;
    let received = loop {
        // SAFETY: message describes valid buffers for the duration of the call.
        let received = unsafe { libc::recvmsg(socket, &raw mut message, libc::MSG_CMSG_CLOEXEC) };
        if received >= 0 {
            break received;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    };
    if received == 0 {
        return Ok(None);
    }
    // SAFETY: recvmsg filled msg_control/msg_controllen; CMSG_* walk inside that buffer.
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&raw const message);
        if header.is_null()
            || (*header).cmsg_level != libc::SOL_SOCKET
            || (*header).cmsg_type != libc::SCM_RIGHTS
        {
            return Ok(None);
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(header).cast::<RawFd>());
        // SAFETY: the kernel installed this fd in our table for us; nobody else owns it.
        Ok(Some(std::os::fd::OwnedFd::from_raw_fd(fd)))
    }
}
