//! Loading and translating the configs real callers write (captured under tests/data/).

use super::*;
use crate::oci::config::{self, Seccomp};

fn data(name: &str) -> Config {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    Config::parse(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn runc_spec_loads_with_the_spec_defaults() {
    let config = data("runc-spec.json");
    let process = config.process.as_ref().unwrap();
    assert_eq!(process.args, ["sh"]);
    assert!(process.terminal);
    assert_eq!(config.root.as_ref().unwrap().path, "rootfs");
    assert!(config.root.as_ref().unwrap().readonly);
    let linux = config.linux.as_ref().unwrap();
    assert_eq!(linux.namespaces.len(), 5);
    assert!(linux.uid_mappings.is_empty());
    assert_eq!(config.mounts[0].destination, "/proc");
}

#[test]
fn unknown_fields_are_ignored_and_errors_name_the_file() {
    let config = Config::parse(br#"{"ociVersion":"1.2.0","vm":{},"process":{"x":1}}"#).unwrap();
    assert_eq!(config.oci_version, "1.2.0");
    let missing = Config::load(std::path::Path::new("/nonexistent-bundle")).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "JSON specification file /nonexistent-bundle/config.json not found"
    );
}

/// A bundle directory with an empty `rootfs/`, removed on drop.
struct Bundle {
    path: std::path::PathBuf,
}

impl Bundle {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("hybridock-oci-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(path.join("rootfs")).unwrap();
        Self { path }
    }

    fn context(&self) -> Context<'_> {
        Context {
            bundle: &self.path,
            cgroup_join: Vec::new(),
            stdio: [None; 3],
            console_socket: None,
            start_gate: None,
        }
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Whether the real-container tests can run; they skip (with a word) when not root.
fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped: needs root");
    }
    root
}

/// A bundle whose rootfs holds the host's static busybox as /bin/busybox.
fn busybox_bundle(name: &str) -> Bundle {
    let bundle = Bundle::new(name);
    let bin = bundle.path.join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/usr/bin/busybox", bin.join("busybox")).unwrap();
    bundle
}

/// An exec fifo at `path` (0600: these tests' inits stay root).
fn make_fifo(path: &std::path::Path) -> std::path::PathBuf {
    let text = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(text.as_ptr(), 0o600) }, 0);
    path.to_path_buf()
}

/// A captured config with its rootfs moved to the bundle's.
fn captured(name: &str) -> Config {
    let mut config = data(name);
    config.root.as_mut().unwrap().path = "rootfs".to_owned();
    config
}

fn capability(name: &str) -> u64 {
    1 << crate::seccomp::profile::capability_number(name).unwrap()
}

fn oci_mounts(spec: &crate::spawn::Spec) -> &[crate::spawn::OciMount] {
    match &spec.mounts_mode {
        crate::spawn::MountsMode::Oci(mounts) => mounts,
        crate::spawn::MountsMode::Docker => panic!("docker's mounts"),
    }
}

#[test]
fn runc_spec_translates() {
    let bundle = Bundle::new("runc");
    let spec = spec_for(&captured("runc-spec.json"), &bundle.context()).unwrap();
    assert_eq!(spec.argv, ["sh"]);
    assert!(spec.tty && spec.readonly_rootfs && spec.no_new_privs);
    assert_eq!(spec.hostname.as_deref(), Some("runc"));
    let namespaces = spec.namespaces;
    assert!(namespaces.pid && namespaces.net && namespaces.ipc && namespaces.uts);
    assert!(!namespaces.cgroup && spec.join_namespaces.is_empty());
    let sets = spec.capability_sets.unwrap();
    let three =
        capability("CAP_AUDIT_WRITE") | capability("CAP_KILL") | capability("CAP_NET_BIND_SERVICE");
    assert_eq!(
        (sets.bounding, sets.effective, sets.permitted),
        (three, three, three)
    );
    assert_eq!((sets.inheritable, sets.ambient), (0, three));
    assert_eq!(spec.capabilities, None);
    let mounts = oci_mounts(&spec);
    let destinations: Vec<&str> = mounts.iter().map(|m| m.destination.as_str()).collect();
    assert_eq!(
        destinations,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/sys",
            "/sys/fs/cgroup"
        ]
    );
    let dev = &mounts[1];
    assert_eq!(dev.fstype.as_deref(), Some("tmpfs"));
    assert_eq!(dev.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
    assert_eq!(dev.data, "mode=755,size=65536k");
    assert_eq!(
        mounts[5].flags,
        libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV | libc::MS_RDONLY
    );
    assert!(spec.masked_paths.contains(&"/proc/kcore".to_owned()));
    assert!(spec.readonly_paths.contains(&"/proc/sys".to_owned()));
    assert_eq!(spec.rlimits[0].resource, libc::RLIMIT_NOFILE as i32);
    assert_eq!(spec.seccomp_filter, None);
}

#[test]
fn podman_run_translates_and_its_seccomp_profile_compiles() {
    let bundle = Bundle::new("podman");
    let spec = spec_for(&captured("podman-run.json"), &bundle.context()).unwrap();
    assert_eq!(spec.argv, ["/bin/echo", "hi"]);
    assert!(!spec.no_new_privs && !spec.tty);
    // the network namespace podman made, joined; the rest new
    assert_eq!(spec.join_namespaces.len(), 1);
    assert_eq!(spec.join_namespaces[0].0, crate::spawn::NamespaceKind::Net);
    assert!(spec.namespaces.pid && !spec.namespaces.net);
    assert_eq!(
        spec.sysctls,
        [("net.ipv4.ping_group_range".to_owned(), "0 0".to_owned())]
    );
    let program = spec.seccomp_filter.as_ref().expect("a compiled profile");
    assert!(program.len() > 100, "{}", program.len());
    let mounts = oci_mounts(&spec);
    let shm = mounts.iter().find(|m| m.destination == "/dev/shm").unwrap();
    assert!(shm.is_bind() && !shm.recursive_readonly);
    assert_eq!(shm.propagation, libc::MS_PRIVATE | libc::MS_REC);
    assert_eq!(
        shm.flags,
        libc::MS_BIND | libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV
    );
    let cgroup = mounts
        .iter()
        .find(|m| m.destination == "/sys/fs/cgroup")
        .unwrap();
    // v1 hosts get runc's emulation, v2 hosts a cgroup2 mount
    match &spec.cgroup_view {
        Some(crate::spawn::CgroupView::V1 { writable, .. }) => {
            assert!(!writable);
            assert_eq!(cgroup.fstype.as_deref(), Some("cgroup"));
        }
        _ => assert_eq!(cgroup.fstype.as_deref(), Some("cgroup2")),
    }
    assert_eq!(spec.rlimits.len(), 2);
}

