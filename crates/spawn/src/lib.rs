//! hybridock's container core, shared by the Python extension (`hybridock._native`) and the OCI
//! runtime binary (`hybridock-runtime`): the native spawner (`spawn`), the seccomp profile
//! compiler (`seccomp`) and the cgroup device program (`cgroup`). It links nothing but libc and
//! serde, so the runtime binary stays small and quick to start.

pub mod cgroup;
pub mod oci;
pub mod seccomp;
pub mod spawn;
