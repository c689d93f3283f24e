//! A container's cgroup for the OCI runtime: where `linux.cgroupsPath` puts it, making it with
//! `linux.resources` written, freezing it (pause/resume), listing its pids (ps, kill --all) and
//! removing it (delete). Mirrors hybridock's Python driver (`runtime/cgroups.py`) and runc's
//! `fs`/`fs2` managers.
//!
//! Version: v1 when a v1 hierarchy with one of the resource controllers is mounted (a hybrid
//! host whose cgroup2 mount has no controllers is v1, as runc decides), else v2 when a cgroup2
//! mount has controllers. On v1 the container gets a directory in *every* mounted hierarchy
//! (named ones like `name=systemd` and a hybrid host's cgroup2 mount included), like runc's fs
//! manager; on v2 one directory, the needed controllers enabled in every ancestor's
//! `cgroup.subtree_control`.
//!
//! Paths (runc's `specconv`): `cgroupfs` form `/a/b` is below each hierarchy's root; a relative
//! `a/b` (and no path at all: the container id) is below the runtime's own cgroup of that
//! hierarchy. The `systemd` form `slice:prefix:name` is `slice`'s expansion (`a-b.slice` ->
//! `a.slice/a-b.slice`) then `prefix-name.scope`, under each hierarchy's root. There is no
//! systemd here to ask for a scope: `--systemd-cgroup` paths are made and managed through
//! cgroupfs, which is what runc's systemd driver ends up with on disk.
//!
//! Devices: the spec's rules, then runc's always-allowed devices, from deny all; v1's
//! `devices.deny`/`devices.allow`, v2's BPF program ([`crate::cgroup`]), so both decide alike.
//!
//! Invariants: every directory made is recorded (parents too), so removal takes away exactly
//! what creation made, deepest first; a failed [`create`] removes what it made.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::cgroup::{attach_device_filter, Rule};
use crate::oci::config::{Cpu, DeviceCgroup, Resources};
use crate::spawn::spec::lexical_parts;

/// v1 controllers whose hierarchies make a host v1.
const V1_CONTROLLERS: &[&str] = &["memory", "cpu", "cpuacct", "cpuset", "pids", "blkio"];
/// v2 controllers enabled for a container, when the host has them.
const V2_CONTROLLERS: &[&str] = &["cpu", "cpuset", "io", "memory", "pids", "hugetlb"];
/// The key of the cgroup2 hierarchy in [`Cgroup::directories`].
pub const UNIFIED: &str = "";
/// runc's `AllowedDevices`: mknod of anything, the standard nodes, ptys and tun.
const ALLOWED_DEVICES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:8 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:5 rwm",
    "c 1:9 rwm",
    "c 5:1 rwm",
    "c 136:* rwm",
    "c 5:2 rwm",
    "c 10:200 rwm",
];

/// A cgroup that cannot be made, written, frozen or removed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CgroupError(pub String);

fn error(what: &str, path: &Path, source: &io::Error) -> CgroupError {
    let text = source.to_string();
    let reason = text.split(" (os error").next().unwrap_or(&text);
    CgroupError(format!("{what} {}: {reason}", path.display()))
}

// --- linux.resources ----------------------------------------------------------------------------

/// A device rule in the v1 files' syntax: `c 1:3 rwm`, `a *:* rwm`.
#[must_use]
pub fn rule_text(rule: &DeviceCgroup) -> String {
    let number = |value: Option<i64>| match value {
        Some(value) if value >= 0 => value.to_string(),
        _ => "*".to_owned(),
    };
    let kind = rule
        .type_
        .as_deref()
        .filter(|kind| !kind.is_empty())
        .unwrap_or("a");
    let access = rule
        .access
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    format!(
        "{kind} {}:{} {access}",
        number(rule.major),
        number(rule.minor)
    )
}

/// One value for one control file; `required` false skips a file the host lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub file: String,
    pub value: String,
    pub required: bool,
}

fn write(controller: &'static str, file: &str, value: String) -> Write {
    Write {
        controller,
        file: file.to_owned(),
        value,
        required: true,
    }
}

fn limit_v1(value: i64) -> String {
    if value < 0 {
        "-1".to_owned()
    } else {
        value.to_string()
    }
}

fn limit_v2(value: i64) -> String {
    if value < 0 {
        "max".to_owned()
    } else {
        value.to_string()
    }
}

