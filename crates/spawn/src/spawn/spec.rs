//! The spawn spec: everything the container's first process needs, as owned Rust values,
//! validated once here (absolute paths, no NUL bytes, known rlimit names) so that the plan
//! built from it cannot fail for a reason the caller could have caught earlier.
//!
//! Container paths are cleaned lexically (`.`, `..`, repeated slashes) the way docker does
//! before they are used; they are then resolved *inside* the rootfs by the child with
//! `openat2(RESOLVE_IN_ROOT)`, so a symlink in the image can never point a mount at the host.

use std::fmt::Write as _;
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
/// mounted and pivoted into inside it); a new user namespace is [`Spec::user_namespace`].
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
    /// docker's standard mounts (built from the fields above), or an OCI config's own list.
    pub mounts_mode: MountsMode,
    /// OCI `linux.devices` (made after the mounts, with `mounts_mode` OCI only).
    pub devices: Vec<DeviceNode>,
    /// The five capability sets (OCI); when set, they replace `capabilities`.
    pub capability_sets: Option<CapabilitySets>,
    /// Written to `/proc/self/oom_score_adj` first thing (OCI `process.oomScoreAdj`).
    pub oom_score_adj: Option<i32>,
    /// OCI `linux.rootfsPropagation` (`MS_SHARED`, `MS_SLAVE`, ... with `MS_REC`), applied to
    /// the container's `/` after `pivot_root`; `None` leaves it a slave of the host's.
    pub rootfs_propagation: Option<u64>,
    /// Existing namespaces (OCI `linux.namespaces[].path`) the child joins instead of making
    /// new ones; opened by `spawn` before `clone`.
    pub join_namespaces: Vec<(NamespaceKind, PathBuf)>,
    /// The file mode creation mask the command starts with (OCI `process.user.umask`).
    pub umask: u32,
    /// fds 3 to 3 + N - 1 inherited by the command (OCI `--preserve-fds N`); every other fd
    /// above 2 is closed before exec.
    pub preserve_fds: u32,
    /// The exec fifo (OCI `create`): the child, fully set up and its executable found, tells
    /// `spawn` it is ready, then opens this fifo for writing (blocking until `start` opens it
    /// for reading), writes one byte and execs. `None` execs at once.
    pub start_gate: Option<PathBuf>,
    /// A new user namespace with these mappings (OCI `linux.uidMappings`/`gidMappings`);
    /// `None`: the caller's (docker's path, real root).
    pub user_namespace: Option<UserNamespace>,
}

/// One line of `/proc/PID/uid_map` (or `gid_map`): `size` ids from `container_id` in the
/// namespace are `host_id`... on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMap {
    pub container_id: u32,
    pub host_id: u32,
    pub size: u32,
}

/// A new user namespace, its maps written by the parent before the child goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserNamespace {
    pub uid_mappings: Vec<IdMap>,
    pub gid_mappings: Vec<IdMap>,
}

impl UserNamespace {
    /// The kernel's limit on lines in a map (since Linux 4.15).
    const MAX_LINES: usize = 340;

    /// A map's file contents, one `inside outside count` line per mapping.
    #[must_use]
    pub fn map_text(mappings: &[IdMap]) -> Vec<u8> {
        let mut text = String::new();
        for map in mappings {
            let _ = writeln!(text, "{} {} {}", map.container_id, map.host_id, map.size);
        }
        text.into_bytes()
    }

    /// The host uid and gid the namespace's root (0) maps to, when it is mapped.
    #[must_use]
    pub fn host_root(&self) -> Option<(u32, u32)> {
        let host = |mappings: &[IdMap]| {
            mappings
                .iter()
                .find_map(|map| (map.container_id == 0).then_some(map.host_id))
        };
        Some((host(&self.uid_mappings)?, host(&self.gid_mappings)?))
    }

    fn check(&self) -> Result<(), SpawnError> {
        for (field, mappings) in [
            ("uid_mappings", &self.uid_mappings),
            ("gid_mappings", &self.gid_mappings),
        ] {
            if mappings.is_empty() || mappings.len() > Self::MAX_LINES {
                return Err(invalid(field, "a user namespace needs 1 to 340 mappings"));
            }
            if mappings.iter().any(|map| map.size == 0) {
                return Err(invalid(field, "a mapping's size is 0"));
            }
        }
        Ok(())
    }
}

/// Where the container's mounts come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum MountsMode {
    /// docker's: /proc, /dev (+ pts, shm, mqueue, nodes, links), /sys, the cgroup view, /etc
    /// files, then `mounts` and `tmpfs` by depth.
    #[default]
    Docker,
    /// An OCI config's ordered list, nothing else; the devices of [`Spec::devices`] and runc's
    /// defaults when `/dev` is not bound from the host.
    Oci(Vec<OciMount>),
}

