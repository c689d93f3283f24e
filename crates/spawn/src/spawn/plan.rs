//! The plan: a spec turned into the ordered list of operations the child performs between
//! `clone` and `execve`. Building it allocates every C string and pointer array up front, so
//! that executing it (`child.rs`) needs no allocation.
//!
//! The order, and why (runc's `rootfs_linux.go` / `init_linux.go`, youki's `rootfs` and
//! `container_init_process.rs` follow the same shape):
//! 1. non-dumpable first (so `/proc/<pid>/exe` and `/proc/<pid>/mem` of the half-set-up child
//!    cannot be opened by a process in the container); in a new user namespace (OCI maps,
//!    cloned with `CLONE_NEWUSER` so every other new namespace is owned by it), wait on the
//!    sync pipe while the parent does what the child no longer may on the host (runc's
//!    `nsexec`): join it to its cgroups by pid (v1 `tasks` are not writable from inside),
//!    write its oom score, `setgroups` ("deny" only for an unprivileged caller), `uid_map`
//!    and `gid_map`; then become root of the namespace (`setresgid`/`setresuid` 0: until then
//!    its ids are unmapped there and no file could be made); default signal actions, umask 0;
//! 2. join the cgroups before doing any work that is charged to them; a user namespace
//!    joined by path (OCI) first among the namespaces, as its root, then the others joined,
//!    then the new ones unshared so that it owns them (cloned, they would be the host's,
//!    beyond its root's reach), and with a new pid namespace the rest of the plan runs in a
//!    sibling, `clone(CLONE_PARENT)`, pid 1 there and still the caller's child (the parent
//!    reaps the first child, told the sibling's pid on the error pipe); then, with a private
//!    cgroup namespace, unshare it (after the join, so the container's own cgroup is its root,
//!    as runc does); bring the new network namespace's loopback up (as runc does for every
//!    new network namespace, `--network none` included; a namespace made beforehand and
//!    joined at birth, `network_namespace`, had it brought up by its maker);
//! 3. make `/` rslave, so nothing mounted below propagates to the host, while host unmounts
//!    still propagate in; mount the rootfs (overlay, or a bind of the prepared tree);
//! 4. the standard mounts (/proc, then the sysctls written through it while nothing can be
//!    mounted over it yet; /dev tmpfs, /dev/pts, /dev/shm, /dev/mqueue), the device nodes and
//!    symlinks (a node mknod refuses, as in a user namespace, is the host's bound), read-only
//!    /sys (in a user namespace that does not own the network namespace sysfs is refused:
//!    the host's /sys is bound instead, as runc does) with /sys/fs/cgroup, the /etc files, then
//!    the user's binds (after the defaults, so a user may mount over /dev/shm as with docker),
//!    each target resolved in the rootfs with `openat2(RESOLVE_IN_ROOT)` and mounted through
//!    `/proc/self/fd/N`;
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
use crate::spawn::spec::{
    CapabilitySets, NamespaceKind, Namespaces, Rlimit, Spec, UserNamespace, DEFAULT_PATH, INIT_PATH,
};
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
    /// Closes every fd from 3 on but the first `preserved` (OCI `--preserve-fds`), the error
    /// pipe and the exec fifo.
    CloseFds {
        preserved: u32,
    },
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
    /// `unshare` of the new namespaces, once a joined user namespace owns them.
    Unshare(libc::c_int),
    /// The rest of the plan runs in a sibling made by [`Syscall::fork_as_sibling`]: pid 1 of
    /// the pid namespace just unshared, and still the caller's child.
    ///
    /// [`Syscall::fork_as_sibling`]: crate::spawn::syscall::Syscall::fork_as_sibling
    ForkAsSibling,
    /// Installs the seccomp program (see the module doc for where).
    Seccomp(Vec<SockFilter>),
    /// execve each candidate in turn (one when argv[0] has a slash, else one per PATH entry),
    /// from the one [`Op::ResolveExec`] found, if it ran.
    Exec {
        candidates: Vec<CString>,
    },
    /// Writes `value` to a host path (`/proc/self/oom_score_adj`).
    WriteFile {
        path: CString,
        value: Vec<u8>,
    },
    /// `mount(NULL, target, NULL, flags)` on a target resolved inside the rootfs: a
    /// propagation change (`MS_SHARED`... with `MS_REC`) or a bind remount.
    FlagsInRoot {
        target: InRoot,
        flags: c_ulong,
    },
    /// Makes a mount and every mount below it read-only (a read-only rbind).
    ReadonlyRecursiveInRoot(InRoot),
    /// A device node (OCI): missing parents made, `EEXIST` accepted, owned by `uid:gid`; a
    /// refused mknod (EPERM) binds the host's node `host` instead, as for [`Op::Mknod`].
    Device {
        target: InRoot,
        /// The target's directory and its last name, split here (the child cannot allocate).
        parent: InRoot,
        name: CString,
        mode: u32,
        major: u32,
        minor: u32,
        uid: uid_t,
        gid: gid_t,
        host: CString,
    },
    /// A symlink in the rootfs that may already exist (runc's /dev links).
    Link {
        target: CString,
        parent: CString,
        name: CString,
    },
    /// `prctl(PR_SET_KEEPCAPS)`: keep the permitted set across the uid change (OCI's sets
    /// are applied after it).
    KeepCapabilities(bool),
    /// The effective, permitted and inheritable sets as given (OCI).
    SetCapabilitySets {
        effective: u64,
        permitted: u64,
        inheritable: u64,
    },
    /// Raises each capability of the mask in the ambient set.
    RaiseAmbient(u64),
    /// Finds the executable among the candidates (execvp's rules) before the start gate, so
    /// `create` of a missing command fails at create time, as with runc.
    ResolveExec {
        candidates: Vec<CString>,
    },
    /// Blocks until the parent, which wrote the new user namespace's maps (and did what the
    /// child no longer may on the host), writes one byte on the sync pipe.
    AwaitParent,
    /// `mount -t sysfs` on a target resolved in the rootfs; refused (EPERM: a user namespace
    /// that does not own the network namespace), `/sys` is bound from the host instead (runc).
    MountSysfs {
        target: InRoot,
        flags: c_ulong,
    },
    /// The start gate: tells the parent the child is ready (a record with errno 0 on the error
    /// pipe), opens the exec fifo (the parent's `O_PATH` fd, through the container's
    /// `/proc/self/fd`) for writing, which blocks until `start` opens it for reading, and
    /// writes one byte.
    StartGate,
}

