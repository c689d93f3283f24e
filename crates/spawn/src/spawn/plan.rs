//! The plan: a spec turned into the ordered list of operations the child performs between
//! `clone` and `execve`. Building it allocates every C string and pointer array up front, so
//! that executing it (`child.rs`) needs no allocation.
//!
//! The order, and why (runc's `rootfs_linux.go` / `init_linux.go`, youki's `rootfs` and
//! `container_init_process.rs` follow the same shape):
//! 1. non-dumpable first (so `/proc/<pid>/exe` and `/proc/<pid>/mem` of the half-set-up child
//!    cannot be opened by a process in the container), default signal actions, umask 0;
//! 2. join the cgroups before doing any work that is charged to them; then, with a private
//!    cgroup namespace, unshare it (after the join, so the container's own cgroup is its root,
//!    as runc does); bring the new network namespace's loopback up (as runc does for every
//!    new network namespace, `--network none` included; a namespace made beforehand and
//!    joined at birth, `network_namespace`, had it brought up by its maker);
//! 3. make `/` rslave, so nothing mounted below propagates to the host, while host unmounts
//!    still propagate in; mount the rootfs (overlay, or a bind of the prepared tree);
//! 4. the standard mounts (/proc, then the sysctls written through it while nothing can be
//!    mounted over it yet; /dev tmpfs, /dev/pts, /dev/shm, /dev/mqueue), the device nodes and
//!    symlinks, read-only /sys with /sys/fs/cgroup, the /etc files, then the user's binds (after
//!    the defaults, so a user may mount over /dev/shm as with docker), each target resolved in
//!    the rootfs with `openat2(RESOLVE_IN_ROOT)` and mounted through `/proc/self/fd/N`;
//! 5. `pivot_root(".", ".")` and a detached unmount of the old root (no `put_old` directory);
//! 6. masked and read-only paths, the optional read-only root remount;
//! 7. hostname; with `-t`, the console: a pty opened on the container's own devpts
//!    (`/dev/pts/ptmx`, after `pivot_root` so it can only be the container's instance), its
//!    slave taken with `TIOCGPTPEER` and given to the user, its master sent to the caller
//!    over the console socket (runc's `--console-socket`), so `ttyname()` works inside;
//! 8. rlimits and the capability bounding set while still privileged;
//!    setgroups, then setgid, then setuid (dropping the uid first would forbid the others);
//! 9. chdir to the working directory as the target user (it is inside the new root, so `..`
//!    cannot leave it); umask 022; stdio (the console's slave on 0-2 with `-t`), a new
//!    session (and fd 0's terminal as controlling terminal for `-t`); close every other fd;
//!    `no_new_privs`; the seccomp filter; execve over the PATH candidates (execvp's rules:
//!    EACCES is remembered, ENOENT moves on).
//!
//! Steps 7 (the console) to 9 are the process part shared with `exec` (`push_process`);
//! `exec.rs` builds the namespace-joining prefix of its own plan, so an exec'd process gets
//! its filter at the same point as the container's first process.
//!
//! The seccomp filter (runc's `standard_init_linux.go` makes the same choice): it is installed
//! as late as possible, so that the fewest of our own system calls run under a profile written
//! for the container's program. With `no_new_privs` it is the very last step before `execve`
//! (after `no_new_privs`, which is what lets any process install a filter). Without it the
//! kernel demands `CAP_SYS_ADMIN` in the effective set; if the process keeps it to the end
//! (uid 0 whose kept capabilities include it, or untouched capabilities) the filter still goes
//! last, otherwise it goes right before step 8's bounding-set drop and user switch, the last
//! point where the capability is still held: the credential, chdir, stdio and exec calls that
//! follow then run under the filter, as with runc, so a profile must allow them (docker's
//! does). Failure is the `seccomp` stage (exit 125).

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use libc::{c_ulong, gid_t, uid_t};

use crate::seccomp::SockFilter;
use crate::spawn::errors::{SpawnError, Stage};
use crate::spawn::mounts;
use crate::spawn::namespaces;
use crate::spawn::spec::{Namespaces, Rlimit, Spec, DEFAULT_PATH, INIT_PATH};
use crate::spawn::syscall::CStringArray;

/// A container path split for a safe walk: `/a/b` has prefixes `a`, `a/b` and names `a`, `b`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InRoot {
    pub path: String,
    pub prefixes: Vec<CString>,
    pub names: Vec<CString>,
}