#[test]
fn containerd_ctr_run_translates_and_its_default_seccomp_profile_compiles() {
    let bundle = Bundle::new("containerd");
    let spec = spec_for(&captured("containerd-ctr-run.json"), &bundle.context()).unwrap();
    assert!(spec.no_new_privs);
    assert_eq!(spec.groups, [0]);
    assert!(spec.capability_sets.unwrap().bounding & capability("CAP_MKNOD") != 0);
    assert!(oci_mounts(&spec).iter().any(|m| m.destination == "/run"));
    assert_eq!(spec.seccomp_filter, None);
    let with_seccomp = captured("containerd-ctr-run-seccomp.json");
    let spec = spec_for(&with_seccomp, &bundle.context()).unwrap();
    assert!(spec.seccomp_filter.is_some());
}

#[test]
fn exec_takes_the_process_and_the_containers_profile() {
    let bundle = Bundle::new("exec");
    let config = captured("containerd-ctr-run-seccomp.json");
    let process = Process {
        args: vec!["ps".into()],
        env: vec!["PATH=/bin".into()],
        cwd: "/tmp".into(),
        user: User {
            uid: 1000,
            gid: 100,
            ..User::default()
        },
        terminal: true,
        console_size: Some(Box_ {
            height: 24,
            width: 80,
        }),
        ..Process::default()
    };
    let mut context = bundle.context();
    context.cgroup_join = vec!["/sys/fs/cgroup/pids/c/tasks".into()];
    let spec = exec_spec_for(&process, 42, &config, &context).unwrap();
    assert_eq!((spec.pid, spec.uid, spec.gid), (42, 1000, 100));
    assert_eq!(spec.cwd, "/tmp");
    assert_eq!((spec.tty, spec.console_size), (true, Some((24, 80))));
    assert_eq!(
        spec.capability_sets,
        Some(crate::spawn::CapabilitySets::default())
    );
    assert!(spec.seccomp_filter.is_some());
    assert_eq!(spec.cgroup_join, context.cgroup_join);
}

#[test]
fn what_cannot_be_done_is_refused_clearly() {
    let bundle = Bundle::new("refused");
    let base = captured("runc-spec.json");
    let with_linux = |change: &dyn Fn(&mut Linux)| {
        let mut config = base.clone();
        change(config.linux.as_mut().unwrap());
        spec_for(&config, &bundle.context())
            .unwrap_err()
            .to_string()
    };
    let time = with_linux(&|linux| {
        linux.namespaces.push(Namespace {
            type_: "time".into(),
            path: None,
        });
    });
    assert!(time.contains("time namespaces are not supported"), "{time}");
    let mappings = with_linux(&|linux| {
        linux.uid_mappings.push(IdMapping {
            container_id: 0,
            host_id: 100_000,
            size: 65536,
        });
    });
    assert!(mappings.contains("user namespaces"), "{mappings}");
    let notify = with_linux(&|linux| {
        linux.seccomp = Some(Seccomp {
            default_action: "SCMP_ACT_NOTIFY".into(),
            ..Seccomp::default()
        });
    });
    assert!(notify.contains("seccomp"), "{notify}");
    let unknown_action = with_linux(&|linux| {
        linux.seccomp = Some(Seccomp {
            default_action: "SCMP_ACT_ALLOW".into(),
            syscalls: vec![config::SyscallRule {
                names: vec!["mount".into()],
                action: "SCMP_ACT_BOGUS".into(),
                ..config::SyscallRule::default()
            }],
            ..Seccomp::default()
        });
    });
    assert!(
        unknown_action.contains("unknown action"),
        "{unknown_action}"
    );
    let flag = with_linux(&|linux| {
        linux.seccomp = Some(Seccomp {
            default_action: "SCMP_ACT_ALLOW".into(),
            flags: vec!["SECCOMP_FILTER_FLAG_NEW_LISTENER".into()],
            ..Seccomp::default()
        });
    });
    assert!(flag.contains("SECCOMP_FILTER_FLAG_NEW_LISTENER"), "{flag}");
    let mut no_rootfs = base.clone();
    no_rootfs.root.as_mut().unwrap().path = "missing".into();
    let error = spec_for(&no_rootfs, &bundle.context())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("missing: no such file or directory"),
        "{error}"
    );
}

