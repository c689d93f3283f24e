//! OCI mounts -> [`OciMount`]s: runc's option table (`parseMountOptions`), bind sources
//! relative to the bundle, and a v1 `cgroup` mount turned into runc's emulation (a tmpfs with
//! one directory per host hierarchy, [`CgroupView::V1`]) read from this host's mounts.

use std::path::{Path, PathBuf};

use crate::oci::config::{Mount, OciError};
use crate::spawn::{CgroupSource, CgroupView, OciMount};

/// (option, flags set, flags cleared), runc's `mountFlags` table.
const FLAGS: [(&str, u64, u64); 33] = [
    ("acl", libc::MS_POSIXACL, 0),
    ("async", 0, libc::MS_SYNCHRONOUS),
    ("atime", 0, libc::MS_NOATIME),
    ("bind", libc::MS_BIND, 0),
    ("defaults", 0, 0),
    ("dev", 0, libc::MS_NODEV),
    ("diratime", 0, libc::MS_NODIRATIME),
    ("dirsync", libc::MS_DIRSYNC, 0),
    ("exec", 0, libc::MS_NOEXEC),
    ("iversion", libc::MS_I_VERSION, 0),
    ("lazytime", libc::MS_LAZYTIME, 0),
    ("loud", 0, libc::MS_SILENT),
    ("mand", libc::MS_MANDLOCK, 0),
    ("noacl", 0, libc::MS_POSIXACL),
    ("noatime", libc::MS_NOATIME, 0),
    ("nodev", libc::MS_NODEV, 0),
    ("nodiratime", libc::MS_NODIRATIME, 0),
    ("noexec", libc::MS_NOEXEC, 0),
    ("noiversion", 0, libc::MS_I_VERSION),
    ("nolazytime", 0, libc::MS_LAZYTIME),
    ("nomand", 0, libc::MS_MANDLOCK),
    ("norelatime", 0, libc::MS_RELATIME),
    ("nostrictatime", 0, libc::MS_STRICTATIME),
    ("nosuid", libc::MS_NOSUID, 0),
    ("rbind", libc::MS_BIND | libc::MS_REC, 0),
    ("relatime", libc::MS_RELATIME, 0),
    ("remount", libc::MS_REMOUNT, 0),
    ("ro", libc::MS_RDONLY, 0),
    ("rw", 0, libc::MS_RDONLY),
    ("silent", libc::MS_SILENT, 0),
    ("strictatime", libc::MS_STRICTATIME, 0),
    ("suid", 0, libc::MS_NOSUID),
    ("sync", libc::MS_SYNCHRONOUS, 0),
];

/// Propagation options and their flags.
const PROPAGATION: [(&str, u64); 8] = [
    ("private", libc::MS_PRIVATE),
    ("rprivate", libc::MS_PRIVATE | libc::MS_REC),
    ("shared", libc::MS_SHARED),
    ("rshared", libc::MS_SHARED | libc::MS_REC),
    ("slave", libc::MS_SLAVE),
    ("rslave", libc::MS_SLAVE | libc::MS_REC),
    ("unbindable", libc::MS_UNBINDABLE),
    ("runbindable", libc::MS_UNBINDABLE | libc::MS_REC),
];

/// The flags of a propagation name (`rootfsPropagation`, a mount's option).
#[must_use]
pub fn propagation_flags(name: &str) -> Option<u64> {
    PROPAGATION
        .iter()
        .find_map(|&(option, flags)| (option == name).then_some(flags))
}