/// The v1 files `resources` become (runc's fs manager), devices aside.
#[must_use]
pub fn v1_writes(resources: &Resources) -> Vec<Write> {
    let mut writes = Vec::new();
    if let Some(memory) = &resources.memory {
        if let Some(limit) = memory.limit.filter(|&value| value != 0) {
            writes.push(write("memory", "memory.limit_in_bytes", limit_v1(limit)));
        }
        if let Some(swap) = memory.swap.filter(|&value| value != 0) {
            writes.push(write(
                "memory",
                "memory.memsw.limit_in_bytes",
                limit_v1(swap),
            ));
        }
        if let Some(reservation) = memory.reservation.filter(|&value| value != 0) {
            writes.push(write(
                "memory",
                "memory.soft_limit_in_bytes",
                limit_v1(reservation),
            ));
        }
        if let Some(swappiness) = memory.swappiness.filter(|&value| value <= 100) {
            writes.push(write("memory", "memory.swappiness", swappiness.to_string()));
        }
        if memory.disable_oom_killer == Some(true) {
            writes.push(write("memory", "memory.oom_control", "1".to_owned()));
        }
    }
    if let Some(cpu) = &resources.cpu {
        if let Some(shares) = cpu.shares.filter(|&value| value != 0) {
            writes.push(write("cpu", "cpu.shares", shares.to_string()));
        }
        if let Some(period) = cpu.period.filter(|&value| value != 0) {
            writes.push(write("cpu", "cpu.cfs_period_us", period.to_string()));
        }
        if let Some(quota) = cpu.quota.filter(|&value| value != 0) {
            writes.push(write("cpu", "cpu.cfs_quota_us", quota.to_string()));
        }
        if let Some(period) = cpu.realtime_period.filter(|&value| value != 0) {
            writes.push(write("cpu", "cpu.rt_period_us", period.to_string()));
        }
        if let Some(runtime) = cpu.realtime_runtime.filter(|&value| value != 0) {
            writes.push(write("cpu", "cpu.rt_runtime_us", runtime.to_string()));
        }
        push_cpuset(&mut writes, cpu);
    }
    if let Some(pids) = resources.pids.as_ref().filter(|pids| pids.limit != 0) {
        writes.push(write("pids", "pids.max", limit_v2(pids.limit)));
    }
    if let Some(weight) = resources.block_io.as_ref().and_then(|io| io.weight) {
        writes.push(write("blkio", "blkio.weight", weight.to_string()));
    }
    for page in &resources.hugepage_limits {
        let file = format!("hugetlb.{}.limit_in_bytes", page.page_size);
        writes.push(write("hugetlb", &file, page.limit.to_string()));
    }
    writes
}

fn push_cpuset(writes: &mut Vec<Write>, cpu: &Cpu) {
    if let Some(cpus) = cpu.cpus.as_ref().filter(|value| !value.is_empty()) {
        writes.push(write("cpuset", "cpuset.cpus", cpus.clone()));
    }
    if let Some(mems) = cpu.mems.as_ref().filter(|value| !value.is_empty()) {
        writes.push(write("cpuset", "cpuset.mems", mems.clone()));
    }
}

/// runc's `ConvertCPUSharesToCgroupV2Value`.
#[must_use]
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        0
    } else {
        1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
    }
}

/// runc's `ConvertBlkIOToIOWeightValue`.
#[must_use]
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        0
    } else {
        1 + (u64::from(weight.clamp(10, 1000)) - 10) * 9999 / 990
    }
}