#[test]
fn sysctls_only_where_the_container_has_its_own_copy() {
    let bundle = Bundle::new("sysctls");
    let base = captured("runc-spec.json");
    let outcome = |key: &str, drop: &[&str]| {
        let mut config = base.clone();
        let linux = config.linux.as_mut().unwrap();
        linux
            .namespaces
            .retain(|namespace| !drop.contains(&namespace.type_.as_str()));
        linux.sysctl.insert(key.to_owned(), "1".to_owned());
        spec_for(&config, &bundle.context())
            .map(|_| ())
            .map_err(|error| error.to_string())
    };
    // runc spec's namespaces: pid, network, ipc, uts, mount
    assert_eq!(outcome("net.ipv4.ip_forward", &[]), Ok(()));
    assert_eq!(outcome("kernel.shmmax", &[]), Ok(()));
    assert_eq!(outcome("fs.mqueue.msg_max", &[]), Ok(()));
    assert_eq!(outcome("kernel.domainname", &[]), Ok(()));
    let host_network = outcome("net.ipv4.ip_forward", &["network"]).unwrap_err();
    assert!(
        host_network.contains("not allowed in the hosts network namespace"),
        "{host_network}"
    );
    let host_ipc = outcome("kernel.msgmax", &["ipc"]).unwrap_err();
    assert!(
        host_ipc.contains(r#"conflicts with the OCI "ipc" namespace"#),
        "{host_ipc}"
    );
    let hostname = outcome("kernel.hostname", &[]).unwrap_err();
    assert!(
        hostname.contains(r#"conflicts with the OCI "hostname" field"#),
        "{hostname}"
    );
    let host_uts = outcome("kernel.domainname", &["uts"]).unwrap_err();
    assert!(
        host_uts.contains("is not in a separate kernel namespace"),
        "{host_uts}"
    );
    let global = outcome("vm.overcommit_memory", &[]).unwrap_err();
    assert!(
        global.contains("is not in a separate kernel namespace"),
        "{global}"
    );
}

#[test]
fn home_comes_from_the_containers_own_passwd() {
    let bundle = Bundle::new("home");
    let etc = bundle.path.join("rootfs/etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n",
    )
    .unwrap();
    let home = |uid: u32, env: &[&str]| {
        let mut config = captured("runc-spec.json");
        let process = config.process.as_mut().unwrap();
        process.user.uid = uid;
        process.env = env.iter().map(|entry| (*entry).to_owned()).collect();
        let spec = spec_for(&config, &bundle.context()).unwrap();
        let homes: Vec<String> = spec
            .env
            .into_iter()
            .filter(|e| e.starts_with("HOME="))
            .collect();
        homes
    };
    assert_eq!(home(33, &["PATH=/bin"]), ["HOME=/var/www"]);
    assert_eq!(home(0, &[]), ["HOME=/root"]);
    assert_eq!(home(1234, &[]), ["HOME=/"]);
    assert_eq!(home(33, &["HOME=/mine"]), ["HOME=/mine"]);
    // a passwd that points out of the rootfs is read inside it (here: missing, so "/")
    std::fs::write(
        bundle.path.join("outside"),
        "www:x:33:33::/host:/bin/false\n",
    )
    .unwrap();
    std::fs::remove_file(etc.join("passwd")).unwrap();
    std::os::unix::fs::symlink("../../outside", etc.join("passwd")).unwrap();
    assert_eq!(home(33, &[]), ["HOME=/"]);
}

#[test]
fn mount_options_follow_runcs_table() {
    let bundle = std::path::Path::new("/bundle");
    let mount = |kind: Option<&str>, source: &str, options: &[&str]| {
        mounts::oci_mount(
            &Mount {
                destination: "data".into(),
                type_: kind.map(str::to_owned),
                source: Some(source.into()),
                options: options.iter().map(|&o| o.to_owned()).collect(),
                ..Mount::default()
            },
            bundle,
        )
        .unwrap()
    };
    let rbind = mount(None, "volumes/v", &["rbind", "ro", "rslave", "nosuid"]);
    assert_eq!(rbind.destination, "/data");
    assert_eq!(rbind.source.as_deref(), Some("/bundle/volumes/v"));
    assert_eq!(rbind.fstype, None);
    assert_eq!(
        rbind.flags,
        libc::MS_BIND | libc::MS_REC | libc::MS_RDONLY | libc::MS_NOSUID
    );
    assert_eq!(rbind.propagation, libc::MS_SLAVE | libc::MS_REC);
    assert!(!rbind.recursive_readonly);
    let recursive = mount(None, "volumes/v", &["rbind", "rro"]);
    assert!(recursive.recursive_readonly);
    let tmpfs = mount(
        Some("tmpfs"),
        "tmpfs",
        &["ro", "rw", "exec", "noexec", "size=1m", "mode=700"],
    );
    assert_eq!(tmpfs.flags, libc::MS_NOEXEC);
    assert_eq!(tmpfs.data, "size=1m,mode=700");
    assert!(!tmpfs.is_bind());
    let bind_type = mount(Some("bind"), "/srv", &[]);
    assert!(bind_type.is_bind() && bind_type.flags & libc::MS_REC == 0);
}

/// A pipe (read end, write end), both close-on-exec.
fn pipe() -> (std::fs::File, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors, owned by nobody else.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

fn wait_status(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &raw mut status, 0) }, pid);
    status
}

