//! The OCI runtime-spec 1.x side of the core: `config.json`'s types ([`config`]) and their
//! translation into a [`crate::spawn::Spec`] (for `create`/`run`) or
//! [`crate::spawn::ExecSpec`] (for `exec`) ([`translate`]), which the `hybridock-runtime`
//! binary runs.

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
