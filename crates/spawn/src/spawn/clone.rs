//! The parent's side: the error pipe, the child's stack, `clone`, and the wait for exec.
//!
//! Why `libc::clone` with a separately mapped stack, and not fork + unshare + fork: one
//! `clone(CLONE_NEWNS | CLONE_NEWPID | ...)` creates every namespace at once and makes the
//! child pid 1 of its new pid namespace *and* a direct child of the caller, who reaps it with
//! `waitpid` (an `unshare(CLONE_NEWPID)` only affects later children, which would need a second
//! fork and an intermediate process that the caller cannot wait on). Without `CLONE_VM` the
//! child gets a copy-on-write copy of the address space, like fork, so the plan built before
//! the call is readable in the child; the stack is our own mapping because glibc's `clone`
//! requires one, and the parent unmaps its copy right after the call.
//!
//! Signals are blocked across `clone` (the child starts with them blocked and resets every
//! action to default before unblocking), so no Python signal handler ever runs in the child.
//!
//! Handshake: the pipe is `O_CLOEXEC`; the parent closes its write end and reads. EOF with
//! nothing read means the child's `execve` succeeded (the kernel closed the write end); a
//! full [`FailureRecord`] means the child failed and has `_exit`ed: the parent reaps it and
//! returns the error. A child that dies by a signal before exec also closes the pipe and looks
//! like a success; the caller's `waitpid` then reports the signal.
//!
//! Console (`-t`): a CLOEXEC unix socket pair is made before `clone`; the child sends the pty
//! master it opened on the container's devpts as `SCM_RIGHTS` and closes its end with every
//! other fd before exec. The parent receives it only once the error pipe said "exec'd" (the
//! message is queued by then); on a failure the queued fd is dropped with the socket.
//!
//! Born in its cgroup: when the plan joins a cgroup2 directory (`cgroup_at_birth`), the child is
//! made by `clone3(CLONE_INTO_CGROUP)` and skips that join: a `cgroup.procs` write waits for an
//! RCU grace period, a birth does not (see plan.rs). That `clone3` gets no stack, like fork: the
//! child returns from it on its copy of our stack and calls `child_main` at once. A kernel
//! before 5.7, or a seccomp profile that refuses `clone3` (docker's says ENOSYS), falls back to
//! `clone`, and the child joins through `cgroup.procs` as planned.
//!
//! Joining a pid namespace (`exec`): `setns(CLONE_NEWPID)` only sets the namespace of the
//! caller's *children*, and only for the calling thread (`nsproxy` is per task), so the
//! calling thread joins it right before `clone` and returns to its own pid namespace right
//! after: the child is born in the container's pid namespace yet is the caller's direct child,
//! with no intermediate process. Other threads of the caller are never affected; the mount
//! namespace cannot be joined this way (a multi-threaded process shares its `fs`), so the
//! child joins that one itself.
//!
//! Joining a network namespace (`run` on a bridge network, `network_namespace`): the same
//! shape. The namespace was made and wired beforehand (`net::new_network_namespace`, a veth
//! attached); the calling thread enters it right before `clone`, so the child is born in it
//! without `CLONE_NEWNET`, and returns to its own right after, on the error path too. A
//! network namespace is per thread, so nothing else of the caller moves.

use std::ffi::c_void;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use crate::spawn::child::{self, ChildFds};
use crate::spawn::errors::{FailureRecord, SpawnError, Stage};
use crate::spawn::plan::{CgroupAtBirth, Op, ParentSteps, Plan};
use crate::spawn::syscall::{receive_fd, LinuxSyscalls, Syscall};

/// A started process: its pid (the caller reaps it) and, with a console, the pty master
/// (close-on-exec, owned by the caller).
#[derive(Debug)]
pub struct Spawned {
    pub pid: libc::pid_t,
    pub terminal: Option<OwnedFd>,
}

const STACK_SIZE: usize = 1024 * 1024;

/// What the child function receives (a pointer into the parent's frame, copied by clone).
struct ChildArguments<'plan> {
    plan: &'plan Plan,
    fds: ChildFds,
}

/// An anonymous mapping with a guard page at its low end.
struct Stack {
    base: *mut c_void,
    size: usize,
}