impl InRoot {
    /// `path` must be a cleaned absolute container path (see `spec::clean_container_path`).
    #[must_use]
    pub fn new(path: &str) -> Self {
        let mut prefixes = Vec::new();
        let mut names = Vec::new();
        let mut prefix = String::new();
        for name in path.split('/').filter(|part| !part.is_empty()) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(name);
            prefixes.push(c_string(&prefix));
            names.push(c_string(name));
        }
        Self {
            path: path.to_owned(),
            prefixes,
            names,
        }
    }
}

/// What a missing mount target is created as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    Directory,
    File,
}

/// One operation of the child. Each is a handful of system calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    SetDumpable(bool),
    ResetSignals,
    Umask(u32),
    /// Writes "0" (the writing process, single-threaded) to a cgroup's join file (v1 `tasks`,
    /// v2 `cgroup.procs`).
    JoinCgroup(CString),
    /// `unshare(CLONE_NEWCGROUP)`: the cgroup the process is in becomes the namespace's root.
    UnshareCgroupNamespace,
    /// Sets the flags of the network namespace's `lo` to UP (the kernel then gives it
    /// 127.0.0.1/8 and `::1`).
    LoopbackUp,
    /// Writes `value` to a file resolved inside the rootfs (`proc/sys/...`), reopened for
    /// writing through its `/proc/self/fd/N`.
    Sysctl {
        path: CString,
        value: Vec<u8>,
    },
    Propagation {
        target: CString,
        flags: c_ulong,
    },
    Chdir(CString),
    /// `mkdir` of each of these absolute paths (a working directory and its parents, shortest
    /// first) that is missing, as root inside the new root: docker makes a missing working
    /// directory at start. A failure is left to the `Chdir` that follows, which reports it.
    MakeDirs(Vec<CString>),
    /// A mount on a host path (only the rootfs itself, chosen by hybridock).
    MountHost {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: c_ulong,
        data: Option<CString>,
    },
    /// Opens the rootfs (`O_PATH`) for the in-root resolutions that follow.
    OpenRoot(CString),
    /// A mount whose target is resolved inside the rootfs (created if missing).
    MountInRoot {
        source: Option<CString>,
        target: InRoot,
        kind: TargetKind,
        fstype: Option<CString>,
        flags: c_ulong,
        data: Option<CString>,
        /// `MS_*` flags a bind is remounted with, on top of the ones it has (a first bind
        /// ignores them); 0: no remount.
        remount: c_ulong,
    },
    /// A character device `name` in the directory `parent` (resolved inside the rootfs).
    /// Falls back to bind-mounting the host's node `host` when mknod is refused (EPERM: a
    /// devices cgroup without "m", as inside another container), like runc in a user namespace.
    Mknod {
        parent: CString,
        name: CString,
        mode: u32,
        major: u32,
        minor: u32,
        host: CString,
        target: InRoot,
    },
    Symlink {
        target: CString,
        parent: CString,
        name: CString,
    },
    /// `fchdir(root)`, `pivot_root(".", ".")`, old root rslave, `umount2(".", MNT_DETACH)`,
    /// `chdir("/")`, close the root fd.
    PivotRoot,
    MaskPath(CString),
    ReadonlyPath(CString),
    RemountRootReadonly,
    Hostname(CString),
    Rlimit(Rlimit),
    /// Drops from the bounding set every capability not in the mask.
    DropBoundingSet(u64),
    SetGroups(Vec<gid_t>),
    SetGid(gid_t),
    SetUid(uid_t),
    SetCapabilities(u64),
    Stdio([Option<RawFd>; 3]),
    /// `setsid`: the container gets its own session, so a terminal's signals reach only the
    /// caller (which forwards them), as with runc.
    NewSession,
    /// Makes fd 0's terminal the controlling terminal (`-t`).
    ControllingTerminal,
    CloseFds,
    NoNewPrivs,
    /// Opens a pty on the container's devpts, hands its slave to `uid`, sends the master on
    /// the console socket and keeps the slave for [`Op::ConsoleStdio`].
    OpenConsole {
        uid: uid_t,
        /// The initial (rows, columns), set before exec so the first program sees it.
        size: Option<(u16, u16)>,
    },
    /// The console's slave on 0, 1 and 2.
    ConsoleStdio,
    /// Joins the namespace the fd (opened by the parent before clone) names.
    SetNs {
        fd: RawFd,
        nstype: libc::c_int,
        name: &'static str,
    },
    /// Changes to a directory resolved inside the current root (`openat2(RESOLVE_IN_ROOT |
    /// RESOLVE_NO_MAGICLINKS)` from `/`, then `fchdir`): no symlink or `/proc/self/fd/N`
    /// leads out of the container. The path is relative to `/` (`.` for `/` itself).
    ChdirInRoot(CString),
    /// Installs the seccomp program (see the module doc for where).
    Seccomp(Vec<SockFilter>),
    /// execve each candidate in turn (one when argv[0] has a slash, else one per PATH entry).
    Exec {
        candidates: Vec<CString>,
    },
}

