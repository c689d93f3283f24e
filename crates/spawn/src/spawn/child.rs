//! The child's side: runs the plan's steps with a [`Syscall`] implementation, from right after
//! `clone` to `execve`.
//!
//! This code runs in the cloned copy of a multi-threaded process, so it must not allocate,
//! lock, or panic: it reads the pre-built plan, formats `/proc/self/fd/N` into a stack buffer,
//! and calls the trait's one-syscall methods. A failure stops the walk and is returned as a
//! [`FailureRecord`] (stage, errno, step index) for the caller to write on the error pipe.

use std::ffi::CStr;
use std::os::fd::RawFd;

use crate::spawn::errors::{FailureRecord, Stage};
use crate::spawn::plan::{InRoot, Op, Plan, TargetKind};
use crate::spawn::syscall::{Errno, SysResult, Syscall};

/// The fds the parent made for the child before `clone`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildFds {
    /// The write end of the CLOEXEC error pipe.
    pub error: RawFd,
    /// The child's end of the console socket (`-1` without a console).
    pub console_socket: RawFd,
    /// Not an fd: the child was born in the plan's `cgroup_at_birth`, whose join it skips.
    pub born_in_cgroup: bool,
    /// The exec fifo, opened `O_PATH` by the parent (`-1` without a start gate).
    pub start_gate: RawFd,
    /// The read end of the pipe the parent releases a child in a new user namespace on
    /// (`-1` without one).
    pub sync: RawFd,
}

/// The child's mutable state: the rootfs fd between `OpenRoot` and `PivotRoot`, the console's
/// slave between `OpenConsole` and `CloseFds`.
struct Context {
    root: RawFd,
    console: RawFd,
    fds: ChildFds,
    /// The first exec candidate to try (found by `ResolveExec`).
    exec_from: usize,
}

/// Runs every step. `Ok` only when a (fake) `execve` reported success; the real one never
/// returns on success.
pub fn execute<S: Syscall>(sys: &S, plan: &Plan, fds: ChildFds) -> Result<(), FailureRecord> {
    let mut context = Context {
        root: -1,
        console: -1,
        fds,
        exec_from: 0,
    };
    for (index, step) in plan.steps.iter().enumerate() {
        run(sys, &step.op, &mut context, plan).map_err(|errno| FailureRecord {
            stage: step.stage,
            errno: errno.0,
            step: index as u32,
        })?;
    }
    // A plan always ends with Exec; reaching here means the fake's exec "succeeded".
    Ok(())
}

/// `/proc/self/fd/<fd>` with a NUL, formatted without allocating.
struct ProcFdPath {
    bytes: [u8; 32],
}

