//! The two `bpf(2)` calls that put a device program on a cgroup: `BPF_PROG_LOAD` (the
//! verifier checks it; the kernel returns a program fd) and `BPF_PROG_ATTACH` to the cgroup's
//! directory fd as `BPF_CGROUP_DEVICE` with `BPF_F_ALLOW_MULTI`, so the programs of the
//! cgroups above (systemd's, a parent runtime's) keep applying too: a device is usable only
//! when every program from the root down allows it.
//!
//! The attachment holds the program: our fds are closed when this returns, and the kernel
//! frees the program when the cgroup is removed. The cgroup is new (made just before), so no
//! older program of ours is there to replace, unlike runc's update path.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::cgroup::device_filter::{program_bytes, Instruction};
use crate::cgroup::DeviceFilterError;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
/// As runc: the verifier asks for a GPL-compatible license only for helpers this program
/// never calls.
const LICENSE: &[u8] = b"Apache\0";
/// What `bpftool prog` shows (at most 15 bytes, `[A-Za-z0-9_.]`).
const NAME: &[u8] = b"hybridock_dev";
/// Room for the verifier's explanation of a refused program.
const LOG_SIZE: usize = 64 * 1024;

/// The `BPF_PROG_LOAD` part of `union bpf_attr`, up to `expected_attach_type` (Linux 4.15, as
/// `BPF_PROG_TYPE_CGROUP_DEVICE`); the kernel takes the fields it knows and zeroes the rest.
#[repr(C)]
#[derive(Default)]
struct ProgramLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_PROG_ATTACH` part of `union bpf_attr`.
#[repr(C)]
struct ProgramAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// # Safety
/// `attr` must be the `bpf_attr` variant that `command` reads, with every pointer in it valid
/// for the call.
unsafe fn bpf<T>(command: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: the caller vouches for attr; its size is passed, so the kernel reads no further.
    let result = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            std::ptr::from_mut(attr),
            std::mem::size_of::<T>(),
        )
    };
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// Loads `program`; a refusal carries the verifier's last words, asked for on a second try.
pub fn load(program: &[Instruction]) -> Result<OwnedFd, DeviceFilterError> {
    let bytes = program_bytes(program);
    let mut name = [0u8; 16];
    name[..NAME.len()].copy_from_slice(NAME);
    let attributes = |log: &mut [u8]| ProgramLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: program.len() as u32,
        insns: bytes.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        log_level: u32::from(!log.is_empty()),
        log_size: log.len() as u32,
        log_buf: if log.is_empty() {
            0
        } else {
            log.as_mut_ptr() as u64
        },
        prog_name: name,
        ..ProgramLoad::default()
    };
    let attempt = |log: &mut [u8]| {
        let mut attr = attributes(log);
        // SAFETY: a PROG_LOAD attr whose instructions, license and log outlive the call.
        let fd = unsafe { bpf(BPF_PROG_LOAD, &mut attr) }?;
        // SAFETY: the kernel just returned this fd to us; nobody else owns it.
        Ok::<_, io::Error>(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
    };
    let first = attempt(&mut []).or_else(|error| {
        // Before Linux 5.11 a program is charged to RLIMIT_MEMLOCK (runc raises it for good;
        // here only around the load, so the container does not inherit a raised limit).
        if error.raw_os_error() == Some(libc::EPERM) {
            with_unlimited_memlock(|| attempt(&mut []))
        } else {
            Err(error)
        }
    });
    first.map_err(|source| {
        let mut log = vec![0u8; LOG_SIZE];
        let verifier = match attempt(&mut log) {
            Ok(_) => String::new(), // refused once, accepted now: nothing to explain
            Err(_) => last_line(&log),
        };
        DeviceFilterError::Load { source, verifier }
    })
}

fn with_unlimited_memlock<T>(work: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    let mut saved = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: getrlimit/setrlimit read or fill the rlimit structs they are given.
    let raised = unsafe {
        libc::getrlimit(libc::RLIMIT_MEMLOCK, &raw mut saved) == 0
            && libc::setrlimit(libc::RLIMIT_MEMLOCK, &raw const unlimited) == 0
    };
    let result = work();
    if raised {
        // SAFETY: as above; the limit read before the raise.
        unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &raw const saved) };
    }
    result
}

fn last_line(log: &[u8]) -> String {
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    String::from_utf8_lossy(&log[..end])
        .lines()
        .rfind(|line| !line.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Attaches the loaded `program` to the cgroup `directory`.
pub fn attach(program: &OwnedFd, directory: &Path) -> Result<(), DeviceFilterError> {
    let attach_error = |source| DeviceFilterError::Attach {
        directory: directory.to_path_buf(),
        source,
    };
    let path = CString::new(directory.as_os_str().as_bytes())
        .map_err(|_| attach_error(io::Error::from_raw_os_error(libc::EINVAL)))?;
    // SAFETY: a NUL-terminated path; the returned fd is checked before it is owned.
    let raw = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(attach_error(io::Error::last_os_error()));
    }
    // SAFETY: open just returned this fd to us.
    let cgroup = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut attr = ProgramAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    // SAFETY: a PROG_ATTACH attr of two fds we hold open for the call.
    unsafe { bpf(BPF_PROG_ATTACH, &mut attr) }.map_err(attach_error)?;
    Ok(())
}