/// `create` then `start` for real (root only): the init waits at the exec fifo with every step
/// done, runs once the fifo is opened for reading; a missing command fails at create time.
#[test]
fn the_start_gate_holds_the_init_until_the_fifo_is_read() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    if !running_as_root() {
        return;
    }
    let bundle = busybox_bundle("gate");
    let fifo = make_fifo(&bundle.path.join("exec.fifo"));

    let mut config = captured("runc-spec.json");
    config.root.as_mut().unwrap().readonly = false;
    let process = config.process.as_mut().unwrap();
    process.terminal = false;
    process.user.umask = Some(0o027);
    process.args = [
        "/bin/busybox",
        "sh",
        "-c",
        "echo hi; ls /dev/null /dev/ptmx; umask",
    ]
    .map(str::to_owned)
    .to_vec();
    let (mut output, write_end) = pipe();
    let mut context = bundle.context();
    context.stdio = [
        None,
        Some(write_end.as_raw_fd()),
        Some(write_end.as_raw_fd()),
    ];
    context.start_gate = Some(fifo.clone());
    let spec = spec_for(&config, &context).unwrap();
    let spawned = crate::spawn::spawn(&spec).expect("created");
    drop(write_end);
    // SAFETY: our own child; signal 0 only checks it exists.
    assert_eq!(
        unsafe { libc::kill(spawned.pid, 0) },
        0,
        "waiting at the gate"
    );

    let mut gate = std::fs::File::open(&fifo).unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(gate.read(&mut byte).unwrap(), 1);
    let mut text = String::new();
    output.read_to_string(&mut text).unwrap();
    assert_eq!(text, "hi\n/dev/null\n/dev/ptmx\n0027\n");
    assert_eq!(wait_status(spawned.pid), 0);

    let process = config.process.as_mut().unwrap();
    process.args = vec!["nonexistent".into()];
    let spec = spec_for(&config, &context).unwrap();
    let error = crate::spawn::spawn(&spec).expect_err("no such command");
    assert!(
        matches!(
            error,
            crate::spawn::SpawnError::Child {
                stage: crate::spawn::Stage::Exec,
                ..
            }
        ),
        "{error}"
    );
}

/// containerd's config with its default seccomp profile, run for real (root only) without a
/// gate (`run`): the filter, capability sets and mounts let a shell start and report.
#[test]
fn containerds_config_with_its_seccomp_profile_runs() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    if !running_as_root() {
        return;
    }
    let bundle = busybox_bundle("containerd-run");
    let rootfs = bundle.path.join("rootfs");
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    let mut config = captured("containerd-ctr-run-seccomp.json");
    config.process.as_mut().unwrap().args =
        ["sh", "-c", "grep -E '^(Seccomp|CapEff):' /proc/self/status"]
            .map(str::to_owned)
            .to_vec();
    config.process.as_mut().unwrap().env = vec!["PATH=/bin".into()];
    let (mut output, write_end) = pipe();
    let mut context = bundle.context();
    context.stdio = [
        None,
        Some(write_end.as_raw_fd()),
        Some(write_end.as_raw_fd()),
    ];
    let spec = spec_for(&config, &context).unwrap();
    let spawned = crate::spawn::spawn(&spec).expect("ran");
    drop(write_end);
    let mut text = String::new();
    output.read_to_string(&mut text).unwrap();
    assert_eq!(wait_status(spawned.pid), 0, "{text}");
    assert_eq!(text, "CapEff:\t00000000a80425fb\nSeccomp:\t2\n");
}

/// The order of the OCI steps, on the recording fake: the config's mounts in its order, then
/// devices and links, sysctls, `pivot_root`, the root's propagation, masks; the capability sets
/// around the user change; the executable found, the gate, then `no_new_privs`, seccomp, exec.
#[test]
fn oci_steps_run_in_runcs_order() {
    use crate::spawn::child::{execute, ChildFds};
    use crate::spawn::fake::RecordingSyscalls;
    let bundle = Bundle::new("order");
    let mut config = captured("containerd-ctr-run-seccomp.json");
    let linux = config.linux.as_mut().unwrap();
    linux
        .sysctl
        .insert("net.core.somaxconn".into(), "100".into());
    linux.rootfs_propagation = Some("rslave".into());
    linux.devices.push(Device {
        type_: "c".into(),
        path: "/dev/net/tun".into(),
        major: 10,
        minor: 200,
        file_mode: Some(0o620),
        uid: Some(7),
        gid: Some(8),
    });
    let process = config.process.as_mut().unwrap();
    process.oom_score_adj = Some(-500);
    process.user.uid = 1000;
    let mut context = bundle.context();
    context.start_gate = Some(bundle.path.join("exec.fifo"));
    let spec = spec_for(&config, &context).unwrap();
    let plan = crate::spawn::plan::plan(&spec).unwrap();
    assert!(plan.start_gate.is_some());
    let sys = RecordingSyscalls::new();
    let fds = ChildFds {
        error: 9,
        console_socket: -1,
        born_in_cgroup: false,
        start_gate: 5,
        sync: -1,
    };
    execute(&sys, &plan, fds).unwrap();
    let calls = sys.calls();
    let expected = [
        "open /proc/self/oom_score_adj",
        "write /proc/self/oom_score_adj -500",
        "mount / source=- type=- flags=0x84000", // / a slave before anything
        "mount root:/proc source=proc type=proc flags=0xe",
        "mount root:/dev source=tmpfs type=tmpfs flags=0x1000002 data=mode=755",
        "mount root:/dev/pts source=devpts",
        "mount root:/dev/shm source=shm",
        "mount root:/dev/mqueue source=mqueue",
        "mount root:/sys source=sysfs type=sysfs flags=0xf",
        "mount root:/run source=tmpfs",
        "mknod root:/dev/net/tun 20620 10:200",
        "fchownat root:/dev/net/tun 7 8",
        "mknod root:/dev/null 20666 1:3",
        "symlink root:/dev/fd -> /proc/self/fd",
        "symlink root:/dev/ptmx -> pts/ptmx",
        "write root:/proc/sys/net/core/somaxconn 100",
        "pivot_root",
        "mount / source=- type=- flags=0x84000", // rslave again, on the container's /
        "mount /proc/kcore source=/dev/null",
        "drop_bounding",
        "keepcaps true",
        "setresuid 1000",
        "keepcaps false",
        "capset e=0xa80425fb",
        "close_range 3 4",
        "close_range 6 8",
        "close_range 10",
        "access_x /bin/echo",
        "write fd9 \u{15}\0", // the ready record (stage 21, errno 0)
        "open fd5",           // the fifo, through /proc/self/fd/5
        "write fd5 0",
        "no_new_privs",
        "seccomp",
        "execve /bin/echo",
    ];
    let mut start = 0;
    for prefix in expected {
        let found = calls[start..]
            .iter()
            .position(|call| call.starts_with(prefix));
        let offset = found.unwrap_or_else(|| panic!("no {prefix:?} after #{start} in {calls:#?}"));
        start += offset + 1;
    }
}

