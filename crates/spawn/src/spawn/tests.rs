//! Ordering and error-mapping tests of the child's plan, run against the recording fake.

use std::path::PathBuf;

use crate::spawn::child::{execute, ChildFds};
use crate::spawn::errors::{FailureRecord, Stage};
use crate::spawn::fake::RecordingSyscalls;
use crate::spawn::plan::plan;
use crate::spawn::spec::{
    BindMount, CgroupSource, CgroupView, EtcFiles, Namespaces, Rlimit, Rootfs, Spec,
};

const FDS: ChildFds = ChildFds {
    error: 9,
    console_socket: 8,
    born_in_cgroup: false,
    start_gate: -1,
    sync: -1,
};

fn overlay_spec() -> Spec {
    let mut spec = Spec::new(
        vec!["app".into(), "--flag".into()],
        Rootfs::Overlay {
            lower: vec!["/store/layers/b".into(), "/store/layers/a".into()],
            upper: "/store/c/upper".into(),
            work: "/store/c/work".into(),
            target: "/store/c/rootfs".into(),
            volatile: false,
        },
    );
    spec.env = vec!["PATH=/usr/bin:/bin".into(), "HOME=/root".into()];
    spec.cwd = "/work".into();
    spec.uid = 1000;
    spec.gid = 1000;
    spec.groups = vec![10, 20];
    spec.hostname = Some("box".into());
    spec.mounts = vec![BindMount {
        source: "/srv/data".into(),
        destination: "/data".into(),
        readonly: true,
    }];
    spec.rlimits = vec![Rlimit {
        resource: libc::RLIMIT_NOFILE as i32,
        soft: 1024,
        hard: 4096,
    }];
    spec.cgroup_join = vec!["/sys/fs/cgroup/memory/c/cgroup.procs".into()];
    spec.etc_files = EtcFiles {
        hosts: Some("/store/c/hosts".into()),
        ..EtcFiles::default()
    };
    spec.capabilities = Some(0xa804_25fb);
    spec.stdio = [Some(5), Some(6), Some(6)];
    spec
}

fn run(spec: &Spec, sys: &RecordingSyscalls) -> Result<(), FailureRecord> {
    let plan = plan(spec).expect("valid spec");
    execute(sys, &plan, FDS)
}

fn position(calls: &[String], prefix: &str) -> usize {
    calls
        .iter()
        .position(|call| call.starts_with(prefix))
        .unwrap_or_else(|| panic!("no call starting with {prefix:?} in {calls:#?}"))
}

/// Asserts that calls with these prefixes happen in this order (each found after the last).
fn assert_order(calls: &[String], prefixes: &[&str]) {
    let mut start = 0;
    for prefix in prefixes {
        let found = calls[start..]
            .iter()
            .position(|call| call.starts_with(prefix));
        let Some(offset) = found else {
            panic!(
                "no {prefix:?} after call #{start} ({:?}) in {calls:#?}",
                calls.get(start.wrapping_sub(1))
            );
        };
        start += offset + 1;
    }
}

