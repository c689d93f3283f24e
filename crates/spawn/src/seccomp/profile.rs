//! docker's seccomp profile format (moby's `profiles/seccomp` types) parsed and resolved for one
//! host: which architectures the filter covers, and per architecture the rules that apply to
//! this container, keyed by syscall number.
//!
//! Resolution follows docker and runc, so a profile written for docker means the same here:
//! - a rule is kept only when its `includes` hold and its `excludes` do not: `caps` against the
//!   container's capability set (every listed capability must be held to include, any one
//!   held excludes), `arches` against the host's native name (`amd64`, `arm64`), `minKernel`
//!   against the running kernel;
//! - a rule whose action equals the default action is dropped (runc: it can change nothing,
//!   and libseccomp refuses it);
//! - the conditions of one rule are `AND`ed, except that several conditions on the same argument
//!   become one rule each (`OR`ed), as runc does because libseccomp cannot `AND` them;
//! - a syscall name this architecture does not have is skipped (a profile names syscalls of
//!   every architecture at once);
//! - the filtered architectures are the native one, plus the sub-architectures `archMap` gives
//!   for it, plus those named in `architectures`, limited to the ones that can occur on this
//!   host and that hybridock has a syscall table for (`x86_64` with x86 and x32; aarch64).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::seccomp::tables;
use crate::seccomp::SeccompError;

/// What the filter returns for a system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    KillThread,
    KillProcess,
    Trap,
    Errno(u16),
    Trace(u16),
    Log,
    Allow,
}

impl Action {
    /// The `SECCOMP_RET_*` value the BPF program returns.
    #[must_use]
    pub fn return_value(self) -> u32 {
        match self {
            Self::KillThread => 0,
            Self::KillProcess => 0x8000_0000,
            Self::Trap => 0x0003_0000,
            Self::Errno(errno) => 0x0005_0000 | u32::from(errno),
            Self::Trace(message) => 0x7ff0_0000 | u32::from(message),
            Self::Log => 0x7ffc_0000,
            Self::Allow => 0x7fff_0000,
        }
    }

    fn parse(field: &'static str, name: &str, errno: Option<u32>) -> Result<Self, SeccompError> {
        let data = || -> Result<u16, SeccompError> {
            match errno {
                None => Ok(libc::EPERM as u16),
                Some(value) if value <= 4095 => Ok(value as u16),
                Some(value) => Err(invalid(field, format!("errno {value} is out of range"))),
            }
        };
        let action = match name {
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Self::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Self::KillProcess,
            "SCMP_ACT_TRAP" => Self::Trap,
            "SCMP_ACT_ERRNO" => return Ok(Self::Errno(data()?)),
            "SCMP_ACT_TRACE" => return Ok(Self::Trace(data()?)),
            "SCMP_ACT_LOG" => Self::Log,
            "SCMP_ACT_ALLOW" => Self::Allow,
            "SCMP_ACT_NOTIFY" => {
                return Err(invalid(
                    field,
                    "SCMP_ACT_NOTIFY is not supported".to_owned(),
                ))
            }
            other => return Err(invalid(field, format!("unknown action {other:?}"))),
        };
        if errno.is_some() {
            return Err(invalid(
                field,
                format!("errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {name}"),
            ));
        }
        Ok(action)
    }
}

/// A comparison of one 64-bit syscall argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    /// `(argument & value) == value_two`.
    MaskedEqual,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Condition {
    pub index: u8,
    pub comparison: Comparison,
    pub value: u64,
    pub value_two: u64,
}

/// One rule for one syscall: all conditions hold -> `action`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub conditions: Vec<Condition>,
    pub action: Action,
}

/// An architecture the filter can cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Arch {
    X86_64,
    X86,
    X32,
    Aarch64,
}

impl Arch {
    /// The architecture this code was built for, when hybridock can filter it.
    #[must_use]
    pub fn native() -> Option<Self> {
        if cfg!(target_arch = "x86_64") {
            Some(Self::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Self::Aarch64)
        } else {
            None
        }
    }

    /// `AUDIT_ARCH_*`, what the kernel puts in `seccomp_data.arch`.
    #[must_use]
    pub fn audit(self) -> u32 {
        match self {
            Self::X86_64 | Self::X32 => 0xC000_003E,
            Self::X86 => 0x4000_0003,
            Self::Aarch64 => 0xC000_00B7,
        }
    }

