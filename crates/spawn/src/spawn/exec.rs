//! `exec`: a new process inside a running container, as `runc exec` / `docker exec` start it.
//!
//! The container is named by the host pid of its first process. Its namespace files
//! (`/proc/PID/ns/{cgroup,ipc,uts,net,mnt,pid}`) are opened *before* anything is cloned, so a
//! container that stops meanwhile makes the setns fail instead of joining whatever reuses the
//! pid later. The pid namespace is joined by the calling thread around `clone` (see
//! `clone.rs`): the new process is born in the container's pid namespace and is still the
//! caller's direct child, whom the caller reaps. Every other namespace is joined by the child,
//! the mount namespace last: until then the host's paths (the cgroups' join files) are still
//! reachable, after it the process's root and cwd are the container's root (the kernel resets
//! both on `setns(CLONE_NEWNS)`), so no host directory is left as its cwd (the runc
//! CVE-2024-21626 class).
//!
//! Then the shared process tail (`plan::push_process`): the console, the container's rlimits
//! and capability set, the user, the working directory resolved inside the container's root
//! with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` (a symlink or `/proc/self/fd/N`
//! cannot lead out), stdio, a new session, every other fd closed, `no_new_privs` when the
//! container has it, the container's seccomp filter (compiled by the caller for this
//! process's capabilities, placed by the same rule as for `run`), and `execve` with docker's
//! 126/127 mapping. The process is non-dumpable
//! from its first step until exec.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use libc::{c_int, gid_t, pid_t, uid_t};

use crate::seccomp::SockFilter;
use crate::spawn::clone::{self, Spawned};
use crate::spawn::errors::{SpawnError, Stage};
use crate::spawn::plan::{c_string, path_c_string, push_process, Op, Plan, Process, Step};
use crate::spawn::spec::{
    check_host_path, check_seccomp_filter, clean_container_path, invalid, CapabilitySets, Rlimit,
    DEFAULT_PATH,
};

/// The namespaces the child joins itself, in order: the mount namespace last.
pub const JOINED: [(&str, c_int); 5] = [
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("mnt", libc::CLONE_NEWNS),
];

/// The new process: what runs, as whom, with which confinement (the container's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecSpec {
    /// Host pid of the container's first process.
    pub pid: pid_t,
    pub argv: Vec<String>,
    /// `KEY=value` strings; `PATH` in here is the search path for `argv[0]`.
    pub env: Vec<String>,
    /// The working directory inside the container.
    pub cwd: String,
    pub uid: uid_t,
    pub gid: gid_t,
    pub groups: Vec<gid_t>,
    /// The fds to install as 0, 1 and 2 (`None` inherits); not used with `tty`.
    pub stdio: [Option<RawFd>; 3],
    /// A console on the container's devpts, as for `run -t`.
    pub tty: bool,
    pub console_size: Option<(u16, u16)>,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privs: bool,
    /// The files (host paths: v1 `tasks`, v2 `cgroup.procs`) to join through, before the mount
    /// namespace.
    pub cgroup_join: Vec<PathBuf>,
    /// Capability mask kept (bounding set; effective/permitted for uid 0); `None` keeps ours.
    pub capabilities: Option<u64>,
    /// The container's seccomp program, compiled for `capabilities`; `None` is unconfined.
    pub seccomp_filter: Option<Vec<SockFilter>>,
    /// OCI's five capability sets; when given, they replace `capabilities`.
    pub capability_sets: Option<CapabilitySets>,
    /// The file mode creation mask the command starts with.
    pub umask: u32,
    /// fds 3 to 3 + N - 1 inherited by the command (OCI `--preserve-fds N`).
    pub preserve_fds: u32,
}

