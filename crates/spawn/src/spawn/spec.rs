//! The spawn spec: everything the container's first process needs, as owned Rust values,
//! validated once here (absolute paths, no NUL bytes, known rlimit names) so that the plan
//! built from it cannot fail for a reason the caller could have caught earlier.
//!
//! Container paths are cleaned lexically (`.`, `..`, repeated slashes) the way docker does
//! before they are used; they are then resolved *inside* the rootfs by the child with
//! `openat2(RESOLVE_IN_ROOT)`, so a symlink in the image can never point a mount at the host.

use std::os::fd::RawFd;
use std::path::PathBuf;

use crate::seccomp::SockFilter;
use crate::spawn::errors::SpawnError;

/// Where the container's root filesystem comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rootfs {
    /// A directory prepared by the caller (already a mounted overlay, or a plain tree); the
    /// child bind-mounts it onto itself so it is a mount point for `pivot_root`.
    Path(PathBuf),
    /// An overlay the child mounts on `target` inside its private mount namespace, so the
    /// mount disappears with the container and nothing is left on the host.
    Overlay {
        lower: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
        target: PathBuf,
        /// overlayfs' `volatile`: no sync of the upper layer, above all none when the mount
        /// goes away with the container (otherwise a `syncfs` of the whole upper filesystem
        /// on every exit, tens of ms when the disk is busy). For containers whose upper layer
        /// is thrown away after one run (`--rm`), as podman does.
        volatile: bool,
    },
}

impl Rootfs {
    #[must_use]
    pub fn target(&self) -> &PathBuf {
        match self {
            Self::Path(path) | Self::Overlay { target: path, .. } => path,
        }
    }
}

/// A host path bound into the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindMount {
    pub source: PathBuf,
    /// Absolute, cleaned container path.
    pub destination: String,
    pub readonly: bool,
}

/// A tmpfs mounted in the container (`--tmpfs PATH[:OPTIONS]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TmpfsMount {
    /// Absolute, cleaned container path.
    pub destination: String,
    /// `MS_*` flags (docker's defaults: nosuid, nodev, noexec unless asked otherwise).
    pub flags: u64,
    /// tmpfs options such as `size=64m,mode=1777`.
    pub data: String,
}

/// Which namespaces the child gets. A new mount namespace is always created (the rootfs is
/// mounted and pivoted into inside it); a user namespace is not supported (root only).
#[allow(clippy::struct_excessive_bools)] // one flag per kernel namespace, like OCI's list
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Namespaces {
    pub pid: bool,
    pub uts: bool,
    pub ipc: bool,
    pub net: bool,
    /// A private cgroup namespace (docker's `--cgroupns private`). Not a clone flag: the child
    /// unshares it once it has joined its cgroups, so its own cgroup is the namespace's root.
    pub cgroup: bool,
}

impl Default for Namespaces {
    fn default() -> Self {
        Self {
            pid: true,
            uts: true,
            ipc: true,
            net: true,
            cgroup: false,
        }
    }
}

/// Where one cgroup hierarchy under the container's /sys/fs/cgroup comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupSource {
    /// The container's own cgroup directory on the host, bound (host cgroup namespace).
    Bind(PathBuf),
    /// A new mount of the v1 hierarchy with these options (`memory`, `name=systemd`), made in
    /// the container's cgroup namespace, whose root is the container's cgroup.
    Hierarchy(String),
}

/// /sys/fs/cgroup as runc makes it (`mountCgroupV1`/`mountCgroupV2`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupView {
    /// A tmpfs holding one directory per v1 hierarchy (named as the host's mount point, such
    /// as `cpu,cpuacct`) and the symlinks (link name, target) of merged hierarchies.
    V1 {
        hierarchies: Vec<(String, CgroupSource)>,
        links: Vec<(String, String)>,
        writable: bool,
    },
    /// A cgroup2 mount (in a private cgroup namespace its root is the container's cgroup).
    V2 { writable: bool },
}