impl Stack {
    fn new(size: usize) -> io::Result<Self> {
        // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = Self { base, size };
        // SAFETY: the first page of the mapping just created; an overflow faults there.
        if unsafe { libc::mprotect(base, 4096, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The highest address, 16-byte aligned (the stack grows down on every Linux target).
    fn top(&self) -> *mut c_void {
        // SAFETY: size is the mapping's length, so base + size is its one-past-the-end.
        let end = unsafe { self.base.cast::<u8>().add(self.size) };
        end.wrapping_sub(end as usize % 16).cast()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `new`; the child has its own copy.
        unsafe { libc::munmap(self.base, self.size) };
    }
}

extern "C" fn child_main(argument: *mut c_void) -> libc::c_int {
    // SAFETY: `argument` is the ChildArguments the parent passed to clone; the child's copy of
    // the parent's memory keeps it (and the plan it borrows) alive until exec or _exit.
    let arguments = unsafe { &*argument.cast::<ChildArguments<'_>>() };
    let record = match child::execute(&LinuxSyscalls, arguments.plan, arguments.fds) {
        Err(record) => record,
        // Unreachable with the real execve; report it rather than run on.
        Ok(()) => FailureRecord {
            stage: Stage::Exec,
            errno: libc::ENOEXEC,
            step: 0,
        },
    };
    // Past a start gate the parent no longer reads: a write must not kill us with SIGPIPE.
    // SAFETY: setting a signal's disposition; the process exits right after.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let status = child::exec_failed(&LinuxSyscalls, arguments.plan, record).unwrap_or_else(|| {
        let _ = LinuxSyscalls.write(arguments.fds.error, &record.to_bytes());
        1
    });
    // SAFETY: _exit skips atexit handlers and stdio flushing, which belong to the parent.
    unsafe { libc::_exit(status) }
}

/// `struct clone_args` of clone3(2) up to `cgroup` (`CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `clone3` for a child born in the cgroup2 directory `cgroup` (an open fd), without a stack
/// (fork's semantics). Returns the pid (0 in the child), or the errno.
///
/// # Safety
/// As fork: the child must only make raw system calls and leave through exec or `_exit`.
unsafe fn clone_into_cgroup(flags: libc::c_int, cgroup: RawFd) -> Result<libc::pid_t, i32> {
    let arguments = CloneArgs {
        flags: u64::from(u32::from_ne_bytes(flags.to_ne_bytes())) | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: u64::from(u32::try_from(cgroup).map_err(|_| libc::EBADF)?),
        ..CloneArgs::default()
    };
    // SAFETY: a valid clone_args of the size given; no CLONE_VM, so the child has its own
    // copy of the address space (the caller's safety contract covers what it then runs).
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &raw const arguments,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid < 0 {
        return Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL));
    }
    libc::pid_t::try_from(pid).map_err(|_| libc::EINVAL)
}

/// The cgroup directory the child is to be born in, opened (`None` without one).
fn open_cgroup(plan: &Plan) -> Option<OwnedFd> {
    let birth = plan.cgroup_at_birth.as_ref()?;
    // SAFETY: a NUL-terminated path from the plan; the fd returned is ours.
    let fd = unsafe {
        libc::open(
            birth.directory.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        // the planned join through cgroup.procs reports it, with the child's usual error
        return None;
    }
    // SAFETY: open returned a fresh descriptor.
    let directory = unsafe { OwnedFd::from_raw_fd(fd) };
    // A v1 hierarchy's cgroup.procs joins the same way but cannot take a birth (clone3 says
    // EBADF): only a cgroup2 directory is born into, the rest is joined as planned.
    // SAFETY: statfs is plain old data, filled by the kernel for an fd we own.
    let mut info: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd and a pointer to a statfs of the right size.
    let found = unsafe { libc::fstatfs(directory.as_raw_fd(), &raw mut info) };
    (found == 0 && info.f_type == CGROUP2_SUPER_MAGIC).then_some(directory)
}

/// `f_type` of a cgroup2 file system (linux/magic.h).
const CGROUP2_SUPER_MAGIC: libc::c_long = 0x6367_7270;

fn parent_error(operation: &'static str) -> SpawnError {
    SpawnError::Parent {
        operation,
        source: io::Error::last_os_error(),
    }
}

/// `fd` itself when it is above 2, else a CLOEXEC duplicate that is (the original is closed).
fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, SpawnError> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: duplicating a descriptor we own; the result is a new owned descriptor.
    let lifted = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if lifted < 0 {
        return Err(parent_error("fcntl"));
    }
    // SAFETY: fcntl returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(lifted) })
}

