//! A resolved profile compiled to a classic BPF program (`struct sock_filter[]`) for
//! `seccomp(SECCOMP_SET_MODE_FILTER)`.
//!
//! Shape of the program (all jumps forward, as classic BPF requires):
//! 1. load `seccomp_data.arch`; each filtered architecture jumps to its section; any other
//!    architecture gets `SECCOMP_RET_KILL_PROCESS` (a foreign ABI would otherwise slip past a
//!    filter written in another ABI's numbers; libseccomp's bad-arch action does the same).
//! 2. `x86_64` shares its `AUDIT_ARCH` with x32, whose numbers carry bit 30: the `x86_64` section
//!    first sends such numbers to the x32 section, or kills them when x32 is not filtered.
//! 3. runc's ENOSYS patch: when the default action refuses, a number above every syscall the
//!    profile names returns `ENOSYS`, so a newer syscall than the profile knows looks
//!    unimplemented and libc falls back (clone3 -> clone) instead of failing with EPERM.
//! 4. a binary search (`jge` on the middle entry) down to leaves of a few tests, so a syscall
//!    costs about ten comparisons, not hundreds. Consecutive numbers with the same
//!    unconditional action form one run (`jge first`, `jgt last`, `ret`), which shrinks an
//!    allowlist several times over; conditional rules test their arguments in profile order
//!    and the first that holds decides. When a syscall has an unconditional rule its
//!    conditional ones are dropped (libseccomp lets the unconditional rule win).
//! 5. nothing matched: `ret` the default action.
//!
//! A 64-bit argument is compared as two 32-bit halves (classic BPF has 32-bit registers):
//! the high word decides unless it is equal, then the low word does. `seccomp_data` is
//! little-endian on every architecture compiled here, so the low half comes first.
//! Conditional jumps reach at most 255 instructions ahead; anything farther goes through
//! `ja`, whose offset is 32 bits, so no profile size breaks a jump.

use std::collections::BTreeMap;

use crate::seccomp::profile::{Action, Arch, Comparison, Condition, Resolved, Rule};
use crate::seccomp::SeccompError;

/// `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl SockFilter {
    pub const SIZE: usize = 8;

    /// The instruction as the kernel lays it out (native endian).
    #[must_use]
    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut bytes = [0u8; Self::SIZE];
        bytes[0..2].copy_from_slice(&self.code.to_ne_bytes());
        bytes[2] = self.jt;
        bytes[3] = self.jf;
        bytes[4..8].copy_from_slice(&self.k.to_ne_bytes());
        bytes
    }

    /// A program from its bytes (as [`program_bytes`] wrote them).
    pub fn parse_program(bytes: &[u8]) -> Result<Vec<Self>, SeccompError> {
        if bytes.is_empty() || bytes.len() % Self::SIZE != 0 {
            return Err(SeccompError::InvalidProgram {
                length: bytes.len(),
            });
        }
        let program: Vec<Self> = bytes
            .chunks_exact(Self::SIZE)
            .map(|chunk| Self {
                code: u16::from_ne_bytes([chunk[0], chunk[1]]),
                jt: chunk[2],
                jf: chunk[3],
                k: u32::from_ne_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]),
            })
            .collect();
        if program.len() > MAX_INSTRUCTIONS {
            return Err(SeccompError::TooLarge {
                instructions: program.len(),
            });
        }
        Ok(program)
    }
}

/// The program as bytes, for crossing into Python and back.
#[must_use]
pub fn program_bytes(program: &[SockFilter]) -> Vec<u8> {
    program.iter().flat_map(|insn| insn.to_bytes()).collect()
}

/// `BPF_MAXINSNS`: the kernel refuses longer programs.
pub const MAX_INSTRUCTIONS: usize = 4096;

pub(crate) const LD_W_ABS: u16 = 0x20;
pub(crate) const JA: u16 = 0x05;
pub(crate) const JEQ_K: u16 = 0x15;
pub(crate) const JGT_K: u16 = 0x25;
pub(crate) const JGE_K: u16 = 0x35;
pub(crate) const AND_K: u16 = 0x54;
pub(crate) const RET_K: u16 = 0x06;

const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
const OFFSET_ARGS: u32 = 16;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const BAD_ARCH: Action = Action::KillProcess;

#[derive(Clone, Copy, Debug)]
struct Label(usize);

/// Where a conditional jump goes.
#[derive(Clone, Copy, Debug)]
enum Jump {
    Next,
    /// Over the one instruction that follows (a `ret` or a `ja`).
    Skip,
    To(Label),
}

struct Pending {
    code: u16,
    jt: Jump,
    jf: Jump,
    k: u32,
    /// For `ja`: the label whose distance becomes `k`.
    ja: Option<Label>,
}

#[derive(Default)]
struct Assembler {
    code: Vec<Pending>,
    labels: Vec<Option<usize>>,
}

