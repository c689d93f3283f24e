//! Glue for the spawner: `SpawnSpec` (a frozen Python object holding an owned, validated
//! `spawn::Spec`), `spawn(spec) -> Spawned` and `exec_in(pid, argv, ...) -> Spawned`, which
//! release the GIL while the child is set up.
//! Spawn failures become `hybridock.errors.SpawnError(message, stage=, exit_code=)`; an
//! unusable spec becomes `hybridock.errors.ConfigError`.

use std::os::fd::IntoRawFd;
use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::seccomp::SockFilter;
use crate::spawn::spec::{
    rlimit_resource, DOCKER_CAPABILITIES, DOCKER_MASKED_PATHS, DOCKER_READONLY_PATHS,
};
use crate::spawn::{
    self, BindMount, CgroupSource, CgroupView, EtcFiles, ExecSpec, Namespaces, Rlimit, Rootfs,
    SpawnError, Spec, TmpfsMount,
};

fn to_py_err(py: Python<'_>, error: &SpawnError) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let errors = py.import("hybridock.errors")?;
        if let SpawnError::InvalidSpec { .. } = error {
            return Ok(PyErr::from_value(
                errors.getattr("ConfigError")?.call1((error.to_string(),))?,
            ));
        }
        if let SpawnError::NotRunning { .. } = error {
            return Ok(PyErr::from_value(
                errors
                    .getattr("ContainerStateError")?
                    .call1((error.to_string(),))?,
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
        hostname=None, lower_dirs=None, upper_dir=None, work_dir=None, volatile=false, mounts=Vec::new(), tmpfs=Vec::new(),
        network=true, pid_namespace=true, uts_namespace=true, ipc_namespace=true,
        stdio=None, tty=false, console_size=None, rlimits=Vec::new(), no_new_privs=true, cgroup_join=Vec::new(),
        etc_hostname=None, etc_hosts=None, etc_resolv_conf=None, readonly_rootfs=false,
        masked_paths=None, readonly_paths=None, capabilities=Some(DOCKER_CAPABILITIES), init=None,
        seccomp_filter=None, sysctls=Vec::new(), cgroup_namespace=false, cgroup_view=None,
        cgroup_hierarchies=Vec::new(), cgroup_links=Vec::new(), cgroup_writable=false,
        writable_sysfs=false, network_namespace=None
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
        volatile: bool,
        mounts: Vec<(PathBuf, String, bool)>,
        tmpfs: Vec<(String, u64, String)>,
        network: bool,
        pid_namespace: bool,
        uts_namespace: bool,
        ipc_namespace: bool,
        stdio: Option<Vec<Option<i32>>>,
        tty: bool,
        console_size: Option<(u16, u16)>,
        rlimits: Vec<(String, u64, u64)>,
        no_new_privs: bool,
        cgroup_join: Vec<PathBuf>,
        etc_hostname: Option<PathBuf>,
        etc_hosts: Option<PathBuf>,
        etc_resolv_conf: Option<PathBuf>,
        readonly_rootfs: bool,
        masked_paths: Option<Vec<String>>,
        readonly_paths: Option<Vec<String>>,
        capabilities: Option<u64>,
        init: Option<PathBuf>,
        seccomp_filter: Option<Vec<u8>>,
        sysctls: Vec<(String, String)>,
        cgroup_namespace: bool,
        cgroup_view: Option<&str>,
        cgroup_hierarchies: Vec<(String, Option<PathBuf>, String)>,
        cgroup_links: Vec<(String, String)>,
        cgroup_writable: bool,
        writable_sysfs: bool,
        network_namespace: Option<i32>,
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
                volatile,
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
        let cgroup_view = cgroup_view_of(
            cgroup_view,
            cgroup_hierarchies,
            cgroup_links,
            cgroup_writable,
        )
        .map_err(|reason| invalid("cgroup_view", reason))?;
        let rlimit_values = rlimit_values(py, rlimits)?;
        let seccomp_filter = seccomp_program(seccomp_filter)?;
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
            tmpfs: tmpfs
                .into_iter()
                .map(|(destination, flags, data)| TmpfsMount {
                    destination,
                    flags,
                    data,
                })
                .collect(),
            namespaces: Namespaces {
                pid: pid_namespace,
                uts: uts_namespace,
                ipc: ipc_namespace,
                net: network,
                cgroup: cgroup_namespace,
            },
            network_namespace,
            stdio,
            tty,
            console_size,
            rlimits: rlimit_values,
            no_new_privs,
            cgroup_join,
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
            sysctls,
            cgroup_view,
            writable_sysfs,
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

/// The cgroup view `SpawnSpec` describes with its `cgroup_*` arguments.
fn cgroup_view_of(
    kind: Option<&str>,
    hierarchies: Vec<(String, Option<PathBuf>, String)>,
    links: Vec<(String, String)>,
    writable: bool,
) -> Result<Option<CgroupView>, String> {
    Ok(match kind {
        None => None,
        Some("v2") => Some(CgroupView::V2 { writable }),
        Some("v1") => Some(CgroupView::V1 {
            hierarchies: hierarchies
                .into_iter()
                .map(|(name, bind, options)| {
                    let source = bind.map_or(CgroupSource::Hierarchy(options), CgroupSource::Bind);
                    (name, source)
                })
                .collect(),
            links,
            writable,
        }),
        Some(other) => return Err(format!("{other:?} is not \"v1\" or \"v2\"")),
    })
}

/// A started process (see `_native.pyi`): its pid, and the pty master with a console. The fd
/// belongs to the caller from here on.
#[pyclass(frozen, module = "hybridock._native", name = "Spawned")]
pub struct PySpawned {
    #[pyo3(get)]
    pid: i32,
    #[pyo3(get)]
    terminal: Option<i32>,
}

#[pymethods]
impl PySpawned {
    fn __repr__(&self) -> String {
        format!("Spawned(pid={}, terminal={:?})", self.pid, self.terminal)
    }
}

impl From<spawn::Spawned> for PySpawned {
    fn from(spawned: spawn::Spawned) -> Self {
        Self {
            pid: spawned.pid,
            terminal: spawned.terminal.map(IntoRawFd::into_raw_fd),
        }
    }
}

/// Starts the container process; returns it once it has exec'd. The caller reaps it.
/// Takes a `SpawnSpec`, or the same keyword arguments `SpawnSpec` takes.
#[pyfunction(name = "spawn")]
#[pyo3(signature = (spec=None, **fields))]
fn spawn_process(
    py: Python<'_>,
    spec: Option<Bound<'_, PySpawnSpec>>,
    fields: Option<&Bound<'_, PyDict>>,
) -> PyResult<PySpawned> {
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
        .map(PySpawned::from)
        .map_err(|error| to_py_err(py, &error))
}

fn rlimit_values(py: Python<'_>, rlimits: Vec<(String, u64, u64)>) -> PyResult<Vec<Rlimit>> {
    rlimits
        .into_iter()
        .map(|(name, soft, hard)| {
            let resource = rlimit_resource(&name).ok_or_else(|| {
                let reason = format!("unknown rlimit {name:?}");
                to_py_err(
                    py,
                    &SpawnError::InvalidSpec {
                        field: "rlimits",
                        reason,
                    },
                )
            })?;
            Ok(Rlimit {
                resource,
                soft,
                hard,
            })
        })
        .collect()
}

/// The program `compile_seccomp` returned, back as instructions.
fn seccomp_program(bytes: Option<Vec<u8>>) -> PyResult<Option<Vec<SockFilter>>> {
    bytes
        .map(|bytes| SockFilter::parse_program(&bytes))
        .transpose()
        .map_err(|error| super::seccomp::to_py_err(&error))
}

/// Starts a process inside the running container whose first process is `pid` (see
/// `_native.pyi`); returns it once it has exec'd. The caller reaps it.
#[pyfunction]
#[pyo3(signature = (
    pid, argv, *, env=None, cwd="/".to_owned(), uid=0, gid=0, groups=Vec::new(), stdio=None,
    tty=false, console_size=None, rlimits=Vec::new(), no_new_privs=true, cgroup_join=Vec::new(),
    capabilities=Some(DOCKER_CAPABILITIES), seccomp_filter=None
))]
#[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)] // keyword-only, docker-shaped
fn exec_in(
    py: Python<'_>,
    pid: i32,
    argv: Vec<String>,
    env: Option<Vec<String>>,
    cwd: String,
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
    stdio: Option<[Option<i32>; 3]>,
    tty: bool,
    console_size: Option<(u16, u16)>,
    rlimits: Vec<(String, u64, u64)>,
    no_new_privs: bool,
    cgroup_join: Vec<PathBuf>,
    capabilities: Option<u64>,
    seccomp_filter: Option<Vec<u8>>,
) -> PyResult<PySpawned> {
    let defaults = ExecSpec::new(pid, argv);
    let spec = ExecSpec {
        env: env.unwrap_or(defaults.env.clone()),
        cwd,
        uid,
        gid,
        groups,
        stdio: stdio.unwrap_or([None; 3]),
        tty,
        console_size,
        rlimits: rlimit_values(py, rlimits)?,
        no_new_privs,
        cgroup_join,
        capabilities,
        seccomp_filter: seccomp_program(seccomp_filter)?,
        ..defaults
    };
    py.detach(move || spawn::exec_in(&spec))
        .map(PySpawned::from)
        .map_err(|error| to_py_err(py, &error))
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PySpawnSpec>()?;
    module.add_class::<PySpawned>()?;
    module.add("DOCKER_CAPABILITIES", DOCKER_CAPABILITIES)?;
    module.add_function(wrap_pyfunction!(spawn_process, module)?)?;
    module.add_function(wrap_pyfunction!(exec_in, module)?)?;
    Ok(())
}
