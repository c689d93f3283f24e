//! One function per runc command: flags in, the command's output and exit status out.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use hybridock_spawn::oci::config::{Cpu, Memory, Pids};
use hybridock_spawn::oci::{self, Context, Process, Resources};
use hybridock_spawn::spawn;

use crate::cli::{parse_signal, Command, Global};
use crate::console;
use crate::container::{self, CreateOptions};
use crate::errors::{io_context, Result, RuntimeError};
use crate::state::{self, Container, Status};

/// Runs `command`; returns the exit status.
pub fn dispatch(global: &Global, command: &Command) -> Result<i32> {
    match command.name.as_str() {
        "create" => create(global, command).map(|_| 0),
        "run" => run(global, command),
        "start" => container::start(&Container::load(&global.root, command.id())?).map(|()| 0),
        "state" => state(global, command).map(|()| 0),
        "kill" => kill(global, command).map(|()| 0),
        "delete" => container::delete(global, command.id(), command.is_set("force")).map(|()| 0),
        "exec" => exec(global, command),
        "list" => list(global, command).map(|()| 0),
        "ps" => ps(global, command),
        "pause" | "resume" => pause(global, command).map(|()| 0),
        "update" => update(global, command).map(|()| 0),
        "features" => {
            print!("{}", include_str!("features.json"));
            Ok(0)
        }
        "spec" => spec(command).map(|()| 0),
        "events" => Err(RuntimeError::new(
            "events is not supported by hybridock-runtime",
        )),
        other => Err(RuntimeError::new(format!("No help topic for '{other}'"))),
    }
}

/// `--preserve-fds N`: how many fds from 3 on the container's process inherits.
fn preserve_fds(command: &Command) -> Result<u32> {
    Ok(number(command, "preserve-fds")?.unwrap_or(0))
}

fn create_options(command: &Command) -> Result<CreateOptions<'_>> {
    Ok(CreateOptions {
        preserve_fds: preserve_fds(command)?,
        id: command.id(),
        bundle: PathBuf::from(command.value("bundle").unwrap_or(".")),
        console_socket: command.value("console-socket"),
        pid_file: command.value("pid-file"),
        keep_terminal: command.name == "run" && !command.is_set("detach"),
    })
}

fn create(global: &Global, command: &Command) -> Result<(Container, Option<OwnedFd>)> {
    container::create(global, &create_options(command)?)
}

/// `run`: create + start; in the foreground waits, deletes and exits with the init's status.
fn run(global: &Global, command: &Command) -> Result<i32> {
    let (container, terminal) = create(global, command)?;
    if let Err(error) = container::start(&container) {
        let _ = container::destroy(&container, true);
        return Err(error);
    }
    if command.is_set("detach") {
        return Ok(0);
    }
    if let Some(master) = terminal {
        console::proxy(&master);
    }
    let code = container::wait_forwarding(container.record.pid);
    if !command.is_set("keep") {
        container::destroy(&container, true)?;
    }
    Ok(code)
}

fn state(global: &Global, command: &Command) -> Result<()> {
    let container = Container::load(&global.root, command.id())?;
    let document = container.oci_state(container.status());
    let text = serde_json::to_string_pretty(&document)
        .map_err(|error| RuntimeError::new(error.to_string()))?;
    print!("{text}");
    Ok(())
}

fn kill(global: &Global, command: &Command) -> Result<()> {
    let container = Container::load(&global.root, command.id())?;
    let signal = parse_signal(command.args.get(1).map_or("SIGTERM", String::as_str))?;
    container::signal(&container, signal, command.is_set("all"))
}