/// The v2 files `resources` become (runc's fs2 conversions), devices aside.
pub fn v2_writes(resources: &Resources) -> Result<Vec<Write>, CgroupError> {
    let mut writes = Vec::new();
    if let Some(memory) = &resources.memory {
        let limit = memory.limit.filter(|&value| value != 0);
        if let Some(swap) = memory.swap.filter(|&value| value != 0) {
            // runc's ConvertMemorySwapToCgroupV2Value: v1's memory+swap to v2's swap alone
            let value = match (swap, limit) {
                (-1, _) => "max".to_owned(),
                (_, Some(limit)) if limit > 0 && swap >= limit => (swap - limit).to_string(),
                (_, Some(limit)) if limit > 0 => {
                    return Err(CgroupError(format!(
                        "memory+swap limit ({swap}) should be bigger than memory limit ({limit})"
                    )))
                }
                _ => {
                    return Err(CgroupError(
                        "unable to set swap limit without memory limit".to_owned(),
                    ))
                }
            };
            writes.push(write("memory", "memory.swap.max", value));
        }
        if let Some(limit) = limit {
            writes.push(write("memory", "memory.max", limit_v2(limit)));
        }
        if let Some(reservation) = memory.reservation.filter(|&value| value != 0) {
            writes.push(write("memory", "memory.low", limit_v2(reservation)));
        }
    }
    if let Some(cpu) = &resources.cpu {
        if let Some(shares) = cpu.shares.filter(|&value| value != 0) {
            writes.push(write(
                "cpu",
                "cpu.weight",
                cpu_shares_to_weight(shares).to_string(),
            ));
        }
        if cpu.quota.is_some_and(|value| value != 0) || cpu.period.is_some_and(|value| value != 0) {
            let quota = match cpu.quota {
                Some(quota) if quota > 0 => quota.to_string(),
                _ => "max".to_owned(),
            };
            let period = cpu.period.filter(|&value| value != 0).unwrap_or(100_000);
            writes.push(write("cpu", "cpu.max", format!("{quota} {period}")));
        }
        push_cpuset(&mut writes, cpu);
    }
    if let Some(pids) = resources.pids.as_ref().filter(|pids| pids.limit != 0) {
        writes.push(write("pids", "pids.max", limit_v2(pids.limit)));
    }
    if let Some(weight) = resources.block_io.as_ref().and_then(|io| io.weight) {
        writes.push(write(
            "io",
            "io.weight",
            blkio_weight_to_io_weight(weight).to_string(),
        ));
    }
    for page in &resources.hugepage_limits {
        let file = format!("hugetlb.{}.max", page.page_size);
        writes.push(write("hugetlb", &file, page.limit.to_string()));
    }
    for (file, value) in &resources.unified {
        if file.contains('/') || file.starts_with('.') {
            return Err(CgroupError(format!(
                "unified resource {file:?} is not a file name"
            )));
        }
        let controller = controller_of_file(file);
        writes.push(write(controller, file, value.clone()));
    }
    Ok(writes)
}

fn controller_of_file(file: &str) -> &'static str {
    let prefix = file.split('.').next().unwrap_or("");
    V2_CONTROLLERS
        .iter()
        .chain(&["cgroup", "rdma", "misc"])
        .find(|&&name| name == prefix)
        .copied()
        .unwrap_or("cgroup")
}

/// The device rules a container's cgroup gets, in order from deny all: the spec's, then the
/// devices of `linux.devices` (read, write, mknod), then runc's always-allowed ones.
pub fn device_rules(
    resources: &Resources,
    devices: &[(char, i64, i64)],
) -> Result<Vec<(String, bool)>, CgroupError> {
    let mut rules: Vec<(String, bool)> = resources
        .devices
        .iter()
        .map(|rule| (rule_text(rule), rule.allow))
        .collect();
    rules.extend(
        devices
            .iter()
            .map(|(kind, major, minor)| (format!("{kind} {major}:{minor} rwm"), true)),
    );
    rules.extend(ALLOWED_DEVICES.iter().map(|&rule| (rule.to_owned(), true)));
    for (text, allow) in &rules {
        Rule::parse(text, *allow).map_err(|error| CgroupError(error.to_string()))?;
    }
    Ok(rules)
}

// --- where -------------------------------------------------------------------------------------

/// One mounted cgroup hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    pub point: PathBuf,
    /// The mount's root within the hierarchy (mountinfo's 4th field).
    pub root: String,
    /// v1: its controllers and `name=` (sorted); v2: empty.
    pub controllers: Vec<String>,
    pub version: u8,
}

impl Hierarchy {
    /// The key in [`Cgroup::directories`]: `cpu,cpuacct`, `name=systemd`, or [`UNIFIED`].
    #[must_use]
    pub fn key(&self) -> String {
        self.controllers.join(",")
    }
}

/// This host's cgroup layout: the version and the hierarchies a container gets a cgroup in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub version: u8,
    pub hierarchies: Vec<Hierarchy>,
    /// The runtime's own cgroup per controller (`/proc/self/cgroup`; v2's under "").
    pub own: BTreeMap<String, String>,
}

