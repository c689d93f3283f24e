//! The mount part of the plan: the rootfs, the standard container mounts, device nodes and the
//! user's bind mounts, in the order the child makes them.
//!
//! Safety of targets: every target inside the container is an [`InRoot`] path, resolved by the
//! child with `openat2(RESOLVE_IN_ROOT)` against the rootfs fd and mounted through the
//! resulting `/proc/self/fd/N` (runc's approach), so an image symlink such as `/proc -> /etc`
//! or `/data -> /../../host` resolves inside the rootfs, never on the host. Missing targets are
//! created one component at a time, each component again resolved in the root.
//!
//! The overlay rootfs is mounted by the child in its own mount namespace: it is visible to
//! nobody else and disappears with the last process of the container. Its option string must
//! fit in one page; when absolute paths do not, the child first changes into the directory
//! that holds them all and the options use relative paths (containerd's trick).

use std::path::{Path, PathBuf};

use libc::c_ulong;

use crate::spawn::errors::{SpawnError, Stage};
use crate::spawn::plan::{c_string, path_c_string, InRoot, Op, Step, TargetKind};
use crate::spawn::spec::{
    CgroupSource, CgroupView, DeviceNode, MountsMode, OciMount, Rootfs, Spec, INIT_PATH,
};

/// mount(2) copies at most one page of option data.
const MOUNT_DATA_LIMIT: usize = 4095;

/// The character devices of a docker container's /dev: (name, major, minor).
pub const DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The symlinks of /dev: (name, target).
pub const DEVICE_LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

fn step(stage: Stage, op: Op) -> Step {
    Step { stage, op }
}

/// `/` rslave, the rootfs mount, and the rootfs fd.
pub fn rootfs_steps(rootfs: &Rootfs) -> Result<Vec<Step>, SpawnError> {
    let mut steps = vec![step(
        Stage::Rootfs,
        Op::Propagation {
            target: c_string("/"),
            flags: libc::MS_SLAVE | libc::MS_REC,
        },
    )];
    match rootfs {
        Rootfs::Path(path) => steps.push(step(
            Stage::Rootfs,
            Op::MountHost {
                source: Some(path_c_string(path)),
                target: path_c_string(path),
                fstype: None,
                flags: libc::MS_BIND | libc::MS_REC,
                data: None,
            },
        )),
        Rootfs::Overlay {
            lower,
            upper,
            work,
            target,
            volatile,
        } => {
            let (directory, data) = overlay_options(lower, upper, work, *volatile)?;
            if let Some(directory) = directory {
                steps.push(step(Stage::Rootfs, Op::Chdir(path_c_string(&directory))));
            }
            steps.push(step(
                Stage::Rootfs,
                Op::MountHost {
                    source: Some(c_string("overlay")),
                    target: path_c_string(target),
                    fstype: Some(c_string("overlay")),
                    flags: 0,
                    data: Some(c_string(&data)),
                },
            ));
        }
    }
    steps.push(step(
        Stage::Rootfs,
        Op::OpenRoot(path_c_string(rootfs.target())),
    ));
    Ok(steps)
}

/// The overlay option string, and the directory to run the mount from when it has to use
/// relative paths to fit in a page.
pub fn overlay_options(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    volatile: bool,
) -> Result<(Option<PathBuf>, String), SpawnError> {
    let render = |paths: &[&Path], upper: &Path, work: &Path| {
        let lower: Vec<String> = paths
            .iter()
            .map(|path| path.to_string_lossy().into_owned())
            .collect();
        format!(
            "lowerdir={},upperdir={},workdir={}{}",
            lower.join(":"),
            upper.display(),
            work.display(),
            if volatile { ",volatile" } else { "" }
        )
    };
    let lower_paths: Vec<&Path> = lower.iter().map(PathBuf::as_path).collect();
    let absolute = render(&lower_paths, upper, work);
    if absolute.len() <= MOUNT_DATA_LIMIT {
        return Ok((None, absolute));
    }
    let all: Vec<&Path> = lower_paths.iter().copied().chain([upper, work]).collect();
    let common = common_parent(&all);
    let relative = |path: &Path| -> PathBuf {
        path.strip_prefix(&common)
            .map_or_else(|_| path.to_path_buf(), Path::to_path_buf)
    };
    let lower_relative: Vec<PathBuf> = lower.iter().map(|path| relative(path)).collect();
    let lower_relative_paths: Vec<&Path> = lower_relative.iter().map(PathBuf::as_path).collect();
    let short = render(&lower_relative_paths, &relative(upper), &relative(work));
    if short.len() > MOUNT_DATA_LIMIT {
        return Err(SpawnError::InvalidSpec {
            field: "lowerdirs",
            reason: format!(
                "overlay options are {} bytes, over the one-page limit",
                short.len()
            ),
        });
    }
    Ok((Some(common), short))
}