impl Op {
    /// A short description for error messages ("mount /data", "chdir /nope").
    #[must_use]
    pub fn describe(&self) -> String {
        let text = |value: &CString| value.to_string_lossy().into_owned();
        match self {
            Self::JoinCgroup(path) => format!("join {}", text(path)),
            Self::MountHost { target, .. } => format!("mount {}", text(target)),
            Self::MountInRoot { target, .. } | Self::MountSysfs { target, .. } => {
                format!("mount {}", target.path)
            }
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
            Self::WriteFile { path, .. } => format!("write {}", text(path)),
            Self::FlagsInRoot { target, .. } | Self::ReadonlyRecursiveInRoot(target) => {
                format!("remount {}", target.path)
            }
            Self::Device { target, .. } => target.path.clone(),
            Self::Link { parent, name, .. } => format!("/{}/{}", text(parent), text(name)),
            Self::StartGate => "open the exec fifo".to_owned(),
            Self::AwaitParent => "wait for the user namespace's maps".to_owned(),
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
    /// The exec fifo (`Spec::start_gate`): the parent opens it `O_PATH` for the child, and
    /// `spawn` returns at the child's "ready" record instead of at its exec.
    pub start_gate: Option<CString>,
    /// A new user namespace: what the parent does between `clone` and releasing the child.
    pub user_namespace: Option<ParentSteps>,
    /// The line written to the process's stderr when its `execve` fails past the start gate
    /// (nobody reads the error pipe then), before the other part of the message (see
    /// `child::exec_failed`).
    pub exec_failure_prefix: Vec<u8>,
}

/// What the parent does for a child in a new user namespace, which can no longer do it
/// itself (runc's `nsexec` parent): join it to its cgroups by pid (the host's join files are
/// not writable from the namespace), its oom score (lowering it needs the host's
/// `CAP_SYS_RESOURCE`), `setgroups` "deny" when an unprivileged caller maps groups, the maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentSteps {
    pub cgroup_join: Vec<CString>,
    pub oom_score_adj: Option<Vec<u8>>,
    pub deny_setgroups: bool,
    pub uid_map: Vec<u8>,
    pub gid_map: Vec<u8>,
    /// The host's ids of the namespace's root, given the exec fifo before `clone` (runc
    /// chowns it so): root inside could not open a fifo of the host's root for writing.
    pub root_owner: Option<(uid_t, gid_t)>,
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
        Self::first(steps.iter().filter_map(|step| match &step.op {
            Op::JoinCgroup(procs) => Some(procs),
            _ => None,
        }))
    }