impl Assembler {
    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.code.len());
    }

    fn emit(&mut self, code: u16, k: u32) {
        self.branch(code, k, Jump::Next, Jump::Next);
    }

    fn branch(&mut self, code: u16, k: u32, jt: Jump, jf: Jump) {
        self.code.push(Pending {
            code,
            jt,
            jf,
            k,
            ja: None,
        });
    }

    fn jump(&mut self, target: Label) {
        self.code.push(Pending {
            code: JA,
            jt: Jump::Next,
            jf: Jump::Next,
            k: 0,
            ja: Some(target),
        });
    }

    fn load(&mut self, offset: u32) {
        self.emit(LD_W_ABS, offset);
    }

    fn ret(&mut self, action: Action) {
        self.emit(RET_K, action.return_value());
    }

    fn finish(self) -> Result<Vec<SockFilter>, SeccompError> {
        if self.code.len() > MAX_INSTRUCTIONS {
            return Err(SeccompError::TooLarge {
                instructions: self.code.len(),
            });
        }
        let distance = |from: usize, label: Label| -> usize {
            let target = self.labels[label.0].expect("every label is bound");
            target - (from + 1)
        };
        let short = |from: usize, jump: Jump| -> Result<u8, SeccompError> {
            match jump {
                Jump::Next => Ok(0),
                Jump::Skip => Ok(1),
                Jump::To(label) => {
                    u8::try_from(distance(from, label)).map_err(|_| SeccompError::TooLarge {
                        instructions: self.code.len(),
                    })
                }
            }
        };
        self.code
            .iter()
            .enumerate()
            .map(|(index, pending)| {
                Ok(SockFilter {
                    code: pending.code,
                    jt: short(index, pending.jt)?,
                    jf: short(index, pending.jf)?,
                    k: match pending.ja {
                        Some(label) => distance(index, label) as u32,
                        None => pending.k,
                    },
                })
            })
            .collect()
    }
}

/// Compiles a resolved profile.
pub fn compile(resolved: &Resolved) -> Result<Vec<SockFilter>, SeccompError> {
    let mut asm = Assembler::default();
    let sections: Vec<(Arch, Label)> = resolved
        .sections
        .iter()
        .map(|(arch, _)| (*arch, asm.label()))
        .collect();
    let label_of = |wanted: Arch| {
        sections
            .iter()
            .find(|(arch, _)| *arch == wanted)
            .map(|(_, label)| *label)
    };
    asm.load(OFFSET_ARCH);
    // x32 shares x86_64's AUDIT_ARCH and is reached from the x86_64 section.
    for (arch, label) in sections.iter().filter(|(arch, _)| *arch != Arch::X32) {
        asm.branch(JEQ_K, arch.audit(), Jump::Next, Jump::Skip);
        asm.jump(*label);
    }
    asm.ret(BAD_ARCH);
    let refuses = !matches!(resolved.default_action, Action::Allow | Action::Log);
    for ((arch, rules), (_, label)) in resolved.sections.iter().zip(&sections) {
        asm.bind(*label);
        asm.load(OFFSET_NR);
        if *arch == Arch::X86_64 {
            asm.branch(JGE_K, X32_SYSCALL_BIT, Jump::Next, Jump::Skip);
            match label_of(Arch::X32) {
                Some(x32) => asm.jump(x32),
                None => asm.ret(BAD_ARCH),
            }
        }
        section(&mut asm, rules, resolved.default_action, refuses);
    }
    asm.finish()
}

/// Entries compared one after the other at the leaves of the search tree.
const LEAF_SIZE: usize = 4;

/// What the search tree tests: a run of consecutive syscall numbers whose unconditional
/// action is the same (an allowlist is mostly such runs), or one syscall with conditions.
enum Entry<'a> {
    Run {
        first: u32,
        last: u32,
        action: Action,
    },
    Conditional {
        number: u32,
        rules: &'a [Rule],
    },
}

impl Entry<'_> {
    fn first(&self) -> u32 {
        match self {
            Self::Run { first, .. } => *first,
            Self::Conditional { number, .. } => *number,
        }
    }
}

fn entries(rules: &BTreeMap<u32, Vec<Rule>>) -> Vec<Entry<'_>> {
    let mut entries: Vec<Entry<'_>> = Vec::new();
    for (number, rules) in rules {
        let unconditional = rules.iter().find(|rule| rule.conditions.is_empty());
        match (unconditional, entries.last_mut()) {
            (Some(rule), Some(Entry::Run { last, action, .. }))
                if *action == rule.action && last.checked_add(1) == Some(*number) =>
            {
                *last = *number;
            }
            (Some(rule), _) => entries.push(Entry::Run {
                first: *number,
                last: *number,
                action: rule.action,
            }),
            (None, _) => entries.push(Entry::Conditional {
                number: *number,
                rules,
            }),
        }
    }
    entries
}