/// A CLOEXEC pipe whose ends are both above 2, so installing the child's stdio on 0-2 can
/// never overwrite the error pipe (the caller may run with 0-2 closed).
fn error_pipe() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(parent_error("pipe"));
    }
    // SAFETY: pipe2 just returned these two fresh descriptors, owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((above_stdio(read)?, above_stdio(write)?))
}

/// The console socket pair (parent's end, child's end), CLOEXEC, both above 2.
fn console_socket() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors socketpair writes.
    let made = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if made != 0 {
        return Err(parent_error("socketpair"));
    }
    // SAFETY: socketpair just returned these two fresh descriptors, owned by nobody else.
    let (parent, child) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((above_stdio(parent)?, above_stdio(child)?))
}

/// A namespace the calling thread joins around `clone`: which kind, and where its own is.
struct ThreadNamespace {
    nstype: libc::c_int,
    own: &'static std::ffi::CStr,
    opening: &'static str,
    joining: &'static str,
}

const PID_NAMESPACE: ThreadNamespace = ThreadNamespace {
    nstype: libc::CLONE_NEWPID,
    own: c"/proc/thread-self/ns/pid",
    opening: "open /proc/thread-self/ns/pid",
    joining: "setns (pid)",
};

const NETWORK_NAMESPACE: ThreadNamespace = ThreadNamespace {
    nstype: libc::CLONE_NEWNET,
    own: c"/proc/thread-self/ns/net",
    opening: "open /proc/thread-self/ns/net",
    joining: "setns (net)",
};

/// Makes the calling thread's future children members of the namespace `target`, and puts
/// the thread back in its own on drop.
struct NamespaceGuard {
    own: OwnedFd,
    nstype: libc::c_int,
}

