//! Setup stages and the spawner's error type.
//!
//! A child failure travels to the parent as a fixed-size [`FailureRecord`] (stage, errno, step
//! index) written on a CLOEXEC pipe; the parent turns it into [`SpawnError::Child`], whose
//! exit code follows docker: 127 when the command was not found, 126 when it exists but cannot
//! be executed, 125 for any failure of hybridock's own setup.

use std::fmt;

/// The setup step a child failure happened in; `u32` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Stage {
    Prepare = 1,
    Cgroup = 2,
    Rootfs = 3,
    Mount = 4,
    Devices = 5,
    PivotRoot = 6,
    MaskPaths = 7,
    Hostname = 8,
    Rlimits = 9,
    Capabilities = 10,
    User = 11,
    Cwd = 12,
    Stdio = 13,
    CloseFds = 14,
    NoNewPrivs = 15,
    Exec = 16,
    /// Joining an existing container's namespaces (`exec`).
    Namespaces = 17,
    /// Installing the seccomp filter.
    Seccomp = 18,
    /// The network namespace's own setup (its loopback up).
    Network = 19,
    /// Writing the container's namespaced sysctls.
    Sysctl = 20,
    /// Waiting at the exec fifo (OCI `create`); with errno 0 the "ready" record.
    StartGate = 21,
}

impl Stage {
    const ALL: [Self; 21] = [
        Self::Prepare,
        Self::Cgroup,
        Self::Rootfs,
        Self::Mount,
        Self::Devices,
        Self::PivotRoot,
        Self::MaskPaths,
        Self::Hostname,
        Self::Rlimits,
        Self::Capabilities,
        Self::User,
        Self::Cwd,
        Self::Stdio,
        Self::CloseFds,
        Self::NoNewPrivs,
        Self::Exec,
        Self::Namespaces,
        Self::Seccomp,
        Self::Network,
        Self::Sysctl,
        Self::StartGate,
    ];

    #[must_use]
    pub fn from_wire(value: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|stage| *stage as u32 == value)
    }

    /// The name Python sees as `SpawnError.stage`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Prepare => "prepare",
            Self::Cgroup => "cgroup",
            Self::Rootfs => "rootfs",
            Self::Mount => "mount",
            Self::Devices => "devices",
            Self::PivotRoot => "pivot_root",
            Self::MaskPaths => "mask_paths",
            Self::Hostname => "hostname",
            Self::Rlimits => "rlimits",
            Self::Capabilities => "capabilities",
            Self::User => "user",
            Self::Cwd => "cwd",
            Self::Stdio => "stdio",
            Self::CloseFds => "close_fds",
            Self::NoNewPrivs => "no_new_privs",
            Self::Exec => "exec",
            Self::Namespaces => "namespaces",
            Self::Seccomp => "seccomp",
            Self::Network => "network",
            Self::Sysctl => "sysctl",
            Self::StartGate => "start_gate",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// What the child writes before `_exit(1)`: native-endian `u32` stage, `i32` errno, `u32`
/// index of the failed step in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureRecord {
    pub stage: Stage,
    pub errno: i32,
    pub step: u32,
}

impl FailureRecord {
    pub const SIZE: usize = 12;

    #[must_use]
    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut bytes = [0u8; Self::SIZE];
        bytes[0..4].copy_from_slice(&(self.stage as u32).to_ne_bytes());
        bytes[4..8].copy_from_slice(&self.errno.to_ne_bytes());
        bytes[8..12].copy_from_slice(&self.step.to_ne_bytes());
        bytes
    }

    #[must_use]
    pub fn from_bytes(bytes: [u8; Self::SIZE]) -> Option<Self> {
        let word = |range: std::ops::Range<usize>| {
            let mut four = [0u8; 4];
            four.copy_from_slice(&bytes[range]);
            four
        };
        Some(Self {
            stage: Stage::from_wire(u32::from_ne_bytes(word(0..4)))?,
            errno: i32::from_ne_bytes(word(4..8)),
            step: u32::from_ne_bytes(word(8..12)),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The spec cannot be used (caught before anything is cloned).
    #[error("invalid spawn spec: {field}: {reason}")]
    InvalidSpec { field: &'static str, reason: String },
    /// The parent's own preparation failed (pipe, stack, clone, reading the pipe).
    #[error("{operation} failed: {source}")]
    Parent {
        operation: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The container's first process is gone (`exec` into a stopped container).
    #[error("container process {pid} is not running")]
    NotRunning { pid: libc::pid_t },
    /// The child reported a failure before exec.
    #[error("{}", child_message(*.stage, *.errno, .detail, .command))]
    Child {
        stage: Stage,
        errno: i32,
        /// What the failed step was doing ("mount /data", "chdir /nope").
        detail: String,
        /// `argv[0]` as given.
        command: String,
    },
}

impl SpawnError {
    /// docker's exit code for this failure.
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Child {
                stage: Stage::Exec,
                errno,
                ..
            } => exec_exit_code(*errno),
            _ => 125,
        }
    }

    /// The stage name for `SpawnError.stage` ("spec" and "clone" for parent-side failures).
    #[must_use]
    pub fn stage_name(&self) -> &'static str {
        match self {
            Self::InvalidSpec { .. } => "spec",
            Self::Parent { .. } => "clone",
            Self::NotRunning { .. } => "namespaces",
            Self::Child { stage, .. } => stage.name(),
        }
    }
}

fn exec_exit_code(errno: i32) -> i32 {
    match errno {
        libc::ENOENT | libc::ENOTDIR => 127,
        libc::EACCES | libc::ENOEXEC | libc::EISDIR | libc::EPERM => 126,
        _ => 125,
    }
}

/// `strerror` text without the " (os error N)" suffix.
#[must_use]
pub fn describe_errno(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_lowercase(),
        None => text,
    }
}

