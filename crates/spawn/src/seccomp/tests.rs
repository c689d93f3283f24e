//! Compiled programs run through a small classic-BPF interpreter: each case gives a syscall
//! (architecture, number, arguments) and the `SECCOMP_RET_*` value the filter must return.

use crate::seccomp::bpf::{
    program_bytes, SockFilter, AND_K, JA, JEQ_K, JGE_K, JGT_K, LD_W_ABS, RET_K,
};
use crate::seccomp::profile::{
    capability_number, kernel_version, resolve, Action, Arch, Comparison, Condition, Host, Resolved,
};
use crate::seccomp::{compile, SeccompError};

const DEFAULT_PROFILE: &str =
    include_str!("../../../../python/hybridock/runtime/seccomp_default.json");
const DOCKER_CAPABILITIES: u64 = crate::spawn::spec::DOCKER_CAPABILITIES;

const ALLOW: u32 = 0x7fff_0000;
const EPERM: u32 = 0x0005_0001;
const ENOSYS: u32 = 0x0005_0026;
const KILL_PROCESS: u32 = 0x8000_0000;

/// Runs `program` on a `seccomp_data` and returns what it returns.
fn run(program: &[SockFilter], arch: Arch, nr: u32, args: [u64; 6]) -> u32 {
    run_counting(program, arch, nr, args).0
}

/// What `program` returns, and how many instructions it executed to get there.
fn run_counting(program: &[SockFilter], arch: Arch, nr: u32, args: [u64; 6]) -> (u32, usize) {
    let mut data = Vec::with_capacity(64);
    data.extend_from_slice(&nr.to_le_bytes());
    data.extend_from_slice(&arch.audit().to_le_bytes());
    data.extend_from_slice(&0u64.to_le_bytes());
    for arg in args {
        data.extend_from_slice(&arg.to_le_bytes());
    }
    let mut accumulator: u32 = 0;
    let mut pc = 0usize;
    let mut executed = 0;
    loop {
        let insn = program[pc];
        pc += 1;
        executed += 1;
        let jump = |taken: bool| usize::from(if taken { insn.jt } else { insn.jf });
        match insn.code {
            LD_W_ABS => {
                let at = insn.k as usize;
                accumulator = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
            }
            AND_K => accumulator &= insn.k,
            JA => pc += insn.k as usize,
            JEQ_K => pc += jump(accumulator == insn.k),
            JGT_K => pc += jump(accumulator > insn.k),
            JGE_K => pc += jump(accumulator >= insn.k),
            RET_K => return (insn.k, executed),
            other => panic!("unexpected opcode {other:#x} at {}", pc - 1),
        }
    }
}

fn host(capabilities: u64, kernel: (u32, u32)) -> Host {
    Host {
        arch: Arch::X86_64,
        capabilities,
        kernel,
    }
}

fn number(arch: Arch, name: &str) -> u32 {
    arch.syscall(name)
        .unwrap_or_else(|| panic!("{name} on {arch:?}"))
}

fn cap(name: &str) -> u64 {
    1u64 << capability_number(name).unwrap()
}

type Case<'a> = (&'a str, &'a str, [u64; 6], u32);