/// The cgroup and cgroup2 mounts of a mountinfo text.
#[must_use]
pub fn parse_mountinfo(text: &str) -> Vec<Hierarchy> {
    let mut found = Vec::new();
    for line in text.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = before.split(' ').collect();
        let tail: Vec<&str> = after.split(' ').collect();
        if fields.len() < 5 || tail.len() < 3 {
            continue;
        }
        let point = PathBuf::from(fields[4].replace("\\040", " "));
        let root = fields[3].to_owned();
        match tail[0] {
            "cgroup2" => found.push(Hierarchy {
                point,
                root,
                controllers: Vec::new(),
                version: 2,
            }),
            "cgroup" => {
                let mut controllers: Vec<String> = tail[2]
                    .split(',')
                    .filter(|option| {
                        !matches!(
                            *option,
                            "rw" | "ro"
                                | "xattr"
                                | "noprefix"
                                | "clone_children"
                                | "cpuset_v2_mode"
                        ) && !option.starts_with("release_agent=")
                    })
                    .map(str::to_owned)
                    .collect();
                controllers.sort();
                if !controllers.is_empty() {
                    found.push(Hierarchy {
                        point,
                        root,
                        controllers,
                        version: 1,
                    });
                }
            }
            _ => {}
        }
    }
    found
}

/// `/proc/PID/cgroup`: controller -> path (v2's under "").
#[must_use]
pub fn parse_proc_cgroup(text: &str) -> BTreeMap<String, String> {
    let mut paths = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        for controller in controllers.split(',') {
            paths.insert(controller.to_owned(), path.to_owned());
        }
    }
    paths
}

impl Host {
    /// This host's layout, read from /proc/self.
    pub fn detect() -> Result<Self, CgroupError> {
        let read = |path: &str| {
            fs::read_to_string(path)
                .map_err(|source| error("cannot read", Path::new(path), &source))
        };
        Self::from_texts(&read("/proc/self/mountinfo")?, &read("/proc/self/cgroup")?)
    }

    pub fn from_texts(mountinfo: &str, own_cgroup: &str) -> Result<Self, CgroupError> {
        let mut seen: Vec<String> = Vec::new();
        let mut v1 = Vec::new();
        let mut unified = None::<Hierarchy>;
        for hierarchy in parse_mountinfo(mountinfo) {
            if hierarchy.version == 2 {
                if unified.as_ref().map_or(true, |u| {
                    hierarchy.point.as_os_str().len() < u.point.as_os_str().len()
                }) {
                    unified = Some(hierarchy);
                }
            } else if !seen.contains(&hierarchy.key()) {
                // a hierarchy mounted twice: its first mount
                seen.push(hierarchy.key());
                v1.push(hierarchy);
            }
        }
        let own = parse_proc_cgroup(own_cgroup);
        let is_v1 = v1.iter().any(|h| {
            h.controllers
                .iter()
                .any(|c| V1_CONTROLLERS.contains(&c.as_str()))
        });
        if is_v1 {
            v1.extend(unified);
            return Ok(Self {
                version: 1,
                hierarchies: v1,
                own,
            });
        }
        match unified {
            Some(mount) => Ok(Self {
                version: 2,
                hierarchies: vec![mount],
                own,
            }),
            None => Err(CgroupError("no cgroup filesystem is mounted".to_owned())),
        }
    }

    /// The runtime's own cgroup path in a hierarchy, relative to the hierarchy's mount.
    fn own_relative(&self, hierarchy: &Hierarchy) -> String {
        let key = if hierarchy.version == 2 {
            ""
        } else {
            hierarchy.controllers[0].as_str()
        };
        let own = self.own.get(key).map_or("/", String::as_str);
        let inside = if hierarchy.root != "/" && own.starts_with(&hierarchy.root) {
            &own[hierarchy.root.len()..]
        } else {
            own
        };
        inside.trim_start_matches('/').to_owned()
    }
}