impl NamespaceGuard {
    fn join(target: RawFd, namespace: &ThreadNamespace) -> Result<Self, SpawnError> {
        // SAFETY: a NUL-terminated literal path; the fd returned is ours.
        let own = unsafe { libc::open(namespace.own.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if own < 0 {
            return Err(parent_error(namespace.opening));
        }
        // SAFETY: open returned a fresh descriptor.
        let own = unsafe { OwnedFd::from_raw_fd(own) };
        // SAFETY: integer arguments; affects only this thread (its pid_for_children, or its
        // network namespace).
        if unsafe { libc::setns(target, namespace.nstype) } != 0 {
            return Err(parent_error(namespace.joining));
        }
        Ok(Self {
            own,
            nstype: namespace.nstype,
        })
    }
}

impl Drop for NamespaceGuard {
    fn drop(&mut self) {
        // SAFETY: integer arguments. Returning to the namespace the thread came from is
        // always allowed (for pid: it is the thread's active one; for net: the privilege that
        // let it leave lets it return).
        let restored = unsafe { libc::setns(self.own.as_raw_fd(), self.nstype) };
        // A thread whose children (or sockets) would land in a container must not run on.
        assert!(
            restored == 0,
            "cannot return to our own namespace ({:#x}): {}",
            self.nstype,
            io::Error::last_os_error()
        );
    }
}

fn read_record(fd: RawFd) -> io::Result<(usize, [u8; FailureRecord::SIZE])> {
    let mut buffer = [0u8; FailureRecord::SIZE];
    let mut filled = 0;
    while filled < buffer.len() {
        let rest = &mut buffer[filled..];
        // SAFETY: rest is a valid writable slice of its length.
        let count = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        match count {
            0 => break,
            count if count > 0 => filled += count as usize,
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
    Ok((filled, buffer))
}

fn reap(pid: libc::pid_t) {
    loop {
        // SAFETY: waiting for our own child; the status is not needed.
        let result = unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        if result >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// Clones the child that runs `plan`; returns it once it has exec'd the command.
pub fn spawn_plan(plan: &Plan) -> Result<Spawned, SpawnError> {
    let (read_end, write_end) = error_pipe()?;
    let (console_parent, console_child) = if plan.console {
        let (parent, child) = console_socket()?;
        (Some(parent), Some(child))
    } else {
        (None, None)
    };
    let stack = Stack::new(STACK_SIZE).map_err(|source| SpawnError::Parent {
        operation: "mmap",
        source,
    })?;
    let start_gate = plan.start_gate.as_deref().map(open_gate).transpose()?;
    let (sync_child, sync_parent) = prepare_user_namespace(plan, start_gate.as_ref())?;
    let cgroup = open_cgroup(plan);
    let mut arguments = ChildArguments {
        plan,
        fds: ChildFds {
            error: write_end.as_raw_fd(),
            console_socket: console_child.as_ref().map_or(-1, AsRawFd::as_raw_fd),
            born_in_cgroup: cgroup.is_some(),
            start_gate: start_gate.as_ref().map_or(-1, AsRawFd::as_raw_fd),
            sync: sync_child.as_ref().map_or(-1, AsRawFd::as_raw_fd),
        },
    };
    let network_namespace = plan
        .network_namespace
        .map(|target| NamespaceGuard::join(target, &NETWORK_NAMESPACE))
        .transpose()?;
    let pid_namespace = plan
        .pid_namespace
        .map(|target| NamespaceGuard::join(target, &PID_NAMESPACE))
        .transpose()?;

    // SAFETY: sigset_t is plain data, filled by sigfillset; pthread_sigmask only swaps masks.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&raw mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &raw const all, &raw mut previous);
    }
    let born = cgroup.as_ref().map(|directory| {
        // SAFETY: the child calls child_main at once, which only reads the arguments and makes
        // raw syscalls (see child.rs) until exec or _exit; it never returns here.
        match unsafe { clone_into_cgroup(plan.clone_flags, directory.as_raw_fd()) } {
            Ok(0) => {
                child_main(std::ptr::from_ref(&arguments).cast_mut().cast());
                unreachable!("child_main leaves through exec or _exit")
            }
            born => born,
        }
    });
    let (pid, clone_error) = match born {
        Some(Ok(pid)) => (pid, io::Error::from_raw_os_error(0)),
        Some(Err(errno)) if !matches!(errno, libc::ENOSYS | libc::E2BIG | libc::EINVAL) => {
            (-1, io::Error::from_raw_os_error(errno))
        }
        _ => {
            arguments.fds.born_in_cgroup = false;
            // SAFETY: child_main only reads the arguments and makes raw syscalls (see
            // child.rs); the stack is a valid mapping, and without CLONE_VM the child runs on
            // its own copy of it.
            let pid = unsafe {
                libc::clone(
                    child_main,
                    stack.top(),
                    plan.clone_flags | libc::SIGCHLD,
                    std::ptr::from_ref(&arguments).cast_mut().cast(),
                )
            };
            (pid, io::Error::last_os_error())
        }
    };
    drop(cgroup);
    // SAFETY: restoring the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &raw const previous, std::ptr::null_mut()) };
    drop(pid_namespace);
    drop(network_namespace);
    drop(write_end);
    drop(console_child);
    drop(start_gate);
    drop(sync_child);
    drop(stack);
    if pid < 0 {
        return Err(SpawnError::Parent {
            operation: "clone",
            source: clone_error,
        });
    }
    if let Some(sync) = sync_parent {
        release(plan, pid, arguments.fds.born_in_cgroup, sync)?;
    }

    let pid = wait_for_exec(plan, pid, read_end.as_raw_fd())?;
    let terminal = match console_parent.map(|socket| receive_fd(socket.as_raw_fd())) {
        None => None,
        Some(Ok(Some(master))) => Some(master),
        Some(received) => {
            // SAFETY: killing our own child, which has not been reaped, so the pid is ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            reap(pid);
            let source = received.err().unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "no pty master was sent")
            });
            return Err(SpawnError::Parent {
                operation: "receiving the console",
                source,
            });
        }
    };
    Ok(Spawned { pid, terminal })
}

/// For a new user namespace: the exec fifo given to its root (who could not open the host
/// root's fifo for writing; runc chowns it so), and the sync pipe (child's end, parent's).
#[allow(clippy::type_complexity)]
fn prepare_user_namespace(
    plan: &Plan,
    gate: Option<&OwnedFd>,
) -> Result<(Option<OwnedFd>, Option<OwnedFd>), SpawnError> {
    let Some(steps) = &plan.user_namespace else {
        return Ok((None, None));
    };
    if let (Some(gate), Some((uid, gid))) = (gate, steps.root_owner) {
        // SAFETY: an fd we own, an empty NUL-terminated path, integer arguments.
        let owned = unsafe {
            libc::fchownat(
                gate.as_raw_fd(),
                c"".as_ptr(),
                uid,
                gid,
                libc::AT_EMPTY_PATH,
            )
        };
        if owned != 0 {
            return Err(parent_error("chown the exec fifo"));
        }
    }
    let (read, write) = error_pipe()?;
    Ok((Some(read), Some(write)))
}

/// Does for a child in a new user namespace what it cannot do itself (see
/// [`ParentSteps`]), then lets it go on with one byte on the sync pipe; on a failure the
/// child is killed and reaped.
fn release(
    plan: &Plan,
    pid: libc::pid_t,
    born_in_cgroup: bool,
    sync: OwnedFd,
) -> Result<(), SpawnError> {
    let Some(steps) = &plan.user_namespace else {
        return Ok(());
    };
    let born_in = plan.cgroup_at_birth.as_ref().filter(|_| born_in_cgroup);
    write_parent_steps(steps, pid, born_in, sync).inspect_err(|_| {
        // SAFETY: killing our own child, which has not been reaped, so the pid is ours.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        reap(pid);
    })
}

fn write_parent_steps(
    steps: &ParentSteps,
    pid: libc::pid_t,
    born_in: Option<&CgroupAtBirth>,
    sync: OwnedFd,
) -> Result<(), SpawnError> {
    let write = |path: &std::path::Path, value: &[u8], operation: &'static str| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, value))
            .map_err(|source| SpawnError::Parent { operation, source })
    };
    let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
    let pid_text = pid.to_string();
    for join in &steps.cgroup_join {
        if born_in.is_some_and(|birth| birth.procs == *join) {
            continue;
        }
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(join.as_bytes()));
        write(path, pid_text.as_bytes(), "joining the child to its cgroup")?;
    }
    if let Some(adjustment) = &steps.oom_score_adj {
        write(
            &proc.join("oom_score_adj"),
            adjustment,
            "writing oom_score_adj",
        )?;
    }
    if steps.deny_setgroups {
        write(&proc.join("setgroups"), b"deny", "writing setgroups")?;
    }
    write(&proc.join("uid_map"), &steps.uid_map, "writing uid_map")?;
    write(&proc.join("gid_map"), &steps.gid_map, "writing gid_map")?;
    let mut sync = std::fs::File::from(sync);
    std::io::Write::write_all(&mut sync, b"1").map_err(|source| SpawnError::Parent {
        operation: "releasing the child",
        source,
    })
}