/// podman's config run for real (root only), its bind sources moved into the bundle and its
/// network namespace a new one: binds with propagation and remount flags, the /sys/fs/cgroup
/// mount (runc's v1 emulation here), podman's seccomp profile and capability sets.
#[test]
fn podmans_config_runs() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    if !running_as_root() {
        return;
    }
    let bundle = busybox_bundle("podman-run");
    let rootfs = bundle.path.join("rootfs");
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    let mut config = captured("podman-run.json");
    for mount in &mut config.mounts {
        let Some(source) = mount.source.as_mut().filter(|s| s.starts_with("/capture/")) else {
            continue;
        };
        let name = source.rsplit('/').next().unwrap().to_owned();
        let moved = bundle.path.join(&name);
        if name == "shm" {
            std::fs::create_dir_all(&moved).unwrap();
        } else {
            std::fs::write(&moved, format!("{name}\n")).unwrap();
        }
        *source = moved.to_str().unwrap().to_owned();
    }
    for namespace in &mut config.linux.as_mut().unwrap().namespaces {
        namespace.path = None;
    }
    config.process.as_mut().unwrap().args = [
        "sh",
        "-c",
        "cat /etc/hostname; grep CapEff /proc/self/status; touch /dev/shm/x; touch /sys/fs/cgroup/x",
    ]
    .map(str::to_owned)
    .to_vec();
    let (mut output, write_end) = pipe();
    let mut context = bundle.context();
    context.stdio = [
        None,
        Some(write_end.as_raw_fd()),
        Some(write_end.as_raw_fd()),
    ];
    let spec = spec_for(&config, &context).unwrap();
    let spawned = crate::spawn::spawn(&spec).expect("ran");
    drop(write_end);
    let mut text = String::new();
    output.read_to_string(&mut text).unwrap();
    // touching the read-only /sys/fs/cgroup fails: exit 1
    assert_eq!(wait_status(spawned.pid), 1 << 8, "{text}");
    assert!(
        text.starts_with("hostname\nCapEff:\t00000000800405fb\ntouch: /sys/fs/cgroup/x: "),
        "{text}"
    );
    assert!(bundle.path.join("shm/x").exists());
}

/// Namespaces joined by path (root only), as containerd joins a pod's sandbox: a second
/// container is born in the first one's pid and network namespaces and joins its ipc and uts
/// namespaces, while it gets its own mount namespace.
#[test]
fn namespaces_are_joined_by_path() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    if !running_as_root() {
        return;
    }
    let bundle = busybox_bundle("join");
    let fifo = make_fifo(&bundle.path.join("exec.fifo"));
    let mut config = captured("runc-spec.json");
    config.root.as_mut().unwrap().readonly = false;
    let process = config.process.as_mut().unwrap();
    process.terminal = false;
    process.args = vec!["/bin/busybox".into(), "true".into()];
    let mut context = bundle.context();
    context.start_gate = Some(fifo.clone());
    let sandbox = crate::spawn::spawn(&spec_for(&config, &context).unwrap()).expect("sandbox");

    let link = |kind: &str| {
        std::fs::read_link(format!("/proc/{}/ns/{kind}", sandbox.pid))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let expected: String = ["net", "ipc", "uts", "pid"]
        .map(|kind| link(kind) + "\n")
        .concat();
    for namespace in &mut config.linux.as_mut().unwrap().namespaces {
        let kind = match namespace.type_.as_str() {
            "network" => "net",
            "mount" => continue,
            other => other,
        };
        namespace.path = Some(format!("/proc/{}/ns/{kind}", sandbox.pid));
    }
    config.process.as_mut().unwrap().args = [
        "/bin/busybox",
        "sh",
        "-c",
        "for n in net ipc uts pid; do /bin/busybox readlink /proc/self/ns/$n; done",
    ]
    .map(str::to_owned)
    .to_vec();
    let (mut output, write_end) = pipe();
    let mut context = bundle.context();
    context.stdio = [
        None,
        Some(write_end.as_raw_fd()),
        Some(write_end.as_raw_fd()),
    ];
    let joined = crate::spawn::spawn(&spec_for(&config, &context).unwrap());
    drop(write_end);
    let mut text = String::new();
    output.read_to_string(&mut text).unwrap();
    let joined_status = joined.as_ref().map(|spawned| wait_status(spawned.pid));

    let mut gate = std::fs::File::open(&fifo).unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(gate.read(&mut byte).unwrap(), 1);
    assert_eq!(wait_status(sandbox.pid), 0);
    assert_eq!(joined_status.expect("joined"), 0, "{text}");
    assert_eq!(text, expected);
}

