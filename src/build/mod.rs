//! What `hybridock build` needs of the native core: the build context read once, confined,
//! with the content digests of its files computed on all cores (`context`), and the fast path
//! of COPY for a context directory into a fresh directory (`copy`).

pub mod context;
pub mod copy;
