//! A container's life as runc runs it: `create` (cgroup, spawn to the start gate, state,
//! hooks), `start` (through the gate), signals, and `destroy` (wait, cgroup, poststop, state).
//!
//! `create` leaves the init a child of whoever ran it once we exit (containerd's shim and
//! conmon are subreapers); only `run` and foreground `exec` wait on their child themselves.
//! A `create` that fails leaves nothing: the [`Undo`] guard kills the child, removes the
//! cgroup and the state directory.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use hybridock_spawn::oci::cgroups::{self, Cgroup};
use hybridock_spawn::oci::{self, Config, Context};
use hybridock_spawn::spawn;

use crate::cli::Global;
use crate::console;
use crate::errors::{io_context, Result, RuntimeError};
use crate::hooks::{self, Place};
use crate::log;
use crate::state::{self, Container, Record, Status};

/// What `create` takes from its flags.
pub struct CreateOptions<'a> {
    pub id: &'a str,
    pub bundle: PathBuf,
    pub console_socket: Option<&'a str>,
    pub pid_file: Option<&'a str>,
    /// `run` in the foreground: a terminal without a console socket is kept here (proxied).
    pub keep_terminal: bool,
    /// fds 3 to 3 + N - 1 passed on to the container's process (`--preserve-fds N`).
    pub preserve_fds: u32,
}

/// Undoes a partial `create` unless disarmed.
struct Undo {
    directory: Option<PathBuf>,
    cgroup: Option<Cgroup>,
    pid: Option<libc::pid_t>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            // SAFETY: kill(2) and waitpid(2) of our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        if let Some(cgroup) = &self.cgroup {
            let _ = cgroup.remove();
        }
        if let Some(directory) = &self.directory {
            let _ = std::fs::remove_dir_all(directory);
        }
    }
}

/// The container's cgroup: made at the configured path with its resources and devices.
/// Without any cgroup filesystem a container without limits goes without one.
fn make_cgroup(global: &Global, id: &str, config: &Config) -> Result<Option<Cgroup>> {
    let linux = config.linux.clone().unwrap_or_default();
    let resources = linux.resources.clone().unwrap_or_default();
    let host = match cgroups::Host::detect() {
        Ok(host) => host,
        Err(_) if linux.resources.is_none() => return Ok(None),
        Err(error) => return Err(RuntimeError::new(error.to_string())),
    };
    let path = cgroups::cgroup_path(linux.cgroups_path.as_deref(), global.systemd_cgroup, id)
        .map_err(|error| RuntimeError::new(error.to_string()))?;
    let devices: Vec<(char, i64, i64)> = linux
        .devices
        .iter()
        .filter_map(|device| {
            let kind = match device.type_.as_str() {
                "c" | "u" => 'c',
                "b" => 'b',
                _ => return None,
            };
            Some((kind, device.major, device.minor))
        })
        .collect();
    let rules = cgroups::device_rules(&resources, &devices)
        .map_err(|error| RuntimeError::new(error.to_string()))?;
    let cgroup = cgroups::create(&host, &path, &resources, Some(&rules))
        .map_err(|error| RuntimeError::new(error.to_string()))?;
    Ok(Some(cgroup))
}

fn mkfifo(path: &Path) -> Result<()> {
    let text = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| RuntimeError::new("NUL in the state path"))?;
    // SAFETY: mkfifo(2) of a NUL-terminated path.
    if unsafe { libc::mkfifo(text.as_ptr(), 0o622) } != 0 {
        return Err(io_context("cannot make", path)(
            std::io::Error::last_os_error(),
        ));
    }
    // 0622 whatever the umask (runc clears it around its mkfifo; a umask is process-wide, so
    // the mode is set afterwards instead): the init, already the container's user when it
    // reaches the gate, opens the fifo for writing
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o622))
        .map_err(io_context("cannot set the mode of", path))
}

