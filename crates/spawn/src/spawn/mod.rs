//! The native container spawner: one fully-built [`Spec`] in, the pid of the container's first
//! process out, once that process has exec'd its command.
//!
//! Flow: [`plan::plan`] validates the spec and turns it into the ordered list of operations
//! the child performs (every C string and pointer array allocated here, before `clone`);
//! [`clone::spawn_plan`] clones the child into new namespaces and waits on a CLOEXEC pipe;
//! [`child::execute`] runs the operations through the [`syscall::Syscall`] trait with raw
//! system calls only, and reports a failure as a fixed-size (stage, errno, step) record.
//! The ordering is unit-tested with the recording fake in [`fake`]; see `plan.rs` for the
//! order and its reasons, `mounts.rs` for how targets stay inside the rootfs. [`exec::exec_in`]
//! starts another process in a running container with the same machinery (its own plan
//! prefix joins the container's namespaces; the process tail is shared).
//!
//! Invariants: nothing is mounted on the host (every mount is made inside the child's new
//! mount namespace, below a `/` made rslave); the child is a direct child of the caller and
//! pid 1 of its pid namespace; the caller reaps it (`waitpid`) once `spawn` returned its pid,
//! and `spawn` reaps it itself when it failed before exec.

pub mod child;
pub mod clone;
pub mod errors;
pub mod exec;
pub mod fake;
pub mod mounts;
pub mod namespaces;
pub mod plan;
pub mod spec;
pub mod syscall;

#[cfg(test)]
mod tests;

pub use clone::Spawned;
pub use errors::{SpawnError, Stage};
pub use exec::{exec_in, ExecSpec};
pub use spec::{
    BindMount, CapabilitySets, CgroupSource, CgroupView, DeviceNode, EtcFiles, IdMap, MountsMode,
    NamespaceKind, Namespaces, OciMount, Rlimit, Rootfs, Spec, TmpfsMount, UserNamespace,
};

/// Starts the container process described by `spec`; returns its pid (and, with `tty`, the
/// pty master) after a successful exec, or, with a `start_gate`, once the child waits at it.
pub fn spawn(spec: &Spec) -> Result<Spawned, SpawnError> {
    let mut opened = Vec::new();
    for (kind, path) in &spec.join_namespaces {
        let file = std::fs::File::open(path).map_err(|source| SpawnError::Parent {
            operation: "opening a namespace to join",
            source,
        })?;
        opened.push((*kind, std::os::fd::OwnedFd::from(file)));
    }
    let joined: Vec<_> = opened
        .iter()
        .map(|(kind, fd)| (*kind, std::os::fd::AsRawFd::as_raw_fd(fd)))
        .collect();
    let plan = plan::plan_joining(spec, &joined)?;
    let spawned = clone::spawn_plan(&plan);
    drop(opened);
    spawned
}
