//! Glue for the spawner: `SpawnSpec` (a frozen Python object holding an owned, validated
//! `spawn::Spec`) and `spawn(spec) -> pid`, which releases the GIL while the child is set up.
//! Spawn failures become `hybridock.errors.SpawnError(message, stage=, exit_code=)`; an
//! unusable spec becomes `hybridock.errors.ConfigError`.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::seccomp::SockFilter;
use crate::spawn::spec::{
    rlimit_resource, DOCKER_CAPABILITIES, DOCKER_MASKED_PATHS, DOCKER_READONLY_PATHS,
};
use crate::spawn::{self, BindMount, EtcFiles, Namespaces, Rlimit, Rootfs, SpawnError, Spec};

fn to_py_err(py: Python<'_>, error: &SpawnError) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let errors = py.import("hybridock.errors")?;
        if let SpawnError::InvalidSpec { .. } = error {
            return Ok(PyErr::from_value(
                errors.getattr("ConfigError")?.call1((error.to_string(),))?,
            ));
        }
        let kwargs = PyDict::new(py);
        kwargs.set_item("stage", error.stage_name())?;
        kwargs.set_item("exit_code", error.exit_code())?;
        let instance = errors
            .getattr("SpawnError")?
            .call((error.to_string(),), Some(&kwargs))?;
        Ok(PyErr::from_value(instance))
    };
    build().unwrap_or_else(|import_error| import_error)
}

/// The full description of a container's first process (see `_native.pyi`).
#[pyclass(frozen, module = "hybridock._native", name = "SpawnSpec")]
pub struct PySpawnSpec {
    spec: Spec,
}