impl ProcFdPath {
    fn new(fd: RawFd) -> Self {
        const PREFIX: &[u8] = b"/proc/self/fd/";
        let mut bytes = [0u8; 32];
        bytes[..PREFIX.len()].copy_from_slice(PREFIX);
        let mut digits = [0u8; 10];
        let mut count = 0;
        let mut value = fd.unsigned_abs();
        loop {
            digits[count] = b'0' + (value % 10) as u8;
            count += 1;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        for (offset, digit) in digits[..count].iter().rev().enumerate() {
            bytes[PREFIX.len() + offset] = *digit;
        }
        Self { bytes }
    }

    fn as_c_str(&self) -> &CStr {
        // The buffer is zero-filled past the digits, so there is always a NUL.
        CStr::from_bytes_until_nul(&self.bytes).unwrap_or(c"/")
    }
}

/// Opens `path` inside the root, creating missing components (directories, and the last one
/// as `kind`), each creation made in a directory that was itself resolved inside the root.
fn open_or_create_in_root<S: Syscall>(
    sys: &S,
    root: RawFd,
    path: &InRoot,
    kind: TargetKind,
) -> SysResult<RawFd> {
    let mut parent = root;
    let last = path.prefixes.len().saturating_sub(1);
    for (index, (prefix, name)) in path.prefixes.iter().zip(&path.names).enumerate() {
        let opened = match sys.open_in_root(root, prefix) {
            Err(Errno(libc::ENOENT)) => {
                let created = if index == last && kind == TargetKind::File {
                    sys.create_file_at(parent, name)
                } else {
                    sys.mkdirat(parent, name, 0o755)
                };
                match created {
                    Ok(()) | Err(Errno(libc::EEXIST)) => sys.open_in_root(root, prefix),
                    Err(error) => Err(error),
                }
            }
            other => other,
        };
        if parent != root {
            sys.close(parent);
        }
        parent = opened?;
    }
    if parent == root {
        // The target is the root itself: hand out a separate fd the caller may close.
        return sys.open_in_root(root, c".");
    }
    Ok(parent)
}

fn with_fd<S: Syscall, T>(
    sys: &S,
    fd: RawFd,
    action: impl FnOnce(&CStr) -> SysResult<T>,
) -> SysResult<T> {
    let path = ProcFdPath::new(fd);
    let result = action(path.as_c_str());
    sys.close(fd);
    result
}

fn remount_readonly<S: Syscall>(sys: &S, target: &CStr) -> SysResult {
    remount_bind(sys, target, libc::MS_RDONLY)
}

/// A bind's flags changed: the ones it has (a remount that left out a locked flag would be
/// refused) plus `flags`.
fn remount_bind<S: Syscall>(sys: &S, target: &CStr, flags: libc::c_ulong) -> SysResult {
    let kept = sys.mount_flags(target)?;
    sys.mount(
        None,
        target,
        None,
        libc::MS_BIND | libc::MS_REMOUNT | flags | kept,
        None,
    )
}

#[allow(clippy::too_many_lines)] // one arm per operation reads better than a split
fn run<S: Syscall>(sys: &S, op: &Op, context: &mut Context, plan: &Plan) -> SysResult {
    match op {
        Op::SetDumpable(dumpable) => sys.set_dumpable(*dumpable),
        Op::ResetSignals => sys.reset_signals(),
        Op::Umask(mask) => {
            sys.umask(*mask);
            Ok(())
        }
        Op::JoinCgroup(procs) => {
            let born_here = plan
                .cgroup_at_birth
                .as_ref()
                .is_some_and(|b| b.procs == *procs);
            if born_here && context.fds.born_in_cgroup {
                return Ok(());
            }
            let fd = sys.open(procs, libc::O_WRONLY)?;
            let result = sys.write(fd, b"0");
            sys.close(fd);
            result
        }
        Op::Propagation { target, flags } => sys.mount(None, target, None, *flags, None),
        Op::Chdir(path) => sys.chdir(path),
        Op::MakeDirs(paths) => {
            for path in paths {
                // EEXIST is the common case; any other failure shows in the chdir after
                let _ = sys.mkdirat(libc::AT_FDCWD, path, 0o755);
            }
            Ok(())
        }
        Op::MountHost {
            source,
            target,
            fstype,
            flags,
            data,
        } => sys.mount(
            source.as_deref(),
            target,
            fstype.as_deref(),
            *flags,
            data.as_deref(),
        ),
        Op::OpenRoot(path) => {
            context.root = sys.open(path, libc::O_PATH | libc::O_DIRECTORY)?;
            Ok(())
        }
        Op::MountInRoot {
            source,
            target,
            kind,
            fstype,
            flags,
            data,
            remount,
        } => {
            let fd = open_or_create_in_root(sys, context.root, target, *kind)?;
            with_fd(sys, fd, |path| {
                sys.mount(
                    source.as_deref(),
                    path,
                    fstype.as_deref(),
                    *flags,
                    data.as_deref(),
                )
            })?;
            if *remount != 0 {
                // The old fd names the directory *under* the new mount; reopen to reach the
                // mount itself, or the remount would hit the parent mount.
                let fd = sys.open_in_root(
                    context.root,
                    target.prefixes.last().map_or(c".", |p| p.as_c_str()),
                )?;
                with_fd(sys, fd, |path| remount_bind(sys, path, *remount))?;
            }
            Ok(())
        }
        Op::UnshareCgroupNamespace => sys.unshare(libc::CLONE_NEWCGROUP),
        Op::LoopbackUp => sys.set_loopback_up(),
        Op::Sysctl { path, value } => {
            // Resolved in the root (no symlink leads out), then reopened for writing through
            // the magic link of that very file.
            let fd = sys.open_in_root(context.root, path)?;
            let opened = with_fd(sys, fd, |path| sys.open(path, libc::O_WRONLY));
            let fd = opened?;
            let result = sys.write(fd, value);
            sys.close(fd);
            result
        }
        Op::Mknod {
            parent,
            name,
            mode,
            major,
            minor,
            host,
            target,
        } => {
            let fd = sys.open_in_root(context.root, parent)?;
            let result = sys.mknodat(fd, name, *mode, *major, *minor);
            sys.close(fd);
            match result {
                Err(Errno(libc::EPERM)) => {
                    let fd = open_or_create_in_root(sys, context.root, target, TargetKind::File)?;
                    with_fd(sys, fd, |path| {
                        sys.mount(Some(host), path, None, libc::MS_BIND, None)
                    })
                }
                other => other,
            }
        }
        Op::Symlink {
            target,
            parent,
            name,
        } => {
            let fd = sys.open_in_root(context.root, parent)?;
            let result = sys.symlinkat(target, fd, name);
            sys.close(fd);
            result
        }
        Op::PivotRoot => {
            sys.fchdir(context.root)?;
            sys.pivot_root(c".", c".")?;
            // The old root is now stacked on "."; keep its unmount from reaching any peer.
            sys.mount(None, c".", None, libc::MS_SLAVE | libc::MS_REC, None)?;
            sys.umount2(c".", libc::MNT_DETACH)?;
            sys.chdir(c"/")?;
            sys.close(context.root);
            context.root = -1;
            Ok(())
        }
        Op::MaskPath(path) => {
            match sys.mount(Some(c"/dev/null"), path, None, libc::MS_BIND, None) {
                Err(Errno(libc::ENOENT)) => Ok(()),
                Err(Errno(libc::ENOTDIR)) => sys.mount(
                    Some(c"tmpfs"),
                    path,
                    Some(c"tmpfs"),
                    libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    Some(c"size=0"),
                ),
                other => other,
            }
        }
        Op::ReadonlyPath(path) => {
            match sys.mount(Some(path), path, None, libc::MS_BIND | libc::MS_REC, None) {
                Err(Errno(libc::ENOENT)) => Ok(()),
                Err(error) => Err(error),
                Ok(()) => remount_readonly(sys, path),
            }
        }
        Op::RemountRootReadonly => remount_readonly(sys, c"/"),
        Op::Hostname(name) => sys.sethostname(name),
        Op::Rlimit(limit) => sys.setrlimit(limit.resource, limit.soft, limit.hard),
        Op::DropBoundingSet(keep) => {
            for capability in 0..64u32 {
                if keep & (1u64 << capability) == 0 {
                    match sys.drop_bounding_capability(capability) {
                        // Past the kernel's last capability.
                        Err(Errno(libc::EINVAL)) => break,
                        other => other?,
                    }
                }
            }
            Ok(())
        }
        Op::SetGroups(groups) => sys.setgroups(groups),
        Op::SetGid(gid) => sys.setresgid(*gid),
        Op::SetUid(uid) => sys.setresuid(*uid),
        Op::SetCapabilities(mask) => sys.set_capabilities(*mask),
        Op::Stdio(fds) => install_stdio(sys, *fds),
        Op::OpenConsole { uid, size } => {
            // After pivot_root this path can only name the container's own devpts instance.
            let master = sys.open(c"/dev/pts/ptmx", libc::O_RDWR | libc::O_NOCTTY)?;
            let result = size
                .map_or(Ok(()), |(rows, columns)| {
                    sys.set_window_size(master, rows, columns)
                })
                .and_then(|()| open_console_slave(sys, master, *uid, context.fds.console_socket));
            sys.close(master);
            context.console = result?;
            Ok(())
        }
        Op::ConsoleStdio => install_stdio(sys, [Some(context.console); 3]),
        Op::SetNs { fd, nstype, .. } => sys.setns(*fd, *nstype),
        Op::ChdirInRoot(path) => {
            let root = sys.open(c"/", libc::O_PATH | libc::O_DIRECTORY)?;
            let directory = sys.open_in_root(root, path);
            sys.close(root);
            let directory = directory?;
            let result = sys.fchdir(directory);
            sys.close(directory);
            result
        }
        Op::NewSession => sys.setsid(),
        Op::ControllingTerminal => sys.set_controlling_terminal(0),
        Op::CloseFds { preserved } => {
            // Every fd above 2 but the preserved ones, the error pipe and the exec fifo.
            let gate = u32::try_from(context.fds.start_gate).unwrap_or(0);
            let error = context.fds.error as u32;
            let (low, high) = (error.min(gate), error.max(gate));
            let mut first = 3 + preserved;
            for keep in [low, high] {
                if keep < first {
                    continue;
                }
                if keep > first {
                    sys.close_range(first, keep - 1)?;
                }
                first = keep + 1;
            }
            sys.close_range(first, u32::MAX)
        }
        Op::NoNewPrivs => sys.set_no_new_privs(),
        Op::Seccomp(program) => sys.set_seccomp_filter(program),
        Op::Exec { candidates } => {
            let mut denied = false;
            for candidate in candidates.iter().skip(context.exec_from) {
                match sys.execve(candidate, &plan.argv, &plan.env) {
                    Ok(()) => return Ok(()),
                    // execvp's rules: a miss moves on, a refusal is remembered.
                    Err(Errno(libc::ENOENT | libc::ENOTDIR)) => {}
                    Err(Errno(libc::EACCES)) => denied = true,
                    Err(error) => return Err(error),
                }
            }
            Err(Errno(if denied { libc::EACCES } else { libc::ENOENT }))
        }
        Op::ResolveExec { candidates } => {
            let mut denied = false;
            for (index, candidate) in candidates.iter().enumerate() {
                match sys.access_executable(candidate) {
                    Ok(()) => {
                        context.exec_from = index;
                        return Ok(());
                    }
                    Err(Errno(libc::EACCES)) => denied = true,
                    Err(_) => {}
                }
            }
            Err(Errno(if denied { libc::EACCES } else { libc::ENOENT }))
        }
        Op::StartGate => start_gate(sys, context.fds),
        Op::Unshare(flags) => sys.unshare(*flags),
        Op::ForkAsSibling => sys.fork_as_sibling(context.fds.error),
        Op::AwaitParent => {
            let mut byte = [0u8; 1];
            match sys.read(context.fds.sync, &mut byte)? {
                // the parent gave up (and kills us)
                0 => Err(Errno(libc::ECANCELED)),
                _ => Ok(()),
            }
        }
        Op::MountSysfs { target, flags } => {
            let fd = open_or_create_in_root(sys, context.root, target, TargetKind::Directory)?;
            let bound = with_fd(sys, fd, |path| {
                match sys.mount(Some(c"sysfs"), path, Some(c"sysfs"), *flags, None) {
                    Err(Errno(libc::EPERM)) => sys
                        .mount(
                            Some(c"/sys"),
                            path,
                            None,
                            libc::MS_BIND | libc::MS_REC,
                            None,
                        )
                        .map(|()| true),
                    other => other.map(|()| false),
                }
            })?;
            if !bound || *flags & libc::MS_RDONLY == 0 {
                return Ok(());
            }
            // the bind took none of the flags: reopened to reach the mount itself, read-only
            let fd = sys.open_in_root(context.root, last_prefix(target))?;
            with_fd(sys, fd, |path| remount_readonly(sys, path))
        }
        Op::WriteFile { path, value } => {
            let fd = sys.open(path, libc::O_WRONLY)?;
            let result = sys.write(fd, value);
            sys.close(fd);
            result
        }
        Op::FlagsInRoot { target, flags } => {
            let fd = sys.open_in_root(context.root, last_prefix(target))?;
            with_fd(sys, fd, |path| sys.mount(None, path, None, *flags, None))
        }
        Op::ReadonlyRecursiveInRoot(target) => {
            let fd = sys.open_in_root(context.root, last_prefix(target))?;
            with_fd(sys, fd, |path| match sys.readonly_recursive(path) {
                // A kernel before 5.12: the top mount at least, as runc 1.1 leaves it.
                Err(Errno(libc::ENOSYS)) => remount_readonly(sys, path),
                other => other,
            })
        }
        Op::Device {
            target,
            parent,
            name,
            mode,
            major,
            minor,
            uid,
            gid,
            host,
        } => make_device(
            sys,
            context.root,
            (target, parent, name),
            (*mode, *major, *minor),
            (*uid, *gid),
            host,
        ),
        Op::Link {
            target,
            parent,
            name,
        } => {
            let fd = sys.open_in_root(context.root, parent)?;
            let result = sys.symlinkat(target, fd, name);
            sys.close(fd);
            match result {
                Err(Errno(libc::EEXIST)) => Ok(()),
                other => other,
            }
        }
        Op::KeepCapabilities(keep) => sys.set_keep_capabilities(*keep),
        Op::SetCapabilitySets {
            effective,
            permitted,
            inheritable,
        } => sys.set_capability_sets(*effective, *permitted, *inheritable),
        Op::RaiseAmbient(mask) => {
            // runc warns and goes on when one cannot be raised (not in the inheritable set,
            // as in `runc spec`'s own config): so do we, without the warning.
            for capability in (0..64u32).filter(|bit| mask & (1u64 << bit) != 0) {
                match sys.raise_ambient_capability(capability) {
                    Err(Errno(libc::EPERM | libc::EINVAL)) | Ok(()) => {}
                    Err(error) => return Err(error),
                }
            }
            Ok(())
        }
    }
}

/// Past the start gate nobody reads the error pipe: a failed `execve` is told on the
/// process's own stderr (`hybridock-runtime: exec CMD: REASON`, as runc's `exec failed`), and
/// the exit status is docker's (127 not found, 126 not executable). `None` for any other
/// failure, or one the parent hears about.
pub fn exec_failed<S: Syscall>(sys: &S, plan: &Plan, record: FailureRecord) -> Option<i32> {
    let step = plan.steps.get(record.step as usize)?;
    if plan.start_gate.is_none() || !matches!(step.op, Op::Exec { .. }) {
        return None;
    }
    let _ = sys.write(2, &plan.exec_failure_prefix);
    let _ = sys.write(2, errno_text(record.errno));
    let _ = sys.write(2, b"\n");
    Some(match record.errno {
        libc::ENOENT | libc::ENOTDIR => 127,
        _ => 126,
    })
}

/// strerror's text for the errors execve reports, without a call into libc's locale code.
fn errno_text(errno: i32) -> &'static [u8] {
    match errno {
        libc::ENOENT => b"no such file or directory",
        libc::ENOTDIR => b"not a directory",
        libc::EACCES => b"permission denied",
        libc::ENOEXEC => b"exec format error",
        libc::EPERM => b"operation not permitted",
        libc::E2BIG => b"argument list too long",
        libc::ENOMEM => b"cannot allocate memory",
        libc::ETXTBSY => b"text file busy",
        libc::ELOOP => b"too many levels of symbolic links",
        libc::ENAMETOOLONG => b"file name too long",
        libc::EISDIR => b"is a directory",
        libc::ELIBBAD => b"accessing a corrupted shared library",
        libc::EINVAL => b"invalid argument",
        libc::EIO => b"input/output error",
        _ => b"exec failed",
    }
}

