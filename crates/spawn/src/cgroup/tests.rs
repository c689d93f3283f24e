//! The device program, checked two ways: its instructions, listed as the kernel's disassembler
//! prints them (`bpftool prog dump xlated`), against the programs runc's devicefilter makes for
//! the same rules; and its decisions, by running it in a small interpreter of the instructions
//! it uses on the `bpf_cgroup_dev_ctx` of an open or mknod.

use crate::cgroup::device_filter::{
    program_bytes, AND_IMM32, EXIT, JEQ_IMM, JNE_IMM, JNE_REG, LOAD_WORD, MOV_IMM32, MOV_REG32,
    RSH_IMM32,
};
use crate::cgroup::{
    compile, parse_rules, Access, DeviceFilterError, DeviceState, DeviceType, Devices, Instruction,
    Rule,
};

/// moby's default rules, as hybridock's `DOCKER_DEVICE_RULES` after `deny a`.
const DOCKER_RULES: &[&str] = &[
    "b *:* m",
    "c *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 10:200 rwm",
    "c 136:* rwm",
]; // rustfmt keeps this one rule a line otherwise

fn docker_rules() -> Vec<Rule> {
    let denied = std::iter::once(("a", false));
    parse_rules(denied.chain(DOCKER_RULES.iter().map(|rule| (*rule, true)))).unwrap()
}

fn rules(list: &[(&str, bool)]) -> Vec<Rule> {
    parse_rules(list.iter().copied()).unwrap()
}

fn program_of(rules: &[Rule]) -> Vec<Instruction> {
    compile(&DeviceState::of(rules).unwrap())
}

/// One instruction as kernel/bpf/disasm.c prints it.
fn disassemble(insn: &Instruction) -> String {
    match insn.code {
        LOAD_WORD => format!("r{} = *(u32 *)(r{} {:+})", insn.dst, insn.src, insn.off),
        AND_IMM32 => format!("w{} &= {}", insn.dst, insn.imm),
        RSH_IMM32 => format!("w{} >>= {}", insn.dst, insn.imm),
        MOV_IMM32 => format!("w{} = {}", insn.dst, insn.imm),
        MOV_REG32 => format!("w{} = w{}", insn.dst, insn.src),
        JNE_IMM => format!("if r{} != {:#x} goto pc{:+}", insn.dst, insn.imm, insn.off),
        JNE_REG => format!("if r{} != r{} goto pc{:+}", insn.dst, insn.src, insn.off),
        JEQ_IMM => format!("if r{} == {:#x} goto pc{:+}", insn.dst, insn.imm, insn.off),
        EXIT => "exit".to_owned(),
        other => format!("unknown opcode {other:#04x}"),
    }
}

fn listing(program: &[Instruction]) -> String {
    let lines: Vec<String> = program
        .iter()
        .enumerate()
        .map(|(index, insn)| format!("{index}: {}", disassemble(insn)))
        .collect();
    lines.join("\n")
}

/// `expected` with its lines trimmed and `#` comments and blank lines dropped.
fn clean(expected: &str) -> String {
    let lines: Vec<&str> = expected
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    lines.join("\n")
}

const HEADER: &str = "
    0: r2 = *(u32 *)(r1 +0)
    1: w2 &= 65535
    2: r3 = *(u32 *)(r1 +0)
    3: w3 >>= 16
    4: r4 = *(u32 *)(r1 +4)
    5: r5 = *(u32 *)(r1 +8)";

