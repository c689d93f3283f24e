//! hybridock's native core: the layer pipeline (digest, decompression, confined tar
//! extraction) and the container spawner. The pure modules never touch pyo3; the Python
//! extension `hybridock._native` is the thin glue in `python/`, built with the `python` feature.

pub mod digest;
pub mod error;
pub mod layer;
pub mod seccomp;
pub mod spawn;

#[cfg(feature = "python")]
mod python;