fn common_parent(paths: &[&Path]) -> PathBuf {
    let mut common: PathBuf = paths[0].parent().unwrap_or(Path::new("/")).to_path_buf();
    while !paths.iter().all(|path| path.starts_with(&common)) {
        if !common.pop() {
            break;
        }
    }
    common
}

fn mount_in_root(
    source: &str,
    target: &str,
    fstype: Option<&str>,
    flags: c_ulong,
    data: Option<&str>,
) -> Op {
    Op::MountInRoot {
        source: Some(c_string(source)),
        target: InRoot::new(target),
        kind: TargetKind::Directory,
        fstype: fstype.map(c_string),
        flags,
        data: data.map(c_string),
        remount: 0,
    }
}

fn bind(source: &Path, target: &str, kind: TargetKind, readonly: bool) -> Op {
    bind_with(
        source,
        target,
        kind,
        if readonly { libc::MS_RDONLY } else { 0 },
    )
}

fn bind_with(source: &Path, target: &str, kind: TargetKind, remount: c_ulong) -> Op {
    Op::MountInRoot {
        source: Some(path_c_string(source)),
        target: InRoot::new(target),
        kind,
        fstype: None,
        flags: libc::MS_BIND | libc::MS_REC,
        data: None,
        remount,
    }
}

/// What a missing target for a bind of `source` is created as (decided on the host, before
/// clone; a missing source makes the mount itself fail with ENOENT, reported with its path).
fn bind_kind(source: &Path) -> TargetKind {
    match std::fs::metadata(source) {
        Ok(metadata) if !metadata.is_dir() => TargetKind::File,
        _ => TargetKind::Directory,
    }
}

const HARDENED: c_ulong = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;

/// Every mount inside the rootfs, before `pivot_root`.
#[must_use]
pub fn container_mount_steps(spec: &Spec) -> Vec<Step> {
    match &spec.mounts_mode {
        MountsMode::Docker => docker_mount_steps(spec),
        MountsMode::Oci(mounts) => oci_mount_steps(spec, mounts),
    }
}

/// An OCI config's mounts in its order (runc's `mountToRootfs`), then /dev's nodes and
/// links unless /dev is bound from the host (runc's `setupDev`), then the sysctls.
fn oci_mount_steps(spec: &Spec, mounts: &[OciMount]) -> Vec<Step> {
    let mut steps = Vec::new();
    for mount in mounts {
        let destination = mount.destination.as_str();
        if mount.fstype.as_deref() == Some("cgroup") {
            if let Some(view) = &spec.cgroup_view {
                steps.extend(cgroup_steps(view, destination));
                if let CgroupView::V1 {
                    writable: false, ..
                } = view
                {
                    // runc's mountCgroupV1: the tmpfs itself read-only too, once filled
                    steps.push(step(
                        Stage::Mount,
                        Op::FlagsInRoot {
                            target: InRoot::new(destination),
                            flags: libc::MS_BIND
                                | libc::MS_REMOUNT
                                | libc::MS_RDONLY
                                | HARDENED
                                | libc::MS_RELATIME,
                        },
                    ));
                }
                continue;
            }
        }
        if mount.is_bind() {
            let source = Path::new(mount.source.as_deref().unwrap_or_default());
            let remount = mount.flags & !(libc::MS_BIND | libc::MS_REC);
            let op = Op::MountInRoot {
                source: Some(path_c_string(source)),
                target: InRoot::new(destination),
                kind: bind_kind(source),
                fstype: None,
                flags: mount.flags & (libc::MS_BIND | libc::MS_REC),
                data: None,
                remount,
            };
            steps.push(step(Stage::Mount, op));
            if mount.recursive_readonly {
                steps.push(step(
                    Stage::Mount,
                    Op::ReadonlyRecursiveInRoot(InRoot::new(destination)),
                ));
            }
        } else {
            let fstype = mount.fstype.as_deref().unwrap_or("none");
            let source = mount.source.as_deref().unwrap_or(fstype);
            let data = Some(mount.data.as_str()).filter(|data| !data.is_empty());
            steps.push(step(
                Stage::Mount,
                mount_in_root(
                    source,
                    destination,
                    Some(fstype),
                    mount.flags as c_ulong,
                    data,
                ),
            ));
        }
        if mount.propagation != 0 {
            steps.push(step(
                Stage::Mount,
                Op::FlagsInRoot {
                    target: InRoot::new(destination),
                    flags: mount.propagation as c_ulong,
                },
            ));
        }
    }
    let dev_bound = mounts
        .iter()
        .any(|mount| mount.destination == "/dev" && mount.is_bind());
    if !dev_bound {
        steps.extend(oci_device_steps(spec));
    }
    steps.extend(sysctl_steps(spec));
    steps
}