#[test]
fn full_sequence_order() {
    let sys = RecordingSyscalls::new();
    assert_eq!(run(&overlay_spec(), &sys), Ok(()));
    let calls = sys.calls();
    assert_eq!(calls[0], "set_dumpable false");
    assert_order(
        &calls,
        &[
            "set_dumpable false",
            "reset_signals",
            "open /sys/fs/cgroup/memory/c/cgroup.procs",
            "write /sys/fs/cgroup/memory/c/cgroup.procs 0",
            "mount / source=- type=- flags=0x84000",
            "mount /store/c/rootfs source=overlay type=overlay flags=0x0 data=lowerdir=/store/layers/b:/store/layers/a,upperdir=/store/c/upper,workdir=/store/c/work",
            "open /store/c/rootfs",
            "mount root:/proc source=proc type=proc",
            "mount root:/dev source=tmpfs type=tmpfs",
            "mount root:/dev/pts source=devpts type=devpts flags=0xa data=newinstance,ptmxmode=0666",
            "mount root:/dev/shm source=shm",
            "mount root:/dev/mqueue source=mqueue",
            "mknod root:/dev/null 20666 1:3",
            "symlink root:/dev/ptmx -> pts/ptmx",
            "mount root:/sys source=sysfs type=sysfs flags=0xf",
            "mount root:/etc/hosts source=/store/c/hosts",
            "mount root:/data source=/srv/data type=- flags=0x5000",
            "statvfs root:/data",
            "mount root:/data source=- type=- flags=0x1023",
            "fchdir /store/c/rootfs",
            "pivot_root . .",
            "mount . source=- type=- flags=0x84000",
            "umount2 . 0x2",
            "chdir /",
            "mkdir /work 755",
            "mount /proc/kcore source=/dev/null",
            "mount /proc/sys source=/proc/sys",
            "sethostname box",
            "setrlimit 7 1024 4096",
            "drop_bounding 2",
            "setgroups [10, 20]",
            "setresgid 1000",
            "setresuid 1000",
            "chdir /work",
            "umask 22",
            "dup 5 >= 3",
            "dup2 dup-of-5 0",
            "setsid",
            "close_range 3 8",
            "close_range 10 4294967295",
            "no_new_privs",
            "execve /usr/bin/app",
        ],
    );
    // Nothing inside the rootfs is mounted after pivot_root, and nothing on the host at all
    // except the rslave of / and the rootfs itself.
    let pivot = position(&calls, "pivot_root");
    for (index, call) in calls
        .iter()
        .enumerate()
        .filter(|(_, call)| call.starts_with("mount "))
    {
        let target = call.split(' ').nth(1).unwrap();
        if index < pivot {
            assert!(
                target.starts_with("root:") || target == "/" || target == "/store/c/rootfs",
                "{call}"
            );
        } else {
            assert!(!target.starts_with("root:"), "{call} after pivot_root");
        }
    }
    // A non-root user gets no capset: setresuid already cleared its capabilities.
    assert!(!calls.iter().any(|call| call.starts_with("capset")));
    // Kept capabilities (bits 0, 1, 3 of the mask) stay in the bounding set; others go.
    for kept in ["drop_bounding 0", "drop_bounding 1", "drop_bounding 3"] {
        assert!(!calls.iter().any(|call| call == kept), "{kept}");
    }
    assert!(calls.iter().any(|call| call == "drop_bounding 40"));
}

#[test]
fn root_user_gets_capset_after_setuid_and_no_new_privs_is_optional() {
    let spec = Spec {
        uid: 0,
        gid: 0,
        no_new_privs: false,
        ..overlay_spec()
    };
    let sys = RecordingSyscalls::new();
    run(&spec, &sys).unwrap();
    let calls = sys.calls();
    assert_order(
        &calls,
        &["setresuid 0", "capset 0xa80425fb", "chdir /work", "execve"],
    );
    assert!(!calls.iter().any(|call| call == "no_new_privs"));
}

#[test]
fn prepared_rootfs_is_bound_onto_itself() {
    let spec = Spec::new(vec!["/bin/sh".into()], Rootfs::Path("/c/rootfs".into()));
    let sys = RecordingSyscalls::new();
    run(&spec, &sys).unwrap();
    let calls = sys.calls();
    assert_order(
        &calls,
        &[
            "mount / source=- type=- flags=0x84000",
            "mount /c/rootfs source=/c/rootfs type=- flags=0x5000",
            "open /c/rootfs",
            "pivot_root",
        ],
    );
    // A command with a slash is executed as given, with no PATH search.
    let execs: Vec<_> = calls
        .iter()
        .filter(|call| call.starts_with("execve"))
        .collect();
    assert_eq!(execs, ["execve /bin/sh"]);
    // No stdio given: nothing is duplicated onto 0-2.
    assert!(!calls.iter().any(|call| call.starts_with("dup")));
}

#[test]
fn missing_mount_target_is_created_inside_the_root() {
    let sys = RecordingSyscalls::new().failing_times(
        "open_in_root /store/c/rootfs data",
        libc::ENOENT,
        1,
    );
    run(&overlay_spec(), &sys).unwrap();
    let calls = sys.calls();
    assert_order(
        &calls,
        &[
            "open_in_root /store/c/rootfs data",
            "mkdirat /store/c/rootfs/data 755",
            "open_in_root /store/c/rootfs data",
            "mount root:/data",
        ],
    );

    let sys = RecordingSyscalls::new().failing_times(
        "open_in_root /store/c/rootfs etc/hosts",
        libc::ENOENT,
        1,
    );
    run(&overlay_spec(), &sys).unwrap();
    assert_order(
        &sys.calls(),
        &["create_file root:/etc/hosts", "mount root:/etc/hosts"],
    );
}

