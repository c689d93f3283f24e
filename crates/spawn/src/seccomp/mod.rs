//! Seccomp for containers, with docker's behaviour: a profile in docker's JSON format
//! ([`profile`]) resolved for this host and container (architecture, capabilities, kernel) and
//! compiled to a classic BPF program ([`bpf`]) that the spawner installs in the child right
//! before `execve`. Syscall numbers come from [`tables`], generated from the kernel headers.
//!
//! Pure Rust, no libseccomp: the wheel needs no system library, and the compiled program is a
//! plain `Vec<SockFilter>` built before `clone`, so the child only makes one `seccomp(2)` call.
//!
//! Invariants: the program always checks `seccomp_data.arch` first (a foreign ABI is killed,
//! never matched against another ABI's numbers); it never exceeds `BPF_MAXINSNS`; an invalid
//! profile is an error here, never a filter that silently allows more than it says.

pub mod bpf;
pub mod profile;
#[allow(clippy::unreadable_literal)] // generated
pub mod tables;

#[cfg(test)]
mod tests;

pub use bpf::{program_bytes, SockFilter};
pub use profile::{Arch, Host, CAPABILITY_NAMES};

/// A profile that cannot be used, or a program the kernel would refuse.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("invalid seccomp profile: {source}")]
    Json {
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid seccomp profile: {field}: {reason}")]
    InvalidProfile { field: &'static str, reason: String },
    #[error("seccomp filter too large: {instructions} instructions")]
    TooLarge { instructions: usize },
    #[error("invalid seccomp program: {length} bytes is not a whole number of instructions")]
    InvalidProgram { length: usize },
    #[error("seccomp is not supported on this architecture")]
    UnsupportedArchitecture,
}

impl Host {
    /// This machine: its native architecture and running kernel, with the container's
    /// capability mask.
    pub fn current(capabilities: u64) -> Result<Self, SeccompError> {
        let arch = Arch::native().ok_or(SeccompError::UnsupportedArchitecture)?;
        Ok(Self {
            arch,
            capabilities,
            kernel: running_kernel(),
        })
    }
}

/// (major, minor) of the running kernel; (0, 0) when uname cannot tell, which makes every
/// `minKernel` rule fail closed (not included).
fn running_kernel() -> (u32, u32) {
    // SAFETY: uname fills the zeroed struct it is given; release is NUL-terminated.
    let release = unsafe {
        let mut name: libc::utsname = std::mem::zeroed();
        if libc::uname(&raw mut name) != 0 {
            return (0, 0);
        }
        std::ffi::CStr::from_ptr(name.release.as_ptr())
            .to_string_lossy()
            .into_owned()
    };
    let mut numbers = release.split(|c: char| !c.is_ascii_digit());
    let mut next = || {
        numbers
            .next()
            .and_then(|part| part.parse().ok())
            .unwrap_or(0)
    };
    (next(), next())
}

/// Compiles docker's profile JSON for `host` into a BPF program.
pub fn compile(profile_json: &str, host: &Host) -> Result<Vec<SockFilter>, SeccompError> {
    let resolved = profile::resolve(profile_json, host)?;
    bpf::compile(&resolved)
}