fn check(program: &[SockFilter], arch: Arch, cases: &[Case<'_>]) {
    for (label, name, args, expected) in cases {
        let got = run(program, arch, number(arch, name), *args);
        assert_eq!(got, *expected, "{label}: {name}{args:?} -> {got:#x}");
    }
}

const NO_ARGS: [u64; 6] = [0; 6];

type Predicate = fn(u64) -> bool;

fn first(value: u64) -> [u64; 6] {
    [value, 0, 0, 0, 0, 0]
}

#[test]
fn default_profile_with_docker_capabilities() {
    let program = compile(DEFAULT_PROFILE, &host(DOCKER_CAPABILITIES, (6, 1))).unwrap();
    let clone_newuser = 0x1000_0000;
    let cases: &[Case<'_>] = &[
        ("plain read", "read", NO_ARGS, ALLOW),
        ("mkdir", "mkdir", NO_ARGS, ALLOW),
        ("execve", "execve", NO_ARGS, ALLOW),
        ("mount needs SYS_ADMIN", "mount", NO_ARGS, EPERM),
        ("umount2", "umount2", NO_ARGS, EPERM),
        ("unshare", "unshare", first(clone_newuser), EPERM),
        ("setns", "setns", NO_ARGS, EPERM),
        ("pivot_root never", "pivot_root", NO_ARGS, EPERM),
        ("kexec_load never", "kexec_load", NO_ARGS, EPERM),
        ("bpf", "bpf", NO_ARGS, EPERM),
        ("keyctl", "keyctl", NO_ARGS, EPERM),
        ("add_key", "add_key", NO_ARGS, EPERM),
        ("reboot", "reboot", NO_ARGS, EPERM),
        ("swapon", "swapon", NO_ARGS, EPERM),
        ("init_module", "init_module", NO_ARGS, EPERM),
        ("acct", "acct", NO_ARGS, EPERM),
        ("settimeofday", "settimeofday", NO_ARGS, EPERM),
        ("chroot with SYS_CHROOT", "chroot", NO_ARGS, ALLOW),
        ("ptrace on a new kernel", "ptrace", NO_ARGS, ALLOW),
        ("clone of a thread", "clone", first(0x003d_0f00), ALLOW),
        (
            "clone with CLONE_NEWUSER",
            "clone",
            first(clone_newuser),
            EPERM,
        ),
        ("clone with CLONE_NEWNS", "clone", first(0x0002_0000), EPERM),
        ("clone3 falls back", "clone3", NO_ARGS, ENOSYS),
        ("personality 0", "personality", first(0), ALLOW),
        (
            "personality query",
            "personality",
            first(0xffff_ffff),
            ALLOW,
        ),
        (
            "personality READ_IMPLIES_EXEC",
            "personality",
            first(0x0040_0000),
            EPERM,
        ),
        ("socket AF_INET", "socket", first(2), ALLOW),
        ("socket AF_VSOCK", "socket", first(40), EPERM),
        ("open_by_handle_at", "open_by_handle_at", NO_ARGS, EPERM),
    ];
    check(&program, Arch::X86_64, cases);
    // The 32-bit ABIs are filtered with their own numbers.
    check(
        &program,
        Arch::X86,
        &[
            ("i386 mkdir", "mkdir", NO_ARGS, ALLOW),
            ("i386 mount", "mount", NO_ARGS, EPERM),
        ],
    );
    check(
        &program,
        Arch::X32,
        &[
            ("x32 read", "read", NO_ARGS, ALLOW),
            ("x32 mount", "mount", NO_ARGS, EPERM),
        ],
    );
    assert_eq!(
        run(&program, Arch::X86_64, 1000, NO_ARGS),
        ENOSYS,
        "unknown syscall"
    );
}

#[test]
fn capabilities_and_kernel_decide_the_included_rules() {
    let admin = compile(
        DEFAULT_PROFILE,
        &host(DOCKER_CAPABILITIES | cap("CAP_SYS_ADMIN"), (6, 1)),
    )
    .unwrap();
    check(
        &admin,
        Arch::X86_64,
        &[
            ("mount with SYS_ADMIN", "mount", NO_ARGS, ALLOW),
            ("clone with a namespace", "clone", first(0x1000_0000), ALLOW),
            ("clone3 allowed", "clone3", NO_ARGS, ALLOW),
            ("reboot still needs SYS_BOOT", "reboot", NO_ARGS, EPERM),
        ],
    );
    let old_kernel = compile(DEFAULT_PROFILE, &host(DOCKER_CAPABILITIES, (4, 4))).unwrap();
    check(
        &old_kernel,
        Arch::X86_64,
        &[("ptrace before 4.8", "ptrace", NO_ARGS, EPERM)],
    );
    let no_chroot = compile(DEFAULT_PROFILE, &host(0, (6, 1))).unwrap();
    check(
        &no_chroot,
        Arch::X86_64,
        &[("chroot without the capability", "chroot", NO_ARGS, EPERM)],
    );
}

#[test]
fn foreign_architectures_are_killed() {
    let program = compile(DEFAULT_PROFILE, &host(DOCKER_CAPABILITIES, (6, 1))).unwrap();
    assert_eq!(run(&program, Arch::Aarch64, 63, NO_ARGS), KILL_PROCESS);
    let native_only = r#"{"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#;
    let program = compile(native_only, &host(0, (6, 1))).unwrap();
    assert_eq!(
        run(&program, Arch::X86, 39, NO_ARGS),
        KILL_PROCESS,
        "i386 not listed"
    );
    assert_eq!(
        run(&program, Arch::X32, number(Arch::X32, "read"), NO_ARGS),
        KILL_PROCESS,
        "x32 not listed"
    );
    assert_eq!(
        run(
            &program,
            Arch::X86_64,
            number(Arch::X86_64, "mkdir"),
            NO_ARGS
        ),
        EPERM
    );
    assert_eq!(
        run(
            &program,
            Arch::X86_64,
            number(Arch::X86_64, "rmdir"),
            NO_ARGS
        ),
        ALLOW,
        "default allow, no ENOSYS patch"
    );
}

/// Each comparison against values that straddle the 32-bit halves.
#[test]
fn argument_comparisons_on_64_bit_values() {
    let value: u64 = 0x1_0000_0005;
    let profile = |op: &str, value_two: u64| {
        format!(
            r#"{{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{{"names": ["write"],
            "action": "SCMP_ACT_ALLOW", "args": [{{"index": 2, "value": {value},
            "valueTwo": {value_two}, "op": "{op}"}}]}}]}}"#
        )
    };
    let probes: [u64; 7] = [
        0,
        5,
        value - 1,
        value,
        value + 1,
        0x2_0000_0000,
        0xffff_ffff_ffff_ffff,
    ];
    let table: [(&str, Predicate); 6] = [
        ("SCMP_CMP_EQ", |arg| arg == 0x1_0000_0005),
        ("SCMP_CMP_NE", |arg| arg != 0x1_0000_0005),
        ("SCMP_CMP_LT", |arg| arg < 0x1_0000_0005),
        ("SCMP_CMP_LE", |arg| arg <= 0x1_0000_0005),
        ("SCMP_CMP_GT", |arg| arg > 0x1_0000_0005),
        ("SCMP_CMP_GE", |arg| arg >= 0x1_0000_0005),
    ];
    let write = number(Arch::X86_64, "write");
    for (op, expected) in table {
        let program = compile(&profile(op, 0), &host(0, (6, 1))).unwrap();
        for probe in probes {
            let want = if expected(probe) { ALLOW } else { EPERM };
            let got = run(&program, Arch::X86_64, write, [0, 0, probe, 0, 0, 0]);
            assert_eq!(got, want, "{op} with {probe:#x}");
        }
    }
    let masked = compile(
        &profile("SCMP_CMP_MASKED_EQ", 0x1_0000_0004),
        &host(0, (6, 1)),
    )
    .unwrap();
    for (probe, allowed) in [
        (0x1_0000_0004u64, true),
        (0xff_0000_0014, true),
        (0x1_0000_0005, false),
        (0xe_0000_ff04, false),
        (0x4, false),
        (0x1_0000_0001, false),
    ] {
        let want = if allowed { ALLOW } else { EPERM };
        let got = run(&masked, Arch::X86_64, write, [0, 0, probe, 0, 0, 0]);
        assert_eq!(got, want, "masked {probe:#x}");
    }
}

