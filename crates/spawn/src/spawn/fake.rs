//! A recording [`Syscall`] fake: each call is rendered as one line of text and kept in order,
//! and chosen calls fail with a chosen errno, so the order of the child's operations and the
//! way each failure is reported are unit-tested without root (youki's `TestHelperSyscall`).
//!
//! Paths handed out as fds are remembered: a mount on `/proc/self/fd/N` is recorded with the
//! container path `N` was opened for (`root:/dev/pts`), which is what the tests assert on.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::CStr;
use std::os::fd::RawFd;

use libc::{c_int, c_ulong, gid_t, uid_t};

use crate::seccomp::SockFilter;
use crate::spawn::syscall::{CStringArray, Errno, SysResult, Syscall};

struct Failure {
    prefix: String,
    errno: i32,
    remaining: Cell<u32>,
}

/// Records every call; fails the ones registered with [`RecordingSyscalls::failing`].
pub struct RecordingSyscalls {
    calls: RefCell<Vec<String>>,
    failures: Vec<Failure>,
    next_fd: Cell<RawFd>,
    fd_names: RefCell<HashMap<RawFd, String>>,
}

impl Default for RecordingSyscalls {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordingSyscalls {
    #[must_use]
    pub fn new() -> Self {
        Self {
            calls: RefCell::default(),
            failures: Vec::new(),
            next_fd: Cell::new(100),
            fd_names: RefCell::default(),
        }
    }

    /// Every call whose rendering starts with `prefix` fails with `errno`.
    #[must_use]
    pub fn failing(self, prefix: &str, errno: i32) -> Self {
        self.failing_times(prefix, errno, u32::MAX)
    }

    /// The first `times` calls starting with `prefix` fail with `errno`, later ones succeed.
    #[must_use]
    pub fn failing_times(mut self, prefix: &str, errno: i32, times: u32) -> Self {
        self.failures.push(Failure {
            prefix: prefix.to_owned(),
            errno,
            remaining: Cell::new(times),
        });
        self
    }

    /// The calls so far, in order.
    #[must_use]
    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    fn record(&self, call: String) -> SysResult {
        let failure = self
            .failures
            .iter()
            .find(|failure| call.starts_with(&failure.prefix) && failure.remaining.get() > 0);
        self.calls.borrow_mut().push(call);
        match failure {
            Some(failure) => {
                failure.remaining.set(failure.remaining.get() - 1);
                Err(Errno(failure.errno))
            }
            None => Ok(()),
        }
    }

    fn new_fd(&self, name: String) -> RawFd {
        let fd = self.next_fd.get();
        self.next_fd.set(fd + 1);
        self.fd_names.borrow_mut().insert(fd, name);
        fd
    }

    fn fd_name(&self, fd: RawFd) -> String {
        self.fd_names
            .borrow()
            .get(&fd)
            .cloned()
            .unwrap_or_else(|| format!("fd{fd}"))
    }

    fn path(&self, path: &CStr) -> String {
        let text = path.to_string_lossy();
        match text
            .strip_prefix("/proc/self/fd/")
            .and_then(|fd| fd.parse().ok())
        {
            Some(fd) => self.fd_name(fd),
            None => text.into_owned(),
        }
    }
}

fn text(value: Option<&CStr>) -> String {
    value.map_or_else(
        || "-".to_owned(),
        |value| value.to_string_lossy().into_owned(),
    )
}

impl Syscall for RecordingSyscalls {
    fn set_dumpable(&self, dumpable: bool) -> SysResult {
        self.record(format!("set_dumpable {dumpable}"))
    }

    fn reset_signals(&self) -> SysResult {
        self.record("reset_signals".to_owned())
    }

    fn umask(&self, mask: u32) {
        let _ = self.record(format!("umask {mask:o}"));
    }

    fn open(&self, path: &CStr, _flags: c_int) -> SysResult<RawFd> {
        let name = self.path(path);
        self.record(format!("open {name}"))?;
        Ok(self.new_fd(name))
    }

    fn open_in_root(&self, root: RawFd, path: &CStr) -> SysResult<RawFd> {
        let name = format!("root:/{}", path.to_string_lossy().trim_start_matches('.'));
        self.record(format!(
            "open_in_root {} {}",
            self.fd_name(root),
            path.to_string_lossy()
        ))?;
        Ok(self.new_fd(name))
    }