/// One OCI mount, flags parsed (runc's `parseMountOptions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OciMount {
    /// Absolute, cleaned container path.
    pub destination: String,
    /// The file system type (`None` for a bind); `cgroup` (v1) mounts [`Spec::cgroup_view`].
    pub fstype: Option<String>,
    /// A host path for binds, the file system's source otherwise.
    pub source: Option<String>,
    /// `MS_*` flags, `MS_BIND` (and `MS_REC` for rbind) included.
    pub flags: u64,
    /// File-system options (`mode=755,size=65536k`).
    pub data: String,
    /// `MS_SHARED`/`MS_SLAVE`/`MS_PRIVATE`/`MS_UNBINDABLE`, with `MS_REC`; 0: none.
    pub propagation: u64,
    /// A read-only rbind is made read-only all the way down (`mount_setattr(AT_RECURSIVE)`).
    pub recursive_readonly: bool,
}

impl OciMount {
    #[must_use]
    pub fn is_bind(&self) -> bool {
        self.flags & libc::MS_BIND != 0
    }
}

/// A device node made in the container (OCI `linux.devices[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceNode {
    /// Absolute, cleaned container path (`/dev/fuse`).
    pub path: String,
    /// `S_IFCHR`, `S_IFBLK` or `S_IFIFO` with the permission bits.
    pub mode: u32,
    pub major: u32,
    pub minor: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The five capability sets, as bit masks (bit N = capability N).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapabilitySets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// A namespace kind that can be joined by path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamespaceKind {
    Pid,
    Net,
    Ipc,
    Uts,
    Mount,
    Cgroup,
    User,
}

impl NamespaceKind {
    /// The `CLONE_NEW*` flag `setns` takes.
    #[must_use]
    pub fn clone_flag(self) -> libc::c_int {
        match self {
            Self::Pid => libc::CLONE_NEWPID,
            Self::Net => libc::CLONE_NEWNET,
            Self::Ipc => libc::CLONE_NEWIPC,
            Self::Uts => libc::CLONE_NEWUTS,
            Self::Mount => libc::CLONE_NEWNS,
            Self::Cgroup => libc::CLONE_NEWCGROUP,
            Self::User => libc::CLONE_NEWUSER,
        }
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Pid => "pid",
            Self::Net => "net",
            Self::Ipc => "ipc",
            Self::Uts => "uts",
            Self::Mount => "mnt",
            Self::Cgroup => "cgroup",
            Self::User => "user",
        }
    }
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
            mounts_mode: MountsMode::Docker,
            devices: Vec::new(),
            capability_sets: None,
            oom_score_adj: None,
            rootfs_propagation: None,
            join_namespaces: Vec::new(),
            start_gate: None,
            umask: 0o022,
            preserve_fds: 0,
            user_namespace: None,
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
            if !self.namespaces.uts && !self.joins(NamespaceKind::Uts) {
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
        self.check_oci()?;
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

    /// Whether the child joins an existing namespace of this kind.
    fn joins(&self, kind: NamespaceKind) -> bool {
        self.join_namespaces
            .iter()
            .any(|(joined, _)| *joined == kind)
    }

    /// The OCI extensions: mount and device paths cleaned, host paths absolute.
    fn check_oci(&mut self) -> Result<(), SpawnError> {
        if let MountsMode::Oci(mounts) = &mut self.mounts_mode {
            for mount in mounts {
                mount.destination = clean_container_path("mounts", &mount.destination)?;
                let texts = [mount.fstype.as_deref(), mount.source.as_deref()];
                if texts.into_iter().flatten().any(|text| text.contains('\0'))
                    || mount.data.contains('\0')
                {
                    return Err(invalid("mounts", "contains a NUL byte"));
                }
                if mount.is_bind() {
                    let source = mount.source.as_deref().unwrap_or_default();
                    check_host_path("mounts", std::path::Path::new(source))?;
                }
            }
        }
        for device in &mut self.devices {
            device.path = clean_container_path("devices", &device.path)?;
            if device.path == "/" {
                return Err(invalid("devices", "a device cannot be /"));
            }
        }
        for (_, path) in &self.join_namespaces {
            check_host_path("namespaces", path)?;
        }
        if let Some(gate) = &self.start_gate {
            check_host_path("start_gate", gate)?;
        }
        if let Some(user_namespace) = &self.user_namespace {
            user_namespace.check()?;
            if self.joins(NamespaceKind::User) {
                return Err(invalid(
                    "user_namespace",
                    "a new user namespace and one to join",
                ));
            }
        }
        Ok(())
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
    Ok(format!("/{}", lexical_parts(path).join("/")))
}

/// A path's names once `.`, empty names and `..` (which drops the name before it, and
/// nothing at the top) are taken out: lexical, never above where the path starts.
#[must_use]
pub fn lexical_parts(path: &str) -> Vec<&str> {
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
    parts
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
