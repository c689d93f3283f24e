//! config.json -> [`Spec`] (the container's init, for `create`/`run`) and -> [`ExecSpec`]
//! (`exec`), with runc's reading of each field (`specconv`), and runc's wording for what it
//! refuses. What this runtime does not do is refused with an [`OciError::Unsupported`], never
//! ignored where it would weaken the container (a seccomp profile that cannot be compiled,
//! an `AppArmor` or `SELinux` label on a host that enforces them).

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::path::{Path, PathBuf};

use crate::oci::config::{Capabilities, Config, IdMapping, Linux, OciError, Process};
use crate::oci::mounts::{
    cgroup_v1_view, host_cgroup_links, oci_mount, propagation_flags, v1_hierarchies,
};
use crate::seccomp::profile::capability_number;
use crate::seccomp::{self, Host, SockFilter};
use crate::spawn::spec::rlimit_resource;
use crate::spawn::syscall::{LinuxSyscalls, Syscall};
use crate::spawn::{
    CapabilitySets, CgroupView, DeviceNode, ExecSpec, IdMap, MountsMode, NamespaceKind, Namespaces,
    OciMount, Rlimit, Rootfs, Spec, UserNamespace,
};

/// What the translation needs beyond config.json.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// The bundle directory; `root.path` and relative bind sources are relative to it.
    pub bundle: &'a Path,
    /// Files to write "0" to, to join the container's cgroups (from `oci::cgroups`, which made
    /// them first).
    pub cgroup_join: Vec<PathBuf>,
    /// The fds to install as 0, 1 and 2; `None` inherits.
    pub stdio: [Option<RawFd>; 3],
    /// Not used by the translation: with `process.terminal` the spawned process's pty master
    /// comes back in `Spawned::terminal`, and the runtime sends it on this socket (runc's
    /// console socket protocol).
    pub console_socket: Option<RawFd>,
    /// The exec fifo: the child, fully set up, opens it `O_WRONLY` (blocking until `start` opens
    /// it for reading), writes one byte, then execs. `None` execs at once (`run`).
    pub start_gate: Option<PathBuf>,
}

/// The spawn spec of the container's init.
pub fn spec_for(config: &Config, context: &Context) -> Result<Spec, OciError> {
    let process = config
        .process
        .as_ref()
        .ok_or_else(|| OciError::Invalid("process property must not be empty".to_owned()))?;
    let empty = Linux::default();
    let linux = config.linux.as_ref().unwrap_or(&empty);
    let rootfs = rootfs_path(config, context.bundle)?;
    let (namespaces, join_namespaces, user_namespace) = namespaces(linux)?;
    let mut spec = Spec::new(process.args.clone(), Rootfs::Path(rootfs.clone()));
    apply_process(&mut spec, process)?;
    set_home(&mut spec.env, &rootfs, spec.uid);
    spec.hostname = config.hostname.clone().filter(|name| !name.is_empty());
    if config
        .domainname
        .as_deref()
        .is_some_and(|name| !name.is_empty())
    {
        return Err(OciError::Unsupported(
            "domainname is not supported".to_owned(),
        ));
    }
    spec.namespaces = namespaces;
    spec.join_namespaces = join_namespaces;
    spec.user_namespace = user_namespace;
    spec.readonly_rootfs = config.root.as_ref().is_some_and(|root| root.readonly);
    spec.masked_paths.clone_from(&linux.masked_paths);
    spec.readonly_paths.clone_from(&linux.readonly_paths);
    check_sysctls(linux)?;
    spec.sysctls = linux
        .sysctl
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    spec.rootfs_propagation =
        match linux.rootfs_propagation.as_deref() {
            None | Some("") => None,
            Some(name) => Some(propagation_flags(name).ok_or_else(|| {
                OciError::Invalid(format!("rootfsPropagation {name:?} is invalid"))
            })?),
        };
    spec.devices = devices(linux)?;
    let mounts = config
        .mounts
        .iter()
        .map(|mount| oci_mount(mount, context.bundle))
        .collect::<Result<Vec<_>, _>>()?;
    spec.cgroup_view = cgroup_view(&mounts, &spec, &context.cgroup_join);
    spec.mounts_mode = MountsMode::Oci(cgroup_mounts_on_v2(mounts, spec.cgroup_view.is_none()));
    spec.cgroup_join.clone_from(&context.cgroup_join);
    spec.stdio = context.stdio;
    spec.start_gate.clone_from(&context.start_gate);
    spec.seccomp_filter = seccomp_filter(linux, spec.capability_sets)?;
    refuse_unsupported(linux)?;
    Ok(spec)
}