/// systemd's socket activation, passed on as runc does: the `LISTEN_FDS` sockets (fds 3 on)
/// given to this process (`LISTEN_PID` is ours) go to the container's init, before the
/// `--preserve-fds` ones, with `LISTEN_FDS=N LISTEN_PID=1` in its environment.
fn socket_activation_fds() -> u32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|pid| pid.parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|count| count.parse::<u32>().ok());
    match count {
        Some(count) if ours => count,
        _ => 0,
    }
}

/// Writes the pid file atomically, with an absolute path like runc.
pub fn write_pid_file(path: &str, pid: libc::pid_t) -> Result<()> {
    let path = std::path::absolute(path)?;
    state::write_atomically(&path, pid.to_string().as_bytes(), 0o644)
}

/// The spec's state JSON as the hooks get it.
fn hook_state(container: &Container, status: Status) -> String {
    serde_json::to_string(&container.oci_state(status)).unwrap_or_default()
}

/// `create`: the init waits at the start gate; returns the container (its init our child).
pub fn create(
    global: &Global,
    options: &CreateOptions<'_>,
) -> Result<(Container, Option<OwnedFd>)> {
    let bundle = std::path::absolute(&options.bundle)?;
    let directory = state::make_directory(&global.root, options.id)?;
    let mut undo = Undo {
        directory: Some(directory.clone()),
        cgroup: None,
        pid: None,
    };
    let config = Config::load(&bundle).map_err(|error| RuntimeError::new(error.to_string()))?;
    let root_path = config
        .root
        .as_ref()
        .map_or("rootfs", |root| root.path.as_str());
    let rootfs = bundle.join(root_path);
    undo.cgroup = make_cgroup(global, options.id, &config)?;
    if let Some(cgroup) = &undo.cgroup {
        if cgroup.frozen() {
            return Err(RuntimeError::new("container's cgroup unexpectedly frozen"));
        }
        let found = cgroup.pids().unwrap_or_default().len();
        if found > 0 {
            let message = format!("container's cgroup is not empty: {found} process(es) found");
            log::log(global, "warning", &message);
        }
    }
    let fifo = directory.join(state::EXEC_FIFO);
    mkfifo(&fifo)?;
    let terminal = config
        .process
        .as_ref()
        .is_some_and(|process| process.terminal);
    if terminal && options.console_socket.is_none() && !options.keep_terminal {
        return Err(RuntimeError::new(
            "cannot allocate tty if runc will detach without setting console socket",
        ));
    }
    let console = options.console_socket.map(console::connect).transpose()?;
    let context = Context {
        bundle: &bundle,
        cgroup_join: undo
            .cgroup
            .as_ref()
            .map(Cgroup::join_files)
            .unwrap_or_default(),
        stdio: [None; 3],
        console_socket: console.as_ref().map(AsRawFd::as_raw_fd),
        start_gate: Some(fifo),
    };
    let mut spec =
        oci::spec_for(&config, &context).map_err(|error| RuntimeError::new(error.to_string()))?;
    let activation = socket_activation_fds();
    if activation > 0 {
        spec.env.push(format!("LISTEN_FDS={activation}"));
        spec.env.push("LISTEN_PID=1".to_owned());
    }
    spec.preserve_fds = activation + options.preserve_fds;
    log::debug(global, &format!("spawning {:?}", spec.argv));
    let spawned = spawn::spawn(&spec).map_err(|error| RuntimeError::new(error.to_string()))?;
    undo.pid = Some(spawned.pid);
    let mut master = spawned.terminal;
    if let Some(socket) = &console {
        if let Some(pty) = master.take() {
            console::send_master(socket, &pty)?;
        }
    }
    drop(console);
    let container = Container {
        directory,
        record: Record {
            id: options.id.to_owned(),
            pid: spawned.pid,
            pid_start: state::process_start(spawned.pid).unwrap_or(0),
            bundle,
            rootfs,
            created: log::rfc3339(SystemTime::now(), true),
            owner: String::new(),
            cgroup: undo.cgroup.clone(),
            config,
        },
    };
    container.save()?;
    run_create_hooks(&container)?;
    if let Some(path) = options.pid_file {
        write_pid_file(path, spawned.pid)?;
    }
    undo.directory = None;
    undo.cgroup = None;
    undo.pid = None;
    Ok((container, master))
}

