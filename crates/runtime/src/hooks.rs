//! OCI hooks: each hook's `path` run with `args` (argv[0] included) and `env`, the container's
//! state JSON on its stdin, killed after `timeout` seconds; a failure fails the operation in
//! runc's words (`error running createRuntime hook #0: ...`).
//!
//! `prestart`/`createRuntime` and `poststart`/`poststop` run in the runtime's namespaces.
//! `createContainer` and `startContainer` belong in the container's: the spawner's child is
//! already pivoted and waiting at the start gate when they run, so a helper child joins the
//! init's mount, uts, ipc and network namespaces (`setns`) and execs the hook there; its path
//! therefore resolves in the container's root (the spec's rule for `startContainer`; for
//! `createContainer` runc resolves it before `pivot_root`, in the runtime's view).

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hybridock_spawn::oci::Hook;
use hybridock_spawn::spawn::exec;

use crate::errors::{Result, RuntimeError};

/// Where a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Runtime,
    /// In the namespaces of this (container init) pid.
    Container(libc::pid_t),
}

/// Runs every hook of the kind `name` in order; the first failure is the error.
pub fn run_all(name: &str, hooks: &[Hook], state: &str, place: Place) -> Result<()> {
    for (index, hook) in hooks.iter().enumerate() {
        run(hook, state, place).map_err(|error| {
            RuntimeError::new(format!("error running {name} hook #{index}: {error}"))
        })?;
    }
    Ok(())
}

fn run(hook: &Hook, state: &str, place: Place) -> Result<()> {
    let mut command = Command::new(&hook.path);
    if let Some((first, rest)) = hook.args.split_first() {
        command.arg0(first).args(rest);
    }
    command.env_clear();
    for entry in &hook.env {
        if let Some((key, value)) = entry.split_once('=') {
            command.env(key, value);
        }
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Place::Container(pid) = place {
        let namespaces = open_namespaces(pid)?;
        // SAFETY: runs in the forked child before exec: setns(2) on fds opened before the
        // fork, nothing allocated.
        unsafe {
            command.pre_exec(move || {
                for fd in &namespaces {
                    if libc::setns(fd.as_raw_fd(), 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
    let mut child = command.spawn().map_err(|error| {
        RuntimeError::new(format!(
            "error running hook: {}",
            crate::errors::strip_os_error(&error)
        ))
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(state.as_bytes()); // a hook need not read it
    }
    let deadline = hook
        .timeout
        .filter(|&seconds| seconds > 0)
        .map(|seconds| Instant::now() + Duration::from_secs(seconds as u64));
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RuntimeError::new(format!(
                "hook ran past specified timeout of {:.1}s",
                f64::from(u32::try_from(hook.timeout.unwrap_or(0)).unwrap_or(u32::MAX))
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if status.success() {
        return Ok(());
    }
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_string(&mut stdout);
    }
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let how = match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "signal: killed".to_owned(),
    };
    Err(RuntimeError::new(format!(
        "error running hook: {how}, stdout: {stdout}, stderr: {stderr}"
    )))
}

/// The init's namespaces that differ from ours, mount last (after it our paths are gone).
fn open_namespaces(pid: libc::pid_t) -> Result<Vec<OwnedFd>> {
    let mut fds = Vec::new();
    for name in ["uts", "ipc", "net", "mnt"] {
        let opened = |owner: libc::pid_t| {
            exec::open_namespace(owner, name).map_err(|error| {
                let whose = if owner == 0 {
                    "thread-self".to_owned()
                } else {
                    owner.to_string()
                };
                RuntimeError::new(format!(
                    "cannot open /proc/{whose}/ns/{name}: {}",
                    crate::errors::strip_os_error(&error)
                ))
            })
        };
        let theirs = opened(pid)?;
        if !exec::same_file(&theirs, &opened(0)?) {
            fds.push(theirs);
        }
    }
    Ok(fds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(script: &str, timeout: Option<i64>) -> Hook {
        Hook {
            path: "/bin/sh".into(),
            args: vec!["sh".into(), "-c".into(), script.into()],
            env: vec!["X=1".into()],
            timeout,
        }
    }

    #[test]
    fn state_on_stdin_and_env() {
        let ok = hook(
            r#"read -r s; [ "$s" = '{"id":"x"}' ] && [ "$X" = 1 ]"#,
            None,
        );
        run_all("poststart", &[ok], "{\"id\":\"x\"}\n", Place::Runtime).unwrap();
    }

    #[test]
    fn failure_and_timeout_in_runcs_words() {
        let failing = hook("echo out; echo err >&2; exit 3", None);
        let error = run_all("prestart", &[failing], "{}", Place::Runtime).unwrap_err();
        assert_eq!(
            error.to_string(),
            "error running prestart hook #0: error running hook: exit status 3, stdout: out\n, stderr: err\n"
        );
        let slow = hook("sleep 5", Some(1));
        let error = run_all("poststop", &[slow], "{}", Place::Runtime).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("hook ran past specified timeout of 1.0s"),
            "{error}"
        );
    }
}