#[pymethods]
impl PySpawnSpec {
    #[new]
    #[pyo3(signature = (
        argv, rootfs, *, env=None, cwd="/".to_owned(), uid=0, gid=0, groups=Vec::new(),
        hostname=None, lower_dirs=None, upper_dir=None, work_dir=None, mounts=Vec::new(),
        network=true, pid_namespace=true, uts_namespace=true, ipc_namespace=true,
        stdio=None, tty=false, rlimits=Vec::new(), no_new_privs=true, cgroup_procs=Vec::new(),
        etc_hostname=None, etc_hosts=None, etc_resolv_conf=None, readonly_rootfs=false,
        masked_paths=None, readonly_paths=None, capabilities=Some(DOCKER_CAPABILITIES), init=None,
        seccomp_filter=None
    ))]
    #[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)] // keyword-only, docker-shaped
    fn new(
        py: Python<'_>,
        argv: Vec<String>,
        rootfs: PathBuf,
        env: Option<Vec<String>>,
        cwd: String,
        uid: u32,
        gid: u32,
        groups: Vec<u32>,
        hostname: Option<String>,
        lower_dirs: Option<Vec<PathBuf>>,
        upper_dir: Option<PathBuf>,
        work_dir: Option<PathBuf>,
        mounts: Vec<(PathBuf, String, bool)>,
        network: bool,
        pid_namespace: bool,
        uts_namespace: bool,
        ipc_namespace: bool,
        stdio: Option<Vec<Option<i32>>>,
        tty: bool,
        rlimits: Vec<(String, u64, u64)>,
        no_new_privs: bool,
        cgroup_procs: Vec<PathBuf>,
        etc_hostname: Option<PathBuf>,
        etc_hosts: Option<PathBuf>,
        etc_resolv_conf: Option<PathBuf>,
        readonly_rootfs: bool,
        masked_paths: Option<Vec<String>>,
        readonly_paths: Option<Vec<String>>,
        capabilities: Option<u64>,
        init: Option<PathBuf>,
        seccomp_filter: Option<Vec<u8>>,
    ) -> PyResult<Self> {
        let invalid = |field: &'static str, reason: String| {
            to_py_err(py, &SpawnError::InvalidSpec { field, reason })
        };
        let rootfs = match (lower_dirs, upper_dir, work_dir) {
            (None, None, None) => Rootfs::Path(rootfs),
            (Some(lower), Some(upper), Some(work)) => Rootfs::Overlay {
                lower,
                upper,
                work,
                target: rootfs,
            },
            _ => {
                return Err(invalid(
                    "lower_dirs",
                    "lower_dirs, upper_dir and work_dir go together".to_owned(),
                ))
            }
        };
        let stdio: [Option<i32>; 3] = match stdio {
            None => [None; 3],
            Some(fds) => fds.try_into().map_err(|fds: Vec<_>| {
                invalid("stdio", format!("needs 3 fds, got {}", fds.len()))
            })?,
        };
        let mut rlimit_values = Vec::with_capacity(rlimits.len());
        for (name, soft, hard) in rlimits {
            let resource = rlimit_resource(&name)
                .ok_or_else(|| invalid("rlimits", format!("unknown rlimit {name:?}")))?;
            rlimit_values.push(Rlimit {
                resource,
                soft,
                hard,
            });
        }
        let seccomp_filter = seccomp_filter
            .map(|bytes| SockFilter::parse_program(&bytes))
            .transpose()
            .map_err(|error| super::seccomp::to_py_err(&error))?;
        let defaults = Spec::new(argv, rootfs);
        let spec = Spec {
            env: env.unwrap_or(defaults.env.clone()),
            cwd,
            uid,
            gid,
            groups,
            hostname,
            mounts: mounts
                .into_iter()
                .map(|(source, destination, readonly)| BindMount {
                    source,
                    destination,
                    readonly,
                })
                .collect(),
            namespaces: Namespaces {
                pid: pid_namespace,
                uts: uts_namespace,
                ipc: ipc_namespace,
                net: network,
            },
            stdio,
            tty,
            rlimits: rlimit_values,
            no_new_privs,
            cgroup_procs,
            etc_files: EtcFiles {
                hostname: etc_hostname,
                hosts: etc_hosts,
                resolv_conf: etc_resolv_conf,
            },
            readonly_rootfs,
            masked_paths: masked_paths
                .unwrap_or_else(|| DOCKER_MASKED_PATHS.iter().map(|&p| p.to_owned()).collect()),
            readonly_paths: readonly_paths.unwrap_or_else(|| {
                DOCKER_READONLY_PATHS
                    .iter()
                    .map(|&p| p.to_owned())
                    .collect()
            }),
            capabilities,
            init,
            seccomp_filter,
            ..defaults
        };
        let spec = spec.validated().map_err(|error| to_py_err(py, &error))?;
        Ok(Self { spec })
    }

    #[getter]
    fn argv(&self) -> Vec<String> {
        self.spec.argv.clone()
    }

    #[getter]
    fn rootfs(&self) -> String {
        self.spec.rootfs.target().to_string_lossy().into_owned()
    }

    fn __repr__(&self) -> String {
        format!(
            "SpawnSpec(argv={:?}, rootfs={:?})",
            self.spec.argv,
            self.spec.rootfs.target().display().to_string()
        )
    }
}

/// Starts the container process; returns its pid once it has exec'd. The caller reaps it.
/// Takes a `SpawnSpec`, or the same keyword arguments `SpawnSpec` takes.
#[pyfunction(name = "spawn")]
#[pyo3(signature = (spec=None, **fields))]
fn spawn_process(
    py: Python<'_>,
    spec: Option<Bound<'_, PySpawnSpec>>,
    fields: Option<&Bound<'_, PyDict>>,
) -> PyResult<i32> {
    let spec = match (spec, fields) {
        (Some(spec), None) => spec,
        (None, fields) => py
            .get_type::<PySpawnSpec>()
            .call((), fields)?
            .cast_into::<PySpawnSpec>()?,
        (Some(_), Some(_)) => {
            let reason = "give a SpawnSpec or keyword arguments, not both".to_owned();
            return Err(to_py_err(
                py,
                &SpawnError::InvalidSpec {
                    field: "spec",
                    reason,
                },
            ));
        }
    };
    let spec = spec.get().spec.clone();
    py.detach(move || spawn::spawn(&spec))
        .map_err(|error| to_py_err(py, &error))
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PySpawnSpec>()?;
    module.add("DOCKER_CAPABILITIES", DOCKER_CAPABILITIES)?;
    module.add_function(wrap_pyfunction!(spawn_process, module)?)?;
    Ok(())
}