/// The config's devices, then runc's default ones it does not list, then the /dev links
/// (`/dev/core` when the host has a /proc/kcore, as runc checks).
fn oci_device_steps(spec: &Spec) -> Vec<Step> {
    let defaults = DEVICES
        .iter()
        .map(|&(name, major, minor)| DeviceNode {
            path: format!("/dev/{name}"),
            mode: libc::S_IFCHR | 0o666,
            major,
            minor,
            uid: 0,
            gid: 0,
        })
        .filter(|default| {
            !spec
                .devices
                .iter()
                .any(|device| device.path == default.path)
        });
    let mut steps: Vec<Step> = spec
        .devices
        .iter()
        .cloned()
        .chain(defaults)
        .map(|device| {
            let target = InRoot::new(&device.path);
            let (parent, name) = match device.path.rsplit_once('/') {
                Some((parent, name)) => (if parent.is_empty() { "/" } else { parent }, name),
                None => ("/", device.path.as_str()),
            };
            step(
                Stage::Devices,
                Op::Device {
                    parent: InRoot::new(parent),
                    name: c_string(name),
                    mode: device.mode,
                    major: device.major,
                    minor: device.minor,
                    uid: device.uid,
                    gid: device.gid,
                    host: c_string(&device.path),
                    target,
                },
            )
        })
        .collect();
    let core = Path::new("/proc/kcore")
        .exists()
        .then_some(("core", "/proc/kcore"));
    for (name, target) in DEVICE_LINKS.into_iter().chain(core) {
        steps.push(step(
            Stage::Devices,
            Op::Link {
                target: c_string(target),
                parent: c_string("dev"),
                name: c_string(name),
            },
        ));
    }
    steps
}

/// The sysctls, written through the container's /proc/sys.
fn sysctl_steps(spec: &Spec) -> impl Iterator<Item = Step> + '_ {
    spec.sysctls.iter().map(|(key, value)| {
        step(
            Stage::Sysctl,
            Op::Sysctl {
                path: c_string(&format!("proc/sys/{}", key.replace('.', "/"))),
                value: value.as_bytes().to_vec(),
            },
        )
    })
}