    fn create_file_at(&self, directory: RawFd, name: &CStr) -> SysResult {
        self.record(format!(
            "create_file {}/{}",
            self.fd_name(directory),
            name.to_string_lossy()
        ))
    }

    fn write(&self, fd: RawFd, data: &[u8]) -> SysResult {
        self.record(format!(
            "write {} {}",
            self.fd_name(fd),
            String::from_utf8_lossy(data)
        ))
    }

    fn read(&self, fd: RawFd, buffer: &mut [u8]) -> SysResult<usize> {
        self.record(format!("read {}", self.fd_name(fd)))?;
        buffer.iter_mut().take(1).for_each(|byte| *byte = b'1');
        Ok(buffer.len().min(1))
    }

    fn close(&self, fd: RawFd) {
        let _ = self.record(format!("close {}", self.fd_name(fd)));
    }

    fn mount(
        &self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: c_ulong,
        data: Option<&CStr>,
    ) -> SysResult {
        self.record(format!(
            "mount {} source={} type={} flags={flags:#x} data={}",
            self.path(target),
            text(source),
            text(fstype),
            text(data)
        ))
    }

    fn mount_flags(&self, path: &CStr) -> SysResult<c_ulong> {
        self.record(format!("statvfs {}", self.path(path)))?;
        Ok(libc::MS_NOSUID)
    }

    fn umount2(&self, target: &CStr, flags: c_int) -> SysResult {
        self.record(format!("umount2 {} {flags:#x}", self.path(target)))
    }

    fn mkdirat(&self, directory: RawFd, name: &CStr, mode: u32) -> SysResult {
        if directory == libc::AT_FDCWD {
            return self.record(format!("mkdir {} {mode:o}", name.to_string_lossy()));
        }
        self.record(format!(
            "mkdirat {}/{} {mode:o}",
            self.fd_name(directory),
            name.to_string_lossy()
        ))
    }