/// One OCI mount, parsed. `bundle` anchors relative bind sources (runc runs in the bundle).
pub fn oci_mount(mount: &Mount, bundle: &Path) -> Result<OciMount, OciError> {
    let mut flags = 0u64;
    let mut propagation = 0u64;
    let mut recursive_readonly = false;
    let mut data: Vec<&str> = Vec::new();
    for option in &mount.options {
        let option = option.as_str();
        if let Some(&(_, set, clear)) = FLAGS.iter().find(|(name, ..)| *name == option) {
            flags = (flags & !clear) | set;
        } else if let Some(value) = propagation_flags(option) {
            propagation = value;
        } else if option == "rro" {
            recursive_readonly = true;
            flags |= libc::MS_RDONLY;
        } else if option == "tmpcopyup" {
            // runc's copy of the image's files into a fresh tmpfs: not done (the tmpfs starts
            // empty), as crun without the option.
        } else if matches!(option, "idmap" | "ridmap") || option.starts_with("idmap=") {
            return Err(OciError::Unsupported(format!(
                "mount {}: idmapped mounts are not supported",
                mount.destination
            )));
        } else {
            data.push(option);
        }
    }
    let fstype = mount.type_.as_deref().filter(|kind| !kind.is_empty());
    if fstype == Some("bind") {
        flags |= libc::MS_BIND;
    }
    // `rbind,ro` makes the top mount read-only and leaves the mounts below as they are (the
    // kernel ignores MS_REC on a remount; runc and docker's `:ro` behave so); `rro` is the
    // spec's way to ask for all of them
    let bind = flags & libc::MS_BIND != 0;
    let source = match (&mount.source, bind) {
        (Some(source), true) if !source.starts_with('/') => {
            Some(bundle.join(source).to_string_lossy().into_owned())
        }
        (Some(source), true) => Some(source.clone()),
        (None, true) => {
            return Err(OciError::Invalid(format!(
                "mount {}: a bind mount needs a source",
                mount.destination
            )))
        }
        (source, false) => source.clone(),
    };
    let destination = if mount.destination.starts_with('/') {
        mount.destination.clone()
    } else {
        // runc 1.1 takes a relative destination as relative to / (with a warning).
        format!("/{}", mount.destination)
    };
    Ok(OciMount {
        destination,
        fstype: if bind {
            None
        } else {
            fstype.map(str::to_owned)
        },
        source,
        flags,
        data: data.join(","),
        propagation,
        recursive_readonly,
    })
}

/// super options of a v1 cgroup mount that say how it is mounted, not which hierarchy it is.
const NOT_A_HIERARCHY: [&str; 6] = [
    "rw",
    "ro",
    "xattr",
    "noprefix",
    "clone_children",
    "cpuset_v2_mode",
];

/// A v1 hierarchy mounted on this host: its mount point and naming options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    pub point: PathBuf,
    pub options: String,
}

/// The v1 hierarchies under /sys/fs/cgroup in a /proc/self/mountinfo.
#[must_use]
pub fn v1_hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = before.split_whitespace().collect();
        let tail: Vec<&str> = after.split_whitespace().collect();
        if fields.len() < 5 || tail.len() < 3 || tail[0] != "cgroup" {
            continue;
        }
        let point = PathBuf::from(fields[4].replace("\\040", " "));
        if point.parent() != Some(Path::new("/sys/fs/cgroup")) {
            continue;
        }
        let options: Vec<&str> = tail[2]
            .split(',')
            .filter(|option| {
                !NOT_A_HIERARCHY.contains(option) && !option.starts_with("release_agent=")
            })
            .collect();
        if !options.is_empty() {
            found.push(Hierarchy {
                point,
                options: options.join(","),
            });
        }
    }
    found
}

/// runc's v1 emulation for a `cgroup` mount: each hierarchy a new mount (private cgroup
/// namespace, whose root is the container's cgroup) or a bind of the container's directory in
/// it (found among the `cgroup_join` files); the host's merged-hierarchy symlinks. `None` on a
/// host without v1 hierarchies (the mount becomes cgroup2, as runc does).
#[must_use]
pub fn cgroup_v1_view(
    hierarchies: &[Hierarchy],
    links: Vec<(String, String)>,
    private_namespace: bool,
    cgroup_join: &[PathBuf],
    writable: bool,
) -> Option<CgroupView> {
    if hierarchies.is_empty() {
        return None;
    }
    let named = hierarchies
        .iter()
        .filter_map(|hierarchy| {
            let name = hierarchy.point.file_name()?.to_string_lossy().into_owned();
            let source = if private_namespace {
                CgroupSource::Hierarchy(hierarchy.options.clone())
            } else {
                let own = cgroup_join
                    .iter()
                    .filter(|join| join.starts_with(&hierarchy.point))
                    .find_map(|join| join.parent().map(Path::to_path_buf));
                CgroupSource::Bind(own.unwrap_or_else(|| hierarchy.point.clone()))
            };
            Some((name, source))
        })
        .collect();
    Some(CgroupView::V1 {
        hierarchies: named,
        links,
        writable,
    })
}

/// The symlinks in the host's /sys/fs/cgroup (`cpu -> cpu,cpuacct`).
#[must_use]
pub fn host_cgroup_links() -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return Vec::new();
    };
    let mut links: Vec<(String, String)> = entries
        .flatten()
        .filter_map(|entry| {
            let target = std::fs::read_link(entry.path()).ok()?;
            Some((
                entry.file_name().to_string_lossy().into_owned(),
                target.to_string_lossy().into_owned(),
            ))
        })
        .filter(|(_, target)| !target.contains('/'))
        .collect();
    links.sort();
    links
}
