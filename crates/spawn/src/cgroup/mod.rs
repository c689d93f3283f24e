//! Device access for containers on cgroup v2. Docker's capability set includes `CAP_MKNOD`, so a
//! container can make a node of any device (the host's disk); what stops it from opening one is
//! the devices cgroup. v1 has control files for it (`devices.allow`, written from Python); v2
//! has none: docker's runc attaches a `BPF_PROG_TYPE_CGROUP_DEVICE` program to the container's
//! cgroup, which the kernel runs on every open and mknod of a device node by a process in the
//! cgroup or below, and which allows or refuses it (EPERM).
//!
//! This module makes that program from docker-shaped rules, the way runc does: the rules are
//! first reduced to the state a v1 devices cgroup would be in ([`device_rules`]: a default and
//! exceptions, `a` resets, access merges), which is then compiled ([`device_filter`]), so v1's
//! files and v2's program decide the same; then loaded and attached ([`bpf`]).
//!
//! Invariants: an empty rule list denies everything (a rule list that says nothing grants
//! nothing); a rule that v1 would silently ignore (a hole in a wildcard exception) is an
//! error, not a program that seems to honour it; the program is built before any syscall, so a
//! rule error never leaves a half-confined cgroup.

pub mod bpf;
pub mod device_filter;
pub mod device_rules;

#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};

pub use device_filter::{compile, Instruction};
pub use device_rules::{Access, DeviceState, DeviceType, Devices, Rule};

/// A rule that cannot be used, or a program the kernel would not take or attach.
#[derive(Debug, thiserror::Error)]
pub enum DeviceFilterError {
    #[error("invalid device rule {rule:?}: {reason}")]
    InvalidRule { rule: String, reason: String },
    #[error("device rule {rule} would punch a hole in the wildcard rule {wildcard}, which cgroup v1 ignores")]
    HoleInWildcard { rule: String, wildcard: String },
    #[error(
        "cannot load the cgroup device program: {}{}",
        strerror(source),
        detail(source, verifier)
    )]
    Load {
        #[source]
        source: io::Error,
        verifier: String,
    },
    #[error("cannot attach the device program to {}: {}", directory.display(), strerror(source))]
    Attach {
        directory: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// "Operation not permitted", without `io::Error`'s " (os error 1)".
fn strerror(source: &io::Error) -> String {
    let text = source.to_string();
    text.split(" (os error").next().unwrap_or(&text).to_owned()
}

/// Why a load failed, where the errno alone does not say: the verifier's words, or the kernel
/// feature that is missing (it refuses an unknown program type before any verifying).
fn detail(source: &io::Error, verifier: &str) -> String {
    match source.raw_os_error() {
        _ if !verifier.is_empty() => format!(" (verifier: {verifier})"),
        Some(libc::ENOSYS) => " (this kernel has no bpf(2): CONFIG_BPF_SYSCALL)".to_owned(),
        Some(libc::EINVAL) => {
            " (this kernel has no cgroup device programs: CONFIG_CGROUP_BPF)".to_owned()
        }
        _ => String::new(),
    }
}

impl DeviceFilterError {
    /// The errno of a failed `bpf(2)` call; `None` for a rule error.
    #[must_use]
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Load { source, .. } | Self::Attach { source, .. } => source.raw_os_error(),
            Self::InvalidRule { .. } | Self::HoleInWildcard { .. } => None,
        }
    }
}

/// Parses `(rule, allow)` pairs in the v1 files' syntax (`c 1:3 rwm`, `a`).
pub fn parse_rules<'a>(
    rules: impl IntoIterator<Item = (&'a str, bool)>,
) -> Result<Vec<Rule>, DeviceFilterError> {
    rules
        .into_iter()
        .map(|(text, allow)| Rule::parse(text, allow))
        .collect()
}

/// Confines the cgroup `directory` to the devices `rules` allow (applied in order, from deny
/// all): compiles, loads and attaches the program.
pub fn attach_device_filter(directory: &Path, rules: &[Rule]) -> Result<(), DeviceFilterError> {
    let program = compile(&DeviceState::of(rules)?);
    let loaded = bpf::load(&program)?;
    bpf::attach(&loaded, directory)
}