impl Op {
    /// A short description for error messages ("mount /data", "chdir /nope").
    #[must_use]
    pub fn describe(&self) -> String {
        let text = |value: &CString| value.to_string_lossy().into_owned();
        match self {
            Self::JoinCgroup(path) => format!("join {}", text(path)),
            Self::MountHost { target, .. } => format!("mount {}", text(target)),
            Self::MountInRoot { target, .. } => format!("mount {}", target.path),
            Self::Mknod { parent, name, .. } | Self::Symlink { parent, name, .. } => {
                format!("/{}/{}", text(parent), text(name))
            }
            Self::MaskPath(path) | Self::ReadonlyPath(path) => text(path),
            Self::Chdir(path) => format!("chdir {}", text(path)),
            Self::ChdirInRoot(path) => format!("chdir /{}", text(path).trim_start_matches('.')),
            Self::SetNs { name, .. } => format!("join the {name} namespace"),
            Self::OpenConsole { .. } => "open /dev/pts/ptmx".to_owned(),
            Self::OpenRoot(path) => format!("open {}", text(path)),
            Self::Sysctl { path, .. } => format!("write /{}", text(path)),
            Self::LoopbackUp => "bring lo up".to_owned(),
            Self::UnshareCgroupNamespace => "unshare the cgroup namespace".to_owned(),
            Self::Rlimit(limit) => format!("rlimit {}", limit.resource),
            _ => String::new(),
        }
    }
}

/// An operation and the stage its failure is reported as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub stage: Stage,
    pub op: Op,
}

/// Everything the child needs, built before `clone`.
#[derive(Debug)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub clone_flags: libc::c_int,
    /// `argv[0]` as given, for error messages.
    pub command: String,
    pub argv: CStringArray,
    pub env: CStringArray,
    /// The child sends a pty master back (`-t`): the parent makes a console socket.
    pub console: bool,
    /// A pid namespace (an open `/proc/PID/ns/pid`) the parent's thread joins around
    /// `clone`, so the child is born in it and is still the caller's child (`exec`).
    pub pid_namespace: Option<RawFd>,
    /// A network namespace (an open netns fd) the parent's thread joins around `clone` the
    /// same way, so the child is born in it (no `CLONE_NEWNET`; its maker brought `lo` up).
    pub network_namespace: Option<RawFd>,
    /// The first cgroup2 join (`cgroup.procs`), which the child is born into instead where
    /// the kernel can (see clone.rs).
    pub cgroup_at_birth: Option<CgroupAtBirth>,
}

/// A cgroup2 directory for `clone3(CLONE_INTO_CGROUP)`, and the join step it makes needless.
///
/// Why: a write to `cgroup.procs` takes the global threadgroup lock for writing, which waits
/// for an RCU grace period (~7 ms measured, every `run` on a hybrid or v2 host), while a child
/// born in the cgroup only takes it for reading. v1 joins go through `tasks`, which moves the
/// single-threaded writer without that lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupAtBirth {
    pub directory: CString,
    pub procs: CString,
}

impl CgroupAtBirth {
    const PROCS: &'static [u8] = b"/cgroup.procs";

    fn of(steps: &[Step]) -> Option<Self> {
        steps.iter().find_map(|step| match &step.op {
            Op::JoinCgroup(procs) => {
                let directory = procs.as_bytes().strip_suffix(Self::PROCS)?;
                Some(Self {
                    directory: CString::new(directory).ok()?,
                    procs: procs.clone(),
                })
            }
            _ => None,
        })
    }
}

