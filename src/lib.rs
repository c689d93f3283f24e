//! hybridock's native core: the layer pipeline (digest, decompression, confined tar
//! extraction), the container spawner, the bridge network's netlink path, the cgroup device
//! program, and docker's json-file log format. The pure modules never touch pyo3; the Python
//! extension `hybridock._native` is the thin glue in `python/`, built with the `python`
//! feature.

pub mod build;
pub mod digest;
pub mod error;
// Shared with the std-only monitor program, which build.rs compiles from monitor/ with rustc.
#[path = "../monitor/attach.rs"]
pub mod attach;
#[path = "../monitor/jsonlog.rs"]
pub mod jsonlog;
pub mod layer;
pub mod net;
// The container core lives in its own crate (crates/spawn), shared with hybridock-runtime.
pub use hybridock_spawn::{cgroup, seccomp, spawn};

#[cfg(feature = "python")]
mod python;