/// The hooks of `create`, once the init waits at the gate: prestart and createRuntime in the
/// runtime's namespaces, createContainer in the container's.
fn run_create_hooks(container: &Container) -> Result<()> {
    let hooks = container.record.config.hooks.clone().unwrap_or_default();
    let creating = hook_state(container, Status::Creating);
    hooks::run_all("prestart", &hooks.prestart, &creating, Place::Runtime)?;
    hooks::run_all(
        "createRuntime",
        &hooks.create_runtime,
        &creating,
        Place::Runtime,
    )?;
    hooks::run_all(
        "createContainer",
        &hooks.create_container,
        &creating,
        Place::Container(container.record.pid),
    )
}

/// `start`: lets the init through the gate; runs startContainer before and poststart after.
pub fn start(container: &Container) -> Result<()> {
    match container.status() {
        Status::Created => {}
        Status::Stopped => {
            return Err(RuntimeError::new(
                "cannot start a container that has stopped",
            ))
        }
        Status::Creating => {
            return Err(RuntimeError::new(
                "cannot start a container in the creating state",
            ))
        }
        Status::Running | Status::Paused => {
            return Err(RuntimeError::new(
                "cannot start an already running container",
            ))
        }
    }
    let hooks = container.record.config.hooks.clone().unwrap_or_default();
    hooks::run_all(
        "startContainer",
        &hooks.start_container,
        &hook_state(container, Status::Created),
        Place::Container(container.record.pid),
    )?;
    open_gate(container)?;
    let _ = std::fs::remove_file(container.fifo());
    hooks::run_all(
        "poststart",
        &hooks.poststart,
        &hook_state(container, Status::Running),
        Place::Runtime,
    )
}

/// Reads the byte the init writes into the fifo once a reader opened it; notices an init that
/// died before (a blocking open would wait forever).
fn open_gate(container: &Container) -> Result<()> {
    let fifo = container.fifo();
    let path =
        CString::new(fifo.as_os_str().as_bytes()).map_err(|_| RuntimeError::new("bad path"))?;
    // SAFETY: open(2) of a NUL-terminated path; the fd is owned right away.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io_context("cannot open exec fifo", &fifo)(
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: a fresh fd.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    loop {
        let mut poll = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) on one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, 20) };
        if ready > 0 {
            let mut byte = [0u8; 1];
            // SAFETY: read(2) into a one-byte buffer.
            let read = unsafe { libc::read(fd.as_raw_fd(), byte.as_mut_ptr().cast(), 1) };
            if read == 1 {
                return Ok(());
            }
            if read == 0 && poll.revents & libc::POLLHUP != 0 {
                return Err(RuntimeError::new(
                    "cannot start a container that has stopped",
                ));
            }
        }
        if !container.alive() {
            return Err(RuntimeError::new(
                "cannot start a container that has stopped",
            ));
        }
    }
}

/// Sends `signal` to the init, or with `all` to every process of the cgroup.
pub fn signal(container: &Container, signal: i32, all: bool) -> Result<()> {
    // with --all, whatever is left in the cgroup of a stopped container (runc's rule)
    let stopped = container.status() == Status::Stopped;
    if stopped && !all {
        return Err(RuntimeError::new("container not running"));
    }
    let pids = match (&container.record.cgroup, all) {
        (Some(cgroup), true) => cgroup
            .pids()
            .map_err(|error| RuntimeError::new(error.to_string()))?,
        _ if stopped => Vec::new(), // its pid may be another process's by now
        _ => vec![container.record.pid],
    };
    for pid in pids {
        // SAFETY: kill(2); the init's identity was checked by status() above.
        if unsafe { libc::kill(pid, signal) } != 0 {
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::ESRCH) {
                return Err(RuntimeError::new(format!(
                    "cannot send signal {signal} to {pid}: {}",
                    crate::errors::strip_os_error(&error)
                )));
            }
        }
    }
    if all && signal == libc::SIGKILL {
        if let Some(cgroup) = container.record.cgroup.as_ref().filter(|c| c.frozen()) {
            let _ = cgroup.freeze(false); // a frozen task dies only once thawed
        }
    }
    Ok(())
}