/// The sysctl keys the child may write: dotted names of letters, digits, `_` and `-` (the
/// characters of /proc/sys entries and interface names), so a key is always a path below
/// /proc/sys, never `..` or an absolute path.
pub fn check_sysctl_key(key: &str) -> Result<(), SpawnError> {
    let valid_part = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
    };
    if key.split('.').count() < 2 || !key.split('.').all(valid_part) {
        return Err(invalid("sysctls", &format!("{key:?} is not a sysctl name")));
    }
    Ok(())
}

/// One resource limit (`RLIMIT_*` number, soft, hard).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: i32,
    pub soft: u64,
    pub hard: u64,
}

/// The `/etc` files docker bind-mounts from the container's directory on the host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EtcFiles {
    pub hostname: Option<PathBuf>,
    pub hosts: Option<PathBuf>,
    pub resolv_conf: Option<PathBuf>,
}

/// The fully-built description of one container process.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // independent switches, one per docker flag
pub struct Spec {
    pub argv: Vec<String>,
    /// `KEY=value` strings; `PATH` in here is the search path for `argv[0]`.
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub hostname: Option<String>,
    pub rootfs: Rootfs,
    pub mounts: Vec<BindMount>,
    pub tmpfs: Vec<TmpfsMount>,
    pub namespaces: Namespaces,
    /// An existing network namespace (an open netns fd, as `net::new_network_namespace`
    /// makes it: `lo` up, a veth attached) that the child is born in instead of a new one.
    /// Needs `namespaces.net`: it stands for the container's own namespace.
    pub network_namespace: Option<RawFd>,
    /// The fds to install as the child's 0, 1 and 2; `None` inherits the caller's.
    pub stdio: [Option<i32>; 3],
    /// A console (docker's `-t`): the child opens a pty on the container's devpts, makes the
    /// slave its 0, 1, 2 and controlling terminal (`stdio` is not used) and sends the master
    /// to the caller.
    pub tty: bool,
    /// The console's initial (rows, columns) (docker's `ConsoleSize`), set before exec.
    pub console_size: Option<(u16, u16)>,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privs: bool,
    /// Files to write "0" to, to join the cgroups: v1 `tasks` (one per controller), or the one
    /// v2 `cgroup.procs`.
    pub cgroup_join: Vec<PathBuf>,
    pub etc_files: EtcFiles,
    pub readonly_rootfs: bool,
    /// Container paths hidden by /dev/null (files) or an empty read-only tmpfs (directories).
    pub masked_paths: Vec<String>,
    /// Container paths made read-only.
    pub readonly_paths: Vec<String>,
    /// Capability bit mask kept (bounding set, and effective/permitted for uid 0); `None`
    /// leaves capabilities untouched (docker's `--privileged`). Defaults to docker's set.
    pub capabilities: Option<u64>,
    /// A static init on the host (docker's `--init`): bound read-only on [`INIT_PATH`] and run
    /// as pid 1 with `-- argv...`.
    pub init: Option<PathBuf>,
    /// A compiled seccomp program (`crate::seccomp::compile`), installed right before exec;
    /// `None` runs unconfined (docker's `seccomp=unconfined`).
    pub seccomp_filter: Option<Vec<SockFilter>>,
    /// (key, value) sysctls written through the container's own /proc/sys once it is mounted
    /// (keys as `net.ipv4.ip_unprivileged_port_start`; which ones are allowed is the caller's
    /// policy, docker's namespaced list).
    pub sysctls: Vec<(String, String)>,
    /// What the container sees at /sys/fs/cgroup; `None` leaves sysfs's empty directory.
    pub cgroup_view: Option<CgroupView>,
    /// /sys mounted read-write (docker's `--privileged` without `--read-only`); read-only
    /// by default.
    pub writable_sysfs: bool,
}

/// Where the `--init` binary appears in the container (inside the private /dev tmpfs, so
/// nothing is created in the image's tree; its name ends in "init", which the init checks).
pub const INIT_PATH: &str = "/dev/init";