    fn mknodat(
        &self,
        directory: RawFd,
        name: &CStr,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> SysResult {
        self.record(format!(
            "mknod {}/{} {mode:o} {major}:{minor}",
            self.fd_name(directory),
            name.to_string_lossy()
        ))
    }

    fn symlinkat(&self, target: &CStr, directory: RawFd, name: &CStr) -> SysResult {
        self.record(format!(
            "symlink {}/{} -> {}",
            self.fd_name(directory),
            name.to_string_lossy(),
            target.to_string_lossy()
        ))
    }

    fn chdir(&self, path: &CStr) -> SysResult {
        self.record(format!("chdir {}", path.to_string_lossy()))
    }

    fn fchdir(&self, fd: RawFd) -> SysResult {
        self.record(format!("fchdir {}", self.fd_name(fd)))
    }

    fn pivot_root(&self, new_root: &CStr, put_old: &CStr) -> SysResult {
        self.record(format!(
            "pivot_root {} {}",
            new_root.to_string_lossy(),
            put_old.to_string_lossy()
        ))
    }

    fn sethostname(&self, name: &CStr) -> SysResult {
        self.record(format!("sethostname {}", name.to_string_lossy()))
    }

    fn setrlimit(&self, resource: c_int, soft: u64, hard: u64) -> SysResult {
        self.record(format!("setrlimit {resource} {soft} {hard}"))
    }

    fn setgroups(&self, groups: &[gid_t]) -> SysResult {
        self.record(format!("setgroups {groups:?}"))
    }

    fn setresgid(&self, gid: gid_t) -> SysResult {
        self.record(format!("setresgid {gid}"))
    }

    fn setresuid(&self, uid: uid_t) -> SysResult {
        self.record(format!("setresuid {uid}"))
    }

    fn drop_bounding_capability(&self, capability: u32) -> SysResult {
        // Like a kernel whose last capability is 40 (CAP_CHECKPOINT_RESTORE).
        if capability > 40 {
            return Err(Errno(libc::EINVAL));
        }
        self.record(format!("drop_bounding {capability}"))
    }

    fn set_capabilities(&self, mask: u64) -> SysResult {
        self.record(format!("capset {mask:#x}"))
    }

    fn set_no_new_privs(&self) -> SysResult {
        self.record("no_new_privs".to_owned())
    }

    fn set_seccomp_filter(&self, program: &[SockFilter]) -> SysResult {
        self.record(format!("seccomp {} instructions", program.len()))
    }

    fn setsid(&self) -> SysResult {
        self.record("setsid".to_owned())
    }

    fn set_controlling_terminal(&self, fd: RawFd) -> SysResult {
        self.record(format!("controlling_terminal {fd}"))
    }

    fn dup_at_least(&self, fd: RawFd, minimum: RawFd) -> SysResult<RawFd> {
        // Known fds by name ("pty-slave"), the caller's raw numbers as they are.
        let name = self
            .fd_names
            .borrow()
            .get(&fd)
            .cloned()
            .unwrap_or_else(|| fd.to_string());
        self.record(format!("dup {name} >= {minimum}"))?;
        Ok(self.new_fd(format!("dup-of-{name}")))
    }

    fn dup2(&self, old: RawFd, new: RawFd) -> SysResult {
        self.record(format!("dup2 {} {new}", self.fd_name(old)))
    }

    fn close_range(&self, first: u32, last: u32) -> SysResult {
        self.record(format!("close_range {first} {last}"))
    }

    fn setns(&self, fd: RawFd, nstype: c_int) -> SysResult {
        self.record(format!("setns {} {nstype:#x}", self.fd_name(fd)))
    }

    fn unlock_pty(&self, master: RawFd) -> SysResult {
        self.record(format!("unlock_pty {}", self.fd_name(master)))
    }

    fn pty_peer(&self, master: RawFd) -> SysResult<RawFd> {
        self.record(format!("pty_peer {}", self.fd_name(master)))?;
        Ok(self.new_fd("pty-slave".to_owned()))
    }

    fn fchown(&self, fd: RawFd, uid: uid_t, gid: gid_t) -> SysResult {
        self.record(format!("fchown {} {uid} {}", self.fd_name(fd), gid as i32))
    }

    fn set_window_size(&self, fd: RawFd, rows: u16, columns: u16) -> SysResult {
        self.record(format!("window_size {} {rows}x{columns}", self.fd_name(fd)))
    }

    fn send_fd(&self, socket: RawFd, fd: RawFd) -> SysResult {
        self.record(format!(
            "send_fd {} {}",
            self.fd_name(socket),
            self.fd_name(fd)
        ))
    }

    fn unshare(&self, flags: c_int) -> SysResult {
        self.record(format!("unshare {flags:#x}"))
    }

    fn set_loopback_up(&self) -> SysResult {
        self.record("loopback_up".to_owned())
    }

    fn fork_as_sibling(&self, report: RawFd) -> SysResult {
        self.record(format!("fork_as_sibling {}", self.fd_name(report)))
    }

    fn execve(&self, path: &CStr, _argv: &CStringArray, _envp: &CStringArray) -> SysResult {
        self.record(format!("execve {}", path.to_string_lossy()))
    }

    fn fchownat(&self, directory: RawFd, name: &CStr, uid: uid_t, gid: gid_t) -> SysResult {
        self.record(format!(
            "fchownat {}/{} {uid} {gid}",
            self.fd_name(directory),
            name.to_string_lossy()
        ))
    }

    fn access_executable(&self, path: &CStr) -> SysResult {
        self.record(format!("access_x {}", path.to_string_lossy()))
    }

    fn readonly_recursive(&self, path: &CStr) -> SysResult {
        self.record(format!("readonly_recursive {}", self.path(path)))
    }

    fn set_keep_capabilities(&self, keep: bool) -> SysResult {
        self.record(format!("keepcaps {keep}"))
    }

    fn set_capability_sets(&self, effective: u64, permitted: u64, inheritable: u64) -> SysResult {
        self.record(format!(
            "capset e={effective:#x} p={permitted:#x} i={inheritable:#x}"
        ))
    }

    fn raise_ambient_capability(&self, capability: u32) -> SysResult {
        self.record(format!("ambient_raise {capability}"))
    }
}