#[test]
fn stdio_sources_move_above_two_before_installing() {
    let spec = Spec {
        stdio: [Some(1), Some(0), None],
        ..overlay_spec()
    };
    let sys = RecordingSyscalls::new();
    run(&spec, &sys).unwrap();
    let calls = sys.calls();
    assert_order(
        &calls,
        &[
            "dup 1 >= 3",
            "dup 0 >= 3",
            "dup2 dup-of-1 0",
            "dup2 dup-of-0 1",
            "close_range",
        ],
    );
    assert!(!calls
        .iter()
        .any(|call| call.ends_with(" 2") && call.starts_with("dup2")));
}

#[test]
fn path_search_follows_execvp() {
    type Case<'a> = (&'a str, Vec<(&'a str, i32)>, i32);
    let cases: [Case<'_>; 4] = [
        ("first hit wins", vec![], 0),
        ("not anywhere", vec![("execve", libc::ENOENT)], libc::ENOENT),
        (
            "denied then missing",
            vec![
                ("execve /usr/bin/app", libc::EACCES),
                ("execve /bin/app", libc::ENOENT),
            ],
            libc::EACCES,
        ),
        (
            "bad format stops the search",
            vec![("execve /usr/bin/app", libc::ENOEXEC)],
            libc::ENOEXEC,
        ),
    ];
    for (name, failures, expected) in cases {
        let sys = failures
            .iter()
            .fold(RecordingSyscalls::new(), |sys, (prefix, errno)| {
                sys.failing(prefix, *errno)
            });
        let result = run(&overlay_spec(), &sys);
        if expected == 0 {
            assert_eq!(result, Ok(()), "{name}");
        } else {
            let record = result.expect_err(name);
            assert_eq!(
                (record.stage, record.errno),
                (Stage::Exec, expected),
                "{name}"
            );
        }
    }
}

#[test]
fn failure_stops_at_the_failing_step_with_its_stage() {
    let cases = [
        (
            "cgroup",
            "write /sys/fs/cgroup",
            libc::EACCES,
            Stage::Cgroup,
            "join /sys/fs/cgroup/memory/c/cgroup.procs",
        ),
        (
            "rootfs",
            "mount /store/c/rootfs",
            libc::EINVAL,
            Stage::Rootfs,
            "mount /store/c/rootfs",
        ),
        (
            "proc",
            "mount root:/proc",
            libc::EPERM,
            Stage::Mount,
            "mount /proc",
        ),
        (
            "bind",
            "mount root:/data source=/srv/data",
            libc::ENOENT,
            Stage::Mount,
            "mount /data",
        ),
        (
            "device",
            "mknod root:/dev/tty",
            libc::ENOSPC,
            Stage::Devices,
            "/dev/tty",
        ),
        ("pivot", "pivot_root", libc::EINVAL, Stage::PivotRoot, ""),
        ("hostname", "sethostname", libc::EPERM, Stage::Hostname, ""),
        ("groups", "setgroups", libc::EPERM, Stage::User, ""),
        (
            "cwd",
            "chdir /work",
            libc::ENOENT,
            Stage::Cwd,
            "chdir /work",
        ),
        ("close", "close_range", libc::EINVAL, Stage::CloseFds, ""),
        (
            "loopback",
            "loopback_up",
            libc::EPERM,
            Stage::Network,
            "bring lo up",
        ),
        (
            "sysctl",
            "open root:/proc/sys/",
            libc::ENOENT,
            Stage::Sysctl,
            "write /proc/sys/net/core/somaxconn",
        ),
    ];
    let mut spec = overlay_spec();
    spec.sysctls = vec![("net.core.somaxconn".into(), "1024".into())];
    let built = plan(&spec).unwrap();
    for (name, prefix, errno, stage, detail) in cases {
        let sys = RecordingSyscalls::new().failing(prefix, errno);
        let record = execute(&sys, &built, FDS).expect_err(name);
        assert_eq!((record.stage, record.errno), (stage, errno), "{name}");
        let calls = sys.calls();
        let failed = calls
            .iter()
            .rposition(|call| call.starts_with(prefix))
            .unwrap();
        assert!(
            calls[failed + 1..]
                .iter()
                .all(|call| call.starts_with("close ")),
            "{name}: went on after the failure: {calls:#?}"
        );
        let error = built.failure(record.stage, record.errno, record.step);
        assert_eq!(error.exit_code(), 125, "{name}");
        assert!(error.to_string().contains(detail), "{name}: {error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("setup of {}", stage.name())),
            "{name}: {error}"
        );
    }
}

#[test]
fn masked_path_falls_back_to_tmpfs_for_directories_and_skips_missing() {
    let sys = RecordingSyscalls::new()
        .failing("mount /proc/acpi source=/dev/null", libc::ENOTDIR)
        .failing("mount /proc/kcore source=/dev/null", libc::ENOENT);
    run(&overlay_spec(), &sys).unwrap();
    let calls = sys.calls();
    assert_order(
        &calls,
        &[
            "mount /proc/acpi source=/dev/null",
            "mount /proc/acpi source=tmpfs type=tmpfs flags=0xf",
        ],
    );
}

#[test]
fn long_overlay_options_run_from_the_common_directory() {
    let base = format!("/var/lib/hybridock/{}", "x".repeat(60));
    let lower: Vec<PathBuf> = (0..40)
        .map(|index| format!("{base}/layers/{index:064}").into())
        .collect();
    let spec = Spec::new(
        vec!["sh".into()],
        Rootfs::Overlay {
            lower,
            upper: format!("{base}/c/upper").into(),
            work: format!("{base}/c/work").into(),
            target: format!("{base}/c/rootfs").into(),
            volatile: false,
        },
    );
    let sys = RecordingSyscalls::new();
    run(&spec, &sys).unwrap();
    assert_order(
        &sys.calls(),
        &[
            &format!("chdir {base}"),
            &format!("mount {base}/c/rootfs source=overlay"),
        ],
    );
}

#[test]
fn init_is_bound_read_only_and_runs_the_command() {
    let spec = Spec {
        init: Some("/opt/hybridock-init".into()),
        ..overlay_spec()
    };
    let built = plan(&spec).unwrap();
    let argv: Vec<_> = built
        .argv
        .strings()
        .iter()
        .map(|arg| arg.to_str().unwrap())
        .collect();
    assert_eq!(argv, ["/dev/init", "--", "app", "--flag"]);
    let sys = RecordingSyscalls::new();
    execute(&sys, &built, FDS).unwrap();
    let calls = sys.calls();
    assert_order(
        &calls,
        &[
            "mount root:/dev source=tmpfs",
            "mount root:/dev/init source=/opt/hybridock-init type=- flags=0x5000",
            "mount root:/dev/init source=- type=- flags=0x1023",
            "pivot_root",
            "execve /dev/init",
        ],
    );
    assert_eq!(
        calls
            .iter()
            .filter(|call| call.starts_with("execve"))
            .count(),
        1
    );
}

#[test]
fn console_is_opened_in_the_container_devpts_and_becomes_the_controlling_terminal() {
    let sys = RecordingSyscalls::new();
    run(
        &Spec {
            tty: true,
            console_size: Some((30, 100)),
            ..overlay_spec()
        },
        &sys,
    )
    .unwrap();
    let calls = sys.calls();
    assert_order(
        &calls,
        &[
            "mount root:/dev/pts source=devpts type=devpts",
            "pivot_root . .",
            // only after pivot_root can /dev/pts/ptmx be nothing but the container's devpts
            "open /dev/pts/ptmx",
            "window_size /dev/pts/ptmx 30x100",
            "unlock_pty /dev/pts/ptmx",
            "pty_peer /dev/pts/ptmx",
            "fchown pty-slave 1000 -1",
            "send_fd fd8 /dev/pts/ptmx",
            "close /dev/pts/ptmx",
            // still privileged while the console is made
            "setrlimit",
            "drop_bounding",
            "setresuid 1000",
            "chdir /work",
            "dup pty-slave >= 3",
            "dup2 dup-of-",
            "dup2 dup-of-",
            "dup2 dup-of-",
            "setsid",
            "controlling_terminal 0",
            "close_range 3 8",
            "close_range 10 4294967295",
            "execve",
        ],
    );
    // The caller's stdio fds are not used with a console.
    assert!(
        !calls.iter().any(|call| call.starts_with("dup 5")),
        "{calls:#?}"
    );

    let sys = RecordingSyscalls::new();
    run(&overlay_spec(), &sys).unwrap();
    assert!(!sys
        .calls()
        .iter()
        .any(|call| call.starts_with("controlling_terminal")
            || call.starts_with("open /dev/pts/ptmx")
            || call.starts_with("send_fd")));
}

#[test]
fn console_failures_are_stdio_failures_and_close_the_slave() {
    let tty = Spec {
        tty: true,
        ..overlay_spec()
    };
    let cases = [
        ("no ptmx", "open /dev/pts/ptmx", libc::ENOENT),
        ("locked", "unlock_pty", libc::EIO),
        ("no peer", "pty_peer", libc::ENOTTY),
        ("send", "send_fd", libc::EPIPE),
    ];
    for (name, prefix, errno) in cases {
        let sys = RecordingSyscalls::new().failing(prefix, errno);
        let built = plan(&tty).unwrap();
        let record = execute(&sys, &built, FDS).expect_err(name);
        assert_eq!(
            (record.stage, record.errno),
            (Stage::Stdio, errno),
            "{name}"
        );
        assert_eq!(
            built.steps[record.step as usize].op.describe(),
            "open /dev/pts/ptmx",
            "{name}"
        );
        let calls = sys.calls();
        if prefix == "send_fd" {
            assert_order(
                &calls,
                &["send_fd", "close pty-slave", "close /dev/pts/ptmx"],
            );
        }
        assert!(
            !calls.iter().any(|call| call.starts_with("setresuid")),
            "{name}"
        );
    }
}

#[test]
fn refused_mknod_falls_back_to_binding_the_host_node() {
    let sys = RecordingSyscalls::new()
        .failing("mknod root:/dev/null", libc::EPERM)
        .failing_times("open_in_root /store/c/rootfs dev/null", libc::ENOENT, 1);
    run(&overlay_spec(), &sys).unwrap();
    assert_order(
        &sys.calls(),
        &[
            "mknod root:/dev/null",
            "create_file root:/dev/null",
            "mount root:/dev/null source=/dev/null type=- flags=0x1000",
            "mknod root:/dev/zero",
        ],
    );
    let sys = RecordingSyscalls::new().failing("mknod root:/dev/null", libc::EEXIST);
    let record = run(&overlay_spec(), &sys).unwrap_err();
    assert_eq!((record.stage, record.errno), (Stage::Devices, libc::EEXIST));
}

fn seccomp_program() -> Vec<crate::seccomp::SockFilter> {
    let host = crate::seccomp::Host {
        arch: crate::seccomp::Arch::X86_64,
        capabilities: crate::spawn::spec::DOCKER_CAPABILITIES,
        kernel: (6, 1),
    };
    let profile = r#"{"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#;
    crate::seccomp::compile(profile, &host).unwrap()
}

#[test]
fn seccomp_goes_last_or_before_the_capabilities_are_lost() {
    let program = seccomp_program();
    let filter = format!("seccomp {} instructions", program.len());
    let with = |spec: Spec| Spec {
        seccomp_filter: Some(program.clone()),
        ..spec
    };
    let cases: [(&str, Spec, &[&str]); 4] = [
        (
            "no_new_privs: after it, right before exec",
            with(overlay_spec()),
            &[
                "setresuid 1000",
                "close_range",
                "no_new_privs",
                &filter,
                "execve",
            ],
        ),
        (
            "a user without no_new_privs: while CAP_SYS_ADMIN is still held",
            with(Spec {
                no_new_privs: false,
                ..overlay_spec()
            }),
            &[
                "setrlimit",
                &filter,
                "drop_bounding",
                "setresuid 1000",
                "execve",
            ],
        ),
        (
            "root without CAP_SYS_ADMIN: before the capability drop",
            with(Spec {
                no_new_privs: false,
                uid: 0,
                ..overlay_spec()
            }),
            &[&filter, "drop_bounding", "setresuid 0", "capset", "execve"],
        ),
        (
            "root keeping CAP_SYS_ADMIN: last",
            with(Spec {
                no_new_privs: false,
                uid: 0,
                capabilities: None,
                ..overlay_spec()
            }),
            &["setresuid 0", "close_range", &filter, "execve"],
        ),
    ];
    for (name, spec, order) in cases {
        let sys = RecordingSyscalls::new();
        run(&spec, &sys).unwrap_or_else(|error| panic!("{name}: {error:?}"));
        let calls = sys.calls();
        assert_order(&calls, order);
        assert_eq!(
            calls
                .iter()
                .filter(|call| call.starts_with("seccomp"))
                .count(),
            1,
            "{name}"
        );
    }
    let sys = RecordingSyscalls::new();
    run(&overlay_spec(), &sys).unwrap();
    assert!(!sys.calls().iter().any(|call| call.starts_with("seccomp")));
}

#[test]
fn refused_seccomp_is_its_own_stage() {
    let spec = Spec {
        seccomp_filter: Some(seccomp_program()),
        ..overlay_spec()
    };
    let built = plan(&spec).unwrap();
    let sys = RecordingSyscalls::new().failing("seccomp", libc::EINVAL);
    let record = execute(&sys, &built, FDS).unwrap_err();
    assert_eq!((record.stage, record.errno), (Stage::Seccomp, libc::EINVAL));
    assert!(!sys.calls().iter().any(|call| call.starts_with("execve")));
    let error = built.failure(record.stage, record.errno, record.step);
    assert_eq!(error.exit_code(), 125);
    assert!(error.to_string().contains("seccomp"), "{error}");
}

#[test]
fn tmpfs_and_binds_mount_parents_first() {
    let mut spec = overlay_spec();
    spec.mounts = vec![BindMount {
        source: "/srv/data".into(),
        destination: "/run/app/data".into(),
        readonly: false,
    }];
    spec.tmpfs = vec![crate::spawn::TmpfsMount {
        destination: "/run".into(),
        flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        data: "size=65536k".into(),
    }];
    let spec = spec.validated().expect("valid spec");
    let steps: Vec<String> = crate::spawn::mounts::container_mount_steps(&spec)
        .iter()
        .map(|step| step.op.describe())
        .collect();
    // target.path is relative to the container's root
    let tmpfs = steps
        .iter()
        .position(|op| op.trim_end_matches('/').ends_with("run"))
        .expect("the tmpfs is mounted");
    let bind = steps
        .iter()
        .position(|op| op.contains("run/app/data"))
        .expect("the bind is mounted");
    assert!(tmpfs < bind, "{steps:#?}");
}

#[test]
fn loopback_comes_up_in_a_new_network_namespace_only() {
    let sys = RecordingSyscalls::new();
    run(&overlay_spec(), &sys).unwrap();
    assert_order(
        &sys.calls(),
        &[
            "write /sys/fs/cgroup/memory/c/cgroup.procs 0",
            "loopback_up",
            "mount / ",
        ],
    );

    let host_network = Spec {
        namespaces: Namespaces {
            net: false,
            ..Namespaces::default()
        },
        ..overlay_spec()
    };
    let sys = RecordingSyscalls::new();
    run(&host_network, &sys).unwrap();
    assert!(!sys.calls().iter().any(|call| call == "loopback_up"));
}

#[test]
fn cgroup_namespace_is_unshared_after_the_join() {
    let spec = Spec {
        namespaces: Namespaces {
            cgroup: true,
            ..Namespaces::default()
        },
        ..overlay_spec()
    };
    let sys = RecordingSyscalls::new();
    run(&spec, &sys).unwrap();
    assert_order(
        &sys.calls(),
        &[
            "write /sys/fs/cgroup/memory/c/cgroup.procs 0",
            &format!("unshare {:#x}", libc::CLONE_NEWCGROUP),
            "mount / ",
        ],
    );
    let built = plan(&spec).unwrap();
    assert_eq!(built.clone_flags & libc::CLONE_NEWCGROUP, 0);
}

#[test]
fn sysctls_are_written_through_the_containers_proc_before_any_other_mount() {
    let mut spec = overlay_spec();
    spec.sysctls = vec![
        ("net.ipv4.ip_unprivileged_port_start".into(), "0".into()),
        ("kernel.shmmax".into(), "1048576".into()),
    ];
    let sys = RecordingSyscalls::new();
    run(&spec, &sys).unwrap();
    let calls = sys.calls();
    assert_order(
        &calls,
        &[
            "mount root:/proc source=proc",
            "open_in_root /store/c/rootfs proc/sys/net/ipv4/ip_unprivileged_port_start",
            "open root:/proc/sys/net/ipv4/ip_unprivileged_port_start",
            "write root:/proc/sys/net/ipv4/ip_unprivileged_port_start 0",
            "open_in_root /store/c/rootfs proc/sys/kernel/shmmax",
            "write root:/proc/sys/kernel/shmmax 1048576",
            "mount root:/dev source=tmpfs",
            "mount root:/data",
            "pivot_root",
        ],
    );
    let invalid = Spec {
        sysctls: vec![("net.ipv4/../../../etc/passwd".into(), "x".into())],
        ..overlay_spec()
    };
    assert!(plan(&invalid).is_err());
}

#[test]
fn cgroup_v1_view_is_a_tmpfs_of_the_containers_read_only_hierarchies() {
    let mut spec = overlay_spec();
    spec.cgroup_view = Some(CgroupView::V1 {
        hierarchies: vec![
            (
                "cpu,cpuacct".into(),
                CgroupSource::Bind("/sys/fs/cgroup/cpu,cpuacct/hybridock/c".into()),
            ),
            (
                "memory".into(),
                CgroupSource::Bind("/sys/fs/cgroup/memory/hybridock/c".into()),
            ),
        ],
        links: vec![
            ("cpu".into(), "cpu,cpuacct".into()),
            ("cpuacct".into(), "cpu,cpuacct".into()),
        ],
        writable: false,
    });
    let sys = RecordingSyscalls::new();
    run(&spec, &sys).unwrap();
    let hardened_ro = libc::MS_BIND
        | libc::MS_REMOUNT
        | libc::MS_NOSUID
        | libc::MS_NODEV
        | libc::MS_NOEXEC
        | libc::MS_RDONLY;
    assert_order(
        &sys.calls(),
        &[
            "mount root:/sys source=sysfs",
            &format!(
                "mount root:/sys/fs/cgroup source=tmpfs type=tmpfs flags={:#x} data=mode=755",
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RELATIME
            ),
            "mount root:/sys/fs/cgroup/cpu,cpuacct source=/sys/fs/cgroup/cpu,cpuacct/hybridock/c type=- flags=0x5000",
            &format!("mount root:/sys/fs/cgroup/cpu,cpuacct source=- type=- flags={hardened_ro:#x}"),
            "mount root:/sys/fs/cgroup/memory source=/sys/fs/cgroup/memory/hybridock/c",
            &format!("mount root:/sys/fs/cgroup/memory source=- type=- flags={hardened_ro:#x}"),
            "symlink root:/sys/fs/cgroup/cpu -> cpu,cpuacct",
            "symlink root:/sys/fs/cgroup/cpuacct -> cpu,cpuacct",
            "mount root:/etc/hosts",
            "pivot_root",
        ],
    );
}

#[test]
fn cgroup_views_in_a_private_namespace_and_writable() {
    let mut spec = overlay_spec();
    spec.namespaces.cgroup = true;
    spec.cgroup_view = Some(CgroupView::V1 {
        hierarchies: vec![
            ("memory".into(), CgroupSource::Hierarchy("memory".into())),
            (
                "systemd".into(),
                CgroupSource::Hierarchy("name=systemd".into()),
            ),
        ],
        links: Vec::new(),
        writable: true,
    });
    let sys = RecordingSyscalls::new();
    run(&spec, &sys).unwrap();
    let calls = sys.calls();
    let hardened = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RELATIME;
    assert_order(
        &calls,
        &[
            "unshare",
            "mount root:/sys/fs/cgroup source=tmpfs",
            &format!(
                "mount root:/sys/fs/cgroup/memory source=cgroup type=cgroup flags={hardened:#x} data=memory"
            ),
            &format!(
                "mount root:/sys/fs/cgroup/systemd source=systemd type=cgroup flags={hardened:#x} data=name=systemd"
            ),
        ],
    );
    // writable: no hierarchy is remounted read-only
    assert!(!calls
        .iter()
        .any(|call| call.starts_with("mount root:/sys/fs/cgroup/") && call.contains("source=- ")));

    spec.cgroup_view = Some(CgroupView::V2 { writable: false });
    let sys = RecordingSyscalls::new();
    run(&spec, &sys).unwrap();
    assert_order(
        &sys.calls(),
        &[&format!(
            "mount root:/sys/fs/cgroup source=cgroup2 type=cgroup2 flags={:#x}",
            hardened | libc::MS_RDONLY
        )],
    );
}

#[test]
fn a_child_born_in_its_cgroup2_skips_that_join_only() {
    let mut spec = overlay_spec();
    spec.cgroup_join = vec![
        "/sys/fs/cgroup/pids/c/tasks".into(),
        "/sys/fs/cgroup/unified/c/cgroup.procs".into(),
    ];
    let planned = plan(&spec).expect("valid spec");
    let birth = planned.cgroup_at_birth.as_ref().expect("a cgroup2 join");
    assert_eq!(birth.directory.to_bytes(), b"/sys/fs/cgroup/unified/c");
    for (born_in_cgroup, joins_cgroup2) in [(true, false), (false, true)] {
        let sys = RecordingSyscalls::new();
        let fds = ChildFds {
            born_in_cgroup,
            ..FDS
        };
        assert_eq!(execute(&sys, &planned, fds), Ok(()));
        let calls = sys.calls();
        assert!(calls.contains(&"write /sys/fs/cgroup/pids/c/tasks 0".to_owned()));
        let joined = calls.contains(&"write /sys/fs/cgroup/unified/c/cgroup.procs 0".to_owned());
        assert_eq!(joined, joins_cgroup2, "born in it: {born_in_cgroup}");
    }
    spec.cgroup_join = vec!["/sys/fs/cgroup/pids/c/tasks".into()];
    let v1_only = plan(&spec).expect("valid spec");
    assert_eq!(v1_only.cgroup_at_birth, None); // v1 joins through tasks are cheap already
}

#[test]
fn a_network_namespace_made_beforehand_is_joined_at_birth_without_loopback_step() {
    let mut spec = overlay_spec();
    spec.network_namespace = Some(42);
    spec.sysctls = vec![("net.ipv4.ip_unprivileged_port_start".into(), "0".into())];
    let planned = plan(&spec).expect("valid spec");
    assert_eq!(planned.network_namespace, Some(42));
    assert_eq!(planned.clone_flags & libc::CLONE_NEWNET, 0);
    assert_ne!(planned.clone_flags & libc::CLONE_NEWPID, 0);
    let sys = RecordingSyscalls::new();
    assert_eq!(execute(&sys, &planned, FDS), Ok(()));
    let calls = sys.calls();
    assert!(
        !calls.iter().any(|call| call == "loopback_up"),
        "{calls:#?}"
    );
    // The child is in that namespace: net.* sysctls are still its own to write.
    assert_order(
        &calls,
        &[
            "mount root:/proc source=proc",
            "write root:/proc/sys/net/ipv4/ip_unprivileged_port_start 0",
            "pivot_root",
        ],
    );

    let own = plan(&overlay_spec()).expect("valid spec");
    assert_eq!(own.network_namespace, None);
    assert_ne!(own.clone_flags & libc::CLONE_NEWNET, 0);

    for (name, bad) in [
        ("negative fd", Some(-1), true),
        ("host network", Some(42), false),
    ]
    .map(|(name, fd, net)| {
        let mut spec = overlay_spec();
        spec.network_namespace = fd;
        spec.namespaces.net = net;
        (name, spec)
    }) {
        assert!(plan(&bad).is_err(), "{name}");
    }
}
