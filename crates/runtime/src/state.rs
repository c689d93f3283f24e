//! The state directory: `<root>/<id>/` holds `state.json` (what later commands need: the init's
//! pid and its start time, the bundle, the config, the cgroup) and, between `create` and
//! `start`, `exec.fifo`, the start gate the init waits on.
//!
//! The status is never stored; it is read from the kernel each time, as runc does: `stopped`
//! when the pid is gone, a zombie, or another process now (its start time differs), `created`
//! while the fifo exists, `paused` while the cgroup is frozen, else `running`. A directory
//! without `state.json` is a `create` still running (`creating`).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use hybridock_spawn::oci::cgroups::Cgroup;
use hybridock_spawn::oci::Config;
use serde::{Deserialize, Serialize};

use crate::errors::{io_context, Result, RuntimeError};

pub const OCI_VERSION: &str = "1.0.2-dev";
pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

/// What `state.json` records.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub pid: libc::pid_t,
    /// Field 22 of /proc/PID/stat when created: tells a recycled pid.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    pub config: Config,
    pub cgroup: Option<Cgroup>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
        }
    }
}

/// The spec's state, in runc's field order.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState<'a> {
    pub oci_version: &'static str,
    pub id: &'a str,
    pub pid: libc::pid_t,
    pub status: &'static str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: &'a std::collections::BTreeMap<String, String>,
    pub owner: &'a str,
}

/// A container's directory and record.
#[derive(Clone, Debug)]
pub struct Container {
    pub directory: PathBuf,
    pub record: Record,
}

/// runc's rule for ids: no path separators, nothing but `[\w+.-]`.
pub fn check_id(id: &str) -> Result<()> {
    let valid = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"_+-.".contains(&byte));
    if valid {
        Ok(())
    } else {
        Err(RuntimeError::new(format!(
            "invalid container id format: {id}"
        )))
    }
}

/// Makes `<root>/<id>` (the root too, 0700): fails if the container exists.
pub fn make_directory(root: &Path, id: &str) -> Result<PathBuf> {
    check_id(id)?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(io_context("cannot create the state root", root))?;
    let directory = root.join(id);
    match fs::DirBuilder::new().mode(0o700).create(&directory) {
        Ok(()) => Ok(directory),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            Err(RuntimeError::new("container with given ID already exists"))
        }
        Err(error) => Err(io_context("cannot create", &directory)(error)),
    }
}

/// Writes `contents` to `path` atomically (a temporary file renamed over it).
pub fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let temporary = path.with_file_name(format!(".{name}.{}", std::process::id()));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temporary)
        .map_err(io_context("cannot write", &temporary))?;
    file.write_all(contents)
        .map_err(io_context("cannot write", &temporary))?;
    drop(file);
    fs::rename(&temporary, path).map_err(|error| {
        let _ = fs::remove_file(&temporary);
        io_context("cannot write", path)(error)
    })
}

impl Container {
    /// The container `id` under `root`.
    pub fn load(root: &Path, id: &str) -> Result<Self> {
        check_id(id).map_err(|_| RuntimeError::new("container does not exist"))?;
        let directory = root.join(id);
        let text = match fs::read(directory.join(STATE_FILE)) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(RuntimeError::new("container does not exist"));
            }
            Err(error) => {
                return Err(io_context("cannot read", &directory.join(STATE_FILE))(
                    error,
                ))
            }
        };
        let record = serde_json::from_slice(&text)
            .map_err(|error| RuntimeError::new(format!("invalid state of {id}: {error}")))?;
        Ok(Self { directory, record })
    }

    pub fn save(&self) -> Result<()> {
        let text = serde_json::to_vec(&self.record)
            .map_err(|error| RuntimeError::new(error.to_string()))?;
        write_atomically(&self.directory.join(STATE_FILE), &text, 0o600)
    }

    #[must_use]
    pub fn fifo(&self) -> PathBuf {
        self.directory.join(EXEC_FIFO)
    }

    /// Whether the init process still lives (the same process, not a zombie).
    #[must_use]
    pub fn alive(&self) -> bool {
        self.record.pid > 0 && process_start(self.record.pid) == Some(self.record.pid_start)
    }

    #[must_use]
    pub fn status(&self) -> Status {
        if !self.alive() {
            Status::Stopped
        } else if self.fifo().exists() {
            Status::Created
        } else if self.record.cgroup.as_ref().is_some_and(Cgroup::frozen) {
            Status::Paused
        } else {
            Status::Running
        }
    }

    /// The spec's state document at `status`.
    #[must_use]
    pub fn oci_state(&self, status: Status) -> OciState<'_> {
        OciState {
            oci_version: OCI_VERSION,
            id: &self.record.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.record.pid
            },
            status: status.as_str(),
            bundle: &self.record.bundle,
            rootfs: &self.record.rootfs,
            created: &self.record.created,
            annotations: &self.record.config.annotations,
            owner: &self.record.owner,
        }
    }

    /// Removes the state directory.
    pub fn remove_directory(&self) -> Result<()> {
        match fs::remove_dir_all(&self.directory) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                Err(io_context("cannot remove", &self.directory)(error))
            }
            _ => Ok(()),
        }
    }
}

/// The start time (clock ticks after boot) of a live, non-zombie process; `None` otherwise.
#[must_use]
pub fn process_start(pid: libc::pid_t) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Field 22 (starttime) of a /proc/PID/stat text, `None` for a zombie or dead process.
#[must_use]
pub fn parse_stat(text: &str) -> Option<u64> {
    // the command (field 2) may hold spaces and parentheses: fields resume after the last ')'
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    if matches!(fields.first(), Some(&("Z" | "X" | "x"))) {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Every container id under `root`, sorted.
#[must_use]
pub fn ids(root: &Path) -> Vec<String> {
    let mut ids: Vec<String> = fs::read_dir(root)
        .map(|entries| {
            entries
                .filter_map(std::result::Result::ok)
                .filter(|entry| entry.path().join(STATE_FILE).exists())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The user name of a uid (from /etc/passwd), else the number.
#[must_use]
pub fn user_name(uid: u32) -> String {
    fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.len() > 2 && fields[2] == uid.to_string()).then(|| fields[0].to_owned())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_start_time() {
        let text = "123 (a b) c) S 1 123 123 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_stat(text), Some(98765));
        let zombie = "123 (sh) Z 1 123 123 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 0 0";
        assert_eq!(parse_stat(zombie), None);
        assert!(process_start(std::process::id() as i32).is_some());
    }

    #[test]
    fn ids_as_runc_takes_them() {
        for good in ["box", "a.b-c_d+1", "0123"] {
            assert!(check_id(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "x\0"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn state_document_in_runcs_order() {
        let container = Container {
            directory: PathBuf::from("/nonexistent/box"),
            record: Record {
                id: "box".into(),
                pid: 42,
                bundle: "/b".into(),
                rootfs: "/b/rootfs".into(),
                created: "2026-12-07T02:08:55.328489402Z".into(),
                owner: String::new(),
                ..Record::default()
            },
        };
        let text = serde_json::to_string(&container.oci_state(Status::Created)).unwrap();
        assert_eq!(
            text,
            r#"{"ociVersion":"1.0.2-dev","id":"box","pid":42,"status":"created","bundle":"/b","rootfs":"/b/rootfs","created":"2026-12-07T02:08:55.328489402Z","owner":""}"#
        );
        assert_eq!(container.status(), Status::Stopped);
        let stopped = serde_json::to_value(container.oci_state(Status::Stopped)).unwrap();
        assert_eq!(stopped["pid"], 0);
    }
}
