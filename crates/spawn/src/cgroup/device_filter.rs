//! A [`DeviceState`] compiled to a `BPF_PROG_TYPE_CGROUP_DEVICE` program, instruction for
//! instruction what runc's `devicefilter.go` emits for the same state (its tests' expected
//! programs are ours), so a container is confined on v2 exactly as docker confines it.
//!
//! Shape: load `struct bpf_cgroup_dev_ctx` into registers (r2 = type, `access_type & 0xFFFF`;
//! r3 = requested access, `access_type >> 16`; r4 = major; r5 = minor); then one block per
//! exception, in runc's order, which jumps to the next block unless the type matches, the
//! access matches and the major and minor match (skipped for a wildcard), and otherwise returns
//! the exception's verdict (the opposite of the default); last, return the default. Every
//! exception has the same verdict, so their order cannot change a decision. All jumps go
//! forward to the next block: the verifier sees a loop-free program of a few dozen
//! instructions.
//!
//! The access test is v1's (`devcgroup_legacy_check_permission`), skipped for `rwm`: an allow
//! exception must grant all that is asked (`r3 & access == r3`, as runc); a deny exception
//! refuses as soon as it covers any of it (`r3 & access != 0`). runc tests a subset for deny
//! exceptions too, so its `a` then deny `c 1:3 w` lets a read-write open of 1:3 through, which
//! v1 refuses; docker never writes such a rule, but a program here never allows more than v1.

use crate::cgroup::device_rules::{Access, DeviceState, Devices};

/// `struct bpf_insn`: opcode, destination and source registers (4 bits each), offset,
/// immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instruction {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

/// `BPF_LDX | BPF_MEM | BPF_W`: dst = *(u32 *)(src + off).
pub const LOAD_WORD: u8 = 0x61;
/// `BPF_ALU | BPF_AND | BPF_K`: dst = (u32)(dst & imm).
pub const AND_IMM32: u8 = 0x54;
/// `BPF_ALU | BPF_RSH | BPF_K`: dst = (u32)(dst >> imm).
pub const RSH_IMM32: u8 = 0x74;
/// `BPF_ALU | BPF_MOV | BPF_K`: dst = (u32)imm.
pub const MOV_IMM32: u8 = 0xb4;
/// `BPF_ALU | BPF_MOV | BPF_X`: dst = (u32)src.
pub const MOV_REG32: u8 = 0xbc;
/// `BPF_JMP | BPF_JNE | BPF_K`: if dst != imm, skip `off` instructions.
pub const JNE_IMM: u8 = 0x55;
/// `BPF_JMP | BPF_JNE | BPF_X`: if dst != src, skip `off` instructions.
pub const JNE_REG: u8 = 0x5d;
/// `BPF_JMP | BPF_JEQ | BPF_K`: if dst == imm, skip `off` instructions.
pub const JEQ_IMM: u8 = 0x15;
/// `BPF_JMP | BPF_EXIT`: return r0.
pub const EXIT: u8 = 0x95;

pub const SIZE: usize = 8;

impl Instruction {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Self {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// The instruction as the kernel reads it: the registers share a byte whose bitfield
    /// order follows the byte order (`dst_reg:4; src_reg:4`).
    #[must_use]
    pub fn to_bytes(self) -> [u8; SIZE] {
        let registers = if cfg!(target_endian = "little") {
            (self.src << 4) | (self.dst & 0x0f)
        } else {
            (self.dst << 4) | (self.src & 0x0f)
        };
        let mut bytes = [0u8; SIZE];
        bytes[0] = self.code;
        bytes[1] = registers;
        bytes[2..4].copy_from_slice(&self.off.to_ne_bytes());
        bytes[4..8].copy_from_slice(&self.imm.to_ne_bytes());
        bytes
    }
}

/// The registers the context is loaded into.
const CONTEXT: u8 = 1;
const TYPE: u8 = 2;
const ACCESS: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;
const SCRATCH: u8 = 1; // the context pointer is not needed after the loads
const RESULT: u8 = 0;

/// The program for `state`.
#[must_use]
pub fn compile(state: &DeviceState) -> Vec<Instruction> {
    let mut program = vec![
        Instruction::new(LOAD_WORD, TYPE, CONTEXT, 0, 0),
        Instruction::new(AND_IMM32, TYPE, 0, 0, 0xFFFF),
        Instruction::new(LOAD_WORD, ACCESS, CONTEXT, 0, 0),
        Instruction::new(RSH_IMM32, ACCESS, 0, 0, 16),
        Instruction::new(LOAD_WORD, MAJOR, CONTEXT, 4, 0),
        Instruction::new(LOAD_WORD, MINOR, CONTEXT, 8, 0),
    ];
    for (devices, access) in &state.exceptions {
        append_exception(&mut program, *devices, *access, !state.default_allow);
    }
    program.extend(verdict(state.default_allow));
    program
}

/// One block: each test jumps past the rest of the block when it fails.
fn append_exception(program: &mut Vec<Instruction>, devices: Devices, access: Access, allow: bool) {
    let mut tests: Vec<(u8, u8, u8, i32)> = vec![(JNE_IMM, TYPE, 0, devices.kind.bpf_value())];
    let checks_access = access != Access::ALL;
    if checks_access {
        tests.push((MOV_REG32, SCRATCH, ACCESS, 0));
        tests.push((AND_IMM32, SCRATCH, 0, access.bits()));
        if allow {
            tests.push((JNE_REG, SCRATCH, ACCESS, 0)); // not all of it is granted
        } else {
            tests.push((JEQ_IMM, SCRATCH, 0, 0)); // none of it is denied
        }
    }
    // Rule::parse keeps numbers within i32: the casts are exact.
    if let Some(major) = devices.major {
        tests.push((JNE_IMM, MAJOR, 0, major as i32));
    }
    if let Some(minor) = devices.minor {
        tests.push((JNE_IMM, MINOR, 0, minor as i32));
    }
    let block_length = tests.len() + 2; // the verdict's two instructions
    for (index, (code, dst, src, imm)) in tests.into_iter().enumerate() {
        let is_jump = matches!(code, JNE_IMM | JNE_REG | JEQ_IMM);
        // to the first instruction after the block; at most a handful, always fits
        let off = if is_jump {
            (block_length - index - 1) as i16
        } else {
            0
        };
        program.push(Instruction::new(code, dst, src, off, imm));
    }
    program.extend(verdict(allow));
}

fn verdict(allow: bool) -> [Instruction; 2] {
    [
        Instruction::new(MOV_IMM32, RESULT, 0, 0, i32::from(allow)),
        Instruction::new(EXIT, 0, 0, 0, 0),
    ]
}

/// The program as `bpf(BPF_PROG_LOAD)` takes it.
#[must_use]
pub fn program_bytes(program: &[Instruction]) -> Vec<u8> {
    program.iter().flat_map(|insn| insn.to_bytes()).collect()
}