impl Plan {
    /// The `SpawnError` for a failure record the child sent.
    #[must_use]
    pub fn failure(&self, stage: Stage, errno: i32, step: u32) -> SpawnError {
        let detail = self
            .steps
            .get(step as usize)
            .map(|step| step.op.describe())
            .unwrap_or_default();
        SpawnError::Child {
            stage,
            errno,
            detail,
            command: self.command.clone(),
        }
    }
}

/// Turns a validated spec into the child's plan.
pub fn plan(spec: &Spec) -> Result<Plan, SpawnError> {
    let spec = spec.clone().validated()?;
    let mut steps = Vec::new();
    let mut push = |stage: Stage, op: Op| steps.push(Step { stage, op });

    push(Stage::Prepare, Op::SetDumpable(false));
    push(Stage::Prepare, Op::ResetSignals);
    push(Stage::Prepare, Op::Umask(0));
    for procs in &spec.cgroup_join {
        push(Stage::Cgroup, Op::JoinCgroup(path_c_string(procs)));
    }
    if spec.namespaces.cgroup {
        push(Stage::Cgroup, Op::UnshareCgroupNamespace);
    }
    if spec.namespaces.net && spec.network_namespace.is_none() {
        push(Stage::Network, Op::LoopbackUp);
    }
    for step in mounts::rootfs_steps(&spec.rootfs)? {
        push(step.stage, step.op);
    }
    for step in mounts::container_mount_steps(&spec) {
        push(step.stage, step.op);
    }
    push(Stage::PivotRoot, Op::PivotRoot);
    let cwd_dirs = directory_prefixes(&spec.cwd);
    if !cwd_dirs.is_empty() {
        push(Stage::Cwd, Op::MakeDirs(cwd_dirs));
    }
    for path in &spec.masked_paths {
        push(Stage::MaskPaths, Op::MaskPath(c_string(path)));
    }
    for path in &spec.readonly_paths {
        push(Stage::MaskPaths, Op::ReadonlyPath(c_string(path)));
    }
    if spec.readonly_rootfs {
        push(Stage::MaskPaths, Op::RemountRootReadonly);
    }
    if let Some(hostname) = &spec.hostname {
        push(Stage::Hostname, Op::Hostname(c_string(hostname)));
    }
    let argv: Vec<String> = match &spec.init {
        Some(_) => [INIT_PATH.to_owned(), "--".to_owned()]
            .into_iter()
            .chain(spec.argv.iter().cloned())
            .collect(),
        None => spec.argv.clone(),
    };
    let process = Process {
        argv: &argv,
        env: &spec.env,
        uid: spec.uid,
        gid: spec.gid,
        groups: &spec.groups,
        rlimits: &spec.rlimits,
        capabilities: spec.capabilities,
        chdir: Op::Chdir(c_string(&spec.cwd)),
        stdio: spec.stdio,
        tty: spec.tty,
        console_size: spec.console_size,
        no_new_privs: spec.no_new_privs,
        seccomp_filter: spec.seccomp_filter.as_deref(),
    };
    push_process(&mut steps, &process);
    let born_in = Namespaces {
        net: spec.namespaces.net && spec.network_namespace.is_none(),
        ..spec.namespaces
    };
    let mut plan = process.into_plan(steps, namespaces::clone_flags(born_in), None);
    plan.network_namespace = spec.network_namespace;
    Ok(plan)
}

/// `/a`, `/a/b`, `/a/b/c` for `/a/b/c` (nothing for `/`): what `mkdir -p` makes, in order.
fn directory_prefixes(path: &str) -> Vec<CString> {
    let mut prefixes = Vec::new();
    let mut prefix = String::new();
    for part in path
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
    {
        prefix.push('/');
        prefix.push_str(part);
        prefixes.push(c_string(&prefix));
    }
    prefixes
}

/// The process settings `run` and `exec` share: who runs what, with which confinement.
pub(crate) struct Process<'a> {
    pub argv: &'a [String],
    pub env: &'a [String],
    pub uid: uid_t,
    pub gid: gid_t,
    pub groups: &'a [gid_t],
    pub rlimits: &'a [Rlimit],
    pub capabilities: Option<u64>,
    /// How the working directory is entered (after the user change).
    pub chdir: Op,
    pub stdio: [Option<RawFd>; 3],
    pub tty: bool,
    pub console_size: Option<(u16, u16)>,
    pub no_new_privs: bool,
    /// The seccomp program, installed where the module doc says.
    pub seccomp_filter: Option<&'a [SockFilter]>,
}