impl ExecSpec {
    #[must_use]
    pub fn new(pid: pid_t, argv: Vec<String>) -> Self {
        Self {
            pid,
            argv,
            env: vec![format!("PATH={DEFAULT_PATH}")],
            cwd: "/".to_owned(),
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            stdio: [None; 3],
            tty: false,
            console_size: None,
            rlimits: Vec::new(),
            no_new_privs: true,
            cgroup_join: Vec::new(),
            capabilities: Some(crate::spawn::spec::DOCKER_CAPABILITIES),
            seccomp_filter: None,
            capability_sets: None,
            umask: 0o022,
            preserve_fds: 0,
        }
    }

    /// Checks what the plan relies on; returns the spec with the working directory cleaned.
    pub fn validated(mut self) -> Result<Self, SpawnError> {
        if self.pid <= 0 {
            return Err(invalid("pid", "must be a process id"));
        }
        if self.argv.is_empty() || self.argv[0].is_empty() {
            return Err(invalid("argv", "the command is empty"));
        }
        for (field, values) in [("argv", &self.argv), ("env", &self.env)] {
            if values.iter().any(|value| value.contains('\0')) {
                return Err(invalid(field, "contains a NUL byte"));
            }
        }
        if let Some(bad) = self.env.iter().find(|entry| !entry.contains('=')) {
            return Err(invalid("env", &format!("{bad:?} is not KEY=value")));
        }
        self.cwd = clean_container_path("cwd", &self.cwd)?;
        for path in &self.cgroup_join {
            check_host_path("cgroup_join", path)?;
        }
        if self.stdio.iter().flatten().any(|fd| *fd < 0) {
            return Err(invalid("stdio", "an fd is negative"));
        }
        check_seccomp_filter(self.seccomp_filter.as_deref())?;
        Ok(self)
    }
}