/// runc's `exec` flags over the config's process (or `--process FILE` alone).
fn exec_process(container: &Container, command: &Command) -> Result<Process> {
    if let Some(path) = command.value("process") {
        let text =
            std::fs::read(path).map_err(io_context("cannot read", std::path::Path::new(path)))?;
        return serde_json::from_slice(&text)
            .map_err(|error| RuntimeError::new(format!("failed to parse {path}: {error}")));
    }
    let mut process = container.record.config.process.clone().unwrap_or_default();
    process.args = command.args[1..].to_vec();
    if process.args.is_empty() {
        return Err(RuntimeError::new("exec args cannot be empty"));
    }
    process.terminal = command.is_set("tty");
    process.env.extend(command.values("env").iter().cloned());
    if let Some(cwd) = command.value("cwd") {
        cwd.clone_into(&mut process.cwd);
    }
    if let Some(user) = command.value("user") {
        let (uid, gid) = user.split_once(':').unwrap_or((user, ""));
        let number = |text: &str| {
            text.parse::<u32>()
                .map_err(|_| RuntimeError::new(format!("parsing {text} as int for user failed")))
        };
        process.user.uid = number(uid)?;
        if !gid.is_empty() {
            process.user.gid = number(gid)?;
        }
    }
    for gid in command.values("additional-gids") {
        let gid = gid
            .parse()
            .map_err(|_| RuntimeError::new(format!("parsing {gid} as int for gid failed")))?;
        process.user.additional_gids.push(gid);
    }
    if command.is_set("no-new-privs") {
        process.no_new_privileges = true;
    }
    if let Some(capabilities) = process.capabilities.as_mut() {
        for cap in command.values("cap") {
            for set in [
                &mut capabilities.bounding,
                &mut capabilities.effective,
                &mut capabilities.permitted,
                &mut capabilities.ambient,
            ] {
                if !set.contains(cap) {
                    set.push(cap.clone());
                }
            }
        }
    }
    Ok(process)
}

fn exec(global: &Global, command: &Command) -> Result<i32> {
    let container = Container::load(&global.root, command.id())?;
    match container.status() {
        Status::Stopped => {
            return Err(RuntimeError::new(
                "exec failed: cannot exec in a stopped container",
            ))
        }
        Status::Paused if !command.is_set("ignore-paused") => {
            return Err(RuntimeError::new(
                "exec failed: cannot exec in a paused container",
            ))
        }
        _ => {}
    }
    let preserve_fds = preserve_fds(command)?;
    let process = exec_process(&container, command)?;
    let detach = command.is_set("detach");
    let console_socket = command.value("console-socket");
    if process.terminal && console_socket.is_none() && detach {
        return Err(RuntimeError::new(
            "cannot allocate tty if runc will detach without setting console socket",
        ));
    }
    let console = console_socket
        .map(|path| {
            std::os::unix::net::UnixStream::connect(path).map_err(io_context(
                "cannot connect to the console socket",
                std::path::Path::new(path),
            ))
        })
        .transpose()?;
    let context = Context {
        bundle: &container.record.bundle,
        cgroup_join: container
            .record
            .cgroup
            .as_ref()
            .map(hybridock_spawn::oci::cgroups::Cgroup::join_files)
            .unwrap_or_default(),
        stdio: [None; 3],
        console_socket: console.as_ref().map(std::os::fd::AsRawFd::as_raw_fd),
        start_gate: None,
    };
    let mut spec = oci::exec_spec_for(
        &process,
        container.record.pid,
        &container.record.config,
        &context,
    )
    .map_err(|error| RuntimeError::new(format!("exec failed: {error}")))?;
    spec.preserve_fds = preserve_fds;
    let spawned = spawn::exec_in(&spec)
        .map_err(|error| RuntimeError::new(format!("exec failed: {error}")))?;
    let mut master = spawned.terminal;
    if let Some(socket) = &console {
        if let Some(pty) = master.take() {
            console::send_master(socket, &pty)?;
        }
    }
    drop(console);
    if let Some(path) = command.value("pid-file") {
        container::write_pid_file(path, spawned.pid)?;
    }
    if detach {
        return Ok(0);
    }
    if let Some(master) = master {
        console::proxy(&master);
    }
    Ok(container::wait_forwarding(spawned.pid))
}

fn list(global: &Global, command: &Command) -> Result<()> {
    let containers: Vec<Container> = state::ids(&global.root)
        .iter()
        .filter_map(|id| Container::load(&global.root, id).ok())
        .collect();
    if command.is_set("quiet") {
        for container in &containers {
            println!("{}", container.record.id);
        }
        return Ok(());
    }
    let owner = |container: &Container| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&container.directory)
            .map(|metadata| state::user_name(metadata.uid()))
            .unwrap_or_default()
    };
    match command.value("format").unwrap_or("table") {
        "json" => {
            let owners: Vec<String> = containers.iter().map(owner).collect();
            let documents: Vec<state::OciState<'_>> = containers
                .iter()
                .zip(&owners)
                .map(|(container, owner)| state::OciState {
                    owner,
                    ..container.oci_state(container.status())
                })
                .collect();
            if documents.is_empty() {
                println!("null");
            } else {
                let text = serde_json::to_string(&documents)
                    .map_err(|error| RuntimeError::new(error.to_string()))?;
                println!("{text}");
            }
        }
        "table" => {
            let mut rows =
                vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(str::to_owned)];
            for container in &containers {
                let status = container.status();
                let pid = if status == Status::Stopped {
                    0
                } else {
                    container.record.pid
                };
                rows.push([
                    container.record.id.clone(),
                    pid.to_string(),
                    status.as_str().to_owned(),
                    container.record.bundle.display().to_string(),
                    container.record.created.clone(),
                    owner(container),
                ]);
            }
            print!("{}", table(&rows));
        }
        other => return Err(RuntimeError::new(format!("invalid format option: {other}"))),
    }
    Ok(())
}