/// Waits (up to 10 s) for the init to be gone: not ours to reap, so by its /proc entry.
fn wait_gone(container: &Container) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while container.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Tears down a container: kills what is left, removes the cgroup, runs poststop, removes the
/// state. The init must be stopped or (with `kill`) is killed first.
pub fn destroy(container: &Container, kill: bool) -> Result<()> {
    if kill && container.alive() {
        // with its own pid namespace the init's death takes every process of the container;
        // without one, every process of its cgroup goes (runc's rule: a shared cgroup's other
        // container survives the first case)
        let own_pid_namespace = container.record.config.linux.as_ref().is_some_and(|linux| {
            linux
                .namespaces
                .iter()
                .any(|namespace| namespace.type_ == "pid" && namespace.path.is_none())
        });
        if !own_pid_namespace {
            let _ = signal(container, libc::SIGKILL, true);
        }
        // SAFETY: kill(2) of the checked init.
        unsafe { libc::kill(container.record.pid, libc::SIGKILL) };
        if let Some(cgroup) = container.record.cgroup.as_ref().filter(|c| c.frozen()) {
            let _ = cgroup.freeze(false); // a frozen task dies only once thawed
        }
        wait_gone(container);
    }
    let mut failure = None;
    if let Some(cgroup) = &container.record.cgroup {
        if let Err(error) = cgroup.remove() {
            failure = Some(RuntimeError::new(error.to_string()));
        }
    }
    let hooks = container.record.config.hooks.clone().unwrap_or_default();
    let stopped = hook_state(container, Status::Stopped);
    let hooks_result = hooks::run_all("poststop", &hooks.poststop, &stopped, Place::Runtime);
    container.remove_directory()?;
    if let Some(error) = failure {
        return Err(error);
    }
    hooks_result
}

/// `delete [--force]`.
pub fn delete(global: &Global, id: &str, force: bool) -> Result<()> {
    let container = match Container::load(&global.root, id) {
        Ok(container) => container,
        Err(error) => {
            // an aborted create may have left a directory without state.json
            if state::check_id(id).is_ok() {
                let directory = global.root.join(id);
                if directory.is_dir() && !directory.join(state::STATE_FILE).exists() && force {
                    let _ = std::fs::remove_dir_all(directory);
                }
            }
            return if force { Ok(()) } else { Err(error) };
        }
    };
    match container.status() {
        Status::Stopped => destroy(&container, false),
        Status::Created => destroy(&container, true),
        status if force => {
            let _ = status;
            destroy(&container, true)
        }
        status => Err(RuntimeError::new(format!(
            "cannot delete container {id} that is not stopped: {}",
            status.as_str()
        ))),
    }
}

/// The pid to forward signals to while a foreground `run`/`exec` waits.
static FORWARD_TO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(signal: libc::c_int) {
    let pid = FORWARD_TO.load(std::sync::atomic::Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, signal) };
    }
}

/// Waits for our child `pid`, forwarding the usual signals to it; its exit status as a shell
/// gives it (128 + signal).
pub fn wait_forwarding(pid: libc::pid_t) -> i32 {
    FORWARD_TO.store(pid, std::sync::atomic::Ordering::Relaxed);
    for signal in [
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGTERM,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
    ] {
        // SAFETY: installs an async-signal-safe handler.
        unsafe { libc::signal(signal, forward as *const () as libc::sighandler_t) };
    }
    let mut status = 0;
    loop {
        // SAFETY: waitpid(2) of our own child into a local.
        let result = unsafe { libc::waitpid(pid, &mut status, 0) };
        if result == pid {
            break;
        }
        if result < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 255;
        }
    }
    exit_code(status)
}

#[must_use]
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}
