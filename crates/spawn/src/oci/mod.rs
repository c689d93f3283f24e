//! The OCI runtime-spec 1.x side of the core: `config.json`'s types ([`config`]) and their
//! translation into a [`crate::spawn::Spec`] (for `create`/`run`) or
//! [`crate::spawn::ExecSpec`] (for `exec`) ([`translate`]), which the `hybridock-runtime`
//! binary runs.
//!
//! What the runtime relies on:
//! - With `process.terminal` the child sends the pty master to `spawn` (as for
//!   `hybridock run -t`), which returns it in `Spawned::terminal`; the runtime forwards it on
//!   the console socket (runc's protocol). `Context::console_socket` is not read here.
//! - `spawn::spawn` with a `start_gate` returns at the child's "ready" record; a command that
//!   is not found fails there (`SpawnError::Child`, stage `exec`). Past the gate, a failed
//!   `execve` writes `hybridock-runtime: exec CMD: REASON` on the process's stderr and exits
//!   127 (not found) or 126 (not executable), as runc's `exec failed`.
//! - A new user namespace with `uidMappings`/`gidMappings`: `spawn` writes the maps, joins the
//!   child to `Context::cgroup_join` by pid, and chowns the exec fifo to the mapped root
//!   itself; the rootfs must belong to the mapped root (the caller's job, as with runc).
//!   `exec` joins the container's user namespace first on its own. A user namespace joined
//!   by path owns the namespaces made after it (its maps are its own; the config's are not
//!   written); the exec fifo is then not chowned (no map is known): the runtime makes it 0622,
//!   as runc does.
//! - Time namespaces are refused (`OciError::Unsupported`), and so are `domainname`,
//!   `intelRdt`, `personality` and idmapped mounts; `tmpcopyup` is ignored.
//! - `Config::parse(bytes)` exists beside `Config::load(bundle)` (for `exec --process`).
//!
//! [`cgroups`] is the container's cgroup (made, limited, frozen, listed, removed), which the
//! runtime makes before the spawn and whose join files it passes in `Context::cgroup_join`.

pub mod cgroups;
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