#[test]
#[allow(clippy::too_many_lines)] // one table
fn programs_are_runcs() {
    let cases: &[(&str, Vec<Rule>, &str)] = &[
        (
            "no rules deny everything",
            vec![],
            "6: w0 = 0
             7: exit",
        ),
        (
            "docker's defaults",
            docker_rules(),
            "# b *:* m: type, then access within m
             6: if r2 != 0x1 goto pc+5
             7: w1 = w3
             8: w1 &= 1
             9: if r1 != r3 goto pc+2
             10: w0 = 1
             11: exit
             # c *:* m
             12: if r2 != 0x2 goto pc+5
             13: w1 = w3
             14: w1 &= 1
             15: if r1 != r3 goto pc+2
             16: w0 = 1
             17: exit
             # c 1:3 rwm: type, major, minor
             18: if r2 != 0x2 goto pc+4
             19: if r4 != 0x1 goto pc+3
             20: if r5 != 0x3 goto pc+2
             21: w0 = 1
             22: exit
             23: if r2 != 0x2 goto pc+4
             24: if r4 != 0x1 goto pc+3
             25: if r5 != 0x5 goto pc+2
             26: w0 = 1
             27: exit
             28: if r2 != 0x2 goto pc+4
             29: if r4 != 0x1 goto pc+3
             30: if r5 != 0x7 goto pc+2
             31: w0 = 1
             32: exit
             33: if r2 != 0x2 goto pc+4
             34: if r4 != 0x1 goto pc+3
             35: if r5 != 0x8 goto pc+2
             36: w0 = 1
             37: exit
             38: if r2 != 0x2 goto pc+4
             39: if r4 != 0x1 goto pc+3
             40: if r5 != 0x9 goto pc+2
             41: w0 = 1
             42: exit
             # c 5:0, 5:1, 5:2
             43: if r2 != 0x2 goto pc+4
             44: if r4 != 0x5 goto pc+3
             45: if r5 != 0x0 goto pc+2
             46: w0 = 1
             47: exit
             48: if r2 != 0x2 goto pc+4
             49: if r4 != 0x5 goto pc+3
             50: if r5 != 0x1 goto pc+2
             51: w0 = 1
             52: exit
             53: if r2 != 0x2 goto pc+4
             54: if r4 != 0x5 goto pc+3
             55: if r5 != 0x2 goto pc+2
             56: w0 = 1
             57: exit
             # c 10:200 rwm
             58: if r2 != 0x2 goto pc+4
             59: if r4 != 0xa goto pc+3
             60: if r5 != 0xc8 goto pc+2
             61: w0 = 1
             62: exit
             # c 136:* rwm: no minor test
             63: if r2 != 0x2 goto pc+3
             64: if r4 != 0x88 goto pc+2
             65: w0 = 1
             66: exit
             # the default: deny
             67: w0 = 0
             68: exit",
        ),
        (
            "privileged: allow all, nothing to test",
            rules(&[("a *:* rwm", true)]),
            "6: w0 = 1
             7: exit",
        ),
        (
            "allow all but one block device",
            rules(&[("a", true), ("b 8:0 rwm", false)]),
            "6: if r2 != 0x1 goto pc+4
             7: if r4 != 0x8 goto pc+3
             8: if r5 != 0x0 goto pc+2
             9: w0 = 0
             10: exit
             11: w0 = 1
             12: exit",
        ),
        (
            "an `a` rule forgets the rules before it",
            rules(&[("b 8:1 rwm", false), ("a", true), ("b 8:2 rwm", false)]),
            "6: if r2 != 0x1 goto pc+4
             7: if r4 != 0x8 goto pc+3
             8: if r5 != 0x2 goto pc+2
             9: w0 = 0
             10: exit
             11: w0 = 1
             12: exit",
        ),
        (
            "a deny exception of part of rwm refuses on any overlap (v1; runc tests a subset)",
            rules(&[("a", true), ("c 1:3 w", false)]),
            "6: if r2 != 0x2 goto pc+7
             7: w1 = w3
             8: w1 &= 4
             9: if r1 == 0x0 goto pc+4
             10: if r4 != 0x1 goto pc+3
             11: if r5 != 0x3 goto pc+2
             12: w0 = 0
             13: exit
             14: w0 = 1
             15: exit",
        ),
    ];
    for (name, rules, expected) in cases {
        let expected = clean(&format!("{HEADER}\n{expected}"));
        assert_eq!(listing(&program_of(rules)), expected, "{name}");
    }
}