impl Spec {
    /// A spec with docker's defaults for everything but the command and the rootfs.
    #[must_use]
    pub fn new(argv: Vec<String>, rootfs: Rootfs) -> Self {
        Self {
            argv,
            env: vec![format!("PATH={DEFAULT_PATH}")],
            cwd: "/".to_owned(),
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            hostname: None,
            rootfs,
            mounts: Vec::new(),
            tmpfs: Vec::new(),
            namespaces: Namespaces::default(),
            network_namespace: None,
            stdio: [None; 3],
            tty: false,
            console_size: None,
            rlimits: Vec::new(),
            no_new_privs: true,
            cgroup_join: Vec::new(),
            etc_files: EtcFiles::default(),
            readonly_rootfs: false,
            masked_paths: DOCKER_MASKED_PATHS
                .iter()
                .map(|&path| path.to_owned())
                .collect(),
            readonly_paths: DOCKER_READONLY_PATHS
                .iter()
                .map(|&path| path.to_owned())
                .collect(),
            capabilities: Some(DOCKER_CAPABILITIES),
            init: None,
            seccomp_filter: None,
            sysctls: Vec::new(),
            cgroup_view: None,
            writable_sysfs: false,
        }
    }

    /// Checks what the plan relies on; returns the spec with container paths cleaned.
    pub fn validated(mut self) -> Result<Self, SpawnError> {
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
        if let Some(hostname) = &self.hostname {
            if !self.namespaces.uts {
                return Err(invalid("hostname", "needs a new UTS namespace"));
            }
            if hostname.is_empty() || hostname.len() > 64 || hostname.contains('\0') {
                return Err(invalid("hostname", "must be 1 to 64 bytes without NUL"));
            }
        }
        check_host_path("rootfs", self.rootfs.target())?;
        if let Rootfs::Overlay {
            lower, upper, work, ..
        } = &self.rootfs
        {
            if lower.is_empty() {
                return Err(invalid(
                    "lowerdirs",
                    "an overlay needs at least one lower dir",
                ));
            }
            for path in lower.iter().chain([upper, work]) {
                check_host_path("overlay", path)?;
                if path.to_string_lossy().contains([',', ':']) {
                    return Err(invalid(
                        "overlay",
                        &format!("{} contains ',' or ':'", path.display()),
                    ));
                }
            }
        }
        for mount in &mut self.mounts {
            check_host_path("mounts", &mount.source)?;
            mount.destination = clean_container_path("mounts", &mount.destination)?;
            if mount.destination == "/" {
                return Err(invalid(
                    "mounts",
                    "cannot bind-mount over the container's /",
                ));
            }
        }
        for mount in &mut self.tmpfs {
            mount.destination = clean_container_path("tmpfs", &mount.destination)?;
            if mount.destination == "/" || mount.data.as_bytes().contains(&0) {
                return Err(invalid(
                    "tmpfs",
                    "cannot mount a tmpfs over the container's /",
                ));
            }
        }
        for path in self.cgroup_join.iter().chain(self.init.iter()).chain(
            [
                &self.etc_files.hostname,
                &self.etc_files.hosts,
                &self.etc_files.resolv_conf,
            ]
            .into_iter()
            .flatten(),
        ) {
            check_host_path("host file", path)?;
        }
        for path in self
            .masked_paths
            .iter_mut()
            .chain(self.readonly_paths.iter_mut())
        {
            *path = clean_container_path("masked/readonly paths", path)?;
        }
        check_seccomp_filter(self.seccomp_filter.as_deref())?;
        self.check_sysctls_and_cgroups()?;
        match self.network_namespace {
            Some(fd) if fd < 0 => return Err(invalid("network_namespace", "the fd is negative")),
            Some(_) if !self.namespaces.net => {
                return Err(invalid(
                    "network_namespace",
                    "a namespace to join needs network=True",
                ))
            }
            _ => {}
        }
        for (index, fd) in self.stdio.iter().enumerate() {
            if fd.is_some_and(|fd| fd < 0) {
                return Err(invalid("stdio", &format!("fd for {index} is negative")));
            }
        }
        Ok(self)
    }