/// The path (relative to the root) of an in-root target, `.` for the root itself.
fn last_prefix(target: &InRoot) -> &CStr {
    target
        .prefixes
        .last()
        .map_or(c".", |prefix| prefix.as_c_str())
}

/// The start gate: "ready" to the parent, then block on the exec fifo until `start`.
fn start_gate<S: Syscall>(sys: &S, fds: ChildFds) -> SysResult {
    let ready = FailureRecord {
        stage: Stage::StartGate,
        errno: 0,
        step: 0,
    };
    sys.write(fds.error, &ready.to_bytes())?;
    // The O_PATH fd reopened for writing through the container's own /proc (runc's way: the
    // host path is out of reach after pivot_root).
    let fifo = ProcFdPath::new(fds.start_gate);
    let fd = sys.open(fifo.as_c_str(), libc::O_WRONLY | libc::O_CLOEXEC)?;
    let result = sys.write(fd, b"0");
    sys.close(fd);
    sys.close(fds.start_gate);
    result
}

/// mknod of an OCI device (parents made; `EEXIST` is fine), then its owner; a refused mknod
/// binds the host's node instead.
fn make_device<S: Syscall>(
    sys: &S,
    root: RawFd,
    (target, parent, name): (&InRoot, &InRoot, &CStr),
    (mode, major, minor): (u32, u32, u32),
    (uid, gid): (libc::uid_t, libc::gid_t),
    host: &CStr,
) -> SysResult {
    let parent = open_or_create_in_root(sys, root, parent, TargetKind::Directory)?;
    let result = match sys.mknodat(parent, name, mode, major, minor) {
        Ok(()) => sys.fchownat(parent, name, uid, gid),
        Err(Errno(libc::EEXIST)) => Ok(()),
        Err(Errno(libc::EPERM)) => {
            sys.close(parent);
            let fd = open_or_create_in_root(sys, root, target, TargetKind::File)?;
            return with_fd(sys, fd, |path| {
                sys.mount(Some(host), path, None, libc::MS_BIND, None)
            });
        }
        Err(error) => Err(error),
    };
    sys.close(parent);
    result
}