#[test]
fn docker_rules_give_runcs_allow_list_program() {
    // runc's TestDeviceFilter_BuiltInAllowList lists the same rules in another order (and
    // without 5:1): the program sorts them, so the order given does not matter.
    let mut shuffled: Vec<&str> = DOCKER_RULES.to_vec();
    shuffled.reverse();
    let reversed =
        parse_rules(std::iter::once(("a", false)).chain(shuffled.iter().map(|r| (*r, true))));
    assert_eq!(program_of(&reversed.unwrap()), program_of(&docker_rules()));
}

// --- what the program decides ------------------------------------------------------------

const MKNOD: u32 = 1;
const READ: u32 = 2;
const WRITE: u32 = 4;

/// Runs `program` on the context of an access to a device: true when it allows it.
fn allows(program: &[Instruction], kind: DeviceType, major: u32, minor: u32, access: u32) -> bool {
    let context = [kind.bpf_value() as u32 | (access << 16), major, minor];
    let mut registers = [0u64; 11];
    registers[1] = u64::MAX; // the context pointer: only ever a base for loads
    let mut pc = 0;
    loop {
        let insn = program[pc];
        let (dst, src) = (usize::from(insn.dst), usize::from(insn.src));
        pc += 1;
        match insn.code {
            LOAD_WORD => {
                assert_eq!(registers[src], u64::MAX, "loads only from the context");
                registers[dst] = u64::from(context[insn.off as usize / 4]);
            }
            AND_IMM32 => registers[dst] = u64::from(registers[dst] as u32 & insn.imm as u32),
            RSH_IMM32 => registers[dst] = u64::from((registers[dst] as u32) >> insn.imm),
            MOV_IMM32 => registers[dst] = u64::from(insn.imm as u32),
            MOV_REG32 => registers[dst] = u64::from(registers[src] as u32),
            JNE_IMM | JNE_REG | JEQ_IMM => {
                let operand = if insn.code == JNE_REG {
                    registers[src]
                } else {
                    i64::from(insn.imm) as u64 // sign-extended, as BPF_JMP compares 64 bits
                };
                assert!(insn.off > 0, "jumps go forward");
                if (registers[dst] == operand) == (insn.code == JEQ_IMM) {
                    pc += insn.off as usize;
                }
            }
            EXIT => return registers[0] == 1,
            other => panic!("unexpected opcode {other:#04x}"),
        }
    }
}

#[test]
fn docker_rules_decide_as_dockers_devices_cgroup() {
    use DeviceType::{Block, Char};
    let program = program_of(&docker_rules());
    let cases: &[(&str, DeviceType, u32, u32, u32, bool)] = &[
        ("/dev/null opens read-write", Char, 1, 3, READ | WRITE, true),
        ("/dev/zero", Char, 1, 5, READ, true),
        ("/dev/full", Char, 1, 7, WRITE, true),
        ("/dev/random", Char, 1, 8, READ, true),
        ("/dev/urandom", Char, 1, 9, READ, true),
        ("/dev/tty", Char, 5, 0, READ | WRITE, true),
        ("/dev/console", Char, 5, 1, READ | WRITE, true),
        ("/dev/ptmx", Char, 5, 2, READ | WRITE, true),
        ("/dev/net/tun", Char, 10, 200, READ | WRITE, true),
        ("any pty", Char, 136, 7, READ | WRITE, true),
        ("a far pty", Char, 136, 1 << 19, READ, true),
        ("mknod of any char device", Char, 10, 229, MKNOD, true),
        ("mknod of any block device", Block, 8, 0, MKNOD, true),
        ("the host's disk, read", Block, 8, 0, READ, false),
        ("the host's disk, written", Block, 8, 0, WRITE, false),
        ("/dev/fuse", Char, 10, 229, READ | WRITE, false),
        ("/dev/mem", Char, 1, 1, READ, false),
        ("/dev/kmsg", Char, 1, 11, READ, false),
        ("block 1:3 is not /dev/null", Block, 1, 3, READ, false),
        ("block 136 is not a pty", Block, 136, 0, READ, false),
        (
            "read with mknod is not within m",
            Char,
            10,
            229,
            READ | MKNOD,
            false,
        ),
        ("minor 3 of another major", Char, 2, 3, READ, false),
    ];
    for (name, kind, major, minor, access, expected) in cases {
        assert_eq!(
            allows(&program, *kind, *major, *minor, *access),
            *expected,
            "{name}"
        );
    }
}

