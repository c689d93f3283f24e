//! config.json -> [`Spec`] (the container's init, for `create`/`run`) and -> [`ExecSpec`]
//! (`exec`).

use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use crate::oci::config::{Config, OciError, Process};
use crate::spawn::{ExecSpec, Spec};

/// What the translation needs beyond config.json.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// The bundle directory; `root.path` is relative to it.
    pub bundle: &'a Path,
    /// Files to write "0" to, to join the container's cgroups (from `oci::cgroups`, which made
    /// them first).
    pub cgroup_join: Vec<PathBuf>,
    /// The fds to install as 0, 1 and 2; `None` inherits.
    pub stdio: [Option<RawFd>; 3],
    /// A connected unix socket (runc's console socket protocol): with `process.terminal`, the
    /// child sends the pty master over it (`SCM_RIGHTS`).
    pub console_socket: Option<RawFd>,
    /// The exec fifo: the child, fully set up, opens it `O_WRONLY` (blocking until `start` opens
    /// it for reading), writes one byte, then execs. `None` execs at once (`run`).
    pub start_gate: Option<PathBuf>,
}

/// The spawn spec of the container's init.
pub fn spec_for(config: &Config, context: &Context) -> Result<Spec, OciError> {
    let _ = (config, context);
    Err(OciError::Unsupported("not implemented yet".to_owned()))
}

/// The spawn spec of a process `exec`'d into the container whose init is `pid`.
pub fn exec_spec_for(
    process: &Process,
    pid: libc::pid_t,
    config: &Config,
    context: &Context,
) -> Result<ExecSpec, OciError> {
    let _ = (process, pid, config, context);
    Err(OciError::Unsupported("not implemented yet".to_owned()))
}