    /// docker's name of a native architecture in `includes.arches` (Go's GOARCH).
    fn docker_name(self) -> &'static str {
        match self {
            Self::X86_64 => "amd64",
            Self::X86 => "x86",
            Self::X32 => "x32",
            Self::Aarch64 => "arm64",
        }
    }

    fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Self::X86_64 => tables::X86_64,
            Self::X86 => tables::X86,
            Self::X32 => tables::X32,
            Self::Aarch64 => tables::AARCH64,
        }
    }

    /// The syscall number of `name` on this architecture.
    #[must_use]
    pub fn syscall(self, name: &str) -> Option<u32> {
        let table = self.table();
        table
            .binary_search_by(|(entry, _)| (*entry).cmp(name))
            .ok()
            .map(|index| table[index].1)
    }

    /// The architectures a native one runs system calls of.
    fn family(self) -> &'static [Self] {
        match self {
            Self::X86_64 | Self::X86 | Self::X32 => &[Self::X86_64, Self::X86, Self::X32],
            Self::Aarch64 => &[Self::Aarch64],
        }
    }

    fn from_scmp(field: &'static str, name: &str) -> Result<Option<Self>, SeccompError> {
        Ok(Some(match name {
            "SCMP_ARCH_X86_64" => Self::X86_64,
            "SCMP_ARCH_X86" => Self::X86,
            "SCMP_ARCH_X32" => Self::X32,
            "SCMP_ARCH_AARCH64" => Self::Aarch64,
            // Known to docker, but without a table here: never filtered, so their system
            // calls get the bad-architecture action.
            "SCMP_ARCH_ARM"
            | "SCMP_ARCH_MIPS"
            | "SCMP_ARCH_MIPS64"
            | "SCMP_ARCH_MIPS64N32"
            | "SCMP_ARCH_MIPSEL"
            | "SCMP_ARCH_MIPSEL64"
            | "SCMP_ARCH_MIPSEL64N32"
            | "SCMP_ARCH_PPC"
            | "SCMP_ARCH_PPC64"
            | "SCMP_ARCH_PPC64LE"
            | "SCMP_ARCH_S390"
            | "SCMP_ARCH_S390X"
            | "SCMP_ARCH_PARISC"
            | "SCMP_ARCH_PARISC64"
            | "SCMP_ARCH_RISCV64"
            | "SCMP_ARCH_LOONGARCH64"
            | "SCMP_ARCH_M68K"
            | "SCMP_ARCH_SH"
            | "SCMP_ARCH_SHEB" => return Ok(None),
            other => return Err(invalid(field, format!("unknown architecture {other:?}"))),
        }))
    }
}

/// What the profile is resolved against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Host {
    pub arch: Arch,
    /// The container's capability bit mask (its bounding set).
    pub capabilities: u64,
    /// The running kernel's (major, minor).
    pub kernel: (u32, u32),
}

/// A profile resolved for one host: the default action and, per filtered architecture, the
/// rules of each syscall number in profile order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub default_action: Action,
    pub sections: Vec<(Arch, BTreeMap<u32, Vec<Rule>>)>,
}