/// runc's systemd slice expansion: `a-b-c.slice` -> `a.slice/a-b.slice/a-b-c.slice`.
pub fn expand_slice(slice: &str) -> Result<String, CgroupError> {
    let bad = || CgroupError(format!("invalid slice name: {slice}"));
    let name = slice.strip_suffix(".slice").ok_or_else(bad)?;
    if name.contains('/') {
        return Err(bad());
    }
    if name == "-" {
        return Ok(String::new());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for component in name.split('-') {
        if component.is_empty() {
            return Err(bad());
        }
        path.push_str(prefix.as_str());
        path.push_str(component);
        path.push_str(".slice/");
        prefix.push_str(component);
        prefix.push('-');
    }
    path.pop();
    Ok(path)
}

/// Where a container's cgroup goes, below each hierarchy: `(path, absolute)`; a relative path
/// is below the runtime's own cgroup.
pub fn cgroup_path(
    cgroups_path: Option<&str>,
    systemd: bool,
    id: &str,
) -> Result<(String, bool), CgroupError> {
    let given = cgroups_path.filter(|path| !path.is_empty());
    if systemd {
        let spec = given.map_or_else(|| format!("system.slice:runc:{id}"), str::to_owned);
        let parts: Vec<&str> = spec.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            return Err(CgroupError(format!(
                "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got {spec:?} instead"
            )));
        };
        let slice = expand_slice(if slice.is_empty() {
            "system.slice"
        } else {
            slice
        })?;
        let unit = if Path::new(name)
            .extension()
            .is_some_and(|ext| ext == "slice")
        {
            name.to_owned()
        } else if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        return Ok((clean(&format!("{slice}/{unit}")), true));
    }
    match given {
        Some(path) => Ok((clean(path), path.starts_with('/'))),
        None => Ok((clean(id), false)),
    }
}

/// Lexically cleaned, relative, never above the root.
fn clean(path: &str) -> String {
    lexical_parts(path).join("/")
}

// --- one container's cgroup ----------------------------------------------------------------------

/// A container's cgroup: v1's directory per hierarchy (keyed by [`Hierarchy::key`]), or v2's
/// one (key [`UNIFIED`]); `made` is every directory creation made, in creation order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    pub version: u8,
    pub directories: BTreeMap<String, PathBuf>,
    pub made: Vec<PathBuf>,
}

/// Makes the container's cgroup at `path` (see [`cgroup_path`]) with `resources` and the
/// device `rules` (from [`device_rules`]; `None` leaves devices alone) applied.
pub fn create(
    host: &Host,
    path: &(String, bool),
    resources: &Resources,
    rules: Option<&[(String, bool)]>,
) -> Result<Cgroup, CgroupError> {
    if host.version == 1 && !resources.unified.is_empty() {
        return Err(CgroupError(
            "invalid configuration: cannot use unified on cgroup v1".to_owned(),
        ));
    }
    let mut cgroup = Cgroup {
        version: host.version,
        ..Cgroup::default()
    };
    let result = cgroup.make(host, path).and_then(|()| {
        cgroup.apply(resources)?;
        if let Some(rules) = rules {
            cgroup.confine_devices(rules)?;
        }
        Ok(())
    });
    if let Err(failure) = result {
        let _ = cgroup.remove();
        return Err(failure);
    }
    Ok(cgroup)
}

fn read_trimmed(path: &Path) -> String {
    fs::read_to_string(path)
        .map(|text| text.trim().to_owned())
        .unwrap_or_default()
}

impl Cgroup {
    fn make(&mut self, host: &Host, (path, absolute): &(String, bool)) -> Result<(), CgroupError> {
        for hierarchy in &host.hierarchies {
            let base = if *absolute {
                hierarchy.point.clone()
            } else {
                hierarchy.point.join(host.own_relative(hierarchy))
            };
            let directory = base.join(path);
            if hierarchy.version == 2 && host.version == 2 {
                self.make_v2(&hierarchy.point, &directory)?;
            } else {
                let cpuset = hierarchy.controllers.iter().any(|c| c == "cpuset");
                self.make_v1(&directory, cpuset)?;
            }
            self.directories.insert(hierarchy.key(), directory);
        }
        Ok(())
    }

    fn mkdir(&mut self, directory: &Path) -> Result<bool, CgroupError> {
        match fs::create_dir(directory) {
            Ok(()) => {
                self.made.push(directory.to_owned());
                Ok(true)
            }
            Err(source) if source.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(source) => Err(error("cannot create cgroup", directory, &source)),
        }
    }