/// The spawn spec of a process `exec`'d into the container whose init is `pid`: the
/// container's namespaces and seccomp profile, the process's own user, capabilities, limits.
pub fn exec_spec_for(
    process: &Process,
    pid: libc::pid_t,
    config: &Config,
    context: &Context,
) -> Result<ExecSpec, OciError> {
    let mut init = Spec::new(process.args.clone(), Rootfs::Path(PathBuf::from("/")));
    apply_process(&mut init, process)?;
    set_home(
        &mut init.env,
        Path::new(&format!("/proc/{pid}/root")),
        init.uid,
    );
    let empty = Linux::default();
    let linux = config.linux.as_ref().unwrap_or(&empty);
    Ok(ExecSpec {
        env: init.env,
        cwd: init.cwd,
        uid: init.uid,
        gid: init.gid,
        groups: init.groups,
        stdio: context.stdio,
        tty: init.tty,
        console_size: init.console_size,
        rlimits: init.rlimits,
        no_new_privs: init.no_new_privs,
        cgroup_join: context.cgroup_join.clone(),
        capabilities: None,
        seccomp_filter: seccomp_filter(linux, init.capability_sets)?,
        capability_sets: init.capability_sets,
        umask: init.umask,
        ..ExecSpec::new(pid, init.argv)
    })
}

/// `root.path`, relative to the bundle unless absolute, symlinks resolved (as runc).
fn rootfs_path(config: &Config, bundle: &Path) -> Result<PathBuf, OciError> {
    let root = config
        .root
        .as_ref()
        .filter(|root| !root.path.is_empty())
        .ok_or_else(|| OciError::Invalid("root must be specified".to_owned()))?;
    let path = bundle.join(&root.path);
    std::fs::canonicalize(&path).map_err(|error| {
        OciError::Invalid(format!(
            "invalid rootfs: stat {}: {}",
            path.display(),
            io_reason(&error)
        ))
    })
}

fn io_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_ascii_lowercase(),
        None => text,
    }
}

/// The user, command, environment, terminal, limits and capabilities of a process.
fn apply_process(spec: &mut Spec, process: &Process) -> Result<(), OciError> {
    if process.args.is_empty() || process.args[0].is_empty() {
        return Err(OciError::Invalid("args must not be empty".to_owned()));
    }
    if process.command_line.is_some() {
        return Err(OciError::Unsupported(
            "commandLine is only for Windows".to_owned(),
        ));
    }
    if !process.cwd.starts_with('/') {
        return Err(OciError::Invalid(
            "cwd property must be an absolute path".to_owned(),
        ));
    }
    spec.argv.clone_from(&process.args);
    spec.env.clone_from(&process.env);
    spec.cwd.clone_from(&process.cwd);
    spec.uid = process.user.uid;
    spec.gid = process.user.gid;
    spec.groups.clone_from(&process.user.additional_gids);
    spec.umask = process.user.umask.unwrap_or(0o022) & 0o777;
    spec.tty = process.terminal;
    spec.console_size = process
        .console_size
        .filter(|size| size.height > 0 && size.width > 0)
        .map(|size| (clamp(size.height), clamp(size.width)));
    spec.rlimits = process
        .rlimits
        .iter()
        .map(|limit| {
            let resource = rlimit_resource(&limit.type_).ok_or_else(|| {
                OciError::Invalid(format!("failed to map rlimit name {:?}", limit.type_))
            })?;
            Ok(Rlimit {
                resource,
                soft: limit.soft,
                hard: limit.hard,
            })
        })
        .collect::<Result<_, OciError>>()?;
    spec.no_new_privs = process.no_new_privileges;
    spec.oom_score_adj = process.oom_score_adj;
    spec.capabilities = None;
    spec.capability_sets = Some(
        process
            .capabilities
            .as_ref()
            .map(capability_sets)
            .unwrap_or_default(),
    );
    if process
        .apparmor_profile
        .as_deref()
        .is_some_and(|p| !p.is_empty())
        && apparmor_enabled()
    {
        return Err(OciError::Unsupported(
            "apparmor profiles are not supported on a host that enforces AppArmor".to_owned(),
        ));
    }
    if process
        .selinux_label
        .as_deref()
        .is_some_and(|l| !l.is_empty())
        && selinux_enabled()
    {
        return Err(OciError::Unsupported(
            "SELinux labels are not supported on a host that enforces SELinux".to_owned(),
        ));
    }
    Ok(())
}