#[test]
fn access_subsets_and_wildcards() {
    use DeviceType::{Block, Char};
    type Case = (&'static str, DeviceType, u32, u32, u32, bool);
    let table: &[(&str, Vec<Rule>, &[Case])] = &[
        (
            "read-only rule",
            rules(&[("a", false), ("c 1:3 r", true)]),
            &[
                ("read", Char, 1, 3, READ, true),
                ("write", Char, 1, 3, WRITE, false),
                (
                    "read-write needs both in one rule",
                    Char,
                    1,
                    3,
                    READ | WRITE,
                    false,
                ),
                ("mknod", Char, 1, 3, MKNOD, false),
            ],
        ),
        (
            "access of one device merges, as v1's exceptions do",
            rules(&[("a", false), ("c 1:3 r", true), ("c 1:3 w", true)]),
            &[("read-write", Char, 1, 3, READ | WRITE, true)],
        ),
        (
            "a denied access is taken away",
            rules(&[("a", false), ("c 1:3 rwm", true), ("c 1:3 w", false)]),
            &[
                ("read", Char, 1, 3, READ, true),
                ("write", Char, 1, 3, WRITE, false),
            ],
        ),
        (
            "wildcard major",
            rules(&[("a", false), ("b *:0 rw", true)]),
            &[
                ("sda", Block, 8, 0, READ, true),
                ("vda", Block, 253, 0, READ | WRITE, true),
                ("sda1", Block, 8, 1, READ, false),
                ("char", Char, 8, 0, READ, false),
            ],
        ),
        (
            "deny list: allow all, deny the disk",
            rules(&[("a", true), ("b 8:* rw", false)]),
            &[
                ("sda1", Block, 8, 1, READ, false),
                ("mknod of sda1", Block, 8, 1, MKNOD, true),
                ("loop0", Block, 7, 0, READ, true),
            ],
        ),
        (
            "deny list: a denied subset refuses an open asking more",
            rules(&[("a", true), ("c 1:3 w", false)]),
            // v1 refuses when a deny exception covers any of the access asked
            &[
                ("read", Char, 1, 3, READ, true),
                ("read-write", Char, 1, 3, READ | WRITE, false),
            ],
        ),
        (
            "deny a after everything: nothing",
            rules(&[("c 1:3 rwm", true), ("a", false)]),
            &[("null", Char, 1, 3, READ, false)],
        ),
    ];
    for (name, rules, cases) in table {
        let program = program_of(rules);
        for (case, kind, major, minor, access, expected) in *cases {
            assert_eq!(
                allows(&program, *kind, *major, *minor, *access),
                *expected,
                "{name}: {case}"
            );
        }
    }
}

// --- rules and the v1 state -----------------------------------------------------------------

#[test]
fn rules_parse_as_the_v1_files_take_them() {
    let char_devices = |major, minor| {
        Some(Devices {
            major,
            minor,
            kind: DeviceType::Char,
        })
    };
    let cases: &[(&str, Rule)] = &[
        (
            "a",
            Rule {
                devices: None,
                access: Access::ALL,
                allow: true,
            },
        ),
        (
            "a *:* rwm",
            Rule {
                devices: None,
                access: Access::ALL,
                allow: true,
            },
        ),
        (
            "c 1:3 rwm",
            Rule {
                devices: char_devices(Some(1), Some(3)),
                access: Access::ALL,
                allow: true,
            },
        ),
        (
            "c *:* m",
            Rule {
                devices: char_devices(None, None),
                access: Access::MKNOD,
                allow: true,
            },
        ),
        (
            "c  136:*   wr",
            Rule {
                devices: char_devices(Some(136), None),
                access: Access::READ.union(Access::WRITE),
                allow: true,
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(Rule::parse(text, true).unwrap(), *expected, "{text}");
    }
}

#[test]
fn invalid_rules_are_refused() {
    for text in [
        "",
        "x 1:3 rwm",
        "c 1:3",
        "c 1:3 rwx",
        "c 1:3 rr",
        "c 1:3 ",
        "c 1 rwm",
        "c 1:+3 rwm",
        "c -1:3 rwm",
        "c 1:3:4 rwm",
        "c 4294967296:0 rwm",
        "c 2147483648:0 rwm",
        "c 1:3 rwm x",
    ] {
        let error = Rule::parse(text, true).unwrap_err();
        assert!(
            matches!(error, DeviceFilterError::InvalidRule { .. }),
            "{text:?}: {error}"
        );
    }
}

#[test]
fn a_hole_in_a_wildcard_is_refused() {
    for (wildcard, punched) in [
        ("c *:* rwm", "c 1:3 r"),
        ("c 1:* r", "c 1:3 rw"),
        ("c *:3 m", "c 1:3 m"),
    ] {
        let list = rules(&[("a", false), (wildcard, true), (punched, false)]);
        let error = DeviceState::of(&list).unwrap_err();
        assert!(
            matches!(error, DeviceFilterError::HoleInWildcard { .. }),
            "{punched} in {wildcard}: {error}"
        );
    }
    // no access in common: nothing to punch, the rule is a no-op as in v1
    let list = rules(&[("a", false), ("c *:* m", true), ("c 1:3 r", false)]);
    assert_eq!(DeviceState::of(&list).unwrap().exceptions.len(), 1);
}

#[test]
fn the_state_merges_and_orders_as_runc() {
    let state = DeviceState::of(&docker_rules()).unwrap();
    assert!(!state.default_allow);
    let listed: Vec<String> = state
        .exceptions
        .iter()
        .map(|(devices, access)| format!("{devices} {access}"))
        .collect();
    assert_eq!(
        listed,
        [
            "b *:* m",
            "c *:* m",
            "c 1:3 rwm",
            "c 1:5 rwm",
            "c 1:7 rwm",
            "c 1:8 rwm",
            "c 1:9 rwm",
            "c 5:0 rwm",
            "c 5:1 rwm",
            "c 5:2 rwm",
            "c 10:200 rwm",
            "c 136:* rwm",
        ]
    );
}

#[test]
fn instructions_are_laid_out_as_struct_bpf_insn() {
    let jump = Instruction {
        code: JNE_REG,
        dst: 1,
        src: 3,
        off: 2,
        imm: -2,
    };
    let bytes = program_bytes(&[jump]);
    assert_eq!(bytes.len(), 8);
    assert_eq!(bytes[0], 0x5d);
    if cfg!(target_endian = "little") {
        assert_eq!(bytes[1..], [0x31, 0x02, 0x00, 0xfe, 0xff, 0xff, 0xff]);
    }
}

#[test]
fn a_refused_load_says_what_the_kernel_lacks() {
    let load = |errno, verifier: &str| {
        DeviceFilterError::Load {
            source: std::io::Error::from_raw_os_error(errno),
            verifier: verifier.to_owned(),
        }
        .to_string()
    };
    let prefix = "cannot load the cgroup device program: ";
    let cases = [
        (
            load(libc::EINVAL, ""),
            "Invalid argument (this kernel has no cgroup device programs: CONFIG_CGROUP_BPF)",
        ),
        (
            load(libc::ENOSYS, ""),
            "Function not implemented (this kernel has no bpf(2): CONFIG_BPF_SYSCALL)",
        ),
        (
            load(libc::EINVAL, "R0 !read_ok"),
            "Invalid argument (verifier: R0 !read_ok)",
        ),
        (load(libc::EPERM, ""), "Operation not permitted"),
    ];
    for (message, expected) in cases {
        assert_eq!(message, format!("{prefix}{expected}"));
    }
}