/// docker's: the standard mounts, then the user's.
fn docker_mount_steps(spec: &Spec) -> Vec<Step> {
    let mut steps = vec![step(
        Stage::Mount,
        mount_in_root("proc", "/proc", Some("proc"), HARDENED, None),
    )];
    // Right after /proc, before anything (a user's bind) can be mounted over /proc/sys.
    steps.extend(sysctl_steps(spec));
    steps.extend(dev_steps());
    let sysfs_readonly = if spec.writable_sysfs {
        0
    } else {
        libc::MS_RDONLY
    };
    steps.push(step(
        Stage::Mount,
        mount_in_root(
            "sysfs",
            "/sys",
            Some("sysfs"),
            HARDENED | sysfs_readonly,
            None,
        ),
    ));
    if let Some(view) = &spec.cgroup_view {
        steps.extend(cgroup_steps(view, CGROUP_ROOT));
    }

    if let Some(init) = &spec.init {
        steps.push(step(
            Stage::Mount,
            bind(init, INIT_PATH, TargetKind::File, true),
        ));
    }
    let etc = &spec.etc_files;
    for (source, target) in [
        (&etc.hostname, "/etc/hostname"),
        (&etc.hosts, "/etc/hosts"),
        (&etc.resolv_conf, "/etc/resolv.conf"),
    ] {
        if let Some(source) = source {
            steps.push(step(
                Stage::Mount,
                bind(source, target, TargetKind::File, false),
            ));
        }
    }
    // Parents before children (docker sorts by depth), so /a/b is not hidden by a later /a;
    // binds and tmpfs mounts are sorted together.
    let mut user_mounts: Vec<(usize, Op)> = spec
        .mounts
        .iter()
        .map(|mount| {
            let op = bind(
                &mount.source,
                &mount.destination,
                bind_kind(&mount.source),
                mount.readonly,
            );
            (mount.destination.matches('/').count(), op)
        })
        .chain(spec.tmpfs.iter().map(|mount| {
            let op = mount_in_root(
                "tmpfs",
                &mount.destination,
                Some("tmpfs"),
                mount.flags as c_ulong,
                Some(&mount.data)
                    .filter(|data| !data.is_empty())
                    .map(String::as_str),
            );
            (mount.destination.matches('/').count(), op)
        }))
        .collect();
    user_mounts.sort_by_key(|(depth, _)| *depth);
    steps.extend(
        user_mounts
            .into_iter()
            .map(|(_, op)| step(Stage::Mount, op)),
    );
    steps
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// /sys/fs/cgroup as runc makes it. v1 (`mountCgroupV1`): a tmpfs (mode 755), in it each
/// hierarchy under the host's mount name, either the container's own cgroup directory bound
/// (host cgroup namespace) or a new mount of the hierarchy (private namespace: its root is
/// the container's cgroup), with `nosuid,nodev,noexec` and read-only unless writable; the
/// symlinks of merged hierarchies (`cpu -> cpu,cpuacct`). The tmpfs itself stays writable, as
/// docker 20.10 (runc 1.1) leaves it: only the hierarchies are read-only, and a file made in
/// the tmpfs is the container's own. v2 (`mountCgroupV2`): one cgroup2 mount.
fn cgroup_steps(view: &CgroupView, root: &str) -> Vec<Step> {
    let readonly = |writable: bool| if writable { 0 } else { libc::MS_RDONLY };
    match view {
        CgroupView::V2 { writable } => vec![step(
            Stage::Mount,
            mount_in_root(
                "cgroup2",
                root,
                Some("cgroup2"),
                HARDENED | libc::MS_RELATIME | readonly(*writable),
                None,
            ),
        )],
        CgroupView::V1 {
            hierarchies,
            links,
            writable,
        } => {
            let tmpfs_flags = HARDENED | libc::MS_RELATIME;
            let mut steps = vec![step(
                Stage::Mount,
                mount_in_root("tmpfs", root, Some("tmpfs"), tmpfs_flags, Some("mode=755")),
            )];
            for (name, source) in hierarchies {
                let target = format!("{root}/{name}");
                let op = match source {
                    CgroupSource::Bind(path) => bind_with(
                        path,
                        &target,
                        TargetKind::Directory,
                        HARDENED | readonly(*writable),
                    ),
                    CgroupSource::Hierarchy(options) => {
                        let source = if options.starts_with("name=") {
                            options.trim_start_matches("name=")
                        } else {
                            "cgroup"
                        };
                        mount_in_root(
                            source,
                            &target,
                            Some("cgroup"),
                            HARDENED | libc::MS_RELATIME | readonly(*writable),
                            Some(options),
                        )
                    }
                };
                steps.push(step(Stage::Mount, op));
            }
            for (link, target) in links {
                steps.push(step(
                    Stage::Mount,
                    Op::Symlink {
                        target: c_string(target),
                        parent: c_string(root.trim_start_matches('/')),
                        name: c_string(link),
                    },
                ));
            }
            steps
        }
    }
}

/// /dev as docker makes it: a tmpfs with pts, shm and mqueue, the standard device nodes (made
/// with mknod: real root in the host's user namespace may) and the standard symlinks.
fn dev_steps() -> Vec<Step> {
    let mut steps = vec![
        step(
            Stage::Mount,
            mount_in_root(
                "tmpfs",
                "/dev",
                Some("tmpfs"),
                libc::MS_NOSUID | libc::MS_STRICTATIME,
                Some("mode=755,size=65536k"),
            ),
        ),
        step(
            Stage::Mount,
            mount_in_root(
                "devpts",
                "/dev/pts",
                Some("devpts"),
                libc::MS_NOSUID | libc::MS_NOEXEC,
                Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
            ),
        ),
        step(
            Stage::Mount,
            mount_in_root(
                "shm",
                "/dev/shm",
                Some("tmpfs"),
                HARDENED,
                Some("mode=1777,size=65536k"),
            ),
        ),
        step(
            Stage::Mount,
            mount_in_root("mqueue", "/dev/mqueue", Some("mqueue"), HARDENED, None),
        ),
    ];
    for (name, major, minor) in DEVICES {
        steps.push(step(
            Stage::Devices,
            Op::Mknod {
                parent: c_string("dev"),
                name: c_string(name),
                mode: libc::S_IFCHR | 0o666,
                major,
                minor,
                host: c_string(&format!("/dev/{name}")),
                target: InRoot::new(&format!("/dev/{name}")),
            },
        ));
    }
    for (name, target) in DEVICE_LINKS {
        steps.push(step(
            Stage::Devices,
            Op::Symlink {
                target: c_string(target),
                parent: c_string("dev"),
                name: c_string(name),
            },
        ));
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    #[test]
    fn in_root_prefixes() {
        let path = InRoot::new("/a/b/c");
        let texts = |values: &[CString]| {
            values
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(texts(&path.prefixes), ["a", "a/b", "a/b/c"]);
        assert_eq!(texts(&path.names), ["a", "b", "c"]);
    }

    #[test]
    fn overlay_options_short_and_long() {
        let (directory, data) = overlay_options(
            &["/l/1".into(), "/l/2".into()],
            Path::new("/c/up"),
            Path::new("/c/work"),
            false,
        )
        .unwrap();
        assert_eq!(directory, None);
        assert_eq!(data, "lowerdir=/l/1:/l/2,upperdir=/c/up,workdir=/c/work");
        let (_, data) = overlay_options(
            &["/l/1".into()],
            Path::new("/c/up"),
            Path::new("/c/work"),
            true,
        )
        .unwrap();
        assert_eq!(
            data,
            "lowerdir=/l/1,upperdir=/c/up,workdir=/c/work,volatile"
        );

        let base = "/var/lib/hybridock/".to_owned() + &"x".repeat(40);
        let lower: Vec<PathBuf> = (0..50)
            .map(|index| format!("{base}/layers/{index:064}").into())
            .collect();
        let upper = PathBuf::from(format!("{base}/containers/c/upper"));
        let work = PathBuf::from(format!("{base}/containers/c/work"));
        let (directory, data) = overlay_options(&lower, &upper, &work, false).unwrap();
        assert_eq!(directory, Some(PathBuf::from(&base)));
        assert!(data.starts_with("lowerdir=layers/"), "{data}");
        assert!(data.ends_with(",upperdir=containers/c/upper,workdir=containers/c/work"));

        let too_many: Vec<PathBuf> = (0..400)
            .map(|index| format!("/l/{index:064}").into())
            .collect();
        assert!(overlay_options(&too_many, Path::new("/u"), Path::new("/w"), false).is_err());
    }

    /// The flags sysfs is mounted with on /sys.
    fn sysfs_flags(spec: &Spec) -> c_ulong {
        container_mount_steps(spec)
            .into_iter()
            .find_map(|step| match step.op {
                Op::MountInRoot {
                    fstype: Some(fstype),
                    flags,
                    ..
                } if fstype.as_c_str() == c"sysfs" => Some(flags),
                _ => None,
            })
            .expect("a sysfs mount")
    }

    #[test]
    fn sysfs_is_read_only_unless_writable() {
        let mut spec = Spec::new(vec!["sh".into()], Rootfs::Path("/rootfs".into()));
        assert_eq!(sysfs_flags(&spec), HARDENED | libc::MS_RDONLY);
        // docker's --privileged (without --read-only)
        spec.writable_sysfs = true;
        assert_eq!(sysfs_flags(&spec), HARDENED);
    }
}