/// The container's namespaces, opened before clone.
pub struct NamespaceFds {
    pub pid: OwnedFd,
    /// (name, `CLONE_NEW*`, fd): the user namespace when it is not ours, then [`JOINED`]'s
    /// order; a kind the kernel lacks is left out.
    pub joined: Vec<(&'static str, c_int, OwnedFd)>,
}

/// Whether two fds name the same file (device and inode).
#[must_use]
pub fn same_file(one: &OwnedFd, other: &OwnedFd) -> bool {
    let identity = |fd: &OwnedFd| {
        // SAFETY: stat is plain old data, filled by the kernel for an fd we own.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid fd and a pointer to a stat of the right size.
        let found = unsafe { libc::fstat(fd.as_raw_fd(), &raw mut stat) } == 0;
        found.then_some((stat.st_dev, stat.st_ino))
    };
    identity(one).is_some_and(|id| Some(id) == identity(other))
}

/// `/proc/PID/ns/NAME` opened (`pid` 0: the calling thread's own).
pub fn open_namespace(pid: pid_t, name: &str) -> std::io::Result<OwnedFd> {
    let owner = if pid == 0 {
        "thread-self".to_owned()
    } else {
        pid.to_string()
    };
    let path = std::ffi::CString::new(format!("/proc/{owner}/ns/{name}"))
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: a NUL-terminated path; the fd returned is ours.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: open returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens every namespace of `pid`; a missing process is `SpawnError::NotRunning`.
pub fn open_namespaces(pid: pid_t) -> Result<NamespaceFds, SpawnError> {
    let failed = |source: std::io::Error| match source.raw_os_error() {
        Some(libc::ENOENT | libc::ESRCH) => SpawnError::NotRunning { pid },
        _ => SpawnError::Parent {
            operation: "opening the container's namespaces",
            source,
        },
    };
    let pid_fd = open_namespace(pid, "pid").map_err(failed)?;
    let mut joined = Vec::new();
    // A container in its own user namespace (OCI mappings): joined first, after the cgroups,
    // so the namespaces it owns can be joined next. A namespace the container shares with us
    // is left alone: joining our own user namespace is EINVAL, and from inside the container's
    // one the host's others are out of reach (EPERM).
    let shared =
        |name: &str, fd: &OwnedFd| open_namespace(0, name).is_ok_and(|own| same_file(fd, &own));
    let user = open_namespace(pid, "user").map_err(failed)?;
    if !shared("user", &user) {
        joined.push(("user", libc::CLONE_NEWUSER, user));
    }
    for (name, nstype) in JOINED {
        match open_namespace(pid, name) {
            Ok(fd) if shared(name, &fd) => {}
            Ok(fd) => joined.push((name, nstype, fd)),
            // A kernel without cgroup namespaces has no such file (and no such namespace).
            Err(error) if name == "cgroup" && error.raw_os_error() == Some(libc::ENOENT) => {}
            Err(error) => return Err(failed(error)),
        }
    }
    Ok(NamespaceFds {
        pid: pid_fd,
        joined,
    })
}

/// The child's plan: leave nothing of ours, join the cgroups and namespaces, then the process.
pub fn exec_plan(
    spec: &ExecSpec,
    joined: &[(&'static str, c_int, RawFd)],
    pid_namespace: RawFd,
) -> Result<Plan, SpawnError> {
    let spec = spec.clone().validated()?;
    let mut steps = Vec::new();
    let mut push = |stage: Stage, op: Op| steps.push(Step { stage, op });
    push(Stage::Prepare, Op::SetDumpable(false));
    push(Stage::Prepare, Op::ResetSignals);
    push(Stage::Prepare, Op::Umask(0));
    for procs in &spec.cgroup_join {
        push(Stage::Cgroup, Op::JoinCgroup(path_c_string(procs)));
    }
    for &(name, nstype, fd) in joined {
        push(Stage::Namespaces, Op::SetNs { fd, nstype, name });
    }
    let relative = spec.cwd.trim_start_matches('/');
    let process = Process {
        argv: &spec.argv,
        env: &spec.env,
        uid: spec.uid,
        gid: spec.gid,
        groups: &spec.groups,
        rlimits: &spec.rlimits,
        capabilities: spec.capabilities,
        chdir: Op::ChdirInRoot(c_string(if relative.is_empty() { "." } else { relative })),
        stdio: spec.stdio,
        tty: spec.tty,
        console_size: spec.console_size,
        no_new_privs: spec.no_new_privs,
        seccomp_filter: spec.seccomp_filter.as_deref(),
        capability_sets: spec.capability_sets,
        start_gate: false,
        umask: spec.umask,
        preserve_fds: spec.preserve_fds,
    };
    push_process(&mut steps, &process);
    Ok(process.into_plan(steps, 0, Some(pid_namespace)))
}

/// Starts `spec`'s process in the container; returns it once it has exec'd.
pub fn exec_in(spec: &ExecSpec) -> Result<Spawned, SpawnError> {
    let spec = spec.clone().validated()?;
    let namespaces = open_namespaces(spec.pid)?;
    let joined: Vec<_> = namespaces
        .joined
        .iter()
        .map(|(name, nstype, fd)| (*name, *nstype, fd.as_raw_fd()))
        .collect();
    let plan = exec_plan(&spec, &joined, namespaces.pid.as_raw_fd())?;
    let spawned = clone::spawn_plan(&plan);
    drop(namespaces);
    spawned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spawn::child::{execute, ChildFds};
    use crate::spawn::fake::RecordingSyscalls;

    const FDS: ChildFds = ChildFds {
        error: 9,
        console_socket: 8,
        born_in_cgroup: false,
        start_gate: -1,
        sync: -1,
    };

    fn joined() -> Vec<(&'static str, c_int, RawFd)> {
        JOINED
            .iter()
            .zip(20..)
            .map(|(&(name, nstype), fd)| (name, nstype, fd))
            .collect()
    }

    fn spec() -> ExecSpec {
        ExecSpec {
            env: vec!["PATH=/bin".into()],
            cwd: "/work/".into(),
            uid: 1000,
            gid: 1000,
            groups: vec![10],
            stdio: [Some(5), Some(6), Some(6)],
            rlimits: vec![Rlimit {
                resource: libc::RLIMIT_NOFILE as i32,
                soft: 100,
                hard: 200,
            }],
            cgroup_join: vec!["/sys/fs/cgroup/pids/c/cgroup.procs".into()],
            ..ExecSpec::new(42, vec!["ps".into()])
        }
    }

    fn position(calls: &[String], prefix: &str) -> usize {
        calls
            .iter()
            .position(|call| call.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {calls:#?}"))
    }

    #[test]
    fn joins_cgroups_then_namespaces_mount_last_then_drops_privileges() {
        let sys = RecordingSyscalls::new();
        let plan = exec_plan(&spec(), &joined(), 30).unwrap();
        assert_eq!((plan.pid_namespace, plan.clone_flags), (Some(30), 0));
        execute(&sys, &plan, FDS).unwrap();
        let calls = sys.calls();
        let expected_order = [
            "set_dumpable false",
            "reset_signals",
            "open /sys/fs/cgroup/pids/c/cgroup.procs",
            "setns fd20 0x2000000",  // cgroup
            "setns fd21 0x8000000",  // ipc
            "setns fd22 0x4000000",  // uts
            "setns fd23 0x40000000", // net
            "setns fd24 0x20000",    // mnt, last: host paths are gone after it
            "setrlimit 7 100 200",
            "drop_bounding",
            "setgroups [10]",
            "setresgid 1000",
            "setresuid 1000",
            // the workdir is resolved in the container's root, as the user
            "open_in_root / work",
            "fchdir",
            "umask 22",
            "dup 5 >= 3",
            "setsid",
            "close_range 3 8",
            "close_range 10 4294967295",
            "no_new_privs",
            "execve /bin/ps",
        ];
        let positions: Vec<usize> = expected_order
            .iter()
            .map(|prefix| position(&calls, prefix))
            .collect();
        assert!(
            positions.windows(2).all(|pair| pair[0] < pair[1]),
            "{calls:#?}"
        );
        assert!(
            calls.contains(&"fchdir root:/work".to_owned()),
            "{calls:#?}"
        );
        for absent in ["mount", "pivot_root", "sethostname", "capset", "chdir "] {
            assert!(
                !calls.iter().any(|call| call.starts_with(absent)),
                "{absent}: {calls:#?}"
            );
        }
    }

    #[test]
    fn root_gets_the_capability_set_and_a_console_after_joining() {
        let sys = RecordingSyscalls::new();
        let spec = ExecSpec {
            uid: 0,
            tty: true,
            cwd: "/".into(),
            no_new_privs: false,
            capabilities: Some(0x3),
            ..spec()
        };
        execute(&sys, &exec_plan(&spec, &joined(), 30).unwrap(), FDS).unwrap();
        let calls = sys.calls();
        assert!(position(&calls, "setns fd24") < position(&calls, "open /dev/pts/ptmx"));
        assert!(position(&calls, "send_fd fd8") < position(&calls, "setresuid 0"));
        assert!(position(&calls, "setresuid 0") < position(&calls, "capset 0x3"));
        assert!(position(&calls, "setsid") < position(&calls, "controlling_terminal 0"));
        assert!(calls.contains(&"open_in_root / .".to_owned()), "{calls:#?}");
        assert!(!calls.iter().any(|call| call == "no_new_privs"));
    }

    /// One instruction, `SECCOMP_RET_ALLOW`: the placement is what is tested here.
    fn allow_all() -> Vec<SockFilter> {
        vec![SockFilter {
            code: 0x06, // BPF_RET | BPF_K
            jt: 0,
            jf: 0,
            k: 0x7fff_0000,
        }]
    }

    #[test]
    fn the_containers_seccomp_filter_goes_where_it_goes_for_run() {
        let with = |spec: ExecSpec| ExecSpec {
            seccomp_filter: Some(allow_all()),
            ..spec
        };
        let cases: [(&str, ExecSpec, &[&str]); 3] = [
            (
                "no_new_privs: after it, right before exec",
                with(spec()),
                &[
                    "setresuid 1000",
                    "close_range 10",
                    "no_new_privs",
                    "seccomp",
                    "execve",
                ],
            ),
            (
                "a user without no_new_privs: while CAP_SYS_ADMIN is still held",
                with(ExecSpec {
                    no_new_privs: false,
                    ..spec()
                }),
                &[
                    "setns fd24",
                    "setrlimit",
                    "seccomp",
                    "drop_bounding",
                    "setresuid 1000",
                ],
            ),
            (
                "root keeping every capability: last",
                with(ExecSpec {
                    no_new_privs: false,
                    uid: 0,
                    capabilities: None,
                    ..spec()
                }),
                &["setresuid 0", "close_range 10", "seccomp", "execve"],
            ),
        ];
        for (name, spec, order) in cases {
            let sys = RecordingSyscalls::new();
            execute(&sys, &exec_plan(&spec, &joined(), 30).unwrap(), FDS).expect(name);
            let calls = sys.calls();
            let positions: Vec<usize> = order.iter().map(|p| position(&calls, p)).collect();
            assert!(
                positions.windows(2).all(|pair| pair[0] < pair[1]),
                "{name}: {calls:#?}"
            );
            let filters = calls.iter().filter(|call| call.starts_with("seccomp"));
            assert_eq!(filters.count(), 1, "{name}");
        }
        let sys = RecordingSyscalls::new();
        execute(&sys, &exec_plan(&spec(), &joined(), 30).unwrap(), FDS).unwrap();
        assert!(!sys.calls().iter().any(|call| call.starts_with("seccomp")));
    }

    #[test]
    fn failures_name_their_stage() {
        let cases = [
            (
                "mount namespace",
                "setns fd24",
                libc::EINVAL,
                Stage::Namespaces,
                "join the mnt namespace",
            ),
            (
                "cgroup",
                "open /sys/fs/cgroup",
                libc::ENOENT,
                Stage::Cgroup,
                "join /sys/fs/cgroup/pids/c/cgroup.procs",
            ),
            (
                "workdir",
                "open_in_root",
                libc::ENOENT,
                Stage::Cwd,
                "chdir /work",
            ),
            ("not found", "execve", libc::ENOENT, Stage::Exec, ""),
            ("seccomp", "seccomp", libc::EINVAL, Stage::Seccomp, ""),
        ];
        let spec = ExecSpec {
            seccomp_filter: Some(allow_all()),
            ..spec()
        };
        for (name, prefix, errno, stage, detail) in cases {
            let sys = RecordingSyscalls::new().failing(prefix, errno);
            let plan = exec_plan(&spec, &joined(), 30).unwrap();
            let record = execute(&sys, &plan, FDS).expect_err(name);
            assert_eq!((record.stage, record.errno), (stage, errno), "{name}");
            assert_eq!(
                plan.steps[record.step as usize].op.describe(),
                detail,
                "{name}"
            );
        }
    }

    #[test]
    fn validation() {
        let cases = [
            ("no pid", ExecSpec { pid: 0, ..spec() }),
            (
                "empty argv",
                ExecSpec {
                    argv: vec![],
                    ..spec()
                },
            ),
            (
                "relative cwd",
                ExecSpec {
                    cwd: "work".into(),
                    ..spec()
                },
            ),
            (
                "bad env",
                ExecSpec {
                    env: vec!["X".into()],
                    ..spec()
                },
            ),
            (
                "relative cgroup",
                ExecSpec {
                    cgroup_join: vec!["c".into()],
                    ..spec()
                },
            ),
            (
                "empty seccomp program",
                ExecSpec {
                    seccomp_filter: Some(vec![]),
                    ..spec()
                },
            ),
        ];
        for (name, spec) in cases {
            assert!(spec.validated().is_err(), "{name}");
        }
        assert_eq!(spec().validated().unwrap().cwd, "/work");
    }

    #[test]
    fn a_missing_process_is_not_running() {
        // pid_max is at most 2^22, so this pid cannot exist.
        let error = open_namespaces(1 << 23).err().expect("no such process");
        assert!(matches!(error, SpawnError::NotRunning { .. }), "{error}");
    }
}