/// Go's tabwriter as runc sets it up (min width 12, padding 3).
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (index, cell) in row.iter().enumerate() {
            widths[index] = widths[index].max(cell.len());
        }
    }
    let mut text = String::new();
    for row in rows {
        for (index, cell) in row.iter().enumerate() {
            if index + 1 == N {
                text.push_str(cell);
            } else {
                let width = (widths[index] + 3).max(12);
                let _ = write!(text, "{cell:<width$}");
            }
        }
        text.push('\n');
    }
    text
}

fn ps(global: &Global, command: &Command) -> Result<i32> {
    let container = Container::load(&global.root, command.id())?;
    let pids = match &container.record.cgroup {
        Some(cgroup) => cgroup
            .pids()
            .map_err(|error| RuntimeError::new(error.to_string()))?,
        None if container.alive() => vec![container.record.pid],
        None => Vec::new(),
    };
    match command.value("format").unwrap_or("table") {
        "json" => {
            println!("{}", serde_json::Value::from(pids));
            Ok(0)
        }
        "table" => {
            let arguments: Vec<String> = if command.args.len() > 1 {
                command.args[1..].to_vec()
            } else {
                vec!["-ef".to_owned()]
            };
            let output = std::process::Command::new("ps")
                .args(&arguments)
                .output()
                .map_err(|error| RuntimeError::new(format!("ps: {error}")))?;
            if !output.status.success() {
                return Err(RuntimeError::new(format!(
                    "{}: {}",
                    String::from_utf8_lossy(&output.stderr).trim(),
                    output.status
                )));
            }
            let text = String::from_utf8_lossy(&output.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let Some(column) = header.split_whitespace().position(|field| field == "PID") else {
                return Err(RuntimeError::new("couldn't find PID field in ps output"));
            };
            let mut out = format!("{header}\n");
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(column)
                    .and_then(|pid| pid.parse().ok());
                if pid.is_some_and(|pid| pids.contains(&pid)) {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            print!("{out}");
            Ok(0)
        }
        other => Err(RuntimeError::new(format!("invalid format option: {other}"))),
    }
}

fn pause(global: &Global, command: &Command) -> Result<()> {
    let container = Container::load(&global.root, command.id())?;
    let pausing = command.name == "pause";
    match (container.status(), pausing) {
        (Status::Running, true) | (Status::Paused, false) => {}
        (Status::Paused, true) => return Ok(()),
        (_, true) => return Err(RuntimeError::new("container not running")),
        (_, false) => return Err(RuntimeError::new("container not paused")),
    }
    let Some(cgroup) = &container.record.cgroup else {
        return Err(RuntimeError::new("this container has no freezer cgroup"));
    };
    cgroup
        .freeze(pausing)
        .map_err(|error| RuntimeError::new(error.to_string()))
}

fn number<T: std::str::FromStr>(command: &Command, name: &str) -> Result<Option<T>> {
    command
        .value(name)
        .map(|text| {
            text.parse()
                .map_err(|_| RuntimeError::new(format!("invalid value for {name}: {text}")))
        })
        .transpose()
}

/// A size as docker's `RAMInBytes` reads it: `67108864`, `50M`, `1g`, `512kb`; `-1` unlimited.
fn parse_bytes(text: &str) -> Option<i64> {
    if text == "-1" {
        return Some(-1);
    }
    let lower = text.trim().to_ascii_lowercase();
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &lower[digits.len()..];
    let factor: i64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return None,
    };
    let value: i64 = digits.trim().parse().ok()?;
    value.checked_mul(factor).filter(|&bytes| bytes >= 0)
}

fn bytes(command: &Command, name: &str) -> Result<Option<i64>> {
    command
        .value(name)
        .map(|text| {
            parse_bytes(text)
                .ok_or_else(|| RuntimeError::new(format!("invalid value for {name}: {text}")))
        })
        .transpose()
}

/// `update`: `--resources FILE|-` (all other flags ignored then, as runc), else the flags.
fn update(global: &Global, command: &Command) -> Result<()> {
    let mut container = Container::load(&global.root, command.id())?;
    if container.status() == Status::Stopped {
        return Err(RuntimeError::new("container not running"));
    }
    let resources: Resources = if let Some(path) = command.value("resources") {
        let mut text = Vec::new();
        if path == "-" {
            std::io::stdin().read_to_end(&mut text)?;
        } else {
            text = std::fs::read(path)
                .map_err(io_context("cannot read", std::path::Path::new(path)))?;
        }
        serde_json::from_slice(&text)
            .map_err(|error| RuntimeError::new(format!("invalid resources: {error}")))?
    } else {
        let memory = Memory {
            limit: bytes(command, "memory")?,
            reservation: bytes(command, "memory-reservation")?,
            swap: bytes(command, "memory-swap")?,
            ..Memory::default()
        };
        let cpu = Cpu {
            shares: number(command, "cpu-share")?,
            quota: number(command, "cpu-quota")?,
            period: number(command, "cpu-period")?,
            realtime_runtime: number(command, "cpu-rt-runtime")?,
            realtime_period: number(command, "cpu-rt-period")?,
            cpus: command.value("cpuset-cpus").map(str::to_owned),
            mems: command.value("cpuset-mems").map(str::to_owned),
            ..Cpu::default()
        };
        Resources {
            memory: Some(memory),
            cpu: Some(cpu),
            pids: number(command, "pids-limit")?.map(|limit| Pids { limit }),
            block_io: number(command, "blkio-weight")?.map(|weight| {
                hybridock_spawn::oci::config::BlockIo {
                    weight: Some(weight),
                    ..Default::default()
                }
            }),
            ..Resources::default()
        }
    };
    let Some(cgroup) = &container.record.cgroup else {
        return Err(RuntimeError::new("this container has no cgroup to update"));
    };
    cgroup
        .apply(&resources)
        .map_err(|error| RuntimeError::new(error.to_string()))?;
    let linux = container
        .record
        .config
        .linux
        .get_or_insert_with(Default::default);
    merge_resources(
        linux.resources.get_or_insert_with(Default::default),
        resources,
    );
    container.save()
}

/// The stored resources with the updated values over them.
fn merge_resources(stored: &mut Resources, update: Resources) {
    if let Some(memory) = update.memory {
        let old = stored.memory.get_or_insert_with(Default::default);
        old.limit = memory.limit.or(old.limit);
        old.reservation = memory.reservation.or(old.reservation);
        old.swap = memory.swap.or(old.swap);
    }
    if let Some(cpu) = update.cpu {
        let old = stored.cpu.get_or_insert_with(Default::default);
        old.shares = cpu.shares.or(old.shares);
        old.quota = cpu.quota.or(old.quota);
        old.period = cpu.period.or(old.period);
        old.cpus = cpu.cpus.or(old.cpus.take());
        old.mems = cpu.mems.or(old.mems.take());
    }
    if update.pids.is_some() {
        stored.pids = update.pids;
    }
    if update.block_io.is_some() {
        stored.block_io = update.block_io;
    }
}

/// `spec`: runc's default config.json in the bundle.
fn spec(command: &Command) -> Result<()> {
    if command.is_set("rootless") {
        return Err(RuntimeError::new(
            "rootless containers are not supported by hybridock-runtime",
        ));
    }
    let bundle = PathBuf::from(command.value("bundle").unwrap_or("."));
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(RuntimeError::new(
            "File config.json exists. Remove it first.",
        ));
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io_context("cannot write", &path))?;
    file.write_all(include_bytes!("spec.json"))
        .map_err(io_context("cannot write", &path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (text, value) in [
            ("67108864", 67_108_864),
            ("50M", 52_428_800),
            ("1g", 1_073_741_824),
            ("512kb", 524_288),
            ("-1", -1),
        ] {
            assert_eq!(parse_bytes(text), Some(value), "{text}");
        }
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_bytes("5x"), None);
    }
}