fn clamp(value: u32) -> u16 {
    u16::try_from(value).unwrap_or(u16::MAX)
}

/// The five sets; unknown names are skipped, as runc does (with a warning) for capabilities
/// this kernel or runtime does not know.
fn capability_sets(capabilities: &Capabilities) -> CapabilitySets {
    let mask = |names: &[String]| {
        names
            .iter()
            .filter_map(|name| capability_number(name))
            .fold(0u64, |mask, bit| mask | (1 << bit))
    };
    CapabilitySets {
        bounding: mask(&capabilities.bounding),
        effective: mask(&capabilities.effective),
        permitted: mask(&capabilities.permitted),
        inheritable: mask(&capabilities.inheritable),
        ambient: mask(&capabilities.ambient),
    }
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|text| text.trim() == "Y")
}

fn selinux_enabled() -> bool {
    std::fs::read_to_string("/sys/fs/selinux/enforce").is_ok_and(|text| text.trim() == "1")
}

/// New namespaces (no path), the ones joined by path, a new user namespace with its maps.
type NamespacePlan = (
    Namespaces,
    Vec<(NamespaceKind, PathBuf)>,
    Option<UserNamespace>,
);

/// runc's `HOME`: when the process's environment has none, the user's home directory from the
/// container's own /etc/passwd, "/" when it names none.
fn set_home(env: &mut Vec<String>, rootfs: &Path, uid: u32) {
    if env.iter().any(|entry| entry.starts_with("HOME=")) {
        return;
    }
    let home = passwd_home(rootfs, uid).unwrap_or_else(|| "/".to_owned());
    env.push(format!("HOME={home}"));
}

/// The home field of `uid`'s line in `<rootfs>/etc/passwd`, the file resolved inside the rootfs
/// (`RESOLVE_IN_ROOT`: an image's symlink cannot make us read a host file).
fn passwd_home(rootfs: &Path, uid: u32) -> Option<String> {
    let root = std::fs::File::open(rootfs).ok()?;
    let fd = LinuxSyscalls
        .open_in_root(root.as_raw_fd(), c"etc/passwd")
        .ok()?;
    // SAFETY: a fresh fd from openat2, owned from here on.
    let file = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let mut text = Vec::new();
    std::fs::File::open(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .ok()?
        .take(1 << 20)
        .read_to_end(&mut text)
        .ok()?;
    let wanted = uid.to_string();
    String::from_utf8_lossy(&text).lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 7 && fields[2] == wanted && !fields[5].is_empty())
            .then(|| fields[5].to_owned())
    })
}

/// runc's rule: a sysctl is written only where the container has its own copy of it (the
/// IPC ones with an ipc namespace, `net.*` with a network namespace, `kernel.domainname` with a
/// uts namespace), so a config can never change the host's kernel through the container's
/// /proc/sys.
fn check_sysctls(linux: &Linux) -> Result<(), OciError> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let has = |kind: &str| {
        linux
            .namespaces
            .iter()
            .any(|namespace| namespace.type_ == kind)
    };
    for key in linux.sysctl.keys() {
        let refusal = if IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            (!has("ipc")).then(|| {
                format!(
                    "sysctl {key:?} is not allowed as it conflicts with the OCI \"ipc\" namespace"
                )
            })
        } else if key.starts_with("net.") {
            (!has("network"))
                .then(|| format!("sysctl {key:?} is not allowed in the hosts network namespace"))
        } else if key == "kernel.domainname" && has("uts") {
            None
        } else if key == "kernel.hostname" && has("uts") {
            Some(format!(
                "sysctl {key:?} is not allowed as it conflicts with the OCI \"hostname\" field"
            ))
        } else {
            Some(format!(
                "sysctl {key:?} is not in a separate kernel namespace"
            ))
        };
        if let Some(message) = refusal {
            return Err(OciError::Invalid(message));
        }
    }
    Ok(())
}