    /// The sysctl keys and values, and the names and sources of the cgroup view.
    fn check_sysctls_and_cgroups(&self) -> Result<(), SpawnError> {
        for (key, value) in &self.sysctls {
            check_sysctl_key(key)?;
            if value.contains(['\0', '\n']) {
                return Err(invalid(
                    "sysctls",
                    &format!("the value of {key} is not one line"),
                ));
            }
        }
        if let Some(CgroupView::V1 {
            hierarchies, links, ..
        }) = &self.cgroup_view
        {
            let names = hierarchies
                .iter()
                .map(|(name, _)| name)
                .chain(links.iter().flat_map(|(link, target)| [link, target]));
            for name in names {
                if name.is_empty() || name.contains(['/', '\0']) || name == "." || name == ".." {
                    return Err(invalid("cgroup_view", &format!("{name:?} is not a name")));
                }
            }
            for (_, source) in hierarchies {
                match source {
                    CgroupSource::Bind(path) => check_host_path("cgroup_view", path)?,
                    CgroupSource::Hierarchy(options) if options.contains('\0') => {
                        return Err(invalid("cgroup_view", "options contain a NUL byte"));
                    }
                    CgroupSource::Hierarchy(_) => {}
                }
            }
        }
        Ok(())
    }
}

/// docker's default search path when the image sets no `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// docker's default capability set (moby's `oci/caps/defaults.go`): `CAP_CHOWN`,
/// `CAP_DAC_OVERRIDE`, `CAP_FOWNER`, `CAP_FSETID`, `CAP_KILL`, `CAP_SETGID`, `CAP_SETUID`,
/// `CAP_SETPCAP`, `CAP_NET_BIND_SERVICE`, `CAP_NET_RAW`, `CAP_SYS_CHROOT`, `CAP_MKNOD`,
/// `CAP_AUDIT_WRITE`, `CAP_SETFCAP`, as a bit mask (bit N = capability N).
pub const DOCKER_CAPABILITIES: u64 =
    capability_mask(&[0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31]);

const fn capability_mask(capabilities: &[u32]) -> u64 {
    let mut mask = 0;
    let mut index = 0;
    while index < capabilities.len() {
        mask |= 1 << capabilities[index];
        index += 1;
    }
    mask
}

/// docker's default masked paths (moby's oci/defaults.go).
pub const DOCKER_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// docker's default read-only paths.
pub const DOCKER_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// `RLIMIT_*` number of a docker-style name ("nofile", "nproc", ...).
#[must_use]
pub fn rlimit_resource(name: &str) -> Option<i32> {
    let resource = match name
        .strip_prefix("RLIMIT_")
        .unwrap_or(name)
        .to_ascii_lowercase()
        .as_str()
    {
        "as" => libc::RLIMIT_AS,
        "core" => libc::RLIMIT_CORE,
        "cpu" => libc::RLIMIT_CPU,
        "data" => libc::RLIMIT_DATA,
        "fsize" => libc::RLIMIT_FSIZE,
        "locks" => libc::RLIMIT_LOCKS,
        "memlock" => libc::RLIMIT_MEMLOCK,
        "msgqueue" => libc::RLIMIT_MSGQUEUE,
        "nice" => libc::RLIMIT_NICE,
        "nofile" => libc::RLIMIT_NOFILE,
        "nproc" => libc::RLIMIT_NPROC,
        "rss" => libc::RLIMIT_RSS,
        "rtprio" => libc::RLIMIT_RTPRIO,
        "rttime" => libc::RLIMIT_RTTIME,
        "sigpending" => libc::RLIMIT_SIGPENDING,
        "stack" => libc::RLIMIT_STACK,
        _ => return None,
    };
    Some(resource as i32)
}