#[test]
fn conditions_and_actions_combine_as_runc_does() {
    let profile = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 7, "op": "SCMP_CMP_EQ"}]},
        {"names": ["read"], "action": "SCMP_ACT_KILL_PROCESS",
         "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 4, "op": "SCMP_CMP_EQ"}]},
        {"names": ["getpid"], "action": "SCMP_ACT_TRAP"},
        {"names": ["gettid"], "action": "SCMP_ACT_LOG"},
        {"names": ["getppid"], "action": "SCMP_ACT_KILL"},
        {"names": ["uname"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["no_such_syscall", "getuid"], "action": "SCMP_ACT_ERRNO"}
    ]}"#;
    let program = compile(profile, &host(0, (6, 1))).unwrap();
    check(
        &program,
        Arch::X86_64,
        &[
            ("both args: AND", "write", [1, 7, 0, 0, 0, 0], 0x0005_000d),
            ("one arg only", "write", [1, 8, 0, 0, 0, 0], ALLOW),
            ("same arg twice: OR (3)", "read", first(3), KILL_PROCESS),
            ("same arg twice: OR (4)", "read", first(4), KILL_PROCESS),
            ("neither", "read", first(5), ALLOW),
            ("trap", "getpid", NO_ARGS, 0x0003_0000),
            ("log", "gettid", NO_ARGS, 0x7ffc_0000),
            ("kill thread", "getppid", NO_ARGS, 0),
            ("unknown name skipped", "getuid", NO_ARGS, EPERM),
        ],
    );
}

#[test]
fn long_profiles_use_long_jumps() {
    // Many conditional syscalls push the later sections far beyond a 255-instruction jump.
    let rules: Vec<String> = crate::seccomp::tables::X86_64
        .iter()
        .take(200)
        .map(|(name, _)| {
            format!(
                r#"{{"names": ["{name}"], "action": "SCMP_ACT_ALLOW",
                "args": [{{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}}]}}"#
            )
        })
        .collect();
    let profile = format!(
        r#"{{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{}]}}"#,
        rules.join(",")
    );
    let program = compile(&profile, &host(0, (6, 1))).unwrap();
    assert!(program.len() > 1000);
    let (name, _) = crate::seccomp::tables::X86_64[150];
    check(
        &program,
        Arch::X86_64,
        &[
            ("far rule, arg matches", name, first(1), ALLOW),
            ("far rule, arg differs", name, first(2), EPERM),
        ],
    );
    if Arch::X86.syscall(name).is_some() {
        check(&program, Arch::X86, &[("i386 far", name, first(1), ALLOW)]);
    }
}