fn child_message(stage: Stage, errno: i32, detail: &str, command: &str) -> String {
    let reason = describe_errno(errno);
    if stage == Stage::Exec {
        let not_found = exec_exit_code(errno) == 127;
        if not_found && !command.contains('/') {
            return format!("exec: {command:?}: executable file not found in $PATH");
        }
        return format!("exec: {command:?}: {reason}");
    }
    if detail.is_empty() {
        format!("setup of {stage} failed: {reason}")
    } else {
        format!("setup of {stage} failed: {detail}: {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(stage: Stage, errno: i32, detail: &str, command: &str) -> SpawnError {
        SpawnError::Child {
            stage,
            errno,
            detail: detail.into(),
            command: command.into(),
        }
    }

    #[test]
    fn exit_codes_and_messages() {
        let cases = [
            (
                "not found in PATH",
                child(Stage::Exec, libc::ENOENT, "", "foo"),
                127,
                "exec: \"foo\": executable file not found in $PATH",
            ),
            (
                "absolute path missing",
                child(Stage::Exec, libc::ENOENT, "", "/bin/foo"),
                127,
                "exec: \"/bin/foo\": no such file or directory",
            ),
            (
                "not executable",
                child(Stage::Exec, libc::EACCES, "", "/etc/passwd"),
                126,
                "exec: \"/etc/passwd\": permission denied",
            ),
            (
                "bad format",
                child(Stage::Exec, libc::ENOEXEC, "", "/x"),
                126,
                "exec: \"/x\": exec format error",
            ),
            (
                "directory",
                child(Stage::Exec, libc::EISDIR, "", "/x"),
                126,
                "exec: \"/x\": is a directory",
            ),
            (
                "bad cwd",
                child(Stage::Cwd, libc::ENOENT, "chdir /nope", "sh"),
                125,
                "setup of cwd failed: chdir /nope: no such file or directory",
            ),
            (
                "mount",
                child(Stage::Mount, libc::EPERM, "", "sh"),
                125,
                "setup of mount failed: operation not permitted",
            ),
            (
                "exec other errno",
                child(Stage::Exec, libc::E2BIG, "", "sh"),
                125,
                "exec: \"sh\": argument list too long",
            ),
        ];
        for (name, error, code, message) in cases {
            assert_eq!(error.exit_code(), code, "{name}");
            assert_eq!(error.to_string(), message, "{name}");
        }
    }

    #[test]
    fn every_stage_round_trips_on_the_wire() {
        for stage in Stage::ALL {
            assert_eq!(
                Stage::from_wire(stage as u32),
                Some(stage),
                "{}",
                stage.name()
            );
        }
        let numbers: Vec<u32> = Stage::ALL.iter().map(|stage| *stage as u32).collect();
        assert_eq!(numbers, (1..=21).collect::<Vec<_>>());
        assert_eq!(Stage::Namespaces as u32, 17);
        assert_eq!(Stage::Seccomp as u32, 18);
        assert_eq!(Stage::Seccomp.name(), "seccomp");
        assert_eq!(Stage::from_wire(0), None);
        assert_eq!(Stage::Sysctl.name(), "sysctl");
        assert_eq!(Stage::from_wire(22), None);
    }

    #[test]
    fn record_round_trip() {
        let record = FailureRecord {
            stage: Stage::PivotRoot,
            errno: libc::EINVAL,
            step: 17,
        };
        assert_eq!(FailureRecord::from_bytes(record.to_bytes()), Some(record));
        assert_eq!(FailureRecord::from_bytes([0; FailureRecord::SIZE]), None);
    }
}