/// The exec fifo, `O_PATH` (opening it for writing would block until `start`), above 2.
fn open_gate(path: &std::ffi::CStr) -> Result<OwnedFd, SpawnError> {
    // SAFETY: a NUL-terminated path; the fd returned is ours.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(parent_error("open the exec fifo"));
    }
    // SAFETY: open returned a fresh descriptor.
    above_stdio(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads the error pipe: the pid once the child exec'd (or, with a start gate, once it is
/// ready and waiting at it), else its failure (child reaped).
fn wait_for_exec(
    plan: &Plan,
    mut pid: libc::pid_t,
    read_end: RawFd,
) -> Result<libc::pid_t, SpawnError> {
    let mut result = read_record(read_end);
    // A child that joined a user namespace goes on in a sibling (pid 1 of the pid namespace
    // it unshared there): it says so, exits, and the sibling is waited for instead.
    while let Ok((FailureRecord::SIZE, bytes)) = result {
        match FailureRecord::from_bytes(bytes) {
            Some(FailureRecord {
                stage: Stage::Namespaces,
                errno: 0,
                step,
            }) if plan.steps.iter().any(|s| s.op == Op::ForkAsSibling) => {
                reap(pid);
                pid = libc::pid_t::try_from(step).unwrap_or(-1);
                result = read_record(read_end);
            }
            _ => break,
        }
    }
    match result {
        Ok((0, _)) => Ok(pid),
        Ok((FailureRecord::SIZE, bytes))
            if FailureRecord::from_bytes(bytes)
                .is_some_and(|record| record.stage == Stage::StartGate && record.errno == 0) =>
        {
            Ok(pid)
        }
        Ok((FailureRecord::SIZE, bytes)) => {
            reap(pid);
            match FailureRecord::from_bytes(bytes) {
                Some(record) => Err(plan.failure(record.stage, record.errno, record.step)),
                None => Err(SpawnError::Parent {
                    operation: "reading the child's status",
                    source: io::Error::new(io::ErrorKind::InvalidData, "malformed failure record"),
                }),
            }
        }
        Ok(_) => {
            reap(pid);
            Err(SpawnError::Parent {
                operation: "reading the child's status",
                source: io::Error::new(io::ErrorKind::UnexpectedEof, "short failure record"),
            })
        }
        Err(source) => {
            // SAFETY: killing our own child, which has not been reaped, so the pid is ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            reap(pid);
            Err(SpawnError::Parent {
                operation: "reading the child's status",
                source,
            })
        }
    }
}
