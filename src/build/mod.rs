//! What `hybridock build` needs of the native core: the build context read once, confined,
//! with the content digests of its files computed on all cores (`context`).

pub mod context;