/// A user namespace with maps (runc's `nsexec` order, on the recording fake): the child waits
/// for the parent first, becomes root of the namespace, and leaves the cgroup joins and the
/// oom score to the parent, which gets them with the maps; sysfs refused (no network
/// namespace of its own) is bound from the host, read-only.
#[test]
fn a_user_namespace_is_set_up_by_the_parent_then_the_child() {
    use crate::spawn::child::{execute, ChildFds};
    use crate::spawn::fake::RecordingSyscalls;
    let bundle = Bundle::new("userns-order");
    let mut config = captured("runc-spec.json");
    let linux = config.linux.as_mut().unwrap();
    linux.namespaces.push(config::Namespace {
        type_: "user".into(),
        path: None,
    });
    let mapping = config::IdMapping {
        container_id: 0,
        host_id: 100_000,
        size: 65536,
    };
    linux.uid_mappings = vec![mapping];
    linux.gid_mappings = vec![mapping];
    config.process.as_mut().unwrap().oom_score_adj = Some(-500);
    let mut context = bundle.context();
    context.cgroup_join = vec!["/sys/fs/cgroup/pids/c/tasks".into()];
    let spec = spec_for(&config, &context).unwrap();
    let plan = crate::spawn::plan::plan(&spec).unwrap();
    assert_ne!(plan.clone_flags & libc::CLONE_NEWUSER, 0);
    let parent = plan.user_namespace.as_ref().expect("parent steps");
    assert_eq!(parent.uid_map, b"0 100000 65536\n");
    assert_eq!(parent.gid_map, b"0 100000 65536\n");
    assert_eq!(parent.oom_score_adj.as_deref(), Some(&b"-500"[..]));
    assert_eq!(
        parent.cgroup_join[0].to_bytes(),
        b"/sys/fs/cgroup/pids/c/tasks"
    );
    assert!(!parent.deny_setgroups || unsafe { libc::geteuid() } != 0);

    let sys = RecordingSyscalls::new().failing("mount root:/sys source=sysfs", libc::EPERM);
    let fds = ChildFds {
        error: 9,
        console_socket: -1,
        born_in_cgroup: false,
        start_gate: -1,
        sync: 7,
    };
    execute(&sys, &plan, fds).unwrap();
    let calls = sys.calls();
    let expected = [
        "set_dumpable false",
        "read fd7",
        "setresgid 0",
        "setresuid 0",
        "reset_signals",
        "mount / source=- type=- flags=0x84000",
        "mount root:/proc source=proc",
        "mount root:/sys source=sysfs type=sysfs flags=0xf",
        "mount root:/sys source=/sys type=- flags=0x5000",
        "statvfs root:/sys",
        "mount root:/sys source=- type=- flags=0x1023", // nosuid kept, read-only
        "pivot_root",
        "execve /usr/local/sbin/sh",
    ];
    let mut start = 0;
    for prefix in expected {
        let found = calls[start..]
            .iter()
            .position(|call| call.starts_with(prefix));
        let offset = found.unwrap_or_else(|| panic!("no {prefix:?} after #{start} in {calls:#?}"));
        start += offset + 1;
    }
    for absent in ["write /sys/fs/cgroup", "open /proc/self/oom_score_adj"] {
        assert!(
            !calls.iter().any(|call| call.starts_with(absent)),
            "{absent}: {calls:#?}"
        );
    }
}

/// The user namespace fields as runc validates them.
#[test]
fn user_namespace_configs_are_checked() {
    let bundle = Bundle::new("userns-checks");
    let base = captured("runc-spec.json");
    let mapping = config::IdMapping {
        container_id: 0,
        host_id: 100_000,
        size: 65536,
    };
    let mut unmapped = base.clone();
    unmapped
        .linux
        .as_mut()
        .unwrap()
        .namespaces
        .push(config::Namespace {
            type_: "user".into(),
            path: None,
        });
    let error = spec_for(&unmapped, &bundle.context()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "user namespaces enabled, but no uid mappings found"
    );
    let mut no_namespace = base.clone();
    no_namespace.linux.as_mut().unwrap().uid_mappings = vec![mapping];
    let error = spec_for(&no_namespace, &bundle.context()).unwrap_err();
    assert!(
        error.to_string().contains("USER namespace isn't enabled"),
        "{error}"
    );
    let mut joined = base;
    joined
        .linux
        .as_mut()
        .unwrap()
        .namespaces
        .push(config::Namespace {
            type_: "user".into(),
            path: Some("/proc/1/ns/user".into()),
        });
    // a joined namespace's maps are its own: the config's are not written
    joined.linux.as_mut().unwrap().uid_mappings = vec![mapping];
    joined.linux.as_mut().unwrap().gid_mappings = vec![mapping];
    let spec = spec_for(&joined, &bundle.context()).unwrap();
    assert!(spec.user_namespace.is_none());
    assert!(spec
        .join_namespaces
        .contains(&(crate::spawn::NamespaceKind::User, "/proc/1/ns/user".into())));
}

/// `chown -R uid:gid path` (without following symlinks).
fn chown_tree(path: &std::path::Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}