fn namespaces(linux: &Linux) -> Result<NamespacePlan, OciError> {
    let mut new = Namespaces {
        pid: false,
        uts: false,
        ipc: false,
        net: false,
        cgroup: false,
    };
    let mut new_user = false;
    let mut joined = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for namespace in &linux.namespaces {
        let kind = namespace.type_.as_str();
        if seen.contains(&kind) {
            return Err(OciError::Invalid(format!(
                "malformed spec file: duplicated ns {kind:?}"
            )));
        }
        seen.push(kind);
        let kind = match kind {
            "pid" => NamespaceKind::Pid,
            "network" => NamespaceKind::Net,
            "ipc" => NamespaceKind::Ipc,
            "uts" => NamespaceKind::Uts,
            "mount" => NamespaceKind::Mount,
            "cgroup" => NamespaceKind::Cgroup,
            "user" => NamespaceKind::User,
            "time" => {
                return Err(OciError::Unsupported(
                    "time namespaces are not supported by hybridock-runtime".to_owned(),
                ))
            }
            other => {
                return Err(OciError::Invalid(format!(
                    "namespace {other:?} does not exist"
                )))
            }
        };
        match namespace.path.as_deref().filter(|path| !path.is_empty()) {
            Some(path) => joined.push((kind, PathBuf::from(path))),
            None => match kind {
                NamespaceKind::Pid => new.pid = true,
                NamespaceKind::Net => new.net = true,
                NamespaceKind::Ipc => new.ipc = true,
                NamespaceKind::Uts => new.uts = true,
                NamespaceKind::Cgroup => new.cgroup = true,
                NamespaceKind::User => new_user = true,
                // always new (the rootfs is set up in a private mount namespace)
                NamespaceKind::Mount => {}
            },
        }
    }
    let mapped = !linux.uid_mappings.is_empty() || !linux.gid_mappings.is_empty();
    let joins_user = joined.iter().any(|(kind, _)| *kind == NamespaceKind::User);
    let user = match (new_user, mapped) {
        (false, false) => None,
        // the joined namespace's maps are its own (runc's nsexec writes none then)
        (false, true) if joins_user => None,
        // runc's wording (configs/validate)
        (false, true) => return Err(OciError::Invalid(
            "user namespaces mappings specified, but USER namespace isn't enabled in the config"
                .to_owned(),
        )),
        (true, _) if linux.uid_mappings.is_empty() => {
            return Err(OciError::Invalid(
                "user namespaces enabled, but no uid mappings found".to_owned(),
            ))
        }
        (true, _) if linux.gid_mappings.is_empty() => {
            return Err(OciError::Invalid(
                "user namespaces enabled, but no gid mappings found".to_owned(),
            ))
        }
        (true, _) => Some(UserNamespace {
            uid_mappings: id_maps(&linux.uid_mappings),
            gid_mappings: id_maps(&linux.gid_mappings),
        }),
    };
    Ok((new, joined, user))
}

fn id_maps(mappings: &[IdMapping]) -> Vec<IdMap> {
    mappings
        .iter()
        .map(|mapping| IdMap {
            container_id: mapping.container_id,
            host_id: mapping.host_id,
            size: mapping.size,
        })
        .collect()
}