fn section(
    asm: &mut Assembler,
    rules: &BTreeMap<u32, Vec<Rule>>,
    default_action: Action,
    enosys_above_known: bool,
) {
    // A holds nr here.
    if enosys_above_known {
        if let Some(highest) = rules.keys().next_back() {
            asm.branch(JGT_K, *highest, Jump::Next, Jump::Skip);
            asm.ret(Action::Errno(libc::ENOSYS as u16));
        }
    }
    let default = asm.label();
    search(asm, &entries(rules), default);
    asm.bind(default);
    asm.ret(default_action);
}

/// A binary search over the entries, sorted by number (about log2(n) comparisons instead of
/// n): `nr >= middle's first` jumps to the upper half, the lower half follows inline. Each
/// subtree is entered with A = nr and leaves, when nothing matched, by a jump to `default`.
fn search(asm: &mut Assembler, entries: &[Entry<'_>], default: Label) {
    if entries.len() <= LEAF_SIZE {
        leaf(asm, entries);
        asm.jump(default);
        return;
    }
    let middle = entries.len() / 2;
    let upper = asm.label();
    asm.branch(JGE_K, entries[middle].first(), Jump::Next, Jump::Skip);
    asm.jump(upper);
    search(asm, &entries[..middle], default);
    asm.bind(upper);
    search(asm, &entries[middle..], default);
}

/// Tests each entry in turn; falls through when none matched.
fn leaf(asm: &mut Assembler, entries: &[Entry<'_>]) {
    // Invariant: A holds nr unless `clobbered` (argument checks load the arguments).
    let mut clobbered = false;
    for entry in entries {
        if clobbered {
            asm.load(OFFSET_NR);
            clobbered = false;
        }
        match entry {
            Entry::Run {
                first,
                last,
                action,
            } if first == last => {
                asm.branch(JEQ_K, *first, Jump::Next, Jump::Skip);
                asm.ret(*action);
            }
            Entry::Run {
                first,
                last,
                action,
            } => {
                // first <= nr <= last: skip both the upper test and the ret when below.
                let after = asm.label();
                asm.branch(JGE_K, *first, Jump::Next, Jump::To(after));
                asm.branch(JGT_K, *last, Jump::Skip, Jump::Next);
                asm.ret(*action);
                asm.bind(after);
            }
            Entry::Conditional { number, rules } => {
                let next = asm.label();
                asm.branch(JEQ_K, *number, Jump::Skip, Jump::Next);
                asm.jump(next);
                for rule in *rules {
                    let fail = asm.label();
                    for condition in &rule.conditions {
                        compare(asm, condition, fail);
                    }
                    asm.ret(rule.action);
                    asm.bind(fail);
                }
                asm.bind(next);
                clobbered = true;
            }
        }
    }
}

/// Falls through when `condition` holds, jumps to `fail` when not.
fn compare(asm: &mut Assembler, condition: &Condition, fail: Label) {
    let low_offset = OFFSET_ARGS + 8 * u32::from(condition.index);
    let high_offset = low_offset + 4;
    let high = |value: u64| (value >> 32) as u32;
    let low = |value: u64| value as u32;
    let (value, fail) = (condition.value, Jump::To(fail));
    let pass = asm.label();
    let to_pass = Jump::To(pass);
    match condition.comparison {
        Comparison::Equal => {
            asm.load(high_offset);
            asm.branch(JEQ_K, high(value), Jump::Next, fail);
            asm.load(low_offset);
            asm.branch(JEQ_K, low(value), Jump::Next, fail);
        }
        Comparison::NotEqual => {
            asm.load(high_offset);
            asm.branch(JEQ_K, high(value), Jump::Next, to_pass);
            asm.load(low_offset);
            asm.branch(JEQ_K, low(value), fail, Jump::Next);
        }
        Comparison::MaskedEqual => {
            let expected = condition.value_two;
            asm.load(high_offset);
            asm.emit(AND_K, high(value));
            asm.branch(JEQ_K, high(expected), Jump::Next, fail);
            asm.load(low_offset);
            asm.emit(AND_K, low(value));
            asm.branch(JEQ_K, low(expected), Jump::Next, fail);
        }
        Comparison::Greater | Comparison::GreaterOrEqual => {
            let low_jump = if condition.comparison == Comparison::Greater {
                JGT_K
            } else {
                JGE_K
            };
            asm.load(high_offset);
            asm.branch(JGT_K, high(value), to_pass, Jump::Next);
            asm.branch(JEQ_K, high(value), Jump::Next, fail);
            asm.load(low_offset);
            asm.branch(low_jump, low(value), Jump::Next, fail);
        }
        Comparison::Less | Comparison::LessOrEqual => {
            // The negation of >= (for <) or > (for <=).
            let low_jump = if condition.comparison == Comparison::Less {
                JGE_K
            } else {
                JGT_K
            };
            asm.load(high_offset);
            asm.branch(JGT_K, high(value), fail, Jump::Next);
            asm.branch(JEQ_K, high(value), Jump::Next, to_pass);
            asm.load(low_offset);
            asm.branch(low_jump, low(value), fail, Jump::Next);
        }
    }
    asm.bind(pass);
}