    fn first<'a>(mut joins: impl Iterator<Item = &'a CString>) -> Option<Self> {
        joins.find_map(|procs| {
            let directory = procs.as_bytes().strip_suffix(Self::PROCS)?;
            Some(Self {
                directory: CString::new(directory).ok()?,
                procs: procs.clone(),
            })
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
    plan_joining(spec, &[])
}

/// [`plan`] for a spec whose `join_namespaces` were opened (by `spawn`) as these fds.
#[allow(clippy::too_many_lines)] // the order is the point: one list, top to bottom
pub fn plan_joining(spec: &Spec, joined: &[(NamespaceKind, RawFd)]) -> Result<Plan, SpawnError> {
    let spec = spec.clone().validated()?;
    let joined_fd = |kind: NamespaceKind| {
        joined
            .iter()
            .find_map(|&(joined, fd)| (joined == kind).then_some(fd))
    };
    let network_namespace = joined_fd(NamespaceKind::Net).or(spec.network_namespace);
    let mut steps = Vec::new();
    let mut push = |stage: Stage, op: Op| steps.push(Step { stage, op });

    let parent_steps = spec
        .user_namespace
        .as_ref()
        .map(|user_namespace| ParentSteps {
            cgroup_join: spec
                .cgroup_join
                .iter()
                .map(|path| path_c_string(path))
                .collect(),
            oom_score_adj: spec
                .oom_score_adj
                .map(|adjustment| adjustment.to_string().into_bytes()),
            deny_setgroups: !caller_is_root(),
            uid_map: UserNamespace::map_text(&user_namespace.uid_mappings),
            gid_map: UserNamespace::map_text(&user_namespace.gid_mappings),
            root_owner: user_namespace.host_root(),
        });

    push(Stage::Prepare, Op::SetDumpable(false));
    if parent_steps.is_some() {
        // Once the parent wrote the maps, root of the namespace (runc's nsexec), before any
        // file is made: until then the child's ids are unmapped there.
        push(Stage::Namespaces, Op::AwaitParent);
        push(Stage::User, Op::SetGid(0));
        push(Stage::User, Op::SetUid(0));
    }
    push(Stage::Prepare, Op::ResetSignals);
    push(Stage::Prepare, Op::Umask(0));
    if let (Some(adjustment), None) = (spec.oom_score_adj, &parent_steps) {
        push(
            Stage::Prepare,
            Op::WriteFile {
                path: c_string("/proc/self/oom_score_adj"),
                value: adjustment.to_string().into_bytes(),
            },
        );
    }
    if parent_steps.is_none() {
        for procs in &spec.cgroup_join {
            push(Stage::Cgroup, Op::JoinCgroup(path_c_string(procs)));
        }
    }
    // Joined after the cgroups (their host paths may not exist in a joined mount namespace),
    // the user namespace first (the others may belong to it: joined as its root, which the
    // ids 0 become), the mount namespace last, before anything is mounted.
    if let Some(fd) = joined_fd(NamespaceKind::User) {
        push(
            Stage::Namespaces,
            Op::SetNs {
                fd,
                nstype: libc::CLONE_NEWUSER,
                name: "user",
            },
        );
        push(Stage::User, Op::SetGid(0));
        push(Stage::User, Op::SetUid(0));
    }
    for kind in [
        NamespaceKind::Cgroup,
        NamespaceKind::Ipc,
        NamespaceKind::Uts,
        NamespaceKind::Mount,
    ] {
        if let Some(fd) = joined_fd(kind) {
            push(
                Stage::Namespaces,
                Op::SetNs {
                    fd,
                    nstype: kind.clone_flag(),
                    name: kind.name(),
                },
            );
        }
    }
    let joined_kind = |kind: NamespaceKind| joined_fd(kind).is_some();
    let born_in = Namespaces {
        net: spec.namespaces.net && network_namespace.is_none(),
        pid: spec.namespaces.pid && !joined_kind(NamespaceKind::Pid),
        uts: spec.namespaces.uts && !joined_kind(NamespaceKind::Uts),
        ipc: spec.namespaces.ipc && !joined_kind(NamespaceKind::Ipc),
        ..spec.namespaces
    };
    let mut clone_flags = namespaces::clone_flags(born_in);
    if joined_kind(NamespaceKind::User) {
        // runc's nsexec: namespaces made after the joined user namespace belong to it (made
        // by clone they would be the host's, out of its root's reach); a new pid namespace
        // takes effect for the children only, hence the sibling.
        let mut flags = clone_flags;
        if joined_kind(NamespaceKind::Mount) {
            flags &= !libc::CLONE_NEWNS;
        }
        push(Stage::Namespaces, Op::Unshare(flags));
        if flags & libc::CLONE_NEWPID != 0 {
            push(Stage::Namespaces, Op::ForkAsSibling);
        }
        clone_flags = 0;
    }
    if spec.namespaces.cgroup && joined_fd(NamespaceKind::Cgroup).is_none() {
        push(Stage::Cgroup, Op::UnshareCgroupNamespace);
    }
    if spec.namespaces.net && network_namespace.is_none() {
        push(Stage::Network, Op::LoopbackUp);
    }
    let slave = libc::MS_SLAVE | libc::MS_REC;
    for mut step in mounts::rootfs_steps(&spec.rootfs)? {
        // A private root (OCI) is made private at once, as runc does; anything else stays a
        // slave of the host's until after pivot_root, so nothing propagates to the host.
        if let (Op::Propagation { flags, .. }, Some(wanted)) =
            (&mut step.op, spec.rootfs_propagation)
        {
            if wanted & libc::MS_PRIVATE != 0 {
                *flags = wanted as c_ulong;
            } else {
                *flags = slave;
            }
        }
        push(step.stage, step.op);
    }
    for mut step in mounts::container_mount_steps(&spec) {
        if parent_steps.is_some() {
            step.op = sysfs_or_bind(step.op);
        }
        push(step.stage, step.op);
    }
    push(Stage::PivotRoot, Op::PivotRoot);
    if let Some(wanted) = spec.rootfs_propagation {
        push(
            Stage::PivotRoot,
            Op::Propagation {
                target: c_string("/"),
                flags: wanted as c_ulong,
            },
        );
    }
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
        capability_sets: spec.capability_sets,
        start_gate: spec.start_gate.is_some(),
        umask: spec.umask,
        preserve_fds: spec.preserve_fds,
    };
    push_process(&mut steps, &process);
    let pid_namespace = joined_fd(NamespaceKind::Pid);
    if let Some(parent) = &parent_steps {
        clone_flags |= libc::CLONE_NEWUSER;
        if parent.deny_setgroups && spec.groups.is_empty() {
            // setgroups(2) is refused for good once "deny" is written (runc skips it too)
            steps.retain(|step| !matches!(step.op, Op::SetGroups(_)));
        }
    }
    let mut plan = process.into_plan(steps, clone_flags, pid_namespace);
    plan.network_namespace = network_namespace;
    plan.start_gate = spec.start_gate.as_deref().map(path_c_string);
    if let Some(parent) = parent_steps {
        plan.cgroup_at_birth = CgroupAtBirth::first(parent.cgroup_join.iter());
        plan.user_namespace = Some(parent);
    }
    Ok(plan)
}

/// A sysfs mount as [`Op::MountSysfs`] (its fallback to the host's /sys), anything else as is.
fn sysfs_or_bind(op: Op) -> Op {
    match op {
        Op::MountInRoot {
            target,
            fstype: Some(fstype),
            flags,
            ..
        } if fstype.as_c_str() == c"sysfs" => Op::MountSysfs { target, flags },
        other => other,
    }
}

/// Whether the caller may write any map (root, or `CAP_SETUID`/`CAP_SETGID` as root has):
/// otherwise the kernel demands "deny" in `setgroups` before a gid map.
fn caller_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
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
    /// OCI's five sets, which replace `capabilities` when given.
    pub capability_sets: Option<CapabilitySets>,
    /// Resolve the executable, then wait at the start gate, before exec.
    pub start_gate: bool,
    /// The umask the command starts with (docker's 022 unless OCI says otherwise).
    pub umask: u32,
    /// fds 3 to 3 + N - 1 inherited by the command (OCI `--preserve-fds N`).
    pub preserve_fds: u32,
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
            start_gate: None,
            user_namespace: None,
            exec_failure_prefix: format!("hybridock-runtime: exec {}: ", self.argv[0]).into_bytes(),
        }
    }

    /// Whether the seccomp filter can wait until right before exec: with `no_new_privs`, or
    /// while the process still holds `CAP_SYS_ADMIN` at that point (see the module doc).
    fn seccomp_installs_last(&self) -> bool {
        const CAP_SYS_ADMIN: u64 = 1 << 21;
        if let Some(sets) = self.capability_sets {
            return self.no_new_privs || sets.effective & CAP_SYS_ADMIN != 0;
        }
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
    if let Some(sets) = process.capability_sets {
        // runc's finalizeNamespace: bounding set, keep the permitted set across the user
        // change, then the sets as given, then the ambient ones (which need both permitted
        // and inheritable).
        push(Stage::Capabilities, Op::DropBoundingSet(sets.bounding));
        push(Stage::Capabilities, Op::KeepCapabilities(true));
        push(Stage::User, Op::SetGroups(process.groups.to_vec()));
        push(Stage::User, Op::SetGid(process.gid));
        push(Stage::User, Op::SetUid(process.uid));
        push(Stage::Capabilities, Op::KeepCapabilities(false));
        push(
            Stage::Capabilities,
            Op::SetCapabilitySets {
                effective: sets.effective,
                permitted: sets.permitted,
                inheritable: sets.inheritable,
            },
        );
        if sets.ambient != 0 {
            push(Stage::Capabilities, Op::RaiseAmbient(sets.ambient));
        }
    } else {
        if let Some(mask) = process.capabilities {
            push(Stage::Capabilities, Op::DropBoundingSet(mask));
        }
        push(Stage::User, Op::SetGroups(process.groups.to_vec()));
        push(Stage::User, Op::SetGid(process.gid));
        push(Stage::User, Op::SetUid(process.uid));
        if let (Some(mask), 0) = (process.capabilities, process.uid) {
            push(Stage::Capabilities, Op::SetCapabilities(mask));
        }
    }
    push(Stage::Cwd, process.chdir.clone());
    push(Stage::Prepare, Op::Umask(process.umask));
    if process.tty {
        push(Stage::Stdio, Op::ConsoleStdio);
    } else {
        push(Stage::Stdio, Op::Stdio(process.stdio));
    }
    push(Stage::Stdio, Op::NewSession);
    if process.tty {
        push(Stage::Stdio, Op::ControllingTerminal);
    }
    push(
        Stage::CloseFds,
        Op::CloseFds {
            preserved: process.preserve_fds,
        },
    );
    let candidates = exec_candidates(&process.argv[0], process.env);
    if process.start_gate {
        // runc's order: the executable looked up, the gate, then no_new_privs and the late
        // filter, as close to execve as can be.
        push(
            Stage::Exec,
            Op::ResolveExec {
                candidates: candidates.clone(),
            },
        );
        push(Stage::StartGate, Op::StartGate);
    }
    if process.no_new_privs {
        push(Stage::NoNewPrivs, Op::NoNewPrivs);
    }
    if let (Some(program), true) = (process.seccomp_filter, seccomp_late) {
        push(Stage::Seccomp, Op::Seccomp(program.to_vec()));
    }
    push(Stage::Exec, Op::Exec { candidates });
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