// --- the JSON format ------------------------------------------------------------------------

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileJson {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    architectures: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    arch_map: Vec<ArchMapJson>,
    #[serde(default, deserialize_with = "null_as_default")]
    syscalls: Vec<SyscallJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMapJson {
    architecture: String,
    #[serde(default, deserialize_with = "null_as_default")]
    sub_architectures: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SyscallJson {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    names: Vec<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    args: Vec<ArgJson>,
    #[serde(default, deserialize_with = "null_as_default")]
    includes: FilterJson,
    #[serde(default, deserialize_with = "null_as_default")]
    excludes: FilterJson,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArgJson {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterJson {
    #[serde(default, deserialize_with = "null_as_default")]
    caps: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    arches: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// Parses `text` (docker's profile JSON) and resolves it for `host`.
pub fn resolve(text: &str, host: &Host) -> Result<Resolved, SeccompError> {
    let profile: ProfileJson =
        serde_json::from_str(text).map_err(|source| SeccompError::Json { source })?;
    // docker ignores defaultErrnoRet when the default action takes no errno.
    let default_errno = match profile.default_action.as_str() {
        "SCMP_ACT_ERRNO" | "SCMP_ACT_TRACE" => profile.default_errno_ret,
        _ => None,
    };
    let default_action = Action::parse("defaultAction", &profile.default_action, default_errno)?;
    let arches = architectures(&profile, host.arch)?;
    let mut rules: Vec<(Vec<String>, Rule)> = Vec::new();
    for (position, syscall) in profile.syscalls.iter().enumerate() {
        let action = Action::parse("syscalls.action", &syscall.action, syscall.errno_ret)?;
        let conditions = conditions(&syscall.args)?;
        let names: Vec<String> = syscall.name.iter().chain(&syscall.names).cloned().collect();
        if names.is_empty() {
            return Err(invalid(
                "syscalls.names",
                format!("rule {position} names no syscall"),
            ));
        }
        if action == default_action || !applies(syscall, host)? {
            continue;
        }
        for conditions in split_same_argument(conditions) {
            rules.push((names.clone(), Rule { conditions, action }));
        }
    }
    let sections = arches
        .into_iter()
        .map(|arch| {
            let mut by_number: BTreeMap<u32, Vec<Rule>> = BTreeMap::new();
            for (names, rule) in &rules {
                for number in names.iter().filter_map(|name| arch.syscall(name)) {
                    by_number.entry(number).or_default().push(rule.clone());
                }
            }
            (arch, by_number)
        })
        .collect();
    Ok(Resolved {
        default_action,
        sections,
    })
}

fn architectures(profile: &ProfileJson, native: Arch) -> Result<Vec<Arch>, SeccompError> {
    if !profile.architectures.is_empty() && !profile.arch_map.is_empty() {
        return Err(invalid(
            "architectures",
            "give either 'architectures' or 'archMap', not both".to_owned(),
        ));
    }
    let mut names: Vec<&String> = profile.architectures.iter().collect();
    for entry in &profile.arch_map {
        if Arch::from_scmp("archMap", &entry.architecture)? == Some(native) {
            names.extend(&entry.sub_architectures);
        }
    }
    let mut arches = vec![native];
    for name in names {
        if let Some(arch) = Arch::from_scmp("architectures", name)? {
            if native.family().contains(&arch) && !arches.contains(&arch) {
                arches.push(arch);
            }
        }
    }
    Ok(arches)
}

fn conditions(args: &[ArgJson]) -> Result<Vec<Condition>, SeccompError> {
    args.iter()
        .map(|arg| {
            if arg.index > 5 {
                return Err(invalid(
                    "syscalls.args.index",
                    format!("argument index {} is not 0 to 5", arg.index),
                ));
            }
            let comparison = match arg.op.as_str() {
                "SCMP_CMP_EQ" => Comparison::Equal,
                "SCMP_CMP_NE" => Comparison::NotEqual,
                "SCMP_CMP_LT" => Comparison::Less,
                "SCMP_CMP_LE" => Comparison::LessOrEqual,
                "SCMP_CMP_GT" => Comparison::Greater,
                "SCMP_CMP_GE" => Comparison::GreaterOrEqual,
                "SCMP_CMP_MASKED_EQ" => Comparison::MaskedEqual,
                other => {
                    return Err(invalid(
                        "syscalls.args.op",
                        format!("unknown operator {other:?}"),
                    ))
                }
            };
            Ok(Condition {
                index: arg.index as u8,
                comparison,
                value: arg.value,
                value_two: arg.value_two,
            })
        })
        .collect()
}

/// runc's rule: conditions on distinct arguments are `AND`ed in one rule; when one argument has
/// several, each condition becomes its own rule.
fn split_same_argument(conditions: Vec<Condition>) -> Vec<Vec<Condition>> {
    let repeated = conditions.iter().enumerate().any(|(position, condition)| {
        conditions[..position]
            .iter()
            .any(|earlier| earlier.index == condition.index)
    });
    if repeated {
        conditions.into_iter().map(|one| vec![one]).collect()
    } else {
        vec![conditions]
    }
}

fn applies(syscall: &SyscallJson, host: &Host) -> Result<bool, SeccompError> {
    let native = host.arch.docker_name();
    let (includes, excludes) = (&syscall.includes, &syscall.excludes);
    if excludes.arches.iter().any(|arch| arch == native) {
        return Ok(false);
    }
    if !includes.arches.is_empty() && !includes.arches.iter().any(|arch| arch == native) {
        return Ok(false);
    }
    let held = |name: &String| {
        capability_number(name).is_some_and(|bit| host.capabilities & (1u64 << bit) != 0)
    };
    if excludes.caps.iter().any(held) || !includes.caps.iter().all(held) {
        return Ok(false);
    }
    if let Some(minimum) = &excludes.min_kernel {
        if host.kernel >= kernel_version(minimum)? {
            return Ok(false);
        }
    }
    if let Some(minimum) = &includes.min_kernel {
        if host.kernel < kernel_version(minimum)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// "4.8" -> (4, 8), as moby's `parseKernelVersion` ("major.minor").
pub fn kernel_version(text: &str) -> Result<(u32, u32), SeccompError> {
    let bad = || invalid("minKernel", format!("invalid kernel version {text:?}"));
    let (major, minor) = text.split_once('.').ok_or_else(bad)?;
    Ok((
        major.parse().map_err(|_| bad())?,
        minor.parse().map_err(|_| bad())?,
    ))
}

/// Linux capability names (capability.h) without `CAP_`, by number: the one table hybridock
/// has (the Python side reads it as `_native.CAPABILITY_NAMES`).
pub const CAPABILITY_NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The number of a `CAP_*` name (capability.h), case-insensitive, `CAP_` optional.
#[must_use]
pub fn capability_number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    CAPABILITY_NAMES
        .iter()
        .position(|candidate| *candidate == bare)
        .map(|index| index as u32)
}

fn invalid(field: &'static str, reason: String) -> SeccompError {
    SeccompError::InvalidProfile { field, reason }
}