    /// mkdir -p; each cpuset directory made gets its parent's cpus and mems (v1 starts them
    /// empty, and an empty cpuset takes no process).
    fn make_v1(&mut self, directory: &Path, cpuset: bool) -> Result<(), CgroupError> {
        let missing: Vec<&Path> = directory.ancestors().take_while(|p| !p.exists()).collect();
        for path in missing.into_iter().rev() {
            self.mkdir(path)?;
            if cpuset {
                for name in ["cpuset.cpus", "cpuset.mems"] {
                    let parent = read_trimmed(&path.parent().unwrap_or(path).join(name));
                    if read_trimmed(&path.join(name)).is_empty() {
                        write_file(&path.join(name), &parent)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// mkdir -p below the cgroup2 root, delegating the controllers on the way.
    fn make_v2(&mut self, root: &Path, directory: &Path) -> Result<(), CgroupError> {
        let available = read_trimmed(&root.join("cgroup.controllers"));
        let wanted: Vec<&str> = available
            .split_whitespace()
            .filter(|name| V2_CONTROLLERS.contains(name))
            .collect();
        let relative = directory.strip_prefix(root).unwrap_or(directory);
        let mut current = root.to_owned();
        for component in relative.components() {
            enable_controllers(&current, &wanted);
            current.push(component);
            self.mkdir(&current)?;
        }
        Ok(())
    }

    /// The files a new single-threaded process writes "0" to, to join (v1 `tasks`, v2
    /// `cgroup.procs`).
    #[must_use]
    pub fn join_files(&self) -> Vec<PathBuf> {
        self.directories
            .iter()
            .map(|(key, directory)| {
                let v2 = self.version == 2 || key == UNIFIED;
                directory.join(if v2 { "cgroup.procs" } else { "tasks" })
            })
            .collect()
    }

    fn directory(&self, controller: &str) -> Option<&PathBuf> {
        if self.version == 2 {
            return self.directories.get(UNIFIED);
        }
        self.directories
            .iter()
            .find(|(key, _)| key.split(',').any(|name| name == controller))
            .map(|(_, directory)| directory)
    }

    /// Writes `resources` (create and update); v1's memory limit and memory+swap limit in
    /// whichever order the kernel accepts (it refuses memory above memory+swap).
    pub fn apply(&self, resources: &Resources) -> Result<(), CgroupError> {
        let writes = if self.version == 2 {
            v2_writes(resources)?
        } else {
            v1_writes(resources)
        };
        let mut pending: Option<&Write> = None;
        for item in &writes {
            let Some(directory) = self.directory(item.controller) else {
                if item.required {
                    return Err(CgroupError(format!(
                        "the {} cgroup controller is not available for {}",
                        item.controller, item.file
                    )));
                }
                continue;
            };
            let target = directory.join(&item.file);
            if item.file == "memory.limit_in_bytes" {
                if write_file(&target, &item.value).is_err() {
                    pending = Some(item); // retried after memory+swap grew
                }
                continue;
            }
            write_file(&target, &item.value)?;
            if let Some(limit) = pending.take() {
                write_file(&directory.join(&limit.file), &limit.value)?;
            }
        }
        if let Some(limit) = pending {
            let directory = self.directory("memory").expect("memory written above");
            write_file(&directory.join(&limit.file), &limit.value)?;
        }
        Ok(())
    }

    /// Device rules (from deny all): v1 `devices.deny`/`devices.allow`; v2 (and nothing else
    /// confines) the BPF program.
    pub fn confine_devices(&self, rules: &[(String, bool)]) -> Result<(), CgroupError> {
        if let Some(directory) = self.directory("devices").filter(|_| self.version == 1) {
            write_file(&directory.join("devices.deny"), "a")?;
            for (rule, allow) in rules {
                let file = if *allow {
                    "devices.allow"
                } else {
                    "devices.deny"
                };
                write_file(&directory.join(file), rule)?;
            }
            return Ok(());
        }
        let Some(directory) = self.directories.get(UNIFIED) else {
            return Ok(());
        };
        let parsed: Vec<Rule> = std::iter::once(Rule::parse("a *:* rwm", false))
            .chain(rules.iter().map(|(text, allow)| Rule::parse(text, *allow)))
            .collect::<Result<_, _>>()
            .map_err(|failure| CgroupError(failure.to_string()))?;
        attach_device_filter(directory, &parsed).map_err(|failure| CgroupError(failure.to_string()))
    }

    /// Every pid in the cgroup (its first hierarchy's `cgroup.procs`).
    pub fn pids(&self) -> Result<Vec<libc::pid_t>, CgroupError> {
        let directory = self
            .directory("pids")
            .or_else(|| self.directory("devices"))
            .or_else(|| self.directories.values().next());
        let Some(directory) = directory else {
            return Ok(Vec::new());
        };
        let file = directory.join("cgroup.procs");
        match fs::read_to_string(&file) {
            Ok(text) => Ok(text
                .split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect()),
            Err(source) if source.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(error("cannot read", &file, &source)),
        }
    }

    /// The freezer's control file, and its frozen and thawed values.
    fn freezer(&self) -> Option<(PathBuf, &'static str, &'static str)> {
        if self.version == 2 {
            let directory = self.directories.get(UNIFIED)?;
            return Some((directory.join("cgroup.freeze"), "1", "0"));
        }
        let directory = self.directory("freezer")?;
        Some((directory.join("freezer.state"), "FROZEN", "THAWED"))
    }

    /// Whether the kernel says the cgroup is frozen.
    #[must_use]
    pub fn frozen(&self) -> bool {
        if self.version == 2 {
            let Some(directory) = self.directories.get(UNIFIED) else {
                return false;
            };
            return read_trimmed(&directory.join("cgroup.events"))
                .lines()
                .any(|line| line == "frozen 1");
        }
        self.freezer()
            .is_some_and(|(control, _, _)| read_trimmed(&control) == "FROZEN")
    }

    /// Freezes (pause) or thaws (resume), returning once the kernel says it is done.
    pub fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        let Some((control, frozen_value, thawed_value)) = self.freezer() else {
            return Err(CgroupError(
                "this container has no freezer cgroup".to_owned(),
            ));
        };
        let wanted = if frozen { frozen_value } else { thawed_value };
        write_file(&control, wanted)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.frozen() != frozen {
            if Instant::now() >= deadline {
                return Err(CgroupError(format!(
                    "{} did not become {} in time",
                    control.display(),
                    wanted.to_lowercase()
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
            if self.version == 1 {
                write_file(&control, wanted)?; // as runc: v1 may stay FREEZING until asked again
            }
        }
        Ok(())
    }

    /// Removes every directory creation made, deepest first: a leaf (the container's own)
    /// with whatever is left in it killed and its sub-cgroups removed first (retrying while
    /// the kernel still counts exiting tasks); a parent only when empty (another container may
    /// use it). A leaf that existed before (shared with another container, as runc allows)
    /// is left alone, as is everything when the cgroup is frozen by someone else.
    pub fn remove(&self) -> Result<(), CgroupError> {
        let deadline = Instant::now() + Duration::from_secs(5);
        for directory in self.made.iter().rev() {
            let leaf = self.directories.values().any(|d| d == directory);
            let mut nested = if leaf {
                subdirectories(directory)
            } else {
                Vec::new()
            };
            nested.push(directory.clone());
            for path in &nested {
                loop {
                    if leaf {
                        thaw(path); // a frozen task dies only once thawed
                        kill_all_in(path);
                    }
                    match fs::remove_dir(path) {
                        Ok(()) => break,
                        Err(source) if source.kind() == io::ErrorKind::NotFound => break,
                        Err(source)
                            if leaf
                                && source.raw_os_error() == Some(libc::EBUSY)
                                && Instant::now() < deadline =>
                        {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(_) if !leaf => break, // a parent another container still uses
                        Err(source) => return Err(error("cannot remove cgroup", path, &source)),
                    }
                }
            }
        }
        Ok(())
    }
}

/// Thaws a cgroup of ours (never one that existed before: its freezing is someone else's).
fn thaw(directory: &Path) {
    let _ = fs::write(directory.join("freezer.state"), "THAWED");
    let _ = fs::write(directory.join("cgroup.freeze"), "0");
}

/// Every directory below `directory`, deepest first.
fn subdirectories(directory: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = fs::read_dir(directory) {
        for entry in entries.filter_map(Result::ok) {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                found.extend(subdirectories(&entry.path()));
                found.push(entry.path());
            }
        }
    }
    found
}

fn kill_all_in(directory: &Path) {
    let kill = directory.join("cgroup.kill");
    if kill.exists() && fs::write(&kill, "1").is_ok() {
        return;
    }
    if let Ok(text) = fs::read_to_string(directory.join("cgroup.procs")) {
        for pid in text
            .split_whitespace()
            .filter_map(|pid| pid.parse::<i32>().ok())
        {
            // SAFETY: kill(2) with a pid read from the cgroup; no memory is involved.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

fn write_file(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value)
        .map_err(|source| error(&format!("cannot write {value} to"), path, &source))
}

/// Delegates controllers to `directory`'s children: all in one write, else one by one (some
/// may be refused, e.g. cpu with realtime threads around; those stay undelegated).
fn enable_controllers(directory: &Path, wanted: &[&str]) {
    let control = directory.join("cgroup.subtree_control");
    let enabled = read_trimmed(&control);
    let missing: Vec<&&str> = wanted
        .iter()
        .filter(|name| !enabled.split_whitespace().any(|e| e == **name))
        .collect();
    if missing.is_empty() {
        return;
    }
    let all: Vec<String> = missing.iter().map(|name| format!("+{name}")).collect();
    if fs::write(&control, all.join(" ")).is_ok() {
        return;
    }
    for name in missing {
        let _ = fs::write(&control, format!("+{name}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO_V1: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn v1_host_has_every_hierarchy_and_the_unified_one() {
        let host = Host::from_texts(MOUNTINFO_V1, "4:memory:/session\n0::/\n").unwrap();
        assert_eq!(host.version, 1);
        let keys: Vec<String> = host.hierarchies.iter().map(Hierarchy::key).collect();
        assert_eq!(keys, ["cpu,cpuacct", "memory", "name=systemd", ""]);
        assert_eq!(host.own_relative(&host.hierarchies[1]), "session");
    }

    #[test]
    fn v2_host() {
        let mountinfo = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let host = Host::from_texts(mountinfo, "0::/user.slice\n").unwrap();
        assert_eq!(host.version, 2);
        assert_eq!(host.own_relative(&host.hierarchies[0]), "user.slice");
        assert!(Host::from_texts("", "").is_err());
    }

    #[test]
    fn cgroupfs_and_systemd_paths() {
        let cases = [
            (Some("/a/b"), false, ("a/b", true)),
            (Some("a/../b"), false, ("b", false)),
            (None, false, ("box", false)),
            (
                Some("machine-x.slice:libpod:abc"),
                true,
                ("machine.slice/machine-x.slice/libpod-abc.scope", true),
            ),
            (None, true, ("system.slice/runc-box.scope", true)),
            (Some(":pre:n"), true, ("system.slice/pre-n.scope", true)),
            (Some("-.slice::n"), true, ("n.scope", true)),
        ];
        for (given, systemd, (path, absolute)) in cases {
            assert_eq!(
                cgroup_path(given, systemd, "box").unwrap(),
                (path.to_owned(), absolute),
                "{given:?}"
            );
        }
        assert!(cgroup_path(Some("/a/b"), true, "box").is_err());
        assert!(expand_slice("a--b.slice").is_err());
    }

    #[test]
    fn resource_writes() {
        let resources: Resources = serde_json::from_str(
            r#"{"memory":{"limit":1048576,"swap":2097152,"reservation":524288},
                "cpu":{"shares":1024,"quota":50000,"period":100000,"cpus":"0"},
                "pids":{"limit":10},"blockIO":{"weight":500}}"#,
        )
        .unwrap();
        let v1: Vec<(String, String)> = v1_writes(&resources)
            .into_iter()
            .map(|w| (w.file, w.value))
            .collect();
        assert!(v1.contains(&("memory.memsw.limit_in_bytes".into(), "2097152".into())));
        assert!(v1.contains(&("cpu.cfs_quota_us".into(), "50000".into())));
        assert!(v1.contains(&("pids.max".into(), "10".into())));
        let v2: Vec<(String, String)> = v2_writes(&resources)
            .unwrap()
            .into_iter()
            .map(|w| (w.file, w.value))
            .collect();
        assert!(v2.contains(&("memory.swap.max".into(), "1048576".into())));
        assert!(v2.contains(&("cpu.max".into(), "50000 100000".into())));
        assert!(v2.contains(&("cpu.weight".into(), "39".into())));
        assert!(v2.contains(&("io.weight".into(), "4950".into())));
        assert!(v2.contains(&("memory.low".into(), "524288".into())));
    }

    #[test]
    fn device_rule_text() {
        let deny_all: DeviceCgroup =
            serde_json::from_str(r#"{"allow":false,"access":"rwm"}"#).unwrap();
        assert_eq!(rule_text(&deny_all), "a *:* rwm");
        let null: DeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"c","major":1,"minor":3}"#).unwrap();
        assert_eq!(rule_text(&null), "c 1:3 rwm");
        let rules = device_rules(
            &Resources {
                devices: vec![deny_all, null],
                ..Resources::default()
            },
            &[('c', 10, 229)],
        )
        .unwrap();
        assert_eq!(rules[0], ("a *:* rwm".to_owned(), false));
        assert_eq!(rules[2], ("c 10:229 rwm".to_owned(), true));
    }
}
