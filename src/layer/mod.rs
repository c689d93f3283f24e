//! The layer pipeline: compressed bytes in, a verified extracted tree out (overlayfs format).
//! `pipeline` composes the readers and threads; `extract` writes entries confined by `path`;
//! `whiteout`, `hardlink` and `lower` hold the OCI layering rules (`lower` also the deferred
//! links to lower layers, resolved by `PendingLinks::resolve` once the parents exist); `meta` reads entry metadata;
//! `effects` is the privilege-dependent part behind a trait; `sys` the raw fd-relative calls.
//! `encode` is the way back: a directory tree (or a tar file) to a compressed layer blob.

pub mod compression;
pub mod effects;
pub mod encode;
mod extract;
mod hardlink;
mod lower;
mod meta;
pub mod path;
pub mod pipeline;
mod stream;
pub(crate) mod sys;
mod whiteout;

pub use compression::Compression;
pub use lower::{Linked, PendingLinks};
pub use pipeline::{
    extract_file, extract_layer, extract_layer_with, spread_subdirectories, syncfs_path,
    LayerOptions, LayerSummary,
};
pub use stream::ChannelSource;

#[cfg(test)]
mod tests;