/// A bundle whose busybox rootfs belongs to 100000:100000, and runc's config (no terminal,
/// writable root) with a new user namespace mapping 0 to 100000 x 65536.
fn userns_bundle(name: &str) -> (Bundle, Config) {
    let bundle = busybox_bundle(name);
    let rootfs = bundle.path.join("rootfs");
    for applet in ["sh", "cat", "id", "ls", "readlink", "grep", "true"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    chown_tree(&rootfs, 100_000, 100_000);
    let mut config = captured("runc-spec.json");
    config.root.as_mut().unwrap().readonly = false;
    let linux = config.linux.as_mut().unwrap();
    linux.namespaces.push(config::Namespace {
        type_: "user".into(),
        path: None,
    });
    let mapping = config::IdMapping {
        container_id: 0,
        host_id: 100_000,
        size: 65536,
    };
    linux.uid_mappings = vec![mapping];
    linux.gid_mappings = vec![mapping];
    let process = config.process.as_mut().unwrap();
    process.terminal = false;
    process.env = vec!["PATH=/bin".into()];
    (bundle, config)
}

/// Runs `config`'s process in `bundle` without a gate; (exit status, its output).
fn run_to_end(bundle: &Bundle, config: &Config) -> (i32, String) {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let (mut output, write_end) = pipe();
    let mut context = bundle.context();
    context.stdio = [
        None,
        Some(write_end.as_raw_fd()),
        Some(write_end.as_raw_fd()),
    ];
    let spawned = crate::spawn::spawn(&spec_for(config, &context).unwrap());
    drop(write_end);
    let mut text = String::new();
    output.read_to_string(&mut text).unwrap();
    (wait_status(spawned.expect("ran").pid), text)
}

/// In a user namespace without its own network namespace sysfs cannot be mounted (EPERM):
/// the host's /sys is bound instead, read-only (root only).
#[test]
fn sysfs_in_a_user_namespace_sharing_the_hosts_network_is_bound() {
    if !running_as_root() {
        return;
    }
    let (bundle, mut config) = userns_bundle("userns-sysfs");
    config
        .linux
        .as_mut()
        .unwrap()
        .namespaces
        .retain(|namespace| namespace.type_ != "network");
    config.process.as_mut().unwrap().args = [
        "sh",
        "-c",
        "ls /sys/kernel >/dev/null && echo listed; grep -c ' / /sys ro,' /proc/self/mountinfo",
    ]
    .map(str::to_owned)
    .to_vec();
    let (status, text) = run_to_end(&bundle, &config);
    assert_eq!(status, 0, "{text}");
    assert_eq!(text, "listed\n1\n");
}

/// A user namespace for real (root only): a busybox rootfs owned by the mapped root, the
/// init created at the gate, a process exec'd into it meanwhile, then started: both see the
/// map, are root inside, and the init writes in its rootfs (as the mapped root on the host).
#[test]
fn a_user_namespace_maps_the_containers_root() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    if !running_as_root() {
        return;
    }
    let (bundle, mut config) = userns_bundle("userns");
    let rootfs = bundle.path.join("rootfs");
    let fifo = make_fifo(&bundle.path.join("exec.fifo"));
    let process = config.process.as_mut().unwrap();
    process.args = [
        "sh",
        "-c",
        "cat /proc/self/uid_map; id -u; echo written > /mine && cat /mine; ls -l /dev/null",
    ]
    .map(str::to_owned)
    .to_vec();
    let (mut output, write_end) = pipe();
    let mut context = bundle.context();
    context.stdio = [
        None,
        Some(write_end.as_raw_fd()),
        Some(write_end.as_raw_fd()),
    ];
    context.start_gate = Some(fifo.clone());
    let spec = spec_for(&config, &context).unwrap();
    let created = crate::spawn::spawn(&spec);

    // exec'd into the created container: joins its user namespace first
    let exec_output = created.as_ref().ok().map(|spawned| {
        let mut exec_process = config.process.clone().unwrap();
        exec_process.args = ["sh", "-c", "cat /proc/self/uid_map; id -u"]
            .map(str::to_owned)
            .to_vec();
        let (mut exec_out, exec_write) = pipe();
        let mut exec_context = bundle.context();
        exec_context.stdio = [
            None,
            Some(exec_write.as_raw_fd()),
            Some(exec_write.as_raw_fd()),
        ];
        let exec_spec = exec_spec_for(&exec_process, spawned.pid, &config, &exec_context).unwrap();
        let execed = crate::spawn::exec_in(&exec_spec);
        drop(exec_write);
        let mut text = String::new();
        exec_out.read_to_string(&mut text).unwrap();
        (execed.map(|p| wait_status(p.pid)), text)
    });

    let started = created.as_ref().ok().map(|spawned| {
        let mut gate = std::fs::File::open(&fifo).unwrap();
        let mut byte = [0u8; 1];
        assert_eq!(gate.read(&mut byte).unwrap(), 1);
        spawned.pid
    });
    drop(write_end);
    let mut text = String::new();
    output.read_to_string(&mut text).unwrap();
    let status = started.map(wait_status);
    let created = created.expect("created");
    let _ = created;
    assert_eq!(status, Some(0), "{text}");
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(
        words[..5],
        ["0", "100000", "65536", "0", "written"],
        "{text}"
    );
    // the host's node bound, since mknod is refused in a user namespace
    assert!(text.contains("1,   3") || text.contains("1, 3"), "{text}");
    let mine = std::fs::metadata(rootfs.join("mine")).unwrap();
    assert_eq!((mine.uid(), mine.gid()), (100_000, 100_000));
    let (exec_status, exec_text) = exec_output.unwrap();
    assert_eq!(exec_status.expect("exec'd"), 0, "{exec_text}");
    let words: Vec<&str> = exec_text.split_whitespace().collect();
    assert_eq!(words, ["0", "100000", "65536", "0"], "{exec_text}");
}