#[test]
fn invalid_profiles_are_errors() {
    let cases = [
        ("not json", "{"),
        ("no default action", r#"{"syscalls": []}"#),
        ("unknown action", r#"{"defaultAction": "SCMP_ACT_MAYBE"}"#),
        (
            "unknown operator",
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
            "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}]}"#,
        ),
        (
            "argument index",
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
            "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
        ),
        (
            "errnoRet on allow",
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
            "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]}"#,
        ),
        (
            "both arch lists",
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
            "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#,
        ),
        (
            "unknown arch",
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}"#,
        ),
        (
            "bad minKernel",
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
            "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "four"}}]}"#,
        ),
        (
            "no names",
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}"#,
        ),
        ("notify", r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#),
    ];
    for (name, profile) in cases {
        let result = compile(profile, &host(0, (6, 1)));
        assert!(result.is_err(), "{name}: {result:?}");
    }
}

#[test]
fn program_bytes_round_trip() {
    let program = compile(DEFAULT_PROFILE, &host(DOCKER_CAPABILITIES, (6, 1))).unwrap();
    let bytes = program_bytes(&program);
    assert_eq!(SockFilter::parse_program(&bytes).unwrap(), program);
    assert!(matches!(
        SockFilter::parse_program(&bytes[..7]),
        Err(SeccompError::InvalidProgram { length: 7 })
    ));
    assert!(SockFilter::parse_program(&[]).is_err());
}

#[test]
fn names_and_versions() {
    assert_eq!(capability_number("CAP_SYS_ADMIN"), Some(21));
    assert_eq!(capability_number("sys_boot"), Some(22));
    assert_eq!(capability_number("CAP_NOPE"), None);
    assert_eq!(kernel_version("4.8").unwrap(), (4, 8));
    assert!(kernel_version("4").is_err());
    assert_eq!(Action::Errno(1).return_value(), EPERM);
    assert_eq!(number(Arch::X86_64, "mkdir"), 83);
    assert_eq!(number(Arch::Aarch64, "mkdirat"), 34);
    assert_eq!(Arch::Aarch64.syscall("mkdir"), None);
}

/// What the filter must answer, evaluated directly on the resolved profile.
fn reference(resolved: &Resolved, arch: Arch, nr: u32, args: [u64; 6]) -> u32 {
    // x32 and x86_64 share AUDIT_ARCH_X86_64: bit 30 of nr tells them apart.
    let arch = match arch {
        Arch::X86_64 | Arch::X32 if nr >= 0x4000_0000 => Arch::X32,
        Arch::X86_64 | Arch::X32 => Arch::X86_64,
        other => other,
    };
    let Some((_, rules)) = resolved.sections.iter().find(|(each, _)| *each == arch) else {
        return KILL_PROCESS;
    };
    let refuses = !matches!(resolved.default_action, Action::Allow | Action::Log);
    if refuses
        && rules
            .keys()
            .next_back()
            .is_some_and(|highest| nr > *highest)
    {
        return ENOSYS;
    }
    let holds = |condition: &Condition| {
        let arg = args[usize::from(condition.index)];
        match condition.comparison {
            Comparison::Equal => arg == condition.value,
            Comparison::NotEqual => arg != condition.value,
            Comparison::Less => arg < condition.value,
            Comparison::LessOrEqual => arg <= condition.value,
            Comparison::Greater => arg > condition.value,
            Comparison::GreaterOrEqual => arg >= condition.value,
            Comparison::MaskedEqual => arg & condition.value == condition.value_two,
        }
    };
    let action = rules.get(&nr).and_then(|rules| {
        rules
            .iter()
            .find(|rule| rule.conditions.is_empty())
            .or_else(|| rules.iter().find(|rule| rule.conditions.iter().all(holds)))
            .map(|rule| rule.action)
    });
    action.unwrap_or(resolved.default_action).return_value()
}

fn assert_matches_reference(profile: &str, host: &Host, arg_sets: &[[u64; 6]]) {
    let resolved = resolve(profile, host).unwrap();
    let program = compile(profile, host).unwrap();
    for arch in [Arch::X86_64, Arch::X86, Arch::X32, Arch::Aarch64] {
        let base = if arch == Arch::X32 { 0x4000_0000 } else { 0 };
        for nr in (base..base + 470).chain([u32::MAX, 0x4000_0000 - 1]) {
            for args in arg_sets {
                assert_eq!(
                    run(&program, arch, nr, *args),
                    reference(&resolved, arch, nr, *args),
                    "{arch:?} nr {nr} args {args:x?}"
                );
            }
        }
    }
}

#[test]
fn default_profile_agrees_with_the_reference_for_every_number() {
    let arg_sets = [
        NO_ARGS,
        first(40),
        first(0x1000_0000),
        first(0xffff_ffff),
        first(0x0040_0000),
        [0x1_0000_0000, 1, 2, 3, 4, 5],
    ];
    for capabilities in [0, DOCKER_CAPABILITIES, u64::MAX] {
        for kernel in [(4, 4), (6, 1)] {
            assert_matches_reference(DEFAULT_PROFILE, &host(capabilities, kernel), &arg_sets);
        }
    }
}

/// Profiles of random rules (a fixed-seed generator) against the reference.
#[test]
fn random_profiles_agree_with_the_reference() {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |bound: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    };
    let ops = [
        "SCMP_CMP_EQ",
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_GT",
        "SCMP_CMP_GE",
        "SCMP_CMP_MASKED_EQ",
    ];
    let actions = [
        r#""action": "SCMP_ACT_ALLOW""#,
        r#""action": "SCMP_ACT_ERRNO", "errnoRet": 5"#,
        r#""action": "SCMP_ACT_TRAP""#,
        r#""action": "SCMP_ACT_LOG""#,
        r#""action": "SCMP_ACT_KILL_PROCESS""#,
    ];
    let values = [
        0u64,
        1,
        2,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0001,
        u64::MAX,
    ];
    let names = [
        "read", "write", "openat", "close", "mmap", "ioctl", "clone", "futex",
    ];
    for round in 0..40 {
        let mut rules = Vec::new();
        for _ in 0..next(12) {
            let args: Vec<String> = (0..next(4))
                .map(|_| {
                    format!(
                        r#"{{"index": {}, "value": {}, "valueTwo": {}, "op": "{}"}}"#,
                        next(3),
                        values[next(values.len() as u64) as usize],
                        values[next(values.len() as u64) as usize],
                        ops[next(ops.len() as u64) as usize]
                    )
                })
                .collect();
            rules.push(format!(
                r#"{{"names": ["{}", "{}"], {}, "args": [{}]}}"#,
                names[next(names.len() as u64) as usize],
                names[next(names.len() as u64) as usize],
                actions[next(actions.len() as u64) as usize],
                args.join(", ")
            ));
        }
        let default = ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL"][round % 3];
        let profile = format!(
            r#"{{"defaultAction": "{default}", "architectures": ["SCMP_ARCH_X86"],
            "syscalls": [{}]}}"#,
            rules.join(", ")
        );
        let arg_sets: Vec<[u64; 6]> = (0..6)
            .map(|_| {
                let mut args = [0u64; 6];
                for arg in &mut args[..3] {
                    *arg = values[next(values.len() as u64) as usize];
                }
                args
            })
            .collect();
        assert_matches_reference(&profile, &host(0, (6, 1)), &arg_sets);
    }
}

