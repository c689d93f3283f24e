//! The OCI runtime-spec 1.x side of the core: `config.json`'s types ([`config`]) and their
//! translation into a [`crate::spawn::Spec`] (for `create`/`run`) or
//! [`crate::spawn::ExecSpec`] (for `exec`) ([`translate`]), which the `hybridock-runtime`
//! binary runs.
//!
//! Interface notes for the runtime (differences from contract-16.md):
//! - `Context::console_socket` is not used by the translation: with `process.terminal` the
//!   child sends the pty master to `spawn` (as for `hybridock run -t`), which returns it in
//!   `Spawned::terminal`; the runtime forwards it on the console socket (runc's protocol).
//! - `spawn::spawn` with a `start_gate` returns at the child's "ready" record; a command that
//!   is not found fails there (`SpawnError::Child`, stage `exec`). Past the gate, a failed
//!   `execve` writes `hybridock-runtime: exec CMD: REASON` on the process's stderr and exits
//!   127 (not found) or 126 (not executable), as runc's `exec failed`.
//! - A new user namespace with `uidMappings`/`gidMappings`: `spawn` writes the maps, joins the
//!   child to `Context::cgroup_join` by pid, and chowns the exec fifo to the mapped root
//!   itself; the rootfs must belong to the mapped root (the caller's job, as with runc).
//!   `exec` joins the container's user namespace first on its own. A user namespace joined
//!   by path owns the namespaces made after it (its maps are its own; the config's are not
//!   written); the exec fifo is then not chowned (no map is known): make it 0622, as runc.
//! - Time namespaces are refused (`OciError::Unsupported`);
//!   `domainname`, `intelRdt`, `personality`, idmapped mounts likewise; `tmpcopyup` is
//!   ignored.
//! - `Config::parse(bytes)` exists beside `Config::load(bundle)` (for `exec --process`).

pub mod config;
pub mod mounts;
pub mod translate;

#[cfg(test)]
mod tests;

pub use config::{
    Box_, Capabilities, Config, Device, Hook, Hooks, IdMapping, Linux, Mount, Namespace, OciError,
    PosixRlimit, Process, Resources, Root, Seccomp, User,
};
pub use translate::{exec_spec_for, spec_for, Context};