/// Lexically cleans an absolute container path: `/a//b/./c/../d` -> `/a/b/d`; `..` above the
/// root stays at the root (it is resolved inside the rootfs anyway).
pub fn clean_container_path(field: &'static str, path: &str) -> Result<String, SpawnError> {
    if !path.starts_with('/') {
        return Err(invalid(field, &format!("{path:?} is not an absolute path")));
    }
    if path.contains('\0') {
        return Err(invalid(field, "contains a NUL byte"));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

pub(crate) fn check_host_path(
    field: &'static str,
    path: &std::path::Path,
) -> Result<(), SpawnError> {
    if !path.is_absolute() {
        return Err(invalid(
            field,
            &format!("{} is not an absolute path", path.display()),
        ));
    }
    if path.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(invalid(field, "contains a NUL byte"));
    }
    Ok(())
}

/// A seccomp program the kernel can load: 1 to 4096 instructions (`BPF_MAXINSNS`).
pub(crate) fn check_seccomp_filter(program: Option<&[SockFilter]>) -> Result<(), SpawnError> {
    match program {
        Some(program)
            if program.is_empty() || program.len() > crate::seccomp::bpf::MAX_INSTRUCTIONS =>
        {
            Err(invalid(
                "seccomp_filter",
                &format!("{} instructions is not 1 to 4096", program.len()),
            ))
        }
        _ => Ok(()),
    }
}

pub(crate) fn invalid(field: &'static str, reason: &str) -> SpawnError {
    SpawnError::InvalidSpec {
        field,
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_container_path_cases() {
        let cases = [
            ("root", "/", "/"),
            ("plain", "/data", "/data"),
            ("repeated slashes", "//a///b/", "/a/b"),
            ("dots", "/a/./b/../c", "/a/c"),
            ("escape attempt", "/../../etc", "/etc"),
        ];
        for (name, input, expected) in cases {
            assert_eq!(
                clean_container_path("test", input).unwrap(),
                expected,
                "{name}"
            );
        }
        assert!(clean_container_path("test", "relative").is_err());
    }

    #[test]
    fn validation_rejects() {
        let base = Spec::new(vec!["sh".into()], Rootfs::Path("/rootfs".into()));
        let cases: Vec<(&str, Spec)> = vec![
            (
                "empty argv",
                Spec {
                    argv: vec![],
                    ..base.clone()
                },
            ),
            (
                "relative cwd",
                Spec {
                    cwd: "tmp".into(),
                    ..base.clone()
                },
            ),
            (
                "env without =",
                Spec {
                    env: vec!["PATH".into()],
                    ..base.clone()
                },
            ),
            (
                "hostname without uts",
                Spec {
                    hostname: Some("box".into()),
                    namespaces: Namespaces {
                        uts: false,
                        ..Namespaces::default()
                    },
                    ..base.clone()
                },
            ),
            (
                "relative rootfs",
                Spec {
                    rootfs: Rootfs::Path("rootfs".into()),
                    ..base.clone()
                },
            ),
            (
                "bind over /",
                Spec {
                    mounts: vec![BindMount {
                        source: "/tmp".into(),
                        destination: "/..".into(),
                        readonly: false,
                    }],
                    ..base.clone()
                },
            ),
        ];
        for (name, spec) in cases {
            assert!(spec.validated().is_err(), "{name}");
        }
        assert!(base.validated().is_ok());
    }

    #[test]
    fn sysctl_keys_stay_below_proc_sys() {
        for good in [
            "net.ipv4.ip_unprivileged_port_start",
            "kernel.shm_rmid_forced",
            "net.ipv4.conf.veth-1.forwarding",
        ] {
            assert!(check_sysctl_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "net",
            "net..core",
            "net.ipv4/../../kernel.core_pattern",
            "/etc/passwd",
            "net.core.x\0",
            "net. core",
        ] {
            assert!(check_sysctl_key(bad).is_err(), "{bad:?}");
        }
        let spec = Spec {
            sysctls: vec![("net.core.somaxconn".into(), "1\n2".into())],
            ..Spec::new(vec!["sh".into()], Rootfs::Path("/rootfs".into()))
        };
        assert!(spec.validated().is_err());
    }

    #[test]
    fn rlimit_names() {
        assert_eq!(rlimit_resource("nofile"), Some(libc::RLIMIT_NOFILE as i32));
        assert_eq!(
            rlimit_resource("RLIMIT_NPROC"),
            Some(libc::RLIMIT_NPROC as i32)
        );
        assert_eq!(rlimit_resource("bogus"), None);
    }
}