#[test]
fn default_program_is_small_and_short_to_run() {
    let program = compile(DEFAULT_PROFILE, &host(DOCKER_CAPABILITIES, (6, 1))).unwrap();
    assert!(program.len() < 1000, "{} instructions", program.len());
    let longest = (0..470)
        .map(|nr| run_counting(&program, Arch::X86_64, nr, first(0x1000_0000)).1)
        .max()
        .unwrap();
    assert!(longest < 40, "{longest} instructions for one syscall");
}

#[test]
fn aarch64_hosts_filter_their_own_numbers() {
    let host = Host {
        arch: Arch::Aarch64,
        capabilities: DOCKER_CAPABILITIES,
        kernel: (6, 1),
    };
    let program = compile(DEFAULT_PROFILE, &host).unwrap();
    check(
        &program,
        Arch::Aarch64,
        &[
            ("mkdirat", "mkdirat", NO_ARGS, ALLOW),
            ("mount", "mount", NO_ARGS, EPERM),
            (
                "clone with CLONE_NEWUSER",
                "clone",
                first(0x1000_0000),
                EPERM,
            ),
            ("clone3", "clone3", NO_ARGS, ENOSYS),
        ],
    );
    // x86 system calls cannot occur on this host: killed as a foreign ABI.
    assert_eq!(run(&program, Arch::X86_64, 0, NO_ARGS), KILL_PROCESS);
    assert_matches_reference(DEFAULT_PROFILE, &host, &[NO_ARGS, first(0x1000_0000)]);
}