impl Process<'_> {
    pub(crate) fn into_plan(
        self,
        steps: Vec<Step>,
        clone_flags: libc::c_int,
        pid_namespace: Option<RawFd>,
    ) -> Plan {
        Plan {
            cgroup_at_birth: CgroupAtBirth::of(&steps),
            steps,
            clone_flags,
            command: self.argv[0].clone(),
            argv: CStringArray::new(self.argv.iter().map(|arg| c_string(arg)).collect()),
            env: CStringArray::new(self.env.iter().map(|entry| c_string(entry)).collect()),
            console: self.tty,
            pid_namespace,
            network_namespace: None,
        }
    }

    /// Whether the seccomp filter can wait until right before exec: with `no_new_privs`, or
    /// while the process still holds `CAP_SYS_ADMIN` at that point (see the module doc).
    fn seccomp_installs_last(&self) -> bool {
        const CAP_SYS_ADMIN: u64 = 1 << 21;
        self.no_new_privs
            || (self.uid == 0
                && self
                    .capabilities
                    .map_or(true, |mask| mask & CAP_SYS_ADMIN != 0))
    }
}

/// The console, limits, capabilities, credentials, working directory, stdio and exec: the
/// tail of every plan, once the process is in its namespaces and root.
pub(crate) fn push_process(steps: &mut Vec<Step>, process: &Process<'_>) {
    let mut push = |stage: Stage, op: Op| steps.push(Step { stage, op });
    if process.tty {
        push(
            Stage::Stdio,
            Op::OpenConsole {
                uid: process.uid,
                size: process.console_size,
            },
        );
    }
    for limit in process.rlimits {
        push(Stage::Rlimits, Op::Rlimit(*limit));
    }
    let seccomp_late = process.seccomp_installs_last();
    if let (Some(program), false) = (process.seccomp_filter, seccomp_late) {
        push(Stage::Seccomp, Op::Seccomp(program.to_vec()));
    }
    if let Some(mask) = process.capabilities {
        push(Stage::Capabilities, Op::DropBoundingSet(mask));
    }
    push(Stage::User, Op::SetGroups(process.groups.to_vec()));
    push(Stage::User, Op::SetGid(process.gid));
    push(Stage::User, Op::SetUid(process.uid));
    if let (Some(mask), 0) = (process.capabilities, process.uid) {
        push(Stage::Capabilities, Op::SetCapabilities(mask));
    }
    push(Stage::Cwd, process.chdir.clone());
    push(Stage::Prepare, Op::Umask(0o022));
    if process.tty {
        push(Stage::Stdio, Op::ConsoleStdio);
    } else {
        push(Stage::Stdio, Op::Stdio(process.stdio));
    }
    push(Stage::Stdio, Op::NewSession);
    if process.tty {
        push(Stage::Stdio, Op::ControllingTerminal);
    }
    push(Stage::CloseFds, Op::CloseFds);
    if process.no_new_privs {
        push(Stage::NoNewPrivs, Op::NoNewPrivs);
    }
    if let (Some(program), true) = (process.seccomp_filter, seccomp_late) {
        push(Stage::Seccomp, Op::Seccomp(program.to_vec()));
    }
    push(
        Stage::Exec,
        Op::Exec {
            candidates: exec_candidates(&process.argv[0], process.env),
        },
    );
}

/// The paths execve tries for `command`: itself when it has a slash, else each directory of
/// the container's PATH (docker's default when unset; an empty entry means the cwd).
#[must_use]
pub fn exec_candidates(command: &str, env: &[String]) -> Vec<CString> {
    if command.contains('/') {
        return vec![c_string(command)];
    }
    let search = env
        .iter()
        .rev()
        .find_map(|entry| entry.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    search
        .split(':')
        .map(|directory| {
            let directory = if directory.is_empty() {
                "."
            } else {
                directory.trim_end_matches('/')
            };
            c_string(&format!("{directory}/{command}"))
        })
        .collect()
}

/// A `CString` of text already checked to hold no NUL (`Spec::validated`).
pub(crate) fn c_string(text: &str) -> CString {
    CString::new(text).expect("validated: no NUL byte")
}

pub(crate) fn path_c_string(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("validated: no NUL byte")
}