/// `linux.devices`: type `c`/`u`, `b` or `p`, mode 0666 unless given, owned by root unless
/// given.
fn devices(linux: &Linux) -> Result<Vec<DeviceNode>, OciError> {
    linux
        .devices
        .iter()
        .map(|device| {
            let kind = match device.type_.as_str() {
                "c" | "u" => libc::S_IFCHR,
                "b" => libc::S_IFBLK,
                "p" => libc::S_IFIFO,
                other => {
                    return Err(OciError::Invalid(format!(
                        "device {}: type {other:?} is not c, u, b or p",
                        device.path
                    )))
                }
            };
            let number = |value: i64| {
                u32::try_from(value).map_err(|_| {
                    OciError::Invalid(format!("device {}: bad major/minor", device.path))
                })
            };
            Ok(DeviceNode {
                path: device.path.clone(),
                mode: kind | (device.file_mode.unwrap_or(0o666) & 0o7777),
                major: number(device.major)?,
                minor: number(device.minor)?,
                uid: device.uid.unwrap_or(0),
                gid: device.gid.unwrap_or(0),
            })
        })
        .collect()
}

/// The v1 emulation a `cgroup` mount stands for, from this host's hierarchies.
fn cgroup_view(mounts: &[OciMount], spec: &Spec, cgroup_join: &[PathBuf]) -> Option<CgroupView> {
    let mount = mounts
        .iter()
        .find(|mount| mount.fstype.as_deref() == Some("cgroup"))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    cgroup_v1_view(
        &v1_hierarchies(&mountinfo),
        host_cgroup_links(),
        spec.namespaces.cgroup,
        cgroup_join,
        mount.flags & libc::MS_RDONLY == 0,
    )
}

/// On a host without v1 hierarchies a `cgroup` mount is a cgroup2 mount (runc's
/// `mountCgroupV2`).
fn cgroup_mounts_on_v2(mounts: Vec<OciMount>, v2: bool) -> Vec<OciMount> {
    mounts
        .into_iter()
        .map(|mut mount| {
            if v2 && mount.fstype.as_deref() == Some("cgroup") {
                mount.fstype = Some("cgroup2".to_owned());
                mount.source = Some("cgroup".to_owned());
            }
            mount
        })
        .collect()
}

/// `linux.seccomp` compiled for this host: its format is docker's without the `includes` and
/// `excludes` (which the compiler then never sees). Anything it cannot compile is an error.
fn seccomp_filter(
    linux: &Linux,
    capability_sets: Option<CapabilitySets>,
) -> Result<Option<Vec<SockFilter>>, OciError> {
    const ACCEPTED_FLAGS: [&str; 3] = [
        // one thread: nothing to synchronize
        "SECCOMP_FILTER_FLAG_TSYNC",
        // a logging and a mitigation switch: the filter's decisions are the same without them
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    ];
    let Some(profile) = &linux.seccomp else {
        return Ok(None);
    };
    if let Some(flag) = profile
        .flags
        .iter()
        .find(|flag| !ACCEPTED_FLAGS.contains(&flag.as_str()))
    {
        return Err(OciError::Unsupported(format!(
            "seccomp flag {flag:?} is not supported"
        )));
    }
    if profile
        .listener_path
        .as_deref()
        .is_some_and(|path| !path.is_empty())
    {
        return Err(OciError::Unsupported(
            "seccomp listenerPath (SCMP_ACT_NOTIFY) is not supported".to_owned(),
        ));
    }
    let json = serde_json::to_string(profile)
        .map_err(|error| OciError::Invalid(format!("seccomp: {error}")))?;
    let capabilities = capability_sets.map_or(0, |sets| sets.bounding);
    let host = Host::current(capabilities)
        .map_err(|error| OciError::Unsupported(format!("seccomp: {error}")))?;
    let program = seccomp::compile(&json, &host)
        .map_err(|error| OciError::Invalid(format!("seccomp: {error}")))?;
    Ok(Some(program))
}

/// Fields this runtime does not implement, refused rather than ignored.
fn refuse_unsupported(linux: &Linux) -> Result<(), OciError> {
    if linux.intel_rdt.is_some() {
        return Err(OciError::Unsupported(
            "intelRdt is not supported".to_owned(),
        ));
    }
    if linux.personality.is_some() {
        return Err(OciError::Unsupported(
            "personality is not supported".to_owned(),
        ));
    }
    Ok(())
}