/// Past the start gate a failed `execve` is told on the process's stderr, with docker's exit
/// status (the parent no longer reads the error pipe): a file the kernel cannot run.
#[test]
fn an_exec_failure_after_start_is_told_on_stderr() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::PermissionsExt;
    if !running_as_root() {
        return;
    }
    let bundle = Bundle::new("exec-failed");
    let rootfs = bundle.path.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::write(rootfs.join("bin/bad"), "not a program\n").unwrap();
    std::fs::set_permissions(
        rootfs.join("bin/bad"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let fifo = make_fifo(&bundle.path.join("exec.fifo"));
    let mut config = captured("runc-spec.json");
    config.root.as_mut().unwrap().readonly = false;
    let process = config.process.as_mut().unwrap();
    process.terminal = false;
    process.args = vec!["/bin/bad".into()];
    let (mut output, write_end) = pipe();
    let mut context = bundle.context();
    context.stdio = [None, None, Some(write_end.as_raw_fd())];
    context.start_gate = Some(fifo.clone());
    let spawned = crate::spawn::spawn(&spec_for(&config, &context).unwrap()).expect("created");
    drop(write_end);
    let mut gate = std::fs::File::open(&fifo).unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(gate.read(&mut byte).unwrap(), 1);
    let mut text = String::new();
    output.read_to_string(&mut text).unwrap();
    assert_eq!(wait_status(spawned.pid), 126 << 8, "{text}");
    assert_eq!(
        text,
        "hybridock-runtime: exec /bin/bad: exec format error\n"
    );
}

/// The exit status and message of a failed `execve` past the gate, on the fake: 127 for a
/// command gone, nothing for a failure before the gate (the parent reports that one).
#[test]
fn exec_failures_past_the_gate_have_dockers_status() {
    use crate::spawn::child::exec_failed;
    use crate::spawn::errors::{FailureRecord, Stage};
    use crate::spawn::fake::RecordingSyscalls;
    let bundle = Bundle::new("exec-failed-fake");
    let mut config = captured("runc-spec.json");
    config.process.as_mut().unwrap().args = vec!["/bin/gone".into()];
    let mut context = bundle.context();
    context.start_gate = Some(bundle.path.join("exec.fifo"));
    let plan = crate::spawn::plan::plan(&spec_for(&config, &context).unwrap()).unwrap();
    let last = u32::try_from(plan.steps.len() - 1).unwrap();
    let sys = RecordingSyscalls::new();
    let record = |step, errno| FailureRecord {
        stage: Stage::Exec,
        errno,
        step,
    };
    assert_eq!(
        exec_failed(&sys, &plan, record(last, libc::ENOENT)),
        Some(127)
    );
    assert_eq!(
        sys.calls().concat(),
        "write fd2 hybridock-runtime: exec /bin/gone: write fd2 no such file or directorywrite fd2 \n"
    );
    assert_eq!(
        exec_failed(&sys, &plan, record(last, libc::EACCES)),
        Some(126)
    );
    let resolve = plan
        .steps
        .iter()
        .position(|step| matches!(step.op, crate::spawn::plan::Op::ResolveExec { .. }))
        .unwrap();
    let before_gate = record(u32::try_from(resolve).unwrap(), libc::ENOENT);
    assert_eq!(exec_failed(&sys, &plan, before_gate), None);
}

/// A user namespace joined by path (root only), as runc's `userns join other container
/// userns`: a second container joins a held one's user namespace and makes its other
/// namespaces inside it; its init is pid 1 of its own pid namespace and still our child.
#[test]
fn a_user_namespace_is_joined_by_path() {
    use std::io::Read;
    if !running_as_root() {
        return;
    }
    let (bundle, mut config) = userns_bundle("userns-join");
    let fifo = make_fifo(&bundle.path.join("exec.fifo"));
    config.process.as_mut().unwrap().args = vec!["true".into()];
    let mut context = bundle.context();
    context.start_gate = Some(fifo.clone());
    let holder = crate::spawn::spawn(&spec_for(&config, &context).unwrap()).expect("holder");
    let user_namespace = format!("/proc/{}/ns/user", holder.pid);
    let expected = std::fs::read_link(&user_namespace).unwrap();

    let linux = config.linux.as_mut().unwrap();
    for namespace in &mut linux.namespaces {
        if namespace.type_ == "user" {
            namespace.path = Some(user_namespace.clone());
        }
    }
    linux.uid_mappings.clear();
    linux.gid_mappings.clear();
    config.process.as_mut().unwrap().args = [
        "sh",
        "-c",
        "readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u; echo $$; echo x > /joined",
    ]
    .map(str::to_owned)
    .to_vec();
    let joined = std::panic::catch_unwind(|| run_to_end(&bundle, &config));

    let mut gate = std::fs::File::open(&fifo).unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(gate.read(&mut byte).unwrap(), 1);
    assert_eq!(wait_status(holder.pid), 0);
    let (status, text) = joined.expect("joined");
    assert_eq!(status, 0, "{text}");
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(
        words,
        [expected.to_str().unwrap(), "0", "100000", "65536", "0", "1"],
        "{text}"
    );
    let written = std::os::unix::fs::MetadataExt::uid(
        &std::fs::metadata(bundle.path.join("rootfs/joined")).unwrap(),
    );
    assert_eq!(written, 100_000);
}

/// A joined user namespace on the fake: joined first after the cgroups, root in it, then the
/// other namespaces unshared (owned by it) and the sibling that is pid 1 of the new one.
#[test]
fn a_joined_user_namespace_owns_the_namespaces_made_after_it() {
    use crate::spawn::child::{execute, ChildFds};
    use crate::spawn::fake::RecordingSyscalls;
    use crate::spawn::NamespaceKind;
    let bundle = Bundle::new("userns-join-order");
    let mut config = captured("runc-spec.json");
    config
        .linux
        .as_mut()
        .unwrap()
        .namespaces
        .push(config::Namespace {
            type_: "user".into(),
            path: Some("/proc/1/ns/user".into()),
        });
    let mut context = bundle.context();
    context.cgroup_join = vec!["/sys/fs/cgroup/pids/c/tasks".into()];
    let spec = spec_for(&config, &context).unwrap();
    let plan = crate::spawn::plan::plan_joining(&spec, &[(NamespaceKind::User, 3)]).unwrap();
    assert_eq!(plan.clone_flags, 0);
    assert!(plan.user_namespace.is_none());
    let sys = RecordingSyscalls::new();
    let fds = ChildFds {
        error: 9,
        console_socket: -1,
        born_in_cgroup: false,
        start_gate: -1,
        sync: -1,
    };
    execute(&sys, &plan, fds).unwrap();
    let calls = sys.calls();
    let flags = libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWNET;
    let unshare = format!("unshare {flags:#x}");
    let expected = [
        "write /sys/fs/cgroup/pids/c/tasks 0",
        "setns fd3 0x10000000",
        "setresgid 0",
        "setresuid 0",
        unshare.as_str(),
        "fork_as_sibling fd9",
        "loopback_up",
        "mount / source=- type=- flags=0x84000",
        "pivot_root",
        "execve /usr/local/sbin/sh",
    ];
    let mut start = 0;
    for prefix in expected {
        let found = calls[start..]
            .iter()
            .position(|call| call.starts_with(prefix));
        let offset = found.unwrap_or_else(|| panic!("no {prefix:?} after #{start} in {calls:#?}"));
        start += offset + 1;
    }
}