/// Unlocks the pty, opens its slave (owned by `uid`), sends the master to the parent.
fn open_console_slave<S: Syscall>(
    sys: &S,
    master: RawFd,
    uid: libc::uid_t,
    socket: RawFd,
) -> SysResult<RawFd> {
    sys.unlock_pty(master)?;
    let slave = sys.pty_peer(master)?;
    let sent = sys
        .fchown(slave, uid, libc::gid_t::MAX)
        .and_then(|()| sys.send_fd(socket, master));
    if let Err(error) = sent {
        sys.close(slave);
        return Err(error);
    }
    Ok(slave)
}

/// Installs the sources on 0, 1, 2 (`None` keeps what is there).
fn install_stdio<S: Syscall>(sys: &S, fds: [Option<RawFd>; 3]) -> SysResult {
    // Move every source above 2 first, so installing one cannot clobber another.
    let mut moved: [RawFd; 3] = [-1; 3];
    for (slot, source) in moved.iter_mut().zip(fds) {
        if let Some(source) = source {
            *slot = sys.dup_at_least(source, 3)?;
        }
    }
    for (target, source) in (0..).zip(moved) {
        if source >= 0 {
            sys.dup2(source, target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fd_path_formats() {
        for (fd, expected) in [
            (0, "/proc/self/fd/0"),
            (7, "/proc/self/fd/7"),
            (1234, "/proc/self/fd/1234"),
        ] {
            assert_eq!(ProcFdPath::new(fd).as_c_str().to_str().unwrap(), expected);
        }
    }
}
